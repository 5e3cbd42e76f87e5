"""The synthetic bank: schema conformance, determinism, realistic shapes, planted churn decline."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from kequn.domain.datamodel import TABLES, TABLES_BY_NAME
from kequn.errors import ValidationError
from kequn.synth.generate import SynthParams, generate
from kequn.synth.writer import arrow_schema

END = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "bank"
    generate(out, SynthParams(customers=2500, months=12, seed=11, end=END))
    return out


@pytest.fixture(scope="module")
def con(bank: Path):
    import duckdb

    c = duckdb.connect()
    for t in TABLES:
        c.sql(f"CREATE VIEW \"{t.name}\" AS SELECT * FROM read_parquet('{bank / (t.name + '.parquet')}')")
    for name in ("customer", "customer_month", "merchant", "merchant_month", "campaign_contacts"):
        c.sql(f"CREATE VIEW truth_{name} AS SELECT * FROM read_parquet('{bank / 'truth' / (name + '.parquet')}')")
    yield c
    c.close()


def one(con, sql: str):  # noqa: ANN001, ANN201
    return con.sql(sql).fetchone()


# ------------------------------------------------------------------------------------------ schema
def test_every_table_has_the_canonical_columns_and_types(bank: Path) -> None:
    import pyarrow.parquet as pq

    for t in TABLES:
        schema = pq.read_schema(bank / f"{t.name}.parquet")
        assert schema.names == list(t.column_names), t.name
        expected = arrow_schema(t)
        for f in expected:
            assert schema.field(f.name).type == f.type, f"{t.name}.{f.name}"
        assert pq.ParquetFile(bank / f"{t.name}.parquet").metadata.num_rows > 0, f"{t.name} is empty"


def test_not_null_enum_range_and_not_future(con) -> None:  # noqa: ANN001
    problems = []
    for t in TABLES:
        for c in t.columns:
            col = f'"{c.name}"'
            checks = []
            if not c.nullable:
                checks.append(f"{col} IS NULL")
            if c.enum:
                checks.append(f"{col} NOT IN ({', '.join(repr(e) for e in c.enum)})")
            if c.min is not None:
                checks.append(f"{col} < {c.min}")
            if c.max is not None:
                checks.append(f"{col} > {c.max}")
            if c.not_future:
                checks.append(f"{col} > DATE '{END}' + INTERVAL 1 DAY")
            for chk in checks:
                n = one(con, f'SELECT count(*) FROM "{t.name}" WHERE {chk}')[0]
                if n:
                    problems.append(f"{t.name}: {n} rows with {chk}")
    assert problems == []


def test_primary_keys_unique_and_foreign_keys_resolve(con) -> None:  # noqa: ANN001
    problems = []
    for t in TABLES:
        pk = ", ".join(f'"{k}"' for k in t.primary_key)
        dup = one(con, f'SELECT count(*) FROM (SELECT {pk} FROM "{t.name}" GROUP BY ALL HAVING count(*) > 1)')[0]
        if dup:
            problems.append(f"{t.name}: {dup} duplicate keys")
        for c in t.columns:
            if c.fk is None:
                continue
            ref = TABLES_BY_NAME[c.fk.table]
            # payroll_item.batch_id declares payroll_batch.payroll_batch_id; the key there is batch_id
            col = c.fk.column if c.fk.column in ref.column_names else ref.primary_key[0]
            orphans = one(con, f'SELECT count(*) FROM "{t.name}" x WHERE x."{c.name}" IS NOT NULL AND NOT EXISTS '
                               f'(SELECT 1 FROM "{c.fk.table}" y WHERE y."{col}" = x."{c.name}")')[0]
            if orphans:
                problems.append(f"{t.name}.{c.name}: {orphans} rows point nowhere")
    key = {"enterprise": "enterprise_id", "customer": "customer_id", "merchant": "merchant_id", "programme": "programme_id"}
    for end in ("from", "to"):
        for typ, pk in key.items():
            n = one(con, f"SELECT count(*) FROM relationship r WHERE {end}_type = '{typ}' AND NOT EXISTS "
                         f"(SELECT 1 FROM {typ} y WHERE y.{pk} = r.{end}_id)")[0]
            if n:
                problems.append(f"relationship.{end}_id: {n} {typ} endpoints missing")
    assert problems == []


def test_identity_formats(con) -> None:  # noqa: ANN001
    bad_id = one(con, r"SELECT count(*) FROM customer WHERE NOT regexp_full_match(id_number, '\d{17}[\dX]')")[0]
    bad_phone = one(con, r"SELECT count(*) FROM customer WHERE NOT regexp_full_match(phone, '1[3-9]\d{9}')")[0]
    bad_uscc = one(con, "SELECT count(*) FROM enterprise WHERE length(uscc) <> 18")[0]
    bad_card = one(con, r"SELECT count(*) FROM card WHERE NOT regexp_full_match(card_number, '\d{16}')")[0]
    assert (bad_id, bad_phone, bad_uscc, bad_card) == (0, 0, 0, 0)
    # the ID number's 18th character is its ISO 7064 MOD 11-2 check; its date part is the birth date
    rows = con.sql("SELECT id_number, birth_date FROM customer LIMIT 200").fetchall()
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for idn, birth in rows:
        assert "10X98765432"[sum(int(d) * w for d, w in zip(idn[:17], weights, strict=True)) % 11] == idn[17]
        assert idn[6:14] == birth.strftime("%Y%m%d")


def test_structure_of_the_bank(con) -> None:  # noqa: ANN001
    levels = dict(con.sql("SELECT level, count(*) FROM branch GROUP BY 1").fetchall())
    assert levels["hq"] == 1 and 5 <= levels["branch"] <= 20 and levels["sub_branch"] >= levels["branch"]
    assert one(con, "SELECT count(*) FROM touchpoint")[0] >= 400
    assert one(con, "SELECT count(DISTINCT journey_stage) FROM touchpoint")[0] == 7
    assert one(con, "SELECT count(*) FROM product WHERE provider = 'subsidiary'")[0] >= 1
    assert one(con, "SELECT count(*) FROM loan l JOIN product p USING (product_id) WHERE p.provider = 'subsidiary'")[0] > 0
    assert one(con, "SELECT count(DISTINCT kind) FROM relationship")[0] == 5
    assert one(con, "SELECT count(*) FROM consent WHERE status = 'withdrawn'")[0] > 0
    # government data only for customers who consented to gov_data before it was received
    assert one(con, """SELECT count(*) FROM gov_data g WHERE NOT EXISTS (SELECT 1 FROM consent c WHERE
                       c.customer_id = g.customer_id AND c.purpose = 'gov_data' AND c.status = 'granted'
                       AND c.effective_at::DATE <= g.received_on)""")[0] == 0
    arms = dict(con.sql("SELECT arm, count(*) FROM contact_history GROUP BY 1").fetchall())
    assert arms["treatment"] > 100 and arms["control"] > 100
    # payroll items add up to their batch; each payroll item is a salary transaction of the same amount
    assert one(con, """SELECT count(*) FROM payroll_batch b JOIN (SELECT batch_id, count(*) n, sum(amount) s
                       FROM payroll_item GROUP BY 1) i USING (batch_id) WHERE b.headcount <> i.n OR b.total_amount <> i.s""")[0] == 0
    assert one(con, "SELECT count(*) FROM payroll_item")[0] == one(con, "SELECT count(*) FROM \"transaction\" WHERE txn_type = 'salary'")[0]
    # …and the employer's settlement account pays the batch total on the pay date
    assert one(con, """SELECT count(*) FROM payroll_batch b JOIN account a USING (enterprise_id) WHERE NOT EXISTS
                       (SELECT 1 FROM "transaction" t WHERE t.account_id = a.account_id AND t.ts::DATE = b.pay_date
                        AND t.amount = -b.total_amount AND t.counterparty = '代发工资')""")[0] == 0


def test_deposit_balances_reconcile_with_transactions(con) -> None:  # noqa: ANN001
    """Month-end balance = previous month-end balance + the month's transactions, for every deposit account
    (customers' current accounts and the enterprises' settlement accounts)."""
    bad = one(con, """
        WITH b AS (SELECT account_id, month_end, balance,
                          lag(balance, 1, 0) OVER (PARTITION BY account_id ORDER BY month_end) prev,
                          row_number() OVER (PARTITION BY account_id ORDER BY month_end) k
                   FROM balance_monthly JOIN account USING (account_id) WHERE kind = 'deposit'),
             t AS (SELECT account_id, last_day(ts::DATE) month_end, sum(amount) flow FROM "transaction" GROUP BY ALL)
        SELECT count(*) FROM b LEFT JOIN t USING (account_id, month_end)
        WHERE k > 1 AND b.balance <> b.prev + coalesce(t.flow, 0)""")[0]
    assert bad == 0


# ------------------------------------------------------------------------------------------ shapes
def test_distributions_within_documented_ranges(con) -> None:  # noqa: ANN001
    per_cm = one(con, """SELECT count(*) / (SELECT count(*) FROM truth_customer_month) FROM "transaction" """)[0]
    assert 6 <= per_cm <= 11, per_cm
    churn = one(con, "SELECT avg(churned::INT) FROM truth_customer_month")[0]
    assert 0.007 <= churn <= 0.025, churn
    m_churn = one(con, "SELECT avg(churned::INT) FROM truth_merchant_month")[0]
    assert 0.007 <= m_churn <= 0.035, m_churn
    q50, q99 = one(con, """SELECT quantile_cont(s, 0.5), quantile_cont(s, 0.99) FROM (SELECT sum(balance) s
                           FROM balance_monthly JOIN account USING (account_id)
                           WHERE kind IN ('deposit', 'time_deposit', 'wealth') AND month_end = DATE '2026-10-31'
                           AND customer_id IS NOT NULL GROUP BY customer_id)""")
    assert q99 / q50 > 10  # heavy-tailed assets
    new_cit = one(con, "SELECT avg(is_new_citizen::INT) FROM customer")[0]
    assert 0.08 <= new_cit <= 0.25
    age = one(con, "SELECT avg(date_diff('year', birth_date, DATE '2026-10-31')) FROM customer")[0]
    assert 35 <= age <= 50
    payroll = one(con, "SELECT count(DISTINCT customer_id) / (SELECT count(*) FROM customer) FROM payroll_item")[0]
    assert 0.15 <= payroll <= 0.45
    closed = one(con, "SELECT avg((status = 'closed')::INT) FROM customer")[0]
    assert 0.08 <= closed <= 0.3


def test_weekly_payday_and_spring_festival_seasonality(con) -> None:  # noqa: ANN001
    wk = dict(con.sql("""SELECT isodow(ts) >= 6, count(*) / count(DISTINCT ts::DATE) FROM "transaction"
                         WHERE txn_type = 'card_spend' GROUP BY 1""").fetchall())
    assert wk[True] > 1.15 * wk[False]
    # payroll customers spend more in the 3 days after their payday than on other days
    pay = dict(con.sql("""WITH s AS (SELECT customer_id, ts::DATE d FROM "transaction" WHERE txn_type = 'salary'),
                          sp AS (SELECT t.customer_id, t.ts::DATE d FROM "transaction" t WHERE txn_type = 'card_spend'
                                 AND customer_id IN (SELECT customer_id FROM s))
                          SELECT EXISTS (SELECT 1 FROM s WHERE s.customer_id = sp.customer_id AND sp.d BETWEEN s.d AND s.d + 3) near,
                                 count(*) FROM sp GROUP BY 1""").fetchall())
    days_near = 4 / 30.4
    assert pay[True] / (pay[True] + pay[False]) > 1.5 * days_near
    # the two weeks before 春节 (2026-02-17) are busier than the same weekdays a month later
    pre, later = one(con, """SELECT count(*) FILTER (WHERE ts::DATE BETWEEN DATE '2026-02-03' AND DATE '2026-02-15'),
                                    count(*) FILTER (WHERE ts::DATE BETWEEN DATE '2026-03-10' AND DATE '2026-03-22')
                             FROM "transaction" WHERE txn_type = 'card_spend'""")
    assert pre > 1.2 * later


def test_core_tag_inputs_have_spread(con) -> None:  # noqa: ANN001
    """The raw inputs of issue 4's core tags vary across customers (no constant tag)."""
    checks = {
        "logins": """SELECT count(*) n FROM event WHERE touchpoint_id = 'TP-APP-001' GROUP BY customer_id""",
        "products": "SELECT count(*) n FROM account WHERE customer_id IS NOT NULL GROUP BY customer_id",
        "spend": """SELECT -sum(amount) n FROM "transaction" WHERE txn_type = 'card_spend' GROUP BY customer_id""",
        "night_share": """SELECT avg((hour(ts) >= 22 OR hour(ts) < 6)::INT) n FROM "transaction"
                          WHERE txn_type = 'card_spend' GROUP BY customer_id""",
        "mcc_variety": """SELECT count(DISTINCT mcc) n FROM "transaction" WHERE mcc IS NOT NULL GROUP BY customer_id""",
        "turnover": "SELECT sum(amount) n FROM acquiring_daily GROUP BY merchant_id",
        "refund_rate": "SELECT sum(refund_amount) / sum(amount) n FROM acquiring_daily GROUP BY merchant_id",
        "headcount": "SELECT max(headcount) n FROM payroll_batch GROUP BY enterprise_id",
    }
    for name, sql in checks.items():
        q10, q90 = one(con, f"SELECT quantile_cont(n, 0.1), quantile_cont(n, 0.9) FROM ({sql})")
        assert q90 > q10, name
    stages = one(con, "SELECT count(DISTINCT channel) FROM event")[0]
    assert stages == 5


