"""The rule language's ``employer.`` relation and the ``payroll_employer`` tag are one definition (代发单位):
the relation reads the tag from the profile the rule runs on, or computes that same tag live."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from test_segments_bank import AS_OF, _insert, build


@pytest.fixture
def bank(tmp_path: Any) -> Any:
    from kequn.warehouse import connect

    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    info = build(wh)
    yield wh, info
    wh.close()


def _members(wh: Any, rule: str, as_of: dt.date = AS_OF) -> set[str]:
    from kequn.segments import service
    from kequn.segments.definitions import SegmentDef

    seg = SegmentDef(id="x", name_zh="x", name_en="x", rule=rule)
    return set(service.evaluate(wh, seg, as_of).to_pyarrow().column("entity_id").to_pylist())


def _sql(wh: Any, query: str) -> set[str]:
    return {r[0] for r in wh.con.con.execute(query).fetchall()}


def test_employer_relation_is_the_payroll_employer_tag(bank: Any) -> None:
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    wh, info = bank
    # a declared employer that does not pay the customer: the relation follows payroll, like the tag
    moved = next(c for c, e in info["employer"].items() if e != "E2")
    _insert(wh, "relationship", [{"from_type": "enterprise", "from_id": "E2", "to_type": "customer", "to_id": moved,
                                  "kind": "employer_employee", "valid_from": dt.date(2026, 6, 1)}])
    tag = {r["customer_id"]: r["payroll_employer"] for r in
           profile_expr("customer", Tables(wh), AS_OF, ["payroll_employer"]).to_pyarrow().to_pylist()}
    industry = dict(wh.con.con.execute("SELECT enterprise_id, industry FROM enterprise").fetchall())
    # independent SQL: the enterprise of the latest payroll batch in the 90 days ending on the day
    latest = dict(wh.con.con.execute(f"""
        SELECT customer_id, arg_max(b.enterprise_id, b.pay_date) FROM payroll_item i JOIN payroll_batch b USING (batch_id)
        WHERE b.pay_date BETWEEN DATE '{AS_OF}' - INTERVAL 89 DAY AND DATE '{AS_OF}' GROUP BY customer_id""").fetchall())
    assert {c: e for c, e in tag.items() if e is not None} == latest and tag[moved] != "E2"
    for ind in ("制造业", "教育", "批发和零售业"):
        by_tag = {c for c, e in tag.items() if e is not None and industry[e] == ind}
        assert by_tag and _members(wh, f'employer.industry == "{ind}"') == by_tag, ind
    assert _members(wh, "employer.industry is null") == {c for c, e in tag.items() if e is None}


def test_employer_relation_reads_the_tag_in_the_profile(bank: Any) -> None:
    """When the snapshot holds payroll_employer, the relation uses that value (the snapshot of the day),
    not a recomputation: here every row of the day's snapshot says E1."""
    wh, _ = bank
    wh.con.con.execute("ALTER TABLE tag_snapshot_customer ADD COLUMN payroll_employer VARCHAR")
    wh.con.con.execute(f"UPDATE tag_snapshot_customer SET payroll_employer = 'E1' WHERE as_of = DATE '{AS_OF}'")
    everyone = _sql(wh, f"SELECT customer_id FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF}'")
    e1 = _sql(wh, "SELECT industry FROM enterprise WHERE enterprise_id = 'E1'").pop()
    assert _members(wh, f'employer.industry == "{e1}"') == everyone
