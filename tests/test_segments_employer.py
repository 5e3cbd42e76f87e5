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


EMPLOYER_SQL = """
    WITH link AS (SELECT to_id AS customer_id, max(CAST(valid_from AS VARCHAR) || '|' || from_id) AS k
                  FROM relationship WHERE kind = 'employer_employee' AND from_type = 'enterprise'
                    AND to_type = 'customer' AND valid_from <= DATE '{d}' AND (valid_to IS NULL OR valid_to >= DATE '{d}')
                  GROUP BY 1),
         paid AS (SELECT i.customer_id, max(CAST(b.pay_date AS VARCHAR) || '|' || b.enterprise_id) AS k
                  FROM payroll_item i JOIN payroll_batch b USING (batch_id)
                  WHERE b.pay_date BETWEEN DATE '{d}' - INTERVAL 89 DAY AND DATE '{d}' GROUP BY 1)
    SELECT customer_id, substr(coalesce(link.k, paid.k), 12) FROM link FULL JOIN paid USING (customer_id)"""


def test_employer_relation_is_the_payroll_employer_tag(bank: Any) -> None:
    from kequn.graph import employer_of
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    wh, info = bank
    # a newer declared link to another enterprise wins over the old link and the payroll; a customer signed
    # up for payroll (代发签约) but not paid yet has an employer too (the payroll journey's first stage)
    moved = next(c for c, e in info["employer"].items() if e != "E2")
    unpaid = next(c["customer_id"] for c in info["customers"] if c["customer_id"] not in info["employer"])
    _insert(wh, "relationship", [
        {"from_type": "enterprise", "from_id": "E2", "to_type": "customer", "to_id": moved,
         "kind": "employer_employee", "valid_from": dt.date(2026, 6, 1)},
        {"from_type": "enterprise", "from_id": "E4", "to_type": "customer", "to_id": unpaid,
         "kind": "employer_employee", "valid_from": dt.date(2026, 6, 20)}])
    tag = {r["customer_id"]: r["payroll_employer"] for r in
           profile_expr("customer", Tables(wh), AS_OF, ["payroll_employer"]).to_pyarrow().to_pylist()}
    expected = dict(wh.con.con.execute(EMPLOYER_SQL.format(d=AS_OF)).fetchall())
    assert {c: e for c, e in tag.items() if e is not None} == expected
    assert (tag[moved], tag[unpaid]) == ("E2", "E4")
    graph = {r["customer_id"]: r["enterprise_id"] for r in employer_of(wh, AS_OF).to_pyarrow().to_pylist()}
    assert graph == expected
    industry = dict(wh.con.con.execute("SELECT enterprise_id, industry FROM enterprise").fetchall())
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
