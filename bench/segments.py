"""Bench: 20 segments over 1M customers (goal ≤ 10 s) and journeys for 1M customers (goal ≤ 30 s).

The profile snapshot (``tag_snapshot_customer``) and the payroll links are generated in DuckDB with SQL
(the real 1M tag pipeline is not needed to time segments). Baseline: the same 20 segment counts as one
hand-written DuckDB SQL statement each, in the same run.

    .venv/bin/python bench/segments.py [--customers 1000000] [--threads 0] [--no-doc]

At the default size (1M) the section "Segments and journeys" of docs/performance.md is rewritten
(bench/_perfdoc.write_section, with the machine's load average); smaller runs only print.

``employer.`` in a rule is the customer tag ``payroll_employer`` (docs/segments.md), so the generated
snapshot holds that column (the enterprise of 60 % of customers), as a computed profile does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2026, 6, 30)

RULES = [
    "payroll_flag", "credit_card_holder and loan_holder", "new_citizen_flag", 'aum_tier >= "wealth"',
    'aum_tier == "mass" and aum < 50000 and not payroll_flag', 'lifecycle_stage == "dormant"',
    "app_active_flag and products_held >= 3", "churn_risk >= 0.7 and aum > 100000",
    'city in ["长沙", "株洲"] and payroll_flag', "tenure_months < 6", "products_held == 1 and aum >= 10000",
    'payday_regularity == "irregular"', "not app_active_flag and days_since_last_login > 90",
    'employer.industry == "制造业"', 'employer.industry in ["教育", "卫生"] and salary_avg_90d > 8000',
    "overdue_flag", "wealth_holder or insurance_holder", "loan_holder and not credit_card_holder",
    'aum_tier <= "gold" and contribution_estimate > 2000', "churn_risk is null",
]

SQL = [
    "payroll_flag", "credit_card_holder AND loan_holder", "new_citizen_flag", "aum_tier IN ('wealth','private')",
    "aum_tier = 'mass' AND aum < 50000 AND NOT payroll_flag", "lifecycle_stage = 'dormant'",
    "app_active_flag AND products_held >= 3", "churn_risk >= 0.7 AND aum > 100000",
    "p.city IN ('长沙','株洲') AND payroll_flag", "tenure_months < 6", "products_held = 1 AND aum >= 10000",
    "payday_regularity = 'irregular'", "NOT app_active_flag AND days_since_last_login > 90",
    "e.industry = '制造业'", "e.industry IN ('教育','卫生') AND salary_avg_90d > 8000", "overdue_flag",
    "wealth_holder OR insurance_holder", "loan_holder AND NOT credit_card_holder",
    "aum_tier IN ('mass','gold') AND contribution_estimate > 2000", "churn_risk IS NULL",
]


def generate(wh, n: int) -> None:
    from kequn.warehouse.schema import create_tables

    create_tables(wh)
    con = wh.con.con
    n_ent = max(n // 50, 10)
    con.execute(f"""
        INSERT INTO enterprise (enterprise_id, name, industry, size, branch_id, onboarded_on)
        SELECT 'E' || i, '企业' || i, (['制造业','教育','卫生','批发和零售业','建筑业'])[1 + i % 5],
               (['micro','small','medium','large'])[1 + i % 4], 'B1', DATE '2020-01-01' FROM range({n_ent}) t(i)""")
    con.execute(f"""
        INSERT INTO relationship (from_type, from_id, to_type, to_id, kind, valid_from)
        SELECT 'enterprise', 'E' || (hash(i) % {n_ent}), 'customer', 'C' || i, 'employer_employee', DATE '2025-01-01'
        FROM range({n}) t(i) WHERE i % 5 < 3""")
    con.execute(f"""
        CREATE TABLE tag_snapshot_customer AS SELECT DATE '{AS_OF}' AS as_of, 'C' || i AS customer_id,
          random() < 0.5 AS payroll_flag, random() < 0.3 AS credit_card_holder, random() < 0.2 AS loan_holder,
          random() < 0.2 AS new_citizen_flag, (['mass','gold','wealth','private'])[1 + (hash(i) % 4)::INT] AS aum_tier,
          round(random() * 500000, 2) AS aum, (['new','growing','mature','dormant','declining'])[1 + (hash(i*7) % 5)::INT]
            AS lifecycle_stage, random() < 0.5 AS app_active_flag, (random() * 6)::BIGINT AS products_held,
          CASE WHEN random() < 0.3 THEN NULL ELSE round(random(), 3) END AS churn_risk,
          (['长沙','株洲','湘潭','岳阳'])[1 + (hash(i*3) % 4)::INT] AS city, (random() * 120)::BIGINT AS tenure_months,
          (['none','regular','irregular'])[1 + (hash(i*5) % 3)::INT] AS payday_regularity,
          (random() * 200)::BIGINT AS days_since_last_login, round(random() * 20000, 2) AS salary_avg_90d,
          random() < 0.05 AS overdue_flag, random() < 0.2 AS wealth_holder, random() < 0.1 AS insurance_holder,
          round(random() * 10000, 2) AS contribution_estimate, (random() * 30)::BIGINT AS active_days_30d,
          round(random() * 5000, 2) AS card_spend_90d, (random() * 120)::BIGINT AS days_since_last_txn,
          CASE WHEN i % 5 < 3 THEN 'E' || (hash(i) % {n_ent}) END AS payroll_employer
        FROM range({n}) t(i)""")


def bench_segments(wh) -> dict[str, float]:
    from kequn.segments import catalogue, service
    from kequn.segments.definitions import SegmentDef

    cat = catalogue.load(wh)
    segs = [SegmentDef(id=f"s{i}", name_zh=f"客群{i}", name_en=f"s{i}", rule=r) for i, r in enumerate(RULES)]
    t0 = time.perf_counter()
    sizes = [service.size(wh, s, AS_OF, cat) for s in segs]
    live = time.perf_counter() - t0
    t0 = time.perf_counter()
    stored = service.snapshot_many(wh, segs, AS_OF, cat)
    snap = time.perf_counter() - t0
    con = wh.con.con
    t0 = time.perf_counter()
    base = []
    for cond in SQL:
        join = "LEFT JOIN enterprise e ON e.enterprise_id = p.payroll_employer" if "e.industry" in cond else ""
        base.append(con.execute(f"SELECT count(*) FROM tag_snapshot_customer p {join} "
                                f"WHERE p.as_of = DATE '{AS_OF}' AND ({cond})").fetchone()[0])
    baseline = time.perf_counter() - t0
    assert sizes == base == [stored[s.id] for s in segs], (sizes, base)
    return {"live": live, "snapshot": snap, "baseline": baseline, "members": sum(sizes)}


def bench_journeys(wh) -> tuple[float, dict[str, int]]:
    from kequn.segments import catalogue, journeys

    cat = catalogue.load(wh)
    t0 = time.perf_counter()
    out = {t.id: journeys.run(wh, t, AS_OF, cat)["customers"] for t in journeys.load_tracks().values()}
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-doc", action="store_true", help="print only; do not update docs/performance.md")
    args = ap.parse_args()
    from kequn.warehouse import connect

    with tempfile.TemporaryDirectory() as d:
        wh = connect(f"duckdb:///{Path(d) / 'bench.duckdb'}", threads=args.threads)
        t0 = time.perf_counter()
        generate(wh, args.customers)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")
        r = bench_segments(wh)
        print(f"20 segment sizes (parse, check, compile, count):   {r['live']:.2f} s  (goal ≤ 10 s)")
        print(f"baseline, 20 hand-written DuckDB SQL counts:        {r['baseline']:.2f} s  (sizes equal)")
        print(f"20 daily membership snapshots stored ({r['members']:,} rows): {r['snapshot']:.2f} s")
        jt, counts = bench_journeys(wh)
        print(f"journeys ({len(counts)} tracks, assign + store + transitions): {jt:.2f} s (goal ≤ 30 s) {counts}")
        wh.close()
    if args.customers >= DEFAULT_CUSTOMERS and not args.no_doc:
        write_doc(args, r, jt, counts)
    else:
        print("(docs/performance.md not updated: only the default-size run writes it)")


TITLE = "Segments and journeys (kequn segments / kequn journeys)"
DEFAULT_CUSTOMERS = 1_000_000


def write_doc(args, r: dict[str, float], jt: float, counts: dict[str, int]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _perfdoc import DOC, write_section

    cmd = f".venv/bin/python bench/segments.py --customers {args.customers}"
    write_section(TITLE, cmd, [
        ("baseline: the 20 counts as hand-written DuckDB SQL (same run)", f"{r['baseline']:.2f} s", "—", "—", True),
        ("20 segment sizes: parse, type-check against the catalogue, compile to Ibis, count", f"{r['live']:.2f} s",
         f"{r['baseline']:.2f} s ({r['live'] / r['baseline']:.1f}×)", "≤ 10 s", r["live"] <= 10),
        (f"20 daily membership snapshots stored in one DELETE + one INSERT ({r['members']:,} member rows) + sizes",
         f"{r['snapshot']:.2f} s", "—", "—", True),
        (f"journeys: {len(counts)} tracks, {sum(counts.values()):,} track memberships, stage assignment + store "
         "+ transitions", f"{jt:.2f} s", "—", "≤ 30 s", jt <= 30),
    ])
    notes = [f"A {args.customers:,}-customer profile snapshot (`tag_snapshot_customer`, 25 tag columns incl. "
             "`payroll_employer`) and enterprises are generated in a temporary DuckDB file with SQL (the real tag "
             "pipeline is not needed to time segments). Twenty rules of the segment language (flags, numbers, "
             "text bands, `in`, `is null`, two through `employer.industry` = the `payroll_employer` tag), the "
             "shipped journey tracks. Sizes equal the hand-written SQL (the script asserts it)."]
    text = DOC.read_text(encoding="utf-8")
    head = text.index(f"## {TITLE}\n")
    nxt = text.find("\n## ", head + 1)
    end = len(text) if nxt < 0 else nxt + 1
    DOC.write_text(text[:head] + text[head:end].rstrip("\n") + "\n\n" + "\n\n".join(notes) + "\n\n" + text[end:],
                   encoding="utf-8")


if __name__ == "__main__":
    main()
