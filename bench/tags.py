"""Benchmark the tag system (issue 4).

    .venv/bin/python bench/tags.py --customers 1000000            # the issue's size (~100M transactions)
    .venv/bin/python bench/tags.py --customers 20000              # a quick run
    .venv/bin/python bench/tags.py --synth-dir out/synth          # use `kequn synth` Parquet output instead

Measures, in one run on one DuckDB warehouse:

1. the full core tag set (every approved customer, enterprise and merchant tag) computed by
   ``kequn.tags.store.compute`` as of the as-of date — goal ≤ 90 s at 1M customers / ~100M transactions;
2. the 12 transaction-based customer tags through Kequn's Ibis expression vs ONE hand-written DuckDB SQL
   query computing the same 12 (both materialised with CREATE TABLE AS) — goal ratio ≤ 1.3×; the two
   results are checked to be equal;
3. the daily job, incremental: the as-of day's transactions and events are taken out of the warehouse,
   the day before is computed, the day arrives as a batch through ``kequn load`` and the as-of day is
   computed — the recency tags carried forward — then again in full (``--full``); the two snapshots are
   checked to be identical;
4. the tag governance report (coverage, distribution, PSI, IV against ``overdue_flag``, redundancy) on the
   customer snapshot;
5. the same 12 tags in pandas (vectorised groupby) vs Kequn on the same customers — goal Kequn ≥ 10× faster.
   pandas runs on ``--pandas-customers`` customers (default: all, capped at 200,000 ≈ 20M rows so the
   shared machine's memory is not exhausted); Kequn is re-timed on exactly that subset.

Without ``--synth-dir`` the warehouse is generated with DuckDB SQL (a synthetic bank of the same shape as
``kequn synth``: deposit/time-deposit/wealth/card/loan accounts, 12 month-end balances, transactions,
events, payroll, holdings, merchants with daily acquiring).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

AS_OF = dt.date(2026, 10, 31)


# ------------------------------------------------------------------ synthetic warehouse in DuckDB SQL
def _gen_sql(n: int, tpc: int, as_of: dt.date) -> list[str]:
    a = as_of.isoformat()
    end = f"TIMESTAMP '{a}' + INTERVAL 1 DAY"
    m = max(n // 50, 10)  # merchants
    e = max(n // 50, 10)  # enterprises
    return [
        """INSERT INTO branch SELECT 'B' || lpad(i::VARCHAR, 3, '0'), '支行' || i, 'sub_branch', NULL, '长沙',
            DATE '2000-01-01' FROM range(200) t(i)""",
        """INSERT INTO product VALUES ('P_DEP','活期','deposit','bank',true,NULL),('P_TD','定期','time_deposit','bank',true,NULL),
            ('P_WM','理财','wealth','bank',true,NULL),('P_CC','信用卡','credit_card','bank',false,NULL),
            ('P_LOAN','消费贷','loan','subsidiary',true,NULL),('P_INS','保险','insurance','partner',false,NULL),
            ('P_FUND','基金','fund','partner',true,NULL),('P_CORP','对公活期','deposit','bank',false,NULL)""",
        f"""INSERT INTO customer SELECT 'C' || lpad(i::VARCHAR, 8, '0'), '客户', NULL, NULL, CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END,
            DATE '1950-01-01' + CAST(hash(i) % 18000 AS INTEGER), NULL, ['长沙','株洲','湘潭'][1 + i % 3],
            'B' || lpad((i % 200)::VARCHAR, 3, '0'), NULL, DATE '2010-01-01' + CAST(hash(i * 7) % 6000 AS INTEGER),
            i % 10 = 0, CASE WHEN i % 50 = 0 THEN 'closed' ELSE 'active' END,
            CASE WHEN i % 50 = 0 THEN DATE '2026-01-01' + CAST(i % 300 AS INTEGER) END FROM range({n}) t(i)""",
        f"""INSERT INTO enterprise SELECT 'E' || lpad(i::VARCHAR, 6, '0'), '企业' || i, NULL, '制造业', 'small', '长沙',
            'B' || lpad((i % 200)::VARCHAR, 3, '0'), DATE '2015-01-01' + CAST(i % 3000 AS INTEGER), NULL FROM range({e}) t(i)""",
        f"""INSERT INTO account
            SELECT 'A' || k || lpad(i::VARCHAR, 8, '0'), 'C' || lpad(i::VARCHAR, 8, '0'), NULL,
                   ['P_DEP','P_TD','P_WM','P_CC','P_LOAN'][k], ['deposit','time_deposit','wealth','credit_card','loan'][k],
                   'B' || lpad((i % 200)::VARCHAR, 3, '0'), DATE '2015-01-01' + CAST(hash(i + k) % 3000 AS INTEGER),
                   NULL, 'active'
            FROM range({n}) t(i), range(1, 6) s(k)
            WHERE k = 1 OR (k = 2 AND i % 10 < 3) OR (k = 3 AND i % 4 = 0) OR (k = 4 AND i % 10 >= 7) OR (k = 5 AND i % 7 = 0)""",
        f"""INSERT INTO account SELECT 'AE' || lpad(i::VARCHAR, 6, '0'), NULL, 'E' || lpad(i::VARCHAR, 6, '0'), 'P_CORP',
            'deposit', 'B001', DATE '2015-01-01', NULL, 'active' FROM range({e}) t(i)""",
        f"""INSERT INTO balance_monthly
            SELECT a.account_id, last_day(DATE '{a}' - INTERVAL (j) MONTH),
                   CAST((hash(a.account_id || j) % 500000) / 3.0 AS DECIMAL(18,2)),
                   CAST((hash(a.account_id || j || 'd') % 500000) / 3.0 AS DECIMAL(18,2)),
                   CASE WHEN a.kind IN ('loan', 'credit_card') THEN CAST(hash(a.account_id || j) % 100 AS BIGINT) / 90 * 30 END
            FROM account a, range(0, 12) s(j)""",
        f"""INSERT INTO "transaction"
            SELECT 'T' || i, CASE WHEN tt = 'card_spend' AND c % 10 >= 7 THEN 'A4' ELSE 'A1' END || lpad(c::VARCHAR, 8, '0'),
                   'C' || lpad(c::VARCHAR, 8, '0'), ts,
                   CAST(CASE WHEN tt IN ('salary','transfer_in','interest','refund') THEN 1 ELSE -1 END
                        * (1 + hash(i * 3) % 500000) / 100.0 AS DECIMAL(18,2)),
                   ['app','wechat','counter','atm','pos','online','batch','auto'][1 + CAST(hash(i * 5) % 8 AS INTEGER)],
                   tt, NULL, NULL,
                   CASE WHEN tt = 'card_spend' THEN ['5411','5812','5814','5541','5311','5999','4111','5912'][1 + CAST(hash(i * 11) % 8 AS INTEGER)] END
            FROM (SELECT i, CAST(hash(i * 31) % {n} AS BIGINT) AS c,
                         {end} - INTERVAL 1 SECOND * CAST(({n * tpc} - i) * (365 * 86400) // {n * tpc} AS BIGINT) AS ts,
                         ['salary','transfer_in','transfer_out','card_spend','card_spend','card_spend','bill_payment',
                          'cash_withdrawal','interest','refund'][1 + CAST(hash(i * 7) % 10 AS INTEGER)] AS tt
                  FROM range({n * tpc}) t(i))""",
        f"""INSERT INTO "transaction"
            SELECT 'TE' || i, 'AE' || lpad((i % {e})::VARCHAR, 6, '0'), NULL,
                   {end} - INTERVAL 1 SECOND * CAST(hash(i + 99) % (90 * 86400) AS BIGINT),
                   CAST((hash(i) % 1000000) / 10.0 - 40000 AS DECIMAL(18,2)), 'online', 'transfer_in', NULL, NULL, NULL
            FROM range({e * 50}) t(i)""",
        """INSERT INTO touchpoint VALUES ('TP1','首页','app','engagement',NULL),('TP2','网银','web','engagement',NULL),
            ('TP3','网点','branch','service',NULL),('TP4','企微','wechat_work','engagement',NULL)""",
        f"""INSERT INTO event SELECT 'EV' || i, 'C' || lpad((i % {n})::VARCHAR, 8, '0'),
                   {end} - INTERVAL 1 SECOND * CAST(hash(i * 13) % (365 * 86400) AS BIGINT),
                   ['TP1','TP2','TP3','TP4'][1 + k], ['app','web','branch','wechat_work'][1 + k], NULL
            FROM (SELECT i, CAST(hash(i * 17) % 4 AS INTEGER) AS k FROM range({n * 20}) t(i))""",
        f"""INSERT INTO holding SELECT 'H' || i, 'C' || lpad((i * 5)::VARCHAR, 8, '0'), CASE WHEN i % 2 = 0 THEN 'P_INS' ELSE 'P_FUND' END,
            DATE '2020-01-01' + CAST(i % 2000 AS INTEGER), NULL, 10000 FROM range({n // 5}) t(i)""",
        f"""INSERT INTO payroll_batch SELECT 'PB' || e || '_' || j, 'E' || lpad(e::VARCHAR, 6, '0'),
            CAST(last_day(DATE '{a}' - INTERVAL (j) MONTH) AS DATE) - 20 + CAST(e % 3 AS INTEGER), 10, 100000
            FROM range({e}) t(e), range(0, 12) s(j)""",
        f"""INSERT INTO payroll_item SELECT 'PB' || (c % {e}) || '_' || j, 'C' || lpad(c::VARCHAR, 8, '0'),
            'A1' || lpad(c::VARCHAR, 8, '0'), 3000 + c % 20000
            FROM range(0, {n}, 3) t(c), range(0, 12) s(j)""",
        f"""INSERT INTO merchant SELECT 'M' || lpad(i::VARCHAR, 6, '0'), '商户' || i, '5812',
            CASE WHEN i % 2 = 0 THEN 'C' || lpad((i * 37 % {n})::VARCHAR, 8, '0') END,
            CASE WHEN i % 2 = 1 THEN 'E' || lpad((i % {e})::VARCHAR, 6, '0') END, 'B001', 1, DATE '2018-01-01', 'active', NULL
            FROM range({m}) t(i)""",
        f"""INSERT INTO acquiring_daily SELECT 'M' || lpad(i::VARCHAR, 6, '0'), DATE '{a}' - CAST(d AS INTEGER),
            CAST(hash(i + d) % 40 AS BIGINT), CAST((hash(i + d) % 40) * 55.5 AS DECIMAL(18,2)),
            CAST(hash(i * d) % 2 AS BIGINT), CAST((hash(i * d) % 2) * 30 AS DECIMAL(18,2))
            FROM range({m}) t(i), range(0, 365) s(d)""",
    ]


def build_generated(wh, n: int, tpc: int) -> None:
    from kequn.warehouse.schema import create_tables

    create_tables(wh)
    for sql in _gen_sql(n, tpc, AS_OF):
        t0 = time.perf_counter()
        wh.sql(sql)
        print(f"  generated {sql.split('INTO', 1)[1].split()[0]:18} in {time.perf_counter() - t0:6.1f} s", flush=True)


def build_from_synth(wh, folder: Path) -> None:
    from kequn.domain.datamodel import TABLES_BY_NAME
    from kequn.warehouse.schema import create_tables

    create_tables(wh)
    for path in sorted(folder.glob("*.parquet")):
        if path.stem in TABLES_BY_NAME:
            cols = ", ".join(f'"{c}"' for c in TABLES_BY_NAME[path.stem].column_names)
            wh.sql(f'INSERT INTO "{path.stem}" ({cols}) SELECT {cols} FROM read_parquet(\'{path}\')')
            print(f"  loaded {path.stem}", flush=True)


# ------------------------------------------------------------------ the 12 transaction tags, by hand
def hand_sql(as_of: dt.date) -> str:
    a = as_of.isoformat()
    s30 = (as_of - dt.timedelta(days=29)).isoformat()
    s90 = (as_of - dt.timedelta(days=89)).isoformat()
    s365 = (as_of - dt.timedelta(days=364)).isoformat()
    end = (as_of + dt.timedelta(days=1)).isoformat()
    spend = f"txn_type = 'card_spend' AND amount < 0 AND ts >= TIMESTAMP '{s90}'"
    from kequn.domain.datamodel import CHANNELS_TXN

    channel_counts = ",\n    ".join(
        f"COUNT(*) FILTER (WHERE channel = '{c}' AND ts >= TIMESTAMP '{s90}') AS ch_{c}" for c in CHANNELS_TXN)
    top = f"greatest({', '.join(f'x.ch_{c}' for c in CHANNELS_TXN)})"
    channel_cases = " ".join(f"WHEN x.ch_{c} = {top} AND {top} > 0 THEN '{c}'" for c in CHANNELS_TXN)
    return f"""
SELECT c.customer_id,
  CAST(COALESCE(x.money_in_30d, 0) AS DECIMAL(18,2)) AS money_in_30d,
  CAST(COALESCE(x.money_in_90d, 0) AS DECIMAL(18,2)) AS money_in_90d,
  CAST(COALESCE(x.money_out_30d, 0) AS DECIMAL(18,2)) AS money_out_30d,
  CAST(COALESCE(x.money_out_90d, 0) AS DECIMAL(18,2)) AS money_out_90d,
  COALESCE(x.txn_count_30d, 0) AS txn_count_30d,
  COALESCE(x.txn_count_90d, 0) AS txn_count_90d,
  COALESCE(x.active_days_30d, 0) AS active_days_30d,
  CASE {channel_cases} END AS channel_preference,
  CAST(COALESCE(x.card_spend_90d, 0) AS DECIMAL(18,2)) AS card_spend_90d,
  ROUND(x.weekend_spend / NULLIF(x.card_spend_90d, 0), 4) AS weekend_spend_share,
  ROUND(x.night_spend / NULLIF(x.card_spend_90d, 0), 4) AS night_spend_share,
  x.days_since_last_txn
FROM customer c LEFT JOIN (
  SELECT customer_id,
    SUM(amount) FILTER (WHERE amount > 0 AND ts >= TIMESTAMP '{s30}') AS money_in_30d,
    SUM(amount) FILTER (WHERE amount > 0 AND ts >= TIMESTAMP '{s90}') AS money_in_90d,
    SUM(-amount) FILTER (WHERE amount < 0 AND ts >= TIMESTAMP '{s30}') AS money_out_30d,
    SUM(-amount) FILTER (WHERE amount < 0 AND ts >= TIMESTAMP '{s90}') AS money_out_90d,
    COUNT(*) FILTER (WHERE ts >= TIMESTAMP '{s30}') AS txn_count_30d,
    COUNT(*) FILTER (WHERE ts >= TIMESTAMP '{s90}') AS txn_count_90d,
    bit_count(bit_or(CASE WHEN ts >= TIMESTAMP '{s30}'
        THEN CAST(1 AS BIGINT) << date_diff('day', DATE '{s30}', CAST(ts AS DATE)) END)) AS active_days_30d,
    {channel_counts},
    SUM(-amount) FILTER (WHERE {spend}) AS card_spend_90d,
    CAST(SUM(-amount) FILTER (WHERE {spend} AND isodow(ts) >= 6) AS DOUBLE) AS weekend_spend,
    CAST(SUM(-amount) FILTER (WHERE {spend} AND (hour(ts) >= 22 OR hour(ts) < 6)) AS DOUBLE) AS night_spend,
    date_diff('day', CAST(MAX(ts) AS DATE), DATE '{a}') AS days_since_last_txn
  FROM "transaction"
  WHERE customer_id IS NOT NULL AND ts >= TIMESTAMP '{s365}' AND ts < TIMESTAMP '{end}'
  GROUP BY customer_id
) x ON x.customer_id = c.customer_id
WHERE c.onboarded_on <= DATE '{a}'
"""


# ------------------------------------------------------------------ the 12 transaction tags, in pandas
def pandas_tags(df, customers, as_of: dt.date):
    import pandas as pd

    end = pd.Timestamp(as_of + dt.timedelta(days=1))
    s30, s90 = pd.Timestamp(as_of - dt.timedelta(days=29)), pd.Timestamp(as_of - dt.timedelta(days=89))
    df = df[df["customer_id"].notna() & (df["ts"] >= pd.Timestamp(as_of - dt.timedelta(days=364))) & (df["ts"] < end)]
    last_ts = df.groupby("customer_id")["ts"].max()  # the only tag looking back a year
    df = df[df["ts"] >= s90]  # every other tag reads the last 90 days (the same split as Kequn's)
    amt = df["amount"].astype("float64")
    in30, in90 = df["ts"] >= s30, df["ts"] >= s90
    spend = (df["txn_type"] == "card_spend") & (amt < 0) & in90
    out = -amt.clip(upper=0)
    w = pd.DataFrame({
        "customer_id": df["customer_id"],
        "money_in_30d": amt.clip(lower=0).where(in30, 0), "money_in_90d": amt.clip(lower=0).where(in90, 0),
        "money_out_30d": out.where(in30, 0), "money_out_90d": out.where(in90, 0),
        "txn_count_30d": in30.astype("int64"), "txn_count_90d": in90.astype("int64"),
        "card_spend_90d": out.where(spend, 0),
        "weekend": out.where(spend & (df["ts"].dt.day_of_week >= 5), 0),
        "night": out.where(spend & ((df["ts"].dt.hour >= 22) | (df["ts"].dt.hour < 6)), 0),
    })
    g = w.groupby("customer_id").sum()
    g["active_days_30d"] = df.loc[in30].assign(d=df["ts"].dt.normalize()).groupby("customer_id")["d"].nunique()
    from kequn.domain.datamodel import CHANNELS_TXN

    ch = df.loc[in90].groupby(["customer_id", "channel"]).size().reset_index(name="n")
    ch["order"] = ch["channel"].map({c: i for i, c in enumerate(CHANNELS_TXN)})
    ch = ch.sort_values(["customer_id", "n", "order"], ascending=[True, False, True]).drop_duplicates("customer_id")
    g["channel_preference"] = ch.set_index("customer_id")["channel"]
    g["weekend_spend_share"] = (g.pop("weekend") / g["card_spend_90d"].where(g["card_spend_90d"] != 0)).round(4)
    g["night_spend_share"] = (g.pop("night") / g["card_spend_90d"].where(g["card_spend_90d"] != 0)).round(4)
    g = g.reindex(g.index.union(last_ts.index))
    g["days_since_last_txn"] = (pd.Timestamp(as_of) - last_ts.dt.normalize()).dt.days
    g = g.reindex(customers)
    zero = ["money_in_30d", "money_in_90d", "money_out_30d", "money_out_90d", "txn_count_30d", "txn_count_90d",
            "card_spend_90d", "active_days_30d"]
    g[zero] = g[zero].fillna(0)
    return g


# ------------------------------------------------------------------ timing helpers
def timed(label: str, fn):
    t0 = time.perf_counter()
    value = fn()
    s = time.perf_counter() - t0
    print(f"  {label:58} {s:8.2f} s", flush=True)
    return s, value


def ctas(wh, name: str, sql: str) -> None:
    wh.sql(f'DROP TABLE IF EXISTS "{name}"')
    wh.sql(f'CREATE TABLE "{name}" AS {sql}')


def checksum(wh, table: str) -> tuple:
    return wh.sql(f"""SELECT count(*), sum(money_in_30d), sum(money_out_90d), sum(txn_count_90d), sum(active_days_30d),
        sum(card_spend_90d), round(sum(weekend_spend_share), 3), round(sum(night_spend_share), 3),
        sum(days_since_last_txn), count(channel_preference), sum(hash(coalesce(channel_preference, '')))
        FROM "{table}" """).fetchone()


def kequn_txn_sql(wh) -> str:
    from kequn.tags.build import profile_expr
    from kequn.tags.model import Tables
    from kequn.tags.registry import TRANSACTION_TAGS

    return wh.con.compile(profile_expr("customer", Tables(wh), AS_OF, list(TRANSACTION_TAGS)))


def subset_db(wh, folder: Path, k: int) -> Path:
    """A second warehouse holding the first ``k`` customers and their transactions (for the pandas race)."""
    path = folder / f"subset_{k}.duckdb"
    if path.exists():
        path.unlink()
    wh.sql(f"ATTACH '{path}' AS sub")
    wh.sql(f"CREATE TABLE sub.customer AS SELECT * FROM customer ORDER BY customer_id LIMIT {k}")
    # in arrival (time) order, like the full table, so both engines see the same physical layout
    wh.sql('CREATE TABLE sub."transaction" AS SELECT t.* FROM "transaction" t SEMI JOIN sub.customer c '
           'ON t.customer_id = c.customer_id ORDER BY t.ts')
    wh.sql("DETACH sub")
    return path


# ------------------------------------------------------------------ the daily job, incremental
def daily_run(wh, specs, folder: Path, res: dict) -> None:
    """Phase 3: yesterday computed, today's flows loaded as a batch, today computed incrementally and in full."""
    from kequn.ingest import load_dir
    from kequn.tags.store import compute

    prev = AS_OF - dt.timedelta(days=1)
    day_dir = folder / "day_batch"
    day_dir.mkdir(parents=True, exist_ok=True)
    since = f"TIMESTAMP '{AS_OF.isoformat()}'"
    rows = 0
    for t in ("transaction", "event"):  # the as-of day's export, as it would arrive
        wh.sql(f'COPY (SELECT * FROM "{t}" WHERE ts >= {since}) TO \'{day_dir / t}.parquet\' (FORMAT parquet)')
        rows += wh.sql(f'SELECT count(*) FROM "{t}" WHERE ts >= {since}').fetchone()[0]
        wh.sql(f'DELETE FROM "{t}" WHERE ts >= {since}')
    wh.sql("CHECKPOINT")
    res["day_rows"] = rows
    res["day_before_full_s"], _ = timed(f"Kequn: full core set as of {prev} (yesterday)",
                                        lambda: compute(wh, prev, specs, force=True, full=True))
    res["day_load_s"], summary = timed(f"kequn load: the day's batch ({rows:,} transactions + events)",
                                       lambda: load_dir(wh, day_dir, batch_id=f"bench-day-{time.time_ns()}"))
    assert summary.loaded == rows and summary.quarantined == 0, summary.to_dict()
    res["incremental_s"], runs = timed(f"Kequn: full core set as of {AS_OF}, incremental",
                                       lambda: compute(wh, AS_OF, specs, force=True))
    res["incremental_mode"] = runs[0].mode
    snap = f"(SELECT * FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF.isoformat()}')"
    ctas(wh, "_b_incr", f"SELECT * FROM {snap}")
    res["full_again_s"], _ = timed("Kequn: the same, --full (every source scanned)",
                                   lambda: compute(wh, AS_OF, specs, force=True, full=True))
    diff = wh.sql(f"SELECT (SELECT count(*) FROM (SELECT * FROM _b_incr EXCEPT SELECT * FROM {snap})) + "
                  f"(SELECT count(*) FROM (SELECT * FROM {snap} EXCEPT SELECT * FROM _b_incr))").fetchone()[0]
    res["incremental_same_result"] = diff == 0
    res["incremental_speedup"] = round(res["full_again_s"] / res["incremental_s"], 2)
    wh.sql("DROP TABLE IF EXISTS _b_incr")
    print(f"  customer run: {res['incremental_mode']}; {res['incremental_speedup']}× faster than --full; "
          f"identical snapshots: {res['incremental_same_result']}", flush=True)
    for f in day_dir.iterdir():
        f.unlink()
    day_dir.rmdir()


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--txn-per-customer", type=int, default=100)
    p.add_argument("--db", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "kequn-bench-tags" / "wh.duckdb")
    p.add_argument("--reuse", action="store_true", help="Reuse --db when it exists (skip generation).")
    p.add_argument("--synth-dir", type=Path, help="Load `kequn synth` Parquet output instead of generating.")
    p.add_argument("--pandas-customers", type=int, default=200_000)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="Keep the warehouse file afterwards.")
    p.add_argument("--build-only", action="store_true", help="Build the warehouse (kept) and stop: time later "
                                                                "with --reuse on a quiet machine.")
    p.add_argument("--skip-daily", action="store_true", help="Skip the incremental daily-job phase.")
    p.add_argument("--memory-limit", default="6GB", help="DuckDB memory limit (the machine is shared).")
    args = p.parse_args(argv)

    from kequn.tags.approval import approved_ids
    from kequn.tags.catalog import default_catalog
    from kequn.tags.store import compute
    from kequn.warehouse import connect

    args.db.parent.mkdir(parents=True, exist_ok=True)
    fresh = not (args.reuse and args.db.exists())
    if fresh and args.db.exists():
        args.db.unlink()
    wh = connect(f"duckdb:///{args.db}", threads=args.threads)
    wh.sql(f"SET memory_limit = '{args.memory_limit}'")
    if fresh:
        print(f"building warehouse at {args.db}", flush=True)
        t0 = time.perf_counter()
        build_from_synth(wh, args.synth_dir) if args.synth_dir else build_generated(wh, args.customers, args.txn_per_customer)
        wh.sql("CHECKPOINT")
        print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.build_only:
        wh.close()
        return {"built": str(args.db)}
    n_cust = wh.sql("SELECT count(*) FROM customer").fetchone()[0]
    n_txn = wh.sql('SELECT count(*) FROM "transaction"').fetchone()[0]
    print(f"warehouse: {n_cust:,} customers, {n_txn:,} transactions; as of {AS_OF}", flush=True)

    cat = default_catalog()
    specs = {i: cat[i] for i in approved_ids(cat)}
    res: dict = {"customers": n_cust, "transactions": n_txn, "as_of": AS_OF.isoformat(), "tags": len(specs)}
    print("timings:", flush=True)
    res["full_core_s"], runs = timed(f"Kequn: full core set ({len(specs)} tags, 3 profiles + snapshots)",
                                     lambda: compute(wh, AS_OF, specs, force=True, full=True))
    res["full_core_per_entity"] = {r.entity: r.seconds for r in runs}
    res["hand_12_s"], _ = timed("hand-written DuckDB SQL: 12 transaction tags",
                                lambda: ctas(wh, "_b_hand", hand_sql(AS_OF)))
    res["kequn_12_s"], _ = timed("Kequn Ibis: the same 12 transaction tags (incl. compiling)",
                                 lambda: ctas(wh, "_b_kequn", kequn_txn_sql(wh)))
    res["ratio_kequn_to_hand"] = round(res["kequn_12_s"] / res["hand_12_s"], 3)
    res["same_result"] = checksum(wh, "_b_hand") == checksum(wh, "_b_kequn")
    print(f"  ratio Kequn / hand SQL = {res['ratio_kequn_to_hand']}; identical results: {res['same_result']}", flush=True)

    wh.sql("DROP TABLE IF EXISTS _b_hand")
    wh.sql("DROP TABLE IF EXISTS _b_kequn")
    if not args.skip_daily:
        daily_run(wh, specs, args.db.parent, res)
    from kequn.tags.governance import report

    res["governance_report_s"], rep = timed("kequn tags report --target overdue_flag (customer)",
                                            lambda: report(wh, "customer", cat, target="overdue_flag"))
    res["governance_recommendations"] = len(rep.recommendations)
    k = min(args.pandas_customers, n_cust)
    sub = subset_db(wh, args.db.parent, k) if k < n_cust else None  # all customers: the warehouse itself
    wh.close()
    sw = connect(f"duckdb:///{sub or args.db}", threads=args.threads)
    sw.sql(f"SET memory_limit = '{args.memory_limit}'")
    from kequn.warehouse.schema import create_tables

    create_tables(sw)
    sub_txn = sw.sql('SELECT count(*) FROM "transaction"').fetchone()[0]
    res["pandas_customers"], res["pandas_transactions"] = k, sub_txn
    res["kequn_12_subset_s"], _ = timed(f"Kequn: 12 tags on {k:,} customers / {sub_txn:,} txns",
                                        lambda: ctas(sw, "_b_kequn", kequn_txn_sql(sw)))
    t0 = time.perf_counter()
    df = sw.sql('SELECT customer_id, ts, amount, channel, txn_type FROM "transaction"').df()
    customers = sw.sql("SELECT customer_id FROM customer WHERE onboarded_on <= DATE "
                       f"'{AS_OF.isoformat()}'").df()["customer_id"]
    res["pandas_load_s"] = round(time.perf_counter() - t0, 2)
    res["pandas_12_s"], pdf = timed(f"pandas: 12 tags on the same data (excl. {res['pandas_load_s']} s load)",
                                    lambda: pandas_tags(df, customers, AS_OF))
    kq = sw.sql("SELECT sum(txn_count_90d), sum(active_days_30d), count(channel_preference) FROM _b_kequn").fetchone()
    res["pandas_same_counts"] = (int(pdf["txn_count_90d"].sum()), int(pdf["active_days_30d"].sum()),
                                 int(pdf["channel_preference"].notna().sum())) == tuple(int(v) for v in kq)
    res["pandas_speedup"] = round(res["pandas_12_s"] / res["kequn_12_subset_s"], 1)
    print(f"  Kequn is {res['pandas_speedup']}× faster than pandas; same counts: {res['pandas_same_counts']}", flush=True)
    # the same query on one core: how much of the ratio is DuckDB's parallelism (pandas uses one core)
    df = None  # free the frame before the next timing
    sw.sql("SET threads = 1")
    res["kequn_12_subset_1thread_s"], _ = timed("Kequn: the same 12 tags, DuckDB on 1 thread",
                                                lambda: ctas(sw, "_b_kequn", kequn_txn_sql(sw)))
    res["pandas_speedup_1thread"] = round(res["pandas_12_s"] / res["kequn_12_subset_1thread_s"], 1)
    print(f"  on one thread Kequn is {res['pandas_speedup_1thread']}× faster than pandas", flush=True)
    sw.sql("DROP TABLE IF EXISTS _b_kequn")
    sw.close()
    if sub:
        sub.unlink()
    if not args.keep:
        args.db.unlink()
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
