"""e+ rewards (数字化权益) over HTTP: catalogue, hot rewards, members, redemptions, budgets, blind boxes,
budget allocation — and the console pages over them.

Thin: each route calls :mod:`kequn.rewards` (the double-entry points ledger in the ops store) or
:func:`kequn.domain.membership.allocate`. Member routes are customer-scoped (``{customer_id}`` must lie in
the caller's branches); a reversal checks the redeemed member's scope in the handler. Every posting takes an
idempotency key. Money leaves as yuan strings (Decimal from fen), never floats; names are masked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from kequn.api import stores
from kequn.errors import NotFoundError

router = APIRouter(tags=["rewards 数字化权益"])

KEY = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$",
            description="Idempotency key: a retry with the same key posts nothing and returns the first response")
FEN_MAX = 10**12  # 100 亿元: a bound well inside BIGINT


def yuan(fen: int | None) -> str | None:
    """Fen (0.01 CNY) as a yuan string with two decimals (Decimal, never float)."""
    return None if fen is None else str((Decimal(int(fen)) / 100).quantize(Decimal("0.01")))


# ------------------------------------------------------------------------------------- plumbing
def _engine(request: Request) -> Any:
    return stores.engine(request, "rewards")


def _ledger(request: Request) -> Any:
    from kequn.rewards.ledger import Ledger

    return Ledger(_engine(request))


def _actor(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.username if principal is not None else "system"


def _check_scope(request: Request, customer_id: str) -> None:
    principal = getattr(request.state, "principal", None)
    st = getattr(request.app.state, "kequn", None)
    if principal is not None and st is not None:
        st.data.check_customer_scope(principal, customer_id)


def _audit(request: Request, action: str, target: str, details: dict[str, Any]) -> None:
    from kequn.opstore import audit

    audit.record(_engine(request), _actor(request), action, target, details=details)


def _posting(result: Any) -> dict[str, Any]:
    return {"txn_id": result.txn_id, "key": result.key, "kind": result.kind, "replayed": result.replayed,
            "details": result.details, "entries": len(result.entries)}


def _boxes() -> dict[str, Any]:
    from kequn.rewards.blindbox import BlindBox
    from kequn.rewards.growth import load_membership

    return {b["id"]: BlindBox.from_dict(b) for b in load_membership()[2]}


def _tier_names() -> dict[int, str]:
    from kequn.rewards.growth import load_membership

    policy = load_membership()[1]
    return {t.tier: t.name_zh for t in policy.tiers}


# ------------------------------------------------------------------------------------- reading
def catalogue_rows(engine: Any) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from kequn.rewards.tables import reward

    with engine.connect() as conn:
        rows = conn.execute(sa.select(reward).order_by(reward.c.category, reward.c.reward_id)).all()
    return [{"reward_id": r.reward_id, "name": r.name, "category": r.category, "points_price": int(r.points_price),
             "cost_yuan": yuan(r.cost_fen), "stock": r.stock, "valid_from": r.valid_from, "valid_to": r.valid_to,
             "min_tier": int(r.min_tier or 0), "segment_id": r.segment_id, "active": bool(r.active)} for r in rows]


def budget_rows(engine: Any) -> list[dict[str, Any]]:
    """Every campaign budget with its balance (money in yuan, points as points)."""
    import sqlalchemy as sa

    from kequn.rewards.tables import point_account

    with engine.connect() as conn:
        rows = conn.execute(sa.select(point_account.c.owner_id, point_account.c.unit, point_account.c.balance)
                            .where(point_account.c.owner_type == "campaign")
                            .order_by(point_account.c.owner_id, point_account.c.unit)).all()
    return [{"campaign_id": r.owner_id, "unit": r.unit, "balance": int(r.balance) if r.unit == "point" else None,
             "balance_yuan": yuan(r.balance) if r.unit == "fen" else None} for r in rows]


def box_rows() -> list[dict[str, Any]]:
    return [{"box_id": b.id, "name": b.name_zh, "points_price": b.points_price, "items": len(b.items),
             "prizes": [{"reward_id": i.reward_id, "weight": i.weight, "cost_yuan": yuan(i.cost_fen)} for i in b.items],
             "fallback": b.fallback.reward_id,
             "expected_cost_yuan": str((b.expected_cost_fen / 100).quantize(Decimal("0.01")))}
            for b in _boxes().values()]


def _masked_name(request: Request, customer_id: str) -> str | None:
    from kequn.security.masking import mask_name

    st = getattr(request.app.state, "kequn", None)
    if st is None:
        return None

    def run(wh: Any) -> list[dict[str, Any]]:
        t = wh.table("customer")
        return t.filter(t.customer_id == customer_id).select("name").limit(1).to_pyarrow().to_pylist()

    rows = st.data.run(run)
    return mask_name(rows[0]["name"]) if rows and rows[0]["name"] else None


def member_view(request: Request, customer_id: str) -> dict[str, Any]:
    """Tier, growth, balance, available points, statement and redemptions of one member (masked)."""
    import sqlalchemy as sa

    from kequn.rewards import growth
    from kequn.rewards.tables import redemption, reward

    engine, ledger = _engine(request), _ledger(request)
    m = growth.member(engine, customer_id) or {}
    with engine.connect() as conn:
        reds = conn.execute(sa.select(redemption, reward.c.name).join(reward, reward.c.reward_id == redemption.c.reward_id,
                                                                      isouter=True)
                            .where(redemption.c.owner_id == customer_id).order_by(redemption.c.id.desc())
                            .limit(50)).all()
    tier = int(m.get("tier") or 0)
    return {"customer_id": customer_id, "name": _masked_name(request, customer_id), "member": bool(m),
            "tier": tier, "tier_name": _tier_names().get(tier, str(tier)), "growth_value": int(m.get("growth_value") or 0),
            "tier_since": m.get("tier_since"), "grace_until": m.get("grace_until"),
            "balance": ledger.balance("customer", customer_id), "available": ledger.available("customer", customer_id),
            "statement": [{k: v for k, v in e.items() if k != "key"} for e in ledger.statement("customer", customer_id)],
            "redemptions": [{"redemption_id": int(r.id), "reward_id": r.reward_id, "name": r.name, "points": int(r.points),
                             "cost_yuan": yuan(r.cost_fen), "status": r.status, "at": r.created_at} for r in reds]}


# ------------------------------------------------------------------------------------- API: reading
@router.get("/api/rewards/catalogue")
def get_catalogue(request: Request) -> list[dict[str, Any]]:
    """The reward catalogue (权益目录) with stock; cost to the bank in yuan."""
    return catalogue_rows(_engine(request))


@router.get("/api/rewards/hot")
def get_hot(request: Request, days: int = 30, limit: int = 10) -> list[dict[str, Any]]:
    """热门精选: rewards ranked by redemptions net of reversals in the last ``days`` days."""
    from kequn.errors import ValidationError
    from kequn.rewards.catalogue import hot_rewards

    if not (1 <= days <= 3660 and 1 <= limit <= 200):
        raise ValidationError("days must be 1..3660 and limit 1..200")
    return hot_rewards(_engine(request), days=days, limit=limit)


@router.get("/api/rewards/members/{customer_id}")
def get_member(request: Request, customer_id: str) -> dict[str, Any]:
    """A member: tier, growth value, balance, available points, statement, redemptions (branch-scoped)."""
    return member_view(request, customer_id)


@router.get("/api/rewards/budgets")
def get_budgets(request: Request) -> list[dict[str, Any]]:
    return budget_rows(_engine(request))


@router.get("/api/rewards/boxes")
def get_boxes(request: Request) -> list[dict[str, Any]]:
    """Blind boxes (盲盒) with the expected cost per draw (yuan)."""
    return box_rows()


# ------------------------------------------------------------------------------------- API: postings
class RedeemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = KEY
    reward_id: str = Field(min_length=1, max_length=64)
    budget_campaign: str | None = Field(default=None, min_length=1, max_length=64)


class ReverseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = KEY
    reason: str = Field(min_length=2, max_length=500)


class FundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = KEY
    amount_yuan: Decimal = Field(gt=0, le=Decimal(FEN_MAX) / 100, decimal_places=2)


class DrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = KEY
    box_id: str = Field(min_length=1, max_length=64)
    campaign_id: str = Field(min_length=1, max_length=64, description="Campaign whose money budget pays the prize")


class CandidateIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    reward_id: str = Field(min_length=1, max_length=64)
    uplift: float = Field(ge=-1e9, le=1e9, allow_inf_nan=False, description="Expected incremental value (yuan)")
    cost_yuan: Decimal = Field(ge=0, le=Decimal(10**9), decimal_places=2)


class AllocateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_yuan: Decimal = Field(ge=0, le=Decimal(10**10), decimal_places=2)
    candidates: list[CandidateIn] = Field(max_length=20000)


@router.post("/api/rewards/members/{customer_id}/redeem")
def post_redeem(request: Request, customer_id: str, body: RedeemBody) -> dict[str, Any]:
    """Redeem a reward for a member with points (a campaign budget pays its cost when named)."""
    from kequn.rewards.catalogue import redeem

    res = redeem(_ledger(request), body.key, customer_id, body.reward_id, budget_campaign=body.budget_campaign,
                 actor=_actor(request))
    if not res.replayed:
        _audit(request, "rewards.redeem", f"customer:{customer_id}", {"reward": body.reward_id, "txn": res.txn_id})
    return _posting(res)


@router.post("/api/rewards/redemptions/{redemption_id}/reverse")
def post_reverse(request: Request, body: ReverseBody, redemption_id: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
    """Reverse a redemption: points back into their lots, cost back to the budget, unit back to stock."""
    import sqlalchemy as sa

    from kequn.rewards.catalogue import reverse_redemption
    from kequn.rewards.tables import redemption

    with _engine(request).connect() as conn:
        owner = conn.execute(sa.select(redemption.c.owner_id).where(redemption.c.id == redemption_id)).scalar()
    if owner is None:
        raise NotFoundError(f"redemption {redemption_id} not found")
    _check_scope(request, owner)
    res = reverse_redemption(_ledger(request), body.key, redemption_id, actor=_actor(request), reason=body.reason)
    if not res.replayed:
        _audit(request, "rewards.reverse", f"redemption:{redemption_id}", {"reason": body.reason, "txn": res.txn_id})
    return _posting(res)


@router.post("/api/rewards/budgets/{campaign_id}/fund")
def post_fund(request: Request, campaign_id: str, body: FundBody) -> dict[str, Any]:
    """Fund a campaign's money budget (yuan → fen) from the bank's funding account."""
    fen = int(body.amount_yuan * 100)
    res = _ledger(request).fund(body.key, campaign_id, fen, unit="fen", actor=_actor(request))
    if not res.replayed:
        _audit(request, "rewards.fund", f"campaign:{campaign_id}", {"amount_yuan": yuan(fen), "txn": res.txn_id})
    return {**_posting(res), "balance_yuan": yuan(_ledger(request).balance("campaign", campaign_id, unit="fen"))}


@router.post("/api/rewards/members/{customer_id}/draw")
def post_draw(request: Request, customer_id: str, body: DrawBody) -> dict[str, Any]:
    """One paid blind-box draw for a member; the prize's cost comes from the campaign's money budget."""
    from kequn.rewards.blindbox import draw

    box = _boxes().get(body.box_id)
    if box is None:
        raise NotFoundError(f"blind box {body.box_id!r} not found; known: {', '.join(_boxes())}")
    res = draw(_ledger(request), box, body.key, customer_id, body.campaign_id, actor=_actor(request))
    if not res.replayed:
        _audit(request, "rewards.draw", f"customer:{customer_id}", {"box": box.id, "txn": res.txn_id})
    out = _posting(res)
    out["prize"] = {"reward_id": res.details.get("reward_id"), "cost_yuan": yuan(res.details.get("cost_fen")),
                    "fallback": res.details.get("fallback")}
    return out


@router.post("/api/rewards/allocate")
def post_allocate(request: Request, body: AllocateBody) -> dict[str, Any]:
    """Budget allocation: at most one reward per customer within the budget, maximising expected uplift."""
    from kequn.domain.membership import Candidate, allocate

    cands = [Candidate(c.customer_id, c.reward_id, c.uplift, c.cost_yuan) for c in body.candidates]
    res = allocate(cands, body.budget_yuan)
    return {"budget_yuan": str(body.budget_yuan), "spent_yuan": str(res.spent),
            "expected_value_yuan": str(Decimal(str(res.expected_value)).quantize(Decimal("0.01"))),
            "chosen": [{"customer_id": c.customer_id, "reward_id": c.reward_id, "uplift": c.uplift,
                        "cost_yuan": str(c.cost)} for c in res.chosen]}


# ------------------------------------------------------------------------------------- console pages
def _page(request: Request, name: str, ctx: dict[str, Any]) -> Any:
    from kequn.web.pages import render

    return render(request, f"rewards/{name}", ctx)


def _form_body(model: Any, data: dict[str, Any]) -> Any:
    """A form's fields as ``model``; every problem listed in one ValidationError."""
    from pydantic import ValidationError as PydanticError

    from kequn.errors import ValidationError

    try:
        return model(**data)
    except PydanticError as exc:
        details = [{"where": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ValidationError(f"invalid form: {len(details)} problem(s)", details=details) from None


def _new_key(prefix: str) -> str:
    """A fresh idempotency key for a form: a double submit of the same form posts once."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex}"


def _can(request: Request, permission: str) -> bool:
    principal = getattr(request.state, "principal", None)
    return bool(principal and principal.can(permission))


@router.get("/rewards", include_in_schema=False)
def rewards_page(request: Request) -> Any:
    """The catalogue with hot rewards (热门精选)."""
    from kequn.rewards.catalogue import hot_rewards

    engine = _engine(request)
    return _page(request, "catalogue.html", {"rewards": catalogue_rows(engine), "hot": hot_rewards(engine)})


@router.get("/rewards/budgets", include_in_schema=False)
def budgets_page(request: Request) -> Any:
    return _page(request, "budgets.html", {"budgets": budget_rows(_engine(request)), "new_key": _new_key("fund"),
                                           "can_manage": _can(request, "rewards.manage")})


@router.get("/rewards/boxes", include_in_schema=False)
def boxes_page(request: Request) -> Any:
    return _page(request, "boxes.html", {"boxes": box_rows()})


@router.get("/rewards/members/{customer_id}", include_in_schema=False)
def member_page(request: Request, customer_id: str) -> Any:
    m = member_view(request, customer_id)
    return _page(request, "member.html", {"m": m, "rewards": [r for r in catalogue_rows(_engine(request)) if r["active"]],
                                          "can_operate": _can(request, "rewards.operate"), "boxes": box_rows(),
                                          "new_key": _new_key("web")})


@router.post("/rewards/members/{customer_id}/redeem", include_in_schema=False)
async def member_page_redeem(request: Request, customer_id: str) -> Any:
    from fastapi.responses import RedirectResponse

    form = await request.form()
    body = _form_body(RedeemBody, {"key": form.get("key") or "", "reward_id": form.get("reward_id") or "",
                                   "budget_campaign": form.get("budget_campaign") or None})
    await run_in_threadpool(post_redeem, request, customer_id, body)
    return RedirectResponse(f"/rewards/members/{customer_id}", status_code=303)


@router.post("/rewards/members/{customer_id}/draw", include_in_schema=False)
async def member_page_draw(request: Request, customer_id: str) -> Any:
    from fastapi.responses import RedirectResponse

    form = await request.form()
    body = _form_body(DrawBody, {"key": form.get("key") or "", "box_id": form.get("box_id") or "",
                                 "campaign_id": form.get("campaign_id") or ""})
    await run_in_threadpool(post_draw, request, customer_id, body)
    return RedirectResponse(f"/rewards/members/{customer_id}", status_code=303)


@router.post("/rewards/redemptions/{redemption_id}/reverse", include_in_schema=False)
async def member_page_reverse(request: Request, redemption_id: int = Path(ge=1, le=2**62)) -> Any:
    """The member page's reverse button: the redeemed member's scope is checked by ``post_reverse``."""
    import sqlalchemy as sa
    from fastapi.responses import RedirectResponse

    from kequn.rewards.tables import redemption

    form = await request.form()
    body = _form_body(ReverseBody, {"key": form.get("key") or "", "reason": form.get("reason") or ""})
    await run_in_threadpool(post_reverse, request, body, redemption_id)
    with _engine(request).connect() as conn:
        owner = conn.execute(sa.select(redemption.c.owner_id).where(redemption.c.id == redemption_id)).scalar()
    return RedirectResponse(f"/rewards/members/{owner}", status_code=303)


@router.post("/rewards/budgets/fund", include_in_schema=False)
async def budgets_page_fund(request: Request) -> Any:
    from fastapi.responses import RedirectResponse

    from kequn.errors import ValidationError

    form = await request.form()
    campaign_id = str(form.get("campaign_id") or "").strip()
    if not campaign_id or len(campaign_id) > 64:
        raise ValidationError("campaign_id is required (1-64 characters) to fund a budget")
    body = _form_body(FundBody, {"key": form.get("key") or "", "amount_yuan": form.get("amount_yuan") or "0"})
    await run_in_threadpool(post_fund, request, campaign_id, body)
    return RedirectResponse("/rewards/budgets", status_code=303)


#: permissions of these routes (joined into the one rule table by kequn.api.rules); a tuple marks a
#: customer-scoped route ({customer_id} must lie in the caller's branches).
ROUTE_PERMISSIONS: dict[tuple[str, str], str | tuple[str, bool]] = {
    ("GET", "/api/rewards/catalogue"): "rewards.view",
    ("GET", "/api/rewards/hot"): "rewards.view",
    ("GET", "/api/rewards/members/{customer_id}"): ("rewards.view", True),
    ("GET", "/api/rewards/budgets"): "rewards.view",
    ("GET", "/api/rewards/boxes"): "rewards.view",
    ("POST", "/api/rewards/members/{customer_id}/redeem"): ("rewards.operate", True),
    ("POST", "/api/rewards/redemptions/{redemption_id}/reverse"): "rewards.operate",
    ("POST", "/api/rewards/budgets/{campaign_id}/fund"): "rewards.manage",
    ("POST", "/api/rewards/members/{customer_id}/draw"): ("rewards.operate", True),
    ("POST", "/api/rewards/allocate"): "rewards.manage",
    ("GET", "/rewards"): "rewards.view",
    ("GET", "/rewards/budgets"): "rewards.view",
    ("GET", "/rewards/boxes"): "rewards.view",
    ("GET", "/rewards/members/{customer_id}"): ("rewards.view", True),
    ("POST", "/rewards/members/{customer_id}/redeem"): ("rewards.operate", True),
    ("POST", "/rewards/members/{customer_id}/draw"): ("rewards.operate", True),
    ("POST", "/rewards/budgets/fund"): "rewards.manage",
    ("POST", "/rewards/redemptions/{redemption_id}/reverse"): "rewards.operate",
}
