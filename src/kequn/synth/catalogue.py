"""Fixed catalogues of the synthetic bank: products, government programmes, reward types, and the
touchpoint catalogue (400+ touchpoints, each mapped to a journey stage)."""

from __future__ import annotations

from dataclasses import dataclass

#: (product_id, name, category, provider, online_closable, launched_on)
PRODUCTS = [
    ("P-DEP-01", "湘江活期储蓄", "deposit", "bank", True, "1997-01-01"),
    ("P-TD-3M", "整存整取·3个月", "time_deposit", "bank", True, "1997-01-01"),
    ("P-TD-1Y", "整存整取·1年", "time_deposit", "bank", True, "1997-01-01"),
    ("P-TD-3Y", "整存整取·3年", "time_deposit", "bank", True, "1997-01-01"),
    ("P-TD-CD", "大额存单·3年", "time_deposit", "bank", False, "2016-06-01"),
    ("P-WM-01", "湘江财富·稳盈1号", "wealth", "bank", True, "2018-01-15"),
    ("P-WM-02", "湘江财富·月月享", "wealth", "bank", True, "2019-05-20"),
    ("P-WM-03", "湘江财富·进取增强", "wealth", "bank", False, "2021-09-01"),
    ("P-CC-01", "湘江信用卡·标准卡", "credit_card", "bank", True, "2010-10-10"),
    ("P-CC-02", "湘江信用卡·白金卡", "credit_card", "bank", False, "2014-04-01"),
    ("P-DC-01", "湘江借记卡", "debit_card", "bank", True, "1997-01-01"),
    ("P-LN-MORT", "个人住房贷款", "loan", "bank", False, "1997-01-01"),
    ("P-LN-CONS", "快乐秒贷·个人消费贷", "loan", "bank", True, "2017-07-01"),
    ("P-LN-BIZ", "个人经营贷", "loan", "bank", False, "2012-02-01"),
    ("P-SUB-01", "湘江消费金融·随心贷", "loan", "subsidiary", True, "2016-12-01"),
    ("P-SUB-02", "湘江消费金融·分期乐享", "loan", "subsidiary", True, "2019-03-01"),
    ("P-INS-01", "安康重疾险(代销)", "insurance", "partner", False, "2015-01-01"),
    ("P-INS-02", "百万医疗险(代销)", "insurance", "partner", True, "2019-01-01"),
    ("P-INS-03", "鑫享年金险(代销)", "insurance", "partner", False, "2017-01-01"),
    ("P-FD-01", "稳健债券基金(代销)", "fund", "partner", True, "2016-01-01"),
    ("P-FD-02", "沪深300指数基金(代销)", "fund", "partner", True, "2018-01-01"),
    ("P-FD-03", "货币市场基金(代销)", "fund", "partner", True, "2014-01-01"),
    ("P-PAY-01", "代发工资服务", "payroll_service", "bank", False, "1997-01-01"),
    ("P-ACQ-01", "聚合收单服务", "acquiring", "bank", False, "2015-05-01"),
    ("P-CORP-01", "单位结算账户", "deposit", "bank", False, "1997-01-01"),
]
PRODUCT_IDS = [p[0] for p in PRODUCTS]
PRODUCT_INDEX = {p[0]: i for i, p in enumerate(PRODUCTS)}
#: bank founded (head office opened, first products launched)
FOUNDED = "1997-01-01"

#: account slots each customer may hold (at most one account per slot) and the products they draw from
SLOTS = ("deposit", "time_deposit", "wealth", "credit_card", "mortgage", "consumer_loan", "subsidiary_loan")
SLOT_KIND = ("deposit", "time_deposit", "wealth", "credit_card", "loan", "loan", "loan")
SLOT_PRODUCTS = (
    ("P-DEP-01",), ("P-TD-3M", "P-TD-1Y", "P-TD-3Y", "P-TD-CD"), ("P-WM-01", "P-WM-02", "P-WM-03"),
    ("P-CC-01", "P-CC-02"), ("P-LN-MORT",), ("P-LN-CONS", "P-LN-BIZ"), ("P-SUB-01", "P-SUB-02"),
)
HOLDING_KINDS = ("insurance", "fund")
HOLDING_PRODUCTS = (("P-INS-01", "P-INS-02", "P-INS-03"), ("P-FD-01", "P-FD-02", "P-FD-03"))
#: products a customer can open during the window; truth/ holds a monthly propensity for each
OPENABLE = ("time_deposit", "wealth", "credit_card", "consumer_loan", "subsidiary_loan", "insurance", "fund")

#: (programme_id, name, agency, kind)
PROGRAMMES = [
    ("G-SS-01", "城镇职工社会保险", "市人力资源和社会保障局", "social_security"),
    ("G-HF-01", "住房公积金", "市住房公积金管理中心", "housing_fund"),
    ("G-MI-01", "城乡居民基本医疗保险", "市医疗保障局", "medical_insurance"),
    ("G-MI-02", "职工基本医疗保险", "市医疗保障局", "medical_insurance"),
    ("G-SB-01", "新市民安居补贴", "市住房和城乡建设局", "subsidy"),
    ("G-SB-02", "稳岗就业补贴", "市人力资源和社会保障局", "subsidy"),
    ("G-SB-03", "个体工商户纾困贷款贴息", "市财政局", "subsidy"),
    ("G-OT-01", "人才引进计划", "市委人才工作领导小组办公室", "other"),
]

