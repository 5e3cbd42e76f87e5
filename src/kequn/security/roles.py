"""Roles and their permissions, declared once as data (COMPLIANCE.md rule 9: least privilege).

Every route of the API and the console names one permission from :data:`PERMISSIONS` (``kequn.api.rules``);
a role grants a fixed set of them. Branch roles see only their branch's subtree; head-office roles see the
whole bank unless their account is bound to a branch.
"""

from __future__ import annotations

from typing import Final

#: permission -> (Chinese label, English label)
PERMISSIONS: Final[dict[str, tuple[str, str]]] = {
    "overview.view": ("查看全景图", "View the bank-wide overview"),
    "customer.search": ("搜索客户", "Search customers"),
    "customer.view": ("查看客户高清图", "View a customer's 360 page"),
    "customer.unmask": ("查看明文个人信息（需填写理由）", "Unmask personal data (with a typed reason)"),
    "customer.export": ("导出客户清单", "Export customer lists"),
    "tags.view": ("查看标签目录", "View the tag catalogue"),
    "dq.view": ("查看数据质量", "View data-quality history"),
    "audit.view": ("查看审计日志", "View the audit log"),
    "users.manage": ("管理用户与角色", "Manage users and roles"),
    "tokens.manage": ("管理系统令牌", "Manage API tokens"),
    "segments.view": ("查看客群与旅程", "View segments, their sizes and journeys"),
    "segments.members": ("查看客群名单（全行，已脱敏）", "List segment members (bank-wide, masked)"),
    "segments.manage": ("新建与审批客群", "Create and approve segments (maker-checker)"),
    "graph.view": ("查看关系图谱", "View the relationship graph"),
    "loans.route": ("提交贷款路由申请", "Route a credit application"),
    "loans.view": ("查看贷款决策与产品阶梯", "View loan decisions and the ladder"),
    "loans.review": ("贷款决策人工复核", "Request and decide reviews of loan decisions"),
    "models.view": ("查看模型登记册", "View the model registry"),
    "models.leads": ("查看模型名单（全行）", "View model score lists with reasons (bank-wide)"),
    "models.manage": ("提交、审批与上线模型", "Submit, approve and promote models (maker-checker)"),
    "rewards.view": ("查看会员权益（本机构客户）", "View rewards: catalogue, budgets, blind boxes, members in scope"),
    "rewards.operate": ("为会员兑换、抽盲盒与冲正", "Redeem, draw and reverse for members in scope"),
    "rewards.manage": ("注资活动预算与预算分配", "Fund campaign budgets and allocate rewards"),
}

_READ = ("overview.view", "customer.search", "customer.view", "tags.view")

#: role -> permissions it grants. The one place permissions are assigned.
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "hq_admin": frozenset({"overview.view", "tags.view", "dq.view", "users.manage", "tokens.manage"}),
    "hq_analyst": frozenset({*_READ, "customer.export", "dq.view", "segments.view", "segments.members",
                             "segments.manage", "graph.view", "loans.route", "loans.view", "loans.review",
                             "models.view", "models.leads", "models.manage", "rewards.view"}),
    "marketer": frozenset({*_READ, "customer.export", "segments.view", "segments.members", "segments.manage",
                           "graph.view", "models.view", "models.leads", "rewards.view", "rewards.manage"}),
    "branch_manager": frozenset({*_READ, "customer.unmask", "customer.export", "dq.view", "segments.view",
                                 "loans.route", "rewards.view", "rewards.operate"}),
    "relationship_manager": frozenset({*_READ, "customer.unmask", "segments.view", "loans.route", "rewards.view",
                                       "rewards.operate"}),
    "auditor": frozenset({"overview.view", "tags.view", "dq.view", "audit.view", "loans.view", "models.view"}),
}

#: Chinese and English names of the roles
ROLE_NAMES: Final[dict[str, tuple[str, str]]] = {
    "hq_admin": ("总行管理员", "HQ administrator"),
    "hq_analyst": ("总行分析师", "HQ analyst"),
    "marketer": ("营销人员", "Marketer"),
    "branch_manager": ("支行行长", "Branch manager"),
    "relationship_manager": ("客户经理", "Relationship manager"),
    "auditor": ("审计员", "Auditor"),
}

#: roles that must be bound to a branch (they see only that branch and its sub-branches)
BRANCH_ROLES: Final[frozenset[str]] = frozenset({"branch_manager", "relationship_manager"})

ROLES: Final[tuple[str, ...]] = tuple(ROLE_PERMISSIONS)


def permissions_of(role: str) -> frozenset[str]:
    """The permissions ``role`` grants; a ValidationError names the known roles when it is unknown."""
    from kequn.errors import ValidationError

    try:
        return ROLE_PERMISSIONS[role]
    except KeyError:
        raise ValidationError(f"unknown role {role!r}: use one of {', '.join(ROLES)}") from None


def check_consistent() -> list[str]:
    """Problems in the tables above (every granted permission is declared; every role is named)."""
    problems = [f"role {r} grants undeclared permission {p}" for r, ps in ROLE_PERMISSIONS.items()
                for p in ps if p not in PERMISSIONS]
    problems += [f"role {r} has no name" for r in ROLE_PERMISSIONS if r not in ROLE_NAMES]
    return problems
