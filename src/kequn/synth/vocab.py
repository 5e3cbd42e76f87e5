"""Vocabulary of the synthetic bank (湘江银行, fictional): names, places, occupations, industries, MCCs,
and vectorised generators of valid-format identifiers (ID numbers, phones, USCCs, card numbers)."""

from __future__ import annotations

import numpy as np

from kequn.domain.mcc import MCC_ZH

BANK = "湘江银行"
SUBSIDIARY = "湘江消费金融"

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤") + ["欧阳", "司马", "诸葛", "上官"])
_SUR_W = np.r_[np.linspace(7.0, 0.4, len(SURNAMES) - 4), [0.08, 0.02, 0.02, 0.02]]
SURNAME_P = _SUR_W / _SUR_W.sum()
GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力鹏飞斌宇浩凯健俊帆帅旭宁晨欣怡婷雪琳晶颖佳倩梦瑶悦涵子轩梓睿博思雨诗晓云海波志国金春兰凤德清林峰毅亮成婕璐露蕾慧"))

#: (city, weight, area code prefix used in ID numbers)
CITIES = [
    ("长沙", 0.46, "4301"), ("株洲", 0.08, "4302"), ("湘潭", 0.07, "4303"), ("衡阳", 0.07, "4304"),
    ("岳阳", 0.07, "4306"), ("常德", 0.06, "4307"), ("益阳", 0.04, "4309"), ("郴州", 0.05, "4310"),
    ("娄底", 0.04, "4313"), ("邵阳", 0.03, "4305"), ("怀化", 0.03, "4312"),
]
CITY_NAMES = np.array([c[0] for c in CITIES])
CITY_P = np.array([c[1] for c in CITIES]) / sum(c[1] for c in CITIES)
CITY_AREA = np.array([c[2] for c in CITIES])
#: home areas of new citizens (新市民) who moved in from elsewhere
OTHER_AREAS = np.array(["4201", "3601", "4401", "4501", "5001", "5101", "5226", "4113", "3607", "4331"])
DISTRICTS = np.array(["02", "03", "04", "05", "11", "21", "81"])

OCCUPATIONS = np.array(["企业职员", "公务员/事业单位", "个体工商户", "专业技术人员", "自由职业", "学生",
                        "退休人员", "农林牧渔", "教师", "医护人员", "外卖/快递骑手", "私营企业主"])

INDUSTRIES = np.array([
    "制造业", "批发和零售业", "建筑业", "信息传输、软件和信息技术服务业", "住宿和餐饮业",
    "交通运输、仓储和邮政业", "教育", "卫生和社会工作", "金融业", "房地产业", "租赁和商务服务业",
    "公共管理、社会保障和社会组织", "科学研究和技术服务业", "文化、体育和娱乐业",
])
INDUSTRY_P = np.array([18, 16, 10, 8, 9, 6, 5, 5, 3, 4, 7, 3, 3, 3], float)
INDUSTRY_P /= INDUSTRY_P.sum()
ENT_WORDS = np.array(["星城", "湘韵", "麓山", "橘洲", "芙蓉", "天心", "岳麓", "开福", "雨花", "望城", "浏阳",
                      "宁乡", "华润", "恒达", "鑫源", "盛世", "嘉和", "汇丰", "金桥", "瑞祥", "新航", "楚天"])
ENT_SUFFIX = np.array(["科技有限公司", "实业有限公司", "贸易有限公司", "建设工程有限公司", "餐饮管理有限公司",
                       "物流有限公司", "医药有限公司", "教育咨询有限公司", "制造有限公司", "信息技术有限公司"])