#: reward types of the response simulator (truth holds a heterogeneous effect for each)
REWARD_TYPES = ("coupon", "cashback", "video_membership", "fuel", "health_check")
REWARD_ZH = {"coupon": "消费券", "cashback": "刷卡返现", "video_membership": "视频会员", "fuel": "加油券",
             "health_check": "体检权益"}


@dataclass(frozen=True)
class Touchpoint:
    touchpoint_id: str
    name: str
    channel: str
    journey_stage: str
    description: str
    module: str


_APP_MODULES = ("首页", "账户", "转账", "存款", "理财", "基金", "贷款", "信用卡", "保险", "生活缴费", "e+会员",
                "积分商城", "新市民专区", "社保公积金", "医保服务", "活动中心", "智能客服", "安全中心", "消息中心", "我的")
_APP_ACTIONS = (("登录", "engagement"), ("浏览", "awareness"), ("搜索", "awareness"), ("详情页", "awareness"),
                ("点击banner", "awareness"), ("申请", "cross_sell"), ("提交", "cross_sell"), ("完成", "activation"),
                ("放弃", "retention"), ("收藏", "engagement"), ("分享", "engagement"), ("签到", "engagement"),
                ("首次使用", "activation"))
_WXW_MODULES = ("客户经理名片", "朋友圈", "社群", "产品推送", "活动报名", "在线咨询")
_WXW_ACTIONS = (("添加好友", "onboarding"), ("查看", "awareness"), ("点击链接", "awareness"), ("回复", "engagement"),
                ("预约", "cross_sell"), ("报名", "engagement"), ("转发", "engagement"), ("领取权益", "activation"),
                ("删除好友", "retention"), ("投诉", "service"))
_WEB_MODULES = ("网上银行", "转账汇款", "理财频道", "贷款频道", "信用卡频道", "企业网银")
_WEB_ACTIONS = (("登录", "engagement"), ("浏览", "awareness"), ("查询", "service"), ("申请", "cross_sell"),
                ("下载回单", "service"), ("修改信息", "service"), ("退出", "engagement"), ("注册", "onboarding"))
_BRANCH_SERVICES = ("开户", "销户", "挂失", "密码重置", "理财签约", "风险测评", "贷款面签", "大额取现", "存单开立",
                    "信用卡面签", "社保卡激活", "代发开户", "商户进件", "保险双录", "智能柜台", "外汇兑换",
                    "对账单打印", "账户升级", "客户经理面谈", "投诉受理")
_BRANCH_STAGE = {"开户": "onboarding", "销户": "retention", "投诉受理": "service", "理财签约": "cross_sell",
                 "贷款面签": "cross_sell", "信用卡面签": "cross_sell", "保险双录": "cross_sell",
                 "客户经理面谈": "engagement", "代发开户": "onboarding", "商户进件": "onboarding",
                 "社保卡激活": "activation"}
_CALL_MENUS = ("余额查询", "挂失", "信用卡账单", "分期办理", "贷款咨询", "理财咨询", "投诉", "人工服务", "外呼营销",
               "外呼回访", "账户冻结", "积分查询", "还款提醒", "反诈提醒", "满意度调查")


def touchpoints() -> list[Touchpoint]:
    """The catalogue, in a fixed order (ids are stable across runs)."""
    out: list[Touchpoint] = []

    def add(prefix: str, channel: str, module: str, action: str, stage: str) -> None:
        tid = f"TP-{prefix}-{sum(1 for t in out if t.channel == channel) + 1:03d}"
        out.append(Touchpoint(tid, f"{module}-{action}", channel, stage, f"客户在{module}{action}", module))

    for m in _APP_MODULES:
        for a, s in _APP_ACTIONS:
            add("APP", "app", m, a, s)
    for m in _WXW_MODULES:
        for a, s in _WXW_ACTIONS:
            add("WXW", "wechat_work", m, a, s)
    for m in _WEB_MODULES:
        for a, s in _WEB_ACTIONS:
            add("WEB", "web", m, a, s)
    for svc in _BRANCH_SERVICES:
        for a in ("取号", "办理"):
            add("BR", "branch", "网点", f"{svc}{a}", _BRANCH_STAGE.get(svc, "service"))
    for menu in _CALL_MENUS:
        for a in ("呼入", "转人工"):
            stage = "cross_sell" if "营销" in menu else ("retention" if "回访" in menu else "service")
            add("CC", "call_centre", "客服中心", f"{menu}{a}", stage)
    return out


#: app module whose pages signal interest in an openable product (planted: browsing precedes opening)
INTEREST_MODULE = {"time_deposit": "存款", "wealth": "理财", "credit_card": "信用卡", "consumer_loan": "贷款",
                   "subsidiary_loan": "贷款", "insurance": "保险", "fund": "基金"}
