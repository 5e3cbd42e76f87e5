"""Customer 360 (客户高清图): one customer's tags with Chinese names, holdings, recent events, segments,
model scores with reasons and contact history — personal data masked unless ``unmask``.

``unmask=True`` is for callers that have checked the user's permission and recorded the typed reason in
the audit log (the API and web console do; the CLI never unmasks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kequn.errors import NotFoundError
from kequn.security.masking import mask_row, mask_value

RECENT = 10


def _rows(expr: Any) -> list[dict[str, Any]]:
    return expr.to_pyarrow().to_pylist()


def _customer(wh: Any, customer_id: str) -> dict[str, Any]:
    c = wh.table("customer")
    rows = _rows(c.filter(c.customer_id == customer_id))
    if not rows:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    row = rows[0]
    if wh.has_table("branch") and row.get("home_branch_id"):
        b = wh.table("branch")
        names = _rows(b.filter(b.branch_id == row["home_branch_id"]).select("name"))
        row["home_branch_name"] = names[0]["name"] if names else None
    return row


def _tag_row(wh: Any, customer_id: str, as_of: dt.date | None) -> tuple[dict[str, Any], dt.date, str]:
    """The customer's profile row: the stored snapshot when there is one, else computed on the fly."""
    from kequn.tags.approval import approved_ids
    from kequn.tags.build import profile_expr
    from kequn.tags.catalog import default_catalog
    from kequn.tags.model import Tables
    from kequn.tags.store import computed_dates, read_snapshot

    dates = computed_dates(wh, "customer")
    day = as_of or (dates[-1] if dates else dt.date.today())
    if day in dates:
        t = read_snapshot(wh, "customer", day)
        rows = _rows(t.filter(t.customer_id == customer_id))
        source = f"tag snapshot as of {day}"
    else:
        cat = default_catalog()
        ids = [i for i in approved_ids(cat) if cat[i].entity == "customer"]
        t = profile_expr("customer", Tables(wh), day, ids)
        rows = _rows(t.filter(t.customer_id == customer_id))
        source = f"computed on the fly as of {day} (no stored snapshot)"
    return (rows[0] if rows else {}), day, source


#: tags whose value is another entity's id, shown with that entity's name: tag → (table, key, name column)
NAMED_IDS = {"home_branch": ("branch", "branch_id", "name"), "payroll_employer": ("enterprise", "enterprise_id", "name")}


