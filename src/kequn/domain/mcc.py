"""Merchant category codes (MCC, ISO 18245) with the Chinese names the bank's staff use.

The codes are what card transactions and acquiring carry; the names are what a relationship manager reads
(``top_spend_categories`` in the customer 360, merchant lists). A code not listed shows as itself.
"""

from __future__ import annotations

MCC_ZH: dict[str, str] = {
    "4111": "公共交通", "4112": "铁路", "4121": "出行", "4131": "长途客运", "4511": "航空", "4722": "旅行社",
    "4784": "路桥通行", "4812": "通讯设备", "4814": "通信缴费", "4899": "有线电视", "4900": "水电燃气",
    "5013": "汽车配件批发", "5200": "家居建材", "5251": "五金", "5261": "园艺", "5300": "批发",
    "5309": "免税店", "5311": "百货", "5331": "折扣店", "5399": "杂货", "5411": "超市", "5422": "生鲜",
    "5441": "糖果零食", "5462": "面包烘焙", "5499": "便利店", "5511": "汽车销售", "5533": "汽车用品",
    "5541": "加油", "5542": "自助加油", "5599": "摩托电动车", "5611": "男装", "5621": "女装",
    "5641": "童装", "5651": "家庭服装", "5661": "鞋", "5691": "服装", "5712": "家具", "5719": "家居用品",
    "5722": "家电", "5732": "数码电器", "5734": "软件", "5812": "餐饮", "5813": "酒吧", "5814": "快餐",
    "5912": "药店", "5921": "酒类", "5932": "古玩", "5941": "体育用品", "5942": "书店", "5944": "珠宝钟表",
    "5945": "玩具", "5947": "礼品", "5970": "文具", "5977": "化妆品", "5992": "花店", "5995": "宠物",
    "5999": "零售", "6300": "保险", "7011": "酒店", "7210": "洗衣", "7230": "美容美发", "7298": "保健按摩",
    "7299": "生活服务", "7523": "停车", "7538": "汽车维修", "7542": "洗车", "7832": "影院",
    "7911": "舞蹈", "7991": "旅游景点", "7997": "健身俱乐部", "8011": "诊所", "8021": "牙科",
    "8062": "医院", "8099": "医疗服务", "8211": "中小学", "8220": "教育培训", "8241": "函授教育",
    "8299": "培训", "8351": "托儿所", "8398": "慈善", "9211": "法院缴费", "9222": "罚款", "9311": "税费",
    "9399": "政府服务",
}


def mcc_name(code: str | None) -> str | None:
    """The Chinese name of ``code`` (the code itself when it is not listed; None stays None)."""
    if code is None:
        return None
    return MCC_ZH.get(code.strip(), code.strip())


def mcc_list_label(codes: str | None) -> str | None:
    """``"5411,5812"`` → ``"超市(5411), 餐饮(5812)"``: names first, codes kept for the record."""
    if not codes:
        return codes
    return ", ".join(f"{mcc_name(c)}({c.strip()})" if c.strip() in MCC_ZH else c.strip()
                     for c in codes.split(",") if c.strip())


__all__ = ["MCC_ZH", "mcc_list_label", "mcc_name"]
