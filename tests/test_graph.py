"""Panorama figures and graph queries on the small random bank equal independent SQL."""

from __future__ import annotations

from typing import Any

import pytest

from test_segments_bank import AS_OF, CATEGORIES, build


@pytest.fixture(scope="module")
def wh(tmp_path_factory: Any) -> Any:
    from kequn.warehouse import connect

    w = connect(f"duckdb:///{tmp_path_factory.mktemp('graph') / 'wh.duckdb'}")
    build(w)
    yield w
    w.close()


ON_PAYROLL = f"""(SELECT DISTINCT b.enterprise_id, i.customer_id FROM payroll_item i
    JOIN payroll_batch b USING (batch_id)
    WHERE b.pay_date BETWEEN DATE '{AS_OF}' - INTERVAL 30 DAY AND DATE '{AS_OF}')"""
HOLDS = f"""(SELECT a.customer_id, p.category FROM account a JOIN product p USING (product_id)
      WHERE a.opened_on <= DATE '{AS_OF}' AND (a.closed_on IS NULL OR a.closed_on > DATE '{AS_OF}')
        AND a.status <> 'closed' AND a.customer_id IS NOT NULL
    UNION SELECT h.customer_id, p.category FROM holding h JOIN product p USING (product_id)
      WHERE h.start_date <= DATE '{AS_OF}' AND (h.end_date IS NULL OR h.end_date >= DATE '{AS_OF}'))"""


def _rows(w: Any, sql: str) -> list[tuple]:
    return w.con.con.execute(sql).fetchall()


def test_panorama_penetration_equals_sql(wh: Any) -> None:
    from kequn.graph import panorama

    got = {r["enterprise_id"]: r for r in panorama(wh, AS_OF, categories=CATEGORIES).to_pyarrow().to_pylist()}
    expected = _rows(wh, f"""
        SELECT e.enterprise_id, COUNT(*) AS employees,
          {", ".join(f"COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM {HOLDS} h WHERE h.customer_id = e.customer_id "
                     f"AND h.category = '{c}')) AS h_{c}" for c in CATEGORIES)},
          COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM event v WHERE v.customer_id = e.customer_id AND v.channel = 'app'
             AND v.ts >= TIMESTAMP '{AS_OF}' - INTERVAL 29 DAY AND v.ts < TIMESTAMP '{AS_OF}' + INTERVAL 1 DAY)) AS app
        FROM {ON_PAYROLL} e GROUP BY e.enterprise_id ORDER BY 1""")
    assert len(expected) == len(got) == 6
    for row in expected:
        g = got[row[0]]
        assert g["employees"] == row[1]
        for k, c in enumerate(CATEGORIES):
            assert g[f"holders_{c}"] == row[2 + k], (row[0], c)
            assert g[f"penetration_{c}"] == pytest.approx(round(row[2 + k] / row[1], 4))
        assert g["app_active"] == row[-1] and g["app_penetration"] == pytest.approx(round(row[-1] / row[1], 4))
    assert any(0 < g["penetration_credit_card"] < 1 for g in got.values())


def test_employees_without_product_equals_sql(wh: Any) -> None:
    from kequn.graph import employees_without

    got = set(employees_without(wh, "E2", "credit_card", AS_OF).to_pyarrow().column("customer_id").to_pylist())
    expected = {r[0] for r in _rows(wh, f"""SELECT customer_id FROM {ON_PAYROLL} e WHERE enterprise_id = 'E2'
        AND NOT EXISTS (SELECT 1 FROM {HOLDS} h WHERE h.customer_id = e.customer_id AND h.category = 'credit_card')""")}
    assert got == expected and got


def test_headcount_fell_equals_sql(wh: Any) -> None:
    from kequn.graph import headcount_fell

    got = {r["enterprise_id"]: (r["previous"], r["headcount"]) for r in headcount_fell(wh, AS_OF).to_pyarrow().to_pylist()}
    expected = {r[0]: (r[1], r[2]) for r in _rows(wh, f"""
        WITH p AS (SELECT b.enterprise_id, i.customer_id, b.pay_date FROM payroll_item i JOIN payroll_batch b USING (batch_id)),
        cur AS (SELECT enterprise_id, COUNT(DISTINCT customer_id) n FROM p
                WHERE pay_date BETWEEN DATE '{AS_OF}' - INTERVAL 30 DAY AND DATE '{AS_OF}' GROUP BY 1),
        prev AS (SELECT enterprise_id, COUNT(DISTINCT customer_id) n FROM p
                WHERE pay_date BETWEEN DATE '{AS_OF}' - INTERVAL 61 DAY AND DATE '{AS_OF}' - INTERVAL 31 DAY GROUP BY 1)
        SELECT prev.enterprise_id, prev.n, COALESCE(cur.n, 0) FROM prev LEFT JOIN cur USING (enterprise_id)
        WHERE COALESCE(cur.n, 0) < prev.n""")}
    assert got == expected and got


def test_gbc_chains_and_neighbours(wh: Any) -> None:
    from kequn.graph import chain_members, chains, neighbours

    rows = {r["enterprise_id"]: r["employees"] for r in chains(wh, AS_OF, "G1").to_pyarrow().to_pylist()}
    assert set(rows) == {"E0", "E1", "E3"}
    expected = dict(_rows(wh, f"SELECT enterprise_id, COUNT(DISTINCT customer_id) FROM {ON_PAYROLL} "
                              "WHERE enterprise_id IN ('E0','E1','E3') GROUP BY 1"))
    assert rows == expected
    assert chain_members(wh, AS_OF, "G1").count().execute() == sum(expected.values())
    n = neighbours(wh, "customer", "C001", AS_OF, "household").to_pyarrow().to_pylist()
    assert n == [{"direction": "in", "kind": "household", "other_type": "customer", "other_id": "C000"}]
    owner = neighbours(wh, "merchant", "M2", AS_OF).to_pyarrow().to_pylist()
    assert owner == [{"direction": "out", "kind": "merchant_owner", "other_type": "customer", "other_id": "C002"}]
