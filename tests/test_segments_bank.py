"""A small random bank in a DuckDB warehouse, for the segment/journey/graph tests (not a test module).

Canonical tables come from kequn.warehouse.schema; the customer profile snapshot (``tag_snapshot_customer``)
is written directly with the handful of tag columns the tests need, so these tests do not depend on the
tag engine's numbers.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

AS_OF = dt.date(2026, 6, 30)
PREV = dt.date(2026, 5, 31)
CATEGORIES = ("deposit", "credit_card", "loan", "wealth", "insurance")


def _insert(wh: Any, table: str, rows: list[dict[str, Any]]) -> None:
    import ibis
    import pyarrow as pa

    from kequn.domain.datamodel import table as table_def
    from kequn.warehouse.schema import ibis_schema

    schema = ibis_schema(table_def(table)).to_pyarrow()
    full = [{c: r.get(c) for c in schema.names} for r in rows]
    wh.con.insert(table, ibis.memtable(pa.Table.from_pylist(full, schema=schema)))


def build(wh: Any, seed: int = 11, n_customers: int = 120) -> dict[str, Any]:
    from kequn.warehouse.schema import create_tables

    create_tables(wh)
    rng = random.Random(seed)
    _insert(wh, "branch", [{"branch_id": "B1", "name": "长沙分行", "level": "branch", "city": "长沙"}])
    _insert(wh, "product", [{"product_id": f"P_{c}", "name": c, "category": c, "provider": "bank",
                             "online_closable": True} for c in CATEGORIES])
    industries = ["制造业", "教育", "批发和零售业"]
    sizes = ["micro", "small", "medium", "large"]
    ents = [{"enterprise_id": f"E{i}", "name": f"企业{i}", "industry": industries[i % 3], "size": sizes[i % 4],
             "branch_id": "B1", "onboarded_on": dt.date(2020, 1, 1)} for i in range(6)]
    _insert(wh, "enterprise", ents)
    custs = [{"customer_id": f"C{i:03d}", "name": rng.choice(["张三", "李四", "欧阳娜娜"]),
              "phone": f"138{rng.randint(10_000_000, 99_999_999)}", "home_branch_id": "B1",
              "onboarded_on": dt.date(2019, 1, 1), "is_new_citizen": rng.random() < 0.3, "status": "active",
              "city": rng.choice(["长沙", "株洲"])} for i in range(n_customers)]
    _insert(wh, "customer", custs)
    # accounts and holdings
    accounts, holdings = [], []
    for c in custs:
        for cat in CATEGORIES:
            if rng.random() < (0.9 if cat == "deposit" else 0.35):
                closed = dt.date(2026, 6, 1) if rng.random() < 0.1 else None
                row = {"customer_id": c["customer_id"], "product_id": f"P_{cat}", "branch_id": "B1",
                       "opened_on": dt.date(2025, rng.randint(1, 12), 1), "closed_on": closed,
                       "status": "closed" if closed else "active"}
                if cat == "insurance":
                    holdings.append({"holding_id": f"H{len(holdings)}", **row, "start_date": row["opened_on"],
                                     "end_date": closed, "amount": Decimal("1000.00")})
                else:
                    kind = {"deposit": "deposit", "credit_card": "credit_card", "loan": "loan", "wealth": "wealth"}[cat]
                    accounts.append({"account_id": f"A{len(accounts)}", "kind": kind, **row})
    _insert(wh, "account", accounts)
    _insert(wh, "holding", holdings)
    # payroll: employees of each enterprise, paid monthly; some stop being paid in June
    batches, items, rels = [], [], []
    employer: dict[str, str] = {}
    for c in custs:
        if rng.random() < 0.6:
            employer[c["customer_id"]] = f"E{rng.randint(0, 5)}"
    for month in (4, 5, 6):
        for e in ents:
            bid = f"PB_{e['enterprise_id']}_{month}"
            paid = [cid for cid, eid in employer.items() if eid == e["enterprise_id"]
                    and not (month == 6 and rng.random() < 0.25)]
            batches.append({"batch_id": bid, "enterprise_id": e["enterprise_id"],
                            "pay_date": dt.date(2026, month, 15), "headcount": len(paid),
                            "total_amount": Decimal(len(paid) * 5000)})
            items += [{"batch_id": bid, "customer_id": cid, "account_id": "A0", "amount": Decimal("5000.00")}
                      for cid in paid]
    _insert(wh, "payroll_batch", batches)
    _insert(wh, "payroll_item", items)
    for cid, eid in employer.items():
        rels.append({"from_type": "enterprise", "from_id": eid, "to_type": "customer", "to_id": cid,
                     "kind": "employer_employee", "valid_from": dt.date(2025, 1, 1)})
    rels += [{"from_type": "programme", "from_id": "G1", "to_type": "enterprise", "to_id": e,
              "kind": "programme_member", "valid_from": dt.date(2024, 1, 1)} for e in ("E0", "E1", "E3")]
    rels.append({"from_type": "customer", "from_id": "C000", "to_type": "customer", "to_id": "C001",
                 "kind": "household", "valid_from": dt.date(2024, 1, 1)})
    _insert(wh, "relationship", rels)
    _insert(wh, "programme", [{"programme_id": "G1", "name": "城乡居民医保", "kind": "medical_insurance"}])
    _insert(wh, "touchpoint", [
        {"touchpoint_id": f"T{s}", "name": f"触点{s}", "channel": "app", "journey_stage": s}
        for s in ("onboarding", "activation", "engagement", "cross_sell", "retention")])
    events = [{"event_id": f"EV{i}", "customer_id": rng.choice(custs)["customer_id"],
               "ts": dt.datetime(2026, 6, rng.randint(1, 30), 10), "touchpoint_id": rng.choice(
                   ["Tonboarding", "Tactivation", "Tengagement", "Tcross_sell", "Tretention"]),
               "channel": rng.choice(["app", "web"])} for i in range(300)]
    _insert(wh, "event", events)
    _insert(wh, "gov_data", [{"record_id": f"G{i}", "customer_id": c["customer_id"], "source": "medical_insurance",
                              "period_month": dt.date(2026, 5, 1), "received_on": dt.date(2026, 6, 2)}
                             for i, c in enumerate(custs[:20])])
    # gov_data consent: granted by the first 20, withdrawn by three of them on 06-10 (after PREV, before AS_OF)
    _insert(wh, "consent", [{"consent_id": f"K{i}", "customer_id": c["customer_id"], "purpose": "gov_data",
                             "channel": "any", "status": "granted", "effective_at": dt.datetime(2026, 1, 5, 9),
                             "source": "app"} for i, c in enumerate(custs[:20])]
            + [{"consent_id": f"KW{i}", "customer_id": c["customer_id"], "purpose": "gov_data", "channel": "any",
                "status": "withdrawn", "effective_at": dt.datetime(2026, 6, 10, 9), "source": "app"}
               for i, c in enumerate(custs[17:20])])
    # what the tag medical_insurance_flag is on each day (records received 06-02; consent as above)
    medical = {PREV: set(), AS_OF: {c["customer_id"] for c in custs[:17]}}
    for day in (PREV, AS_OF):
        write_profile(wh, custs, employer, rng, day, medical[day])
    _insert(wh, "merchant", [{"merchant_id": f"M{i}", "name": f"商户{i}", "mcc": "5812", "branch_id": "B1",
                              "owner_customer_id": custs[i]["customer_id"] if i < 3 else None,
                              "enterprise_id": "E0" if i >= 3 else None, "onboarded_on": dt.date(2024, 1, 1),
                              "status": "active" if i != 1 else "closed"} for i in range(5)])
    _insert(wh, "relationship", [{"from_type": "merchant", "from_id": f"M{i}", "to_type": "customer",
                                  "to_id": custs[i]["customer_id"], "kind": "merchant_owner",
                                  "valid_from": dt.date(2024, 1, 1)} for i in range(3)])
    return {"customers": custs, "employer": employer}


TIERS = ("mass", "gold", "wealth", "private")


def write_profile(wh: Any, custs: list[dict[str, Any]], employer: dict[str, str], rng: random.Random,
                  as_of: dt.date, medical: set[str] = frozenset()) -> None:
    import ibis
    import pyarrow as pa

    rows = [{"as_of": as_of, "customer_id": c["customer_id"],
             "payroll_flag": c["customer_id"] in employer and rng.random() < 0.85,
             "app_active_flag": rng.random() < 0.5, "products_held": rng.randint(0, 5),
             "tenure_months": rng.randint(0, 40), "aum": float(rng.randint(0, 300_000)),
             "aum_tier": rng.choice(TIERS), "churn_risk": None if rng.random() < 0.3 else round(rng.random(), 2),
             "payday_regularity": rng.choice(["none", "regular", "irregular"]),
             "new_citizen_flag": bool(c["is_new_citizen"]),
             "credit_card_holder": rng.random() < 0.4, "loan_holder": rng.random() < 0.3,
             "active_days_30d": rng.randint(0, 20), "days_since_last_txn": rng.randint(0, 200),
             "card_spend_90d": float(rng.choice([0, 0, 500, 3000])), "overdue_flag": rng.random() < 0.1,
             "medical_insurance_flag": c["customer_id"] in medical}
            for c in custs]
    schema = pa.schema([("as_of", pa.date32()), ("customer_id", pa.string()), ("payroll_flag", pa.bool_()),
                        ("app_active_flag", pa.bool_()), ("products_held", pa.int64()),
                        ("tenure_months", pa.int64()), ("aum", pa.float64()), ("aum_tier", pa.string()),
                        ("churn_risk", pa.float64()), ("payday_regularity", pa.string()),
                        ("new_citizen_flag", pa.bool_()), ("credit_card_holder", pa.bool_()),
                        ("loan_holder", pa.bool_()), ("active_days_30d", pa.int64()),
                        ("days_since_last_txn", pa.int64()), ("card_spend_90d", pa.float64()),
                        ("overdue_flag", pa.bool_()), ("medical_insurance_flag", pa.bool_())])
    t = ibis.memtable(pa.Table.from_pylist(rows, schema=schema))
    if not wh.has_table("tag_snapshot_customer"):
        wh.con.create_table("tag_snapshot_customer", t)
    else:
        wh.con.insert("tag_snapshot_customer", t)


# ============================================================================ tests on the small bank
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def bank(tmp_path_factory: Any) -> Any:
    from kequn.warehouse import connect

    wh = connect(f"duckdb:///{tmp_path_factory.mktemp('seg') / 'wh.duckdb'}")
    info = build(wh)
    yield wh, info
    wh.close()


def _sql_ids(wh: Any, query: str) -> set[str]:
    return {r[0] for r in wh.con.con.execute(query).fetchall()}


def _ids(expr: Any) -> set[str]:
    return set(expr.to_pyarrow().column("entity_id").to_pylist())


SNAP = f"(SELECT * FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF}')"


def test_standard_group_sizes_equal_hand_written_sql(bank: Any) -> None:
    from kequn.segments import definitions, service

    wh, _ = bank
    std = definitions.load_shipped()
    cases = {
        "payroll": f"SELECT customer_id FROM {SNAP} WHERE payroll_flag",
        "card_loan_cross": f"SELECT customer_id FROM {SNAP} WHERE credit_card_holder AND loan_holder",
        "new_citizens": f"SELECT customer_id FROM {SNAP} WHERE new_citizen_flag",
        "sme": "SELECT enterprise_id FROM enterprise WHERE size IN ('micro','small','medium')",
        "medical_insurance": f"SELECT customer_id FROM {SNAP} WHERE medical_insurance_flag",
    }
    for seg_id, sql in cases.items():
        expected = _sql_ids(wh, sql)
        assert 0 < len(expected), seg_id
        assert _ids(service.evaluate(wh, std[seg_id], AS_OF)) == expected, seg_id
        assert service.size(wh, std[seg_id], AS_OF) == len(expected)


def test_medical_insurance_tag_equals_sql_over_consented_gov_data(bank: Any) -> None:
    """The tag the 医保客群 segment reads, computed by the tag engine on this bank, equals hand-written SQL
    over gov_data and consent — and the snapshot written by build() agrees with it."""
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables

    wh, _ = bank
    got = {r["customer_id"] for r in profile_expr("customer", Tables(wh), AS_OF, ["medical_insurance_flag"])
           .to_pyarrow().to_pylist() if r["medical_insurance_flag"]}
    expected = _sql_ids(wh, f"""
        WITH c AS (SELECT customer_id,
                     max(effective_at) FILTER (WHERE status = 'granted') AS g,
                     max(effective_at) FILTER (WHERE status = 'withdrawn') AS w
                   FROM consent WHERE purpose = 'gov_data' AND effective_at < DATE '{AS_OF}' + INTERVAL 1 DAY
                   GROUP BY customer_id)
        SELECT DISTINCT g.customer_id FROM gov_data g JOIN c USING (customer_id)
        WHERE g.source = 'medical_insurance' AND g.received_on <= DATE '{AS_OF}'
          AND g.received_on > DATE '{AS_OF}' - INTERVAL 365 DAY AND c.g IS NOT NULL AND (c.w IS NULL OR c.g > c.w)""")
    assert len(expected) == 17  # 20 with records, 3 withdrew consent
    assert got == expected == _sql_ids(wh, f"SELECT customer_id FROM {SNAP} WHERE medical_insurance_flag")


def test_rule_with_employer_and_band_equals_sql(bank: Any) -> None:
    from kequn.segments import service
    from kequn.segments.definitions import SegmentDef

    wh, _ = bank
    seg = SegmentDef(id="mfg_rich", name_zh="制造业高资产", name_en="x",
                     rule='payroll_flag and aum_tier >= "wealth" and employer.industry == "制造业"')
    expected = _sql_ids(wh, f"""
        SELECT p.customer_id FROM {SNAP} p
        JOIN relationship r ON r.to_id = p.customer_id AND r.kind = 'employer_employee'
        JOIN enterprise e ON e.enterprise_id = r.from_id  -- one link each here: employer. = payroll_employer
        WHERE p.payroll_flag AND p.aum_tier IN ('wealth', 'private') AND e.industry = '制造业'""")
    assert expected
    assert _ids(service.evaluate(wh, seg, AS_OF)) == expected


def test_previous_snapshot_is_used_for_an_earlier_date(bank: Any) -> None:
    from kequn.segments import definitions, service

    wh, _ = bank
    seg = definitions.load_shipped()["payroll"]
    expected = _sql_ids(wh, f"SELECT customer_id FROM tag_snapshot_customer WHERE as_of = DATE '{PREV}' "
                            "AND payroll_flag")
    assert _ids(service.evaluate(wh, seg, PREV + dt.timedelta(days=3))) == expected


def test_snapshots_trend_entries_exits_and_overlap(bank: Any) -> None:
    from kequn.segments import definitions, service, store

    wh, _ = bank
    std = definitions.load_shipped()
    n_prev = service.snapshot(wh, std["payroll"], PREV)
    n_now = service.snapshot(wh, std["payroll"], AS_OF)
    assert service.snapshot(wh, std["payroll"], AS_OF) == n_now  # idempotent re-run
    assert [r["size"] for r in store.trend(wh, "payroll")] == [n_prev, n_now]
    ch = service.changes(wh, "payroll", PREV, AS_OF)
    q = "SELECT customer_id FROM tag_snapshot_customer WHERE as_of = DATE '{}' AND payroll_flag"
    before, after = _sql_ids(wh, q.format(PREV)), _sql_ids(wh, q.format(AS_OF))
    assert ch["entered"] == len(after - before) and ch["exited"] == len(before - after)
    assert _ids(ch["entries"]) == after - before
    service.snapshot(wh, std["new_citizens"], AS_OF)
    ov = service.overlap(wh, "payroll", "new_citizens", AS_OF)
    nc = _sql_ids(wh, f"SELECT customer_id FROM {SNAP} WHERE new_citizen_flag")
    assert ov["both"] == len(after & nc) and ov["size_a"] == len(after) and ov["size_b"] == len(nc)


def test_snapshot_many_equals_one_by_one(bank: Any) -> None:
    from kequn.segments import definitions, service, store

    wh, _ = bank
    std = definitions.load_shipped()
    segs = [std["payroll"], std["new_citizens"], std["card_loan_cross"], std["sme"]]
    one_by_one = {s.id: service.snapshot(wh, s, AS_OF) for s in segs}
    members = {s.id: _ids(store.membership(wh, s.id, AS_OF)) for s in segs}
    assert service.snapshot_many(wh, segs, AS_OF) == one_by_one
    assert {s.id: _ids(store.membership(wh, s.id, AS_OF)) for s in segs} == members
    assert all(len(m) == one_by_one[k] for k, m in members.items())


def test_merchant_rules_follow_owner_and_enterprise(bank: Any) -> None:
    from kequn.segments import service
    from kequn.segments.definitions import SegmentDef

    wh, info = bank
    seg = SegmentDef(id="m", name_zh="m", name_en="m", entity="merchant",
                     rule='status == "active" and (owner.city == "长沙" or enterprise.industry == "制造业")')
    expected = _sql_ids(wh, """
        SELECT m.merchant_id FROM merchant m LEFT JOIN customer c ON c.customer_id = m.owner_customer_id
        LEFT JOIN enterprise e ON e.enterprise_id = m.enterprise_id
        WHERE m.status = 'active' AND (c.city = '长沙' OR e.industry = '制造业')""")
    assert expected and _ids(service.evaluate(wh, seg, AS_OF)) == expected


def test_portrait_equals_sql(bank: Any) -> None:
    from kequn.segments import definitions, service
    from kequn.segments.portrait import portrait

    wh, _ = bank
    seg = definitions.load_shipped()["payroll"]
    p = portrait(wh, seg, service.evaluate(wh, seg, AS_OF), AS_OF,
                 tags=["app_active_flag", "aum", "aum_tier", "churn_risk"])
    row = wh.con.con.execute(f"""
        SELECT count(*) FILTER (WHERE payroll_flag), count(*),
          avg(CASE WHEN app_active_flag THEN 1.0 ELSE 0.0 END) FILTER (WHERE payroll_flag),
          avg(CASE WHEN app_active_flag THEN 1.0 ELSE 0.0 END),
          avg(aum) FILTER (WHERE payroll_flag), median(aum) FILTER (WHERE payroll_flag),
          avg(churn_risk) FILTER (WHERE payroll_flag)
        FROM {SNAP}""").fetchone()
    by_tag = {t["tag"]: t for t in p["tags"]}
    assert (p["size"], p["population"]) == (row[0], row[1])
    assert by_tag["app_active_flag"]["segment"] == pytest.approx(row[2], abs=1e-4)
    assert by_tag["app_active_flag"]["population"] == pytest.approx(row[3], abs=1e-4)
    assert by_tag["aum"]["segment"] == pytest.approx(row[4], abs=1e-3)
    assert by_tag["aum"]["segment_median"] == pytest.approx(row[5], abs=1e-3)
    assert by_tag["churn_risk"]["segment"] == pytest.approx(row[6], abs=1e-4)
    tiers = wh.con.con.execute(f"SELECT aum_tier, count(*) FROM {SNAP} WHERE payroll_flag GROUP BY 1 "
                               "ORDER BY 2 DESC, 1 LIMIT 5").fetchall()
    assert [(t["value"], t["count"]) for t in by_tag["aum_tier"]["top"]] == tiers


def test_masked_export_never_contains_a_full_phone_or_name(bank: Any, tmp_path: Any) -> None:
    from kequn.segments import definitions, service

    wh, info = bank
    seg = definitions.load_shipped()["payroll"]
    path = tmp_path / "payroll.csv"
    n = service.export(wh, seg, AS_OF, path)
    text = path.read_text(encoding="utf-8-sig")
    assert n == service.size(wh, seg, AS_OF) and n > 0
    for c in info["customers"]:
        assert c["phone"] not in text
    assert "138****" in text and "*" in text.split("\n")[1]
    xlsx = tmp_path / "payroll.xlsx"
    assert service.export(wh, seg, AS_OF, xlsx) == n and xlsx.stat().st_size > 0


def test_uncomputed_tag_is_a_segment_error_not_a_database_error(bank: Any) -> None:
    from kequn.errors import SegmentError
    from kequn.segments import definitions, service

    wh, _ = bank
    with pytest.raises(SegmentError, match="have not been computed"):
        service.size(wh, definitions.load_shipped()["dormant"], AS_OF)