#: (MCC, Chinese category, share of card spend, mean ticket in yuan, weekend factor); names from the domain's
#: MCC table (kequn.domain.mcc), which the customer 360 shows
MCCS = [(code, MCC_ZH[code], share, ticket, weekend) for code, share, ticket, weekend in (
    ("5411", 0.20, 120, 1.3), ("5812", 0.20, 90, 1.4), ("5814", 0.10, 30, 1.1),
    ("5541", 0.05, 300, 1.0), ("5912", 0.05, 80, 1.0), ("5311", 0.05, 400, 1.5),
    ("5999", 0.08, 150, 1.2), ("7230", 0.04, 200, 1.4), ("8062", 0.03, 500, 0.8),
    ("5732", 0.03, 1500, 1.3), ("4121", 0.06, 35, 1.1), ("7011", 0.03, 450, 1.4),
    ("5691", 0.05, 350, 1.5), ("8220", 0.03, 2000, 1.0),
)]
MCC_CODES = np.array([m[0] for m in MCCS])
MCC_NAMES = np.array([m[1] for m in MCCS])
MCC_P = np.array([m[2] for m in MCCS]) / sum(m[2] for m in MCCS)
MCC_TICKET = np.array([m[3] for m in MCCS], float)
MCC_WEEKEND = np.array([m[4] for m in MCCS], float)
FUEL_MCC = 3
MERCHANT_WORDS = np.array(["老街", "湘味", "好又多", "便民", "鲜果", "金牌", "阿香", "小王", "盛隆", "福满",
                           "惠民", "一品", "乐购", "佳佳", "同心", "顺发"])

COUNTERPARTIES = np.array(["跨行转账", "本行转账", "支付宝", "财付通", "国家电网", "中国移动", "中国联通",
                           "长沙水务", "新奥燃气", "信用卡还款", "ATM", "柜面", "利息", "手续费", "贷款发放",
                           "贷款还款", "理财申购", "理财赎回", "定期存入", "定期到期", "退款", "微信红包"])
CP = {name: i for i, name in enumerate(COUNTERPARTIES)}

_ID_W = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_USCC_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
_USCC_W = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])


def _digits(codes: np.ndarray, width: int) -> np.ndarray:
    """Non-negative ints → (n, width) digit matrix, zero-padded."""
    codes = np.asarray(codes, dtype=np.int64)
    p = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (codes[:, None] // p) % 10


def _as_str(chars: np.ndarray) -> np.ndarray:
    """(n, w) uint8 ASCII matrix → array of Python str."""
    n, w = chars.shape
    return np.ascontiguousarray(chars.astype(np.uint8)).view(f"S{w}").ravel().astype(f"U{w}")


def id_numbers(rng: np.random.Generator, area4: np.ndarray, birth_ymd: np.ndarray, male: np.ndarray) -> np.ndarray:
    """18-character resident ID numbers: area (6) + birth date (8) + sequence (3, odd = male) + check."""
    n = len(area4)
    area = area4.astype(np.int64) * 100 + rng.choice(DISTRICTS.astype(np.int64), n)
    seq = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    d = np.concatenate([_digits(area, 6), _digits(birth_ymd, 8), _digits(seq, 3)], axis=1)
    check = _ID_CHECK[(d * _ID_W).sum(axis=1) % 11]
    return _as_str(np.concatenate([d + 48, check[:, None]], axis=1))


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefixes = np.array([130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 157, 158, 159,
                         166, 173, 177, 180, 181, 183, 186, 187, 188, 189, 191, 198, 199])
    num = rng.choice(prefixes, n).astype(np.int64) * 10**8 + rng.integers(0, 10**8, n)
    return _as_str(_digits(num, 11) + 48)


def luhn_cards(prefix6: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """16-digit card numbers (BIN + serial + Luhn check digit)."""
    body = _digits(prefix6.astype(np.int64) * 10**9 + serial.astype(np.int64) % 10**9, 15)
    dbl = body[:, ::-1].copy()
    dbl[:, ::2] *= 2
    dbl[dbl > 9] -= 9
    check = (10 - dbl.sum(axis=1) % 10) % 10
    return _as_str(np.concatenate([body, check[:, None]], axis=1) + 48)


def usccs(rng: np.random.Generator, area6: np.ndarray) -> np.ndarray:
    """Unified social credit codes: '91' + area (6) + organisation code (9) + check character."""
    n = len(area6)
    head = np.concatenate([np.full((n, 1), 9), np.ones((n, 1), int), _digits(area6, 6),
                           rng.integers(0, 31, (n, 9))], axis=1)
    check = (31 - (head * _USCC_W).sum(axis=1) % 31) % 31
    return _as_str(_USCC_CHARS[np.concatenate([head, check[:, None]], axis=1)])


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    sur = rng.choice(SURNAMES, n, p=SURNAME_P)
    g1 = rng.choice(GIVEN, n)
    g2 = np.where(rng.random(n) < 0.7, rng.choice(GIVEN, n), "")
    return np.char.add(np.char.add(sur, g1), g2)