# ------------------------------------------------------------------------------------------ planted behaviour
def _z(a: tuple, b: tuple) -> float:
    """Welch z statistic of mean(a) - mean(b) from (n, mean, variance)."""
    (na, ma, va), (nb, mb, vb) = a, b
    return (ma - mb) / math.sqrt(va / na + vb / nb)


def test_churners_decline_visibly_before_churning(con) -> None:  # noqa: ANN001
    con.sql("""CREATE OR REPLACE TEMP TABLE pre AS
        WITH cm AS (SELECT customer_id, month_end FROM truth_customer_month WHERE NOT churned),
        ch AS (SELECT customer_id, churn_month FROM truth_customer WHERE churn_month IS NOT NULL),
        lg AS (SELECT customer_id, last_day(ts::DATE) month_end, count(*) n FROM event
               WHERE touchpoint_id = 'TP-APP-001' GROUP BY ALL),
        bal AS (SELECT customer_id, month_end, sum(balance) aum FROM balance_monthly JOIN account USING (account_id)
                WHERE kind IN ('deposit', 'time_deposit', 'wealth') AND customer_id IS NOT NULL GROUP BY ALL),
        sal AS (SELECT customer_id, last_day(ts::DATE) month_end, count(*) n FROM "transaction"
                WHERE txn_type = 'salary' GROUP BY ALL)
        SELECT cm.customer_id, cm.month_end,
               coalesce(ch.churn_month > cm.month_end AND ch.churn_month <= last_day(cm.month_end + INTERVAL 62 DAY), false) pre,
               coalesce(lg.n, 0) logins, ln(1 + coalesce(bal.aum, 0)) log_aum, coalesce(sal.n, 0) salary
        FROM cm LEFT JOIN ch USING (customer_id) LEFT JOIN lg USING (customer_id, month_end)
        LEFT JOIN bal USING (customer_id, month_end) LEFT JOIN sal USING (customer_id, month_end)
        WHERE cm.month_end <= DATE '2026-08-31'""")
    for col in ("logins", "log_aum", "salary"):
        stats = dict((r[0], r[1:]) for r in con.sql(
            f"SELECT pre, count(*), avg({col}), var_samp({col}) FROM pre GROUP BY 1").fetchall())
        assert stats[True][0] > 100
        z = _z(stats[True], stats[False])
        assert z < -4, f"{col}: churners' last two months are not clearly lower (z = {z:.1f})"