def _percent(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _tags(row: dict[str, Any], unmask: bool, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The customer's tags grouped by category (in the catalogue's category order), each with its Chinese
    name and a display value: coded values labelled, ratios as percentages, merchant categories named,
    branch and employer ids with their names (``names``: tag → name of the id it holds)."""
    from kequn.domain.mcc import mcc_list_label
    from kequn.tags.catalog import CATEGORY_ZH, default_catalog

    order = {c: i for i, c in enumerate(CATEGORY_ZH)}
    out = []
    for tag_id, spec in default_catalog().items():
        if spec.entity != "customer" or tag_id not in row:
            continue
        value = row[tag_id]
        shown: Any = spec.label(value)
        unit = None if spec.unit == "ratio" else spec.unit  # a ratio's display carries its %
        if spec.pi_class == "C2" and not unmask and spec.value_type == "number":
            value = shown = mask_value(tag_id, value, pi="C2", kind="money")
        elif spec.unit == "ratio" and isinstance(value, (int, float)) and value == value:
            shown = _percent(value)
        elif tag_id == "top_spend_categories":
            shown = mcc_list_label(value)
        elif value and names and tag_id in names:
            shown = f"{names[tag_id]} ({value})"
        out.append({"id": tag_id, "name_zh": spec.name_zh, "name_en": spec.name_en, "category": spec.category,
                    "category_zh": CATEGORY_ZH[spec.category], "value": value,
                    "display": shown, "unit": unit})
    return sorted(out, key=lambda t: order[t["category"]])  # stable: catalogue order within a category


def _names(wh: Any, row: dict[str, Any]) -> dict[str, str]:
    """Names of the branch and employer the profile row refers to (neither is personal information)."""
    out = {}
    for tag_id, (table, key, col) in NAMED_IDS.items():
        value = row.get(tag_id)
        if not value or not wh.has_table(table):
            continue
        t = wh.table(table)
        found = _rows(t.filter(t[key] == value).select(col))
        if found and found[0][col]:
            out[tag_id] = found[0][col]
    return out


def _holdings(wh: Any, customer_id: str, day: dt.date, unmask: bool) -> dict[str, Any]:
    import ibis

    from kequn.tags.model import AsOf

    d = ibis.date(day)
    acc, prod, bal = wh.table("account"), wh.table("product"), wh.table("balance_monthly")
    m0 = AsOf(day).month_end(0)
    acc = acc.filter(acc.customer_id == customer_id, acc.opened_on <= d, acc.closed_on.isnull() | (acc.closed_on > d))
    b0 = bal.filter(bal.month_end == m0).select("account_id", "balance")
    j = acc.left_join(prod.select("product_id", product_name="name"), "product_id").left_join(b0, "account_id")
    accounts = _rows(j.select("account_id", "product_name", "kind", "opened_on", "status", "balance")
                     .order_by("account_id"))
    h = wh.table("holding")
    h = h.filter(h.customer_id == customer_id, h.start_date <= d, h.end_date.isnull() | (h.end_date >= d))
    hj = h.left_join(prod.select("product_id", product_name="name", category="category"), "product_id")
    holdings = _rows(hj.select("holding_id", "product_name", "category", "start_date", "amount").order_by("holding_id"))
    c = wh.table("card")
    cards = _rows(c.filter(c.customer_id == customer_id, c.issued_on <= d)
                  .select("card_id", "card_type", "card_number", "status", "issued_on").order_by("card_id"))
    if not unmask:
        accounts = [{**a, "balance": mask_value("balance_monthly.balance", a["balance"])} for a in accounts]
        holdings = [mask_row("holding", x) for x in holdings]
        cards = [mask_row("card", x) for x in cards]
    return {"accounts": accounts, "holdings": holdings, "cards": cards, "balance_month_end": m0}


def _recent_events(wh: Any, customer_id: str, day: dt.date) -> list[dict[str, Any]]:
    import ibis

    from kequn.tags.model import AsOf

    e = wh.table("event")
    e = e.filter(e.customer_id == customer_id, e.ts < AsOf(day).end_ts)
    tp = wh.table("touchpoint").select("touchpoint_id", touchpoint="name", journey_stage="journey_stage")
    j = e.left_join(tp, "touchpoint_id")
    return _rows(j.select("ts", "channel", "touchpoint", "journey_stage").order_by(ibis.desc("ts")).limit(RECENT))


def _segments(wh: Any, customer_id: str, day: dt.date) -> list[dict[str, Any]]:
    """Segments the customer belongs to on the latest membership day ≤ the as-of day (empty before any)."""
    if not wh.has_table("segment_membership"):
        return []
    import ibis

    m = wh.table("segment_membership")
    m = m.filter(m.entity_id == customer_id, m.as_of <= ibis.date(day))
    rows = _rows(m.group_by("segment_id").aggregate(as_of=m.as_of.max()).order_by("segment_id"))
    names: dict[str, str] = {}
    try:
        from kequn.segments.definitions import load_shipped

        names = {k: v.name_zh for k, v in load_shipped().items()}
    except Exception:  # noqa: BLE001 - names are a nicety; ids still show
        names = {}
    return [{"segment_id": r["segment_id"], "name_zh": names.get(r["segment_id"]), "as_of": r["as_of"]} for r in rows]


def _scores(wh: Any, customer_id: str, day: dt.date) -> list[dict[str, Any]]:
    """Latest model scores ≤ the as-of day with their reasons (table ``model_score``; empty before models)."""
    if not wh.has_table("model_score"):
        return []
    import ibis

    s = wh.table("model_score")
    s = s.filter(s.customer_id == customer_id, s.as_of <= ibis.date(day))
    if "entity" in s.columns:
        s = s.filter(s.entity == "customer")
    latest = s.group_by("score_name").aggregate(as_of=s.as_of.max())
    j = s.join(latest, ["score_name", "as_of"])
    cols = [c for c in ("score_name", "as_of", "score", "reasons", "model") if c in j.columns]
    return _rows(j.select(*cols).order_by("score_name"))


def _contacts(wh: Any, customer_id: str, day: dt.date, unmask: bool) -> list[dict[str, Any]]:
    import ibis

    from kequn.tags.model import AsOf

    h = wh.table("contact_history")
    h = h.filter(h.customer_id == customer_id, h.ts < AsOf(day).end_ts)
    rows = _rows(h.select("ts", "campaign_code", "channel", "arm", "outcome", "converted", "amount")
                 .order_by(ibis.desc("ts")).limit(RECENT))
    return rows if unmask else [mask_row("contact_history", r) for r in rows]


def customer_360(wh: Any, customer_id: str, as_of: dt.date | None = None, unmask: bool = False) -> dict[str, Any]:
    """The 360 view of ``customer_id`` as of ``as_of`` (default: the latest computed profile)."""
    customer = _customer(wh, customer_id)
    row, day, source = _tag_row(wh, customer_id, as_of)
    view_customer = customer if unmask else mask_row("customer", customer)
    return {
        "customer": view_customer,
        "as_of": day,
        "tags": _tags(row, unmask, _names(wh, row)),
        "holdings": _holdings(wh, customer_id, day, unmask),
        "recent_events": _recent_events(wh, customer_id, day),
        "segments": _segments(wh, customer_id, day),
        "scores": _scores(wh, customer_id, day),
        "contact_history": _contacts(wh, customer_id, day, unmask),
        "masked": not unmask,
        "source": source,
    }


__all__ = ["customer_360"]