def test_product_openings_follow_truth_propensity(con) -> None:  # noqa: ANN001
    hi, lo = one(con, """SELECT avg(opened_wealth::INT) FILTER (WHERE p_open_wealth >= q),
                                avg(opened_wealth::INT) FILTER (WHERE p_open_wealth < q)
                         FROM truth_customer_month, (SELECT quantile_cont(p_open_wealth, 0.9) q FROM truth_customer_month
                                                     WHERE p_open_wealth > 0)
                         WHERE p_open_wealth > 0""")
    assert hi > 3 * lo
    opened = one(con, """SELECT count(*) FROM truth_customer_month t JOIN account a ON a.customer_id = t.customer_id
                         AND a.kind = 'wealth' AND last_day(a.opened_on) = t.month_end WHERE t.opened_wealth""")[0]
    assert opened == one(con, "SELECT sum(opened_wealth::INT) FROM truth_customer_month")[0]


# ------------------------------------------------------------------------------------------ determinism, CLI
def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    p = SynthParams(customers=300, months=3, seed=5, end=END)
    ma, mb = generate(a, p), generate(b, p)
    assert ma["files"] == mb["files"]
    assert (a / "transaction.parquet").read_bytes() == (b / "transaction.parquet").read_bytes()
    mc = generate(c, SynthParams(customers=300, months=3, seed=6, end=END))
    assert mc["files"]["transaction.parquet"] != ma["files"]["transaction.parquet"]
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["row_counts"]["customer"] == 300
    assert set(manifest["row_counts"]) == set(TABLES_BY_NAME)
    assert "truth/customer.parquet" in manifest["files"]


def test_csv_format_follows_the_loader_contract(tmp_path: Path) -> None:
    generate(tmp_path, SynthParams(customers=200, months=2, seed=1, end=END, fmt="csv"))
    header, first = (tmp_path / "event.csv").read_text(encoding="utf-8").splitlines()[:2]
    assert header.replace('"', "").split(",") == list(TABLES_BY_NAME["event"].column_names)
    ts = first.split(",")[2].strip('"')
    assert dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")


def test_bad_parameters_are_refused_all_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        SynthParams(customers=1, months=0, end=dt.date(2026, 10, 30)).check(today=dt.date(2026, 11, 29))
    assert {d["parameter"] for d in exc.value.details} == {"customers", "months", "end"}
    with pytest.raises(ValidationError, match="future"):
        SynthParams(end=dt.date(2027, 1, 31)).check(today=dt.date(2026, 11, 29))


def test_cli_synth_writes_the_folder(tmp_path: Path) -> None:
    from kequn.cli.main import main

    assert main(["synth", "--customers", "120", "--months", "2", "--seed", "3", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "manifest.json").exists() and (tmp_path / "o" / "truth" / "customer.parquet").exists()
    assert main(["synth", "--customers", "120", "--end", "2026-10-15", "--out", str(tmp_path / "p")]) == 2


def test_activity_lies_within_lifetimes(con) -> None:  # noqa: ANN001
    """No transaction outside its account's life, no event outside the customer's, no negative balance."""
    assert one(con, """SELECT count(*) FROM "transaction" t JOIN account a USING (account_id)
                       WHERE t.ts::DATE < a.opened_on OR t.ts::DATE > a.closed_on""")[0] == 0
    assert one(con, """SELECT count(*) FROM event e JOIN customer c USING (customer_id)
                       WHERE e.ts::DATE < c.onboarded_on OR e.ts::DATE > c.closed_on""")[0] == 0
    assert one(con, """SELECT count(*) FROM balance_monthly b JOIN account a USING (account_id)
                       WHERE b.month_end < a.opened_on OR b.month_end > last_day(a.closed_on)""")[0] == 0
    assert one(con, "SELECT count(*) FROM balance_monthly WHERE balance < 0")[0] == 0
    assert one(con, """SELECT count(*) FROM account a JOIN customer c USING (customer_id)
                       WHERE c.status = 'closed' AND (a.closed_on IS NULL OR a.closed_on > c.closed_on)""")[0] == 0


def test_dates_respect_the_bank_history(con) -> None:  # noqa: ANN001
    """Nothing opens before the bank, its branch or its product existed."""
    assert one(con, """SELECT count(*) FROM customer c JOIN branch b ON b.branch_id = c.home_branch_id
                       WHERE c.onboarded_on < b.opened_on""")[0] == 0
    assert one(con, "SELECT count(*) FROM staff s JOIN branch b USING (branch_id) WHERE s.hired_on < b.opened_on")[0] == 0
    assert one(con, """SELECT count(*) FROM branch s JOIN branch p ON p.branch_id = s.parent_id
                       WHERE s.opened_on < p.opened_on""")[0] == 0
    assert one(con, """SELECT count(*) FROM account a JOIN product p USING (product_id)
                       WHERE a.opened_on < p.launched_on""")[0] == 0
    assert one(con, """SELECT count(*) FROM account a JOIN customer c USING (customer_id)
                       WHERE a.opened_on < c.onboarded_on""")[0] == 0
    assert one(con, """SELECT count(*) FROM holding h JOIN product p USING (product_id)
                       WHERE h.start_date < p.launched_on""")[0] == 0
    assert one(con, "SELECT count(*) FROM card c JOIN account a USING (account_id) WHERE c.issued_on < a.opened_on")[0] == 0


def test_a_second_run_replaces_the_first(tmp_path: Path) -> None:
    generate(tmp_path, SynthParams(customers=100, months=1, seed=1, end=END, fmt="csv"))
    generate(tmp_path, SynthParams(customers=100, months=1, seed=1, end=END))
    assert not list(tmp_path.glob("*.csv")) and len(list(tmp_path.glob("*.parquet"))) == len(TABLES)


def test_keyword_entry_point_used_by_the_pipeline(tmp_path: Path) -> None:
    from kequn.synth import generate as generate_kw

    manifest = generate_kw(out=tmp_path, customers=150, months=2, seed=9, end=END)
    assert manifest["rows"] == manifest["row_counts"] and manifest["rows"]["customer"] == 150
