"""Built-in source adapters on the committed samples (tests/fixtures/berka, tests/fixtures/bank_marketing):
the canonical files they write conform to the data model (checked in DuckDB), the mapping decisions hold
row by row against the source, and — once the loader exists — they load with nothing quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kequn.adapters import available, get_adapter
from kequn.errors import LoadError, NotFoundError
from test_adapters_conformance import canonical_problems, read

FIXTURES = Path(__file__).parent / "fixtures"
BERKA = FIXTURES / "berka"
BANK = FIXTURES / "bank_marketing"


def _asc(name: str) -> pd.DataFrame:
    return pd.read_csv(BERKA / f"{name}.asc", sep=";", dtype="string", keep_default_na=False)


@pytest.fixture(scope="module")
def berka_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("berka")
    return out, get_adapter("berka").convert(BERKA, out)


@pytest.fixture(scope="module")
def bank_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("bank")
    return out, get_adapter("bank-marketing").convert(BANK, out)


def test_both_adapters_are_registered_under_their_documented_names() -> None:
    assert {"berka", "bank-marketing"} <= set(available())
    assert get_adapter("berka").name == "berka"
    assert get_adapter("bank-marketing").name == "bank-marketing"


# ------------------------------------------------------------------------------------------------ Berka


def test_berka_output_conforms_to_the_data_model(berka_out) -> None:
    out, report = berka_out
    assert canonical_problems(out) == []
    written = {p.stem: len(read(out, p.stem)) for p in out.glob("*.csv")}
    assert written == report.rows


def test_berka_counts_follow_the_source(berka_out) -> None:
    out, _ = berka_out
    account = read(out, "account")
    assert (account.kind == "deposit").sum() == len(_asc("account"))
    assert (account.kind == "loan").sum() == len(_asc("loan"))
    assert len(read(out, "customer")) == len(_asc("client"))
    assert len(read(out, "loan")) == len(_asc("loan"))
    assert len(read(out, "card")) == len(_asc("card"))
    assert len(read(out, "transaction")) == len(_asc("order"))
    assert len(read(out, "branch")) == len(_asc("district")) + 1  # one branch per district + HQ
    disp = _asc("disp")
    assert len(read(out, "relationship")) == (disp.type == "DISPONENT").sum()


def test_berka_birth_number_gives_gender_and_birth_date(berka_out) -> None:
    out, _ = berka_out
    customer = read(out, "customer").set_index("customer_id")
    # the PKDD'99 rule: YYMMDD, women have 50 added to the month
    assert tuple(customer.loc["BK-C1", ["gender", "birth_date"]]) == ("F", "1970-12-13")  # "706213"
    assert tuple(customer.loc["BK-C2", ["gender", "birth_date"]]) == ("M", "1945-02-04")  # "450204"
    client = _asc("client")
    women = client.birth_number.str.slice(2, 4).astype(int) > 50
    assert (
        customer.loc["BK-C" + client.client_id, "gender"].to_numpy() == women.map({True: "F", False: "M"})
    ).all()
    assert customer.name.str.startswith("匿名客户").all() and customer.phone.isna().all()


def test_berka_customer_home_branch_and_onboarding_come_from_district_and_accounts(berka_out) -> None:
    out, _ = berka_out
    customer = read(out, "customer").set_index("customer_id")
    client, disp, acc = _asc("client"), _asc("disp"), _asc("account")
    expected_branch = "BK-D" + client.district_id.str.zfill(2)
    assert (customer.loc["BK-C" + client.client_id, "home_branch_id"].to_numpy() == expected_branch).all()
    first = disp.merge(acc, on="account_id").groupby("client_id").date.min()
    onboarded = pd.to_datetime("19" + first, format="%Y%m%d").dt.strftime("%Y-%m-%d")
    assert (customer.loc["BK-C" + first.index, "onboarded_on"].to_numpy() == onboarded.to_numpy()).all()


def test_berka_owner_owns_the_account_and_disponents_become_households(berka_out) -> None:
    out, _ = berka_out
    account = read(out, "account").set_index("account_id")
    disp = _asc("disp")
    owners = disp[disp.type == "OWNER"]
    assert (
        account.loc["BK-A" + owners.account_id, "customer_id"].to_numpy() == ("BK-C" + owners.client_id)
    ).all()
    rel = read(out, "relationship")
    dis = disp[disp.type == "DISPONENT"].merge(owners, on="account_id", suffixes=("", "_owner"))
    expected = set(zip("BK-C" + dis.client_id_owner, "BK-C" + dis.client_id, strict=True))
    assert set(zip(rel.from_id, rel.to_id, strict=True)) == expected
    assert (rel.kind == "household").all()


def test_berka_loans_map_status_and_term(berka_out) -> None:
    out, _ = berka_out
    loan = read(out, "loan").set_index("loan_id")
    src = _asc("loan").set_index("loan_id")
    meaning = {"A": "settled", "B": "written_off", "C": "current", "D": "overdue"}
    assert (loan.loc["BK-L" + src.index, "status"].to_numpy() == src.status.map(meaning).to_numpy()).all()
    assert set(src.status) == set("ABCD")  # the sample covers every status
    assert (loan.loc["BK-L" + src.index, "term_months"].to_numpy() == src.duration.to_numpy()).all()
    assert loan.loc["BK-L5314", "maturity_date"] == "1994-07-05"  # 1993-07-05 + 12 months
    assert (loan.rate == "0.0").all()  # documented: unknown in PKDD'99
    account = read(out, "account").set_index("account_id")
    closed = account.loc[loan.account_id, "status"].to_numpy() == "closed"
    assert (closed == loan.status.isin(["settled", "written_off"]).to_numpy()).all()


def test_berka_standing_orders_are_debits_typed_by_purpose(berka_out) -> None:
    out, _ = berka_out
    txn = read(out, "transaction").set_index("txn_id")
    src = _asc("order")
    ids = "BK-O" + src.order_id + "-199812"
    assert (txn.loc[ids, "amount"].astype(float).to_numpy() == -src.amount.astype(float).to_numpy()).all()
    kinds = dict(zip(src.k_symbol.str.strip(), txn.loc[ids, "txn_type"], strict=True))
    assert kinds == {
        "SIPO": "bill_payment",
        "POJISTNE": "bill_payment",
        "LEASING": "bill_payment",
        "UVER": "loan_repayment",
        "": "transfer_out",
    }


def test_berka_cards_are_debit_cards_of_the_disposition(berka_out) -> None:
    out, _ = berka_out
    card = read(out, "card").set_index("card_id")
    src = _asc("card").merge(_asc("disp"), on="disp_id", suffixes=("", "_disp"))
    assert (card.card_type == "debit").all()
    assert (card.loc["BK-K" + src.card_id, "customer_id"].to_numpy() == ("BK-C" + src.client_id)).all()
    assert set(src.type) == {"classic", "junior", "gold"}


def test_berka_missing_files_are_all_named_at_once(tmp_path: Path) -> None:
    (tmp_path / "account.asc").write_text((BERKA / "account.asc").read_text())
    with pytest.raises(NotFoundError) as err:
        get_adapter("berka").convert(tmp_path, tmp_path / "out")
    assert len(err.value.details) == 6 and "loan.asc" in str(err.value)


def test_berka_bad_date_is_reported_with_its_value(tmp_path: Path) -> None:
    for f in BERKA.glob("*.asc"):
        (tmp_path / f.name).write_text(f.read_text())
    text = (tmp_path / "loan.asc").read_text().splitlines()
    text[1] = text[1].replace(";930705;", ";931345;")
    (tmp_path / "loan.asc").write_text("\n".join(text) + "\n")
    with pytest.raises(LoadError, match="loan.asc date"):
        get_adapter("berka").convert(tmp_path, tmp_path / "out")


def test_berka_unreadable_birth_number_is_reported(tmp_path: Path) -> None:
    for f in BERKA.glob("*.asc"):
        (tmp_path / f.name).write_text(f.read_text())
    text = (tmp_path / "client.asc").read_text().replace('"706213"', '"70A213"')
    (tmp_path / "client.asc").write_text(text)
    with pytest.raises(LoadError, match="client.asc birth_number: 1 value"):
        get_adapter("berka").convert(tmp_path, tmp_path / "out")


# ------------------------------------------------------------------------------------------ bank marketing


def _bank_src() -> pd.DataFrame:
    return pd.read_csv(BANK / "bank-full.csv", sep=";")


def test_bank_marketing_output_conforms_to_the_data_model(bank_out) -> None:
    out, report = bank_out
    assert canonical_problems(out) == []
    src = _bank_src()
    assert report.rows["customer"] == report.rows["contact_history"] == len(src)
    assert report.rows["holding"] == (src.housing == "yes").sum() + (src.loan == "yes").sum()


def test_bank_marketing_outcomes_follow_y(bank_out) -> None:
    out, _ = bank_out
    contact = read(out, "contact_history")
    src = _bank_src()
    assert ((contact.converted == "true").to_numpy() == (src.y == "yes").to_numpy()).all()
    assert set(contact.outcome) == {"converted", "no_conversion"}
    assert (contact.channel == "call").all()


def test_bank_marketing_years_are_inferred_from_month_wraps(bank_out) -> None:
    out, _ = bank_out
    ts = pd.to_datetime(read(out, "contact_history").ts)
    assert ts.iloc[0] == pd.Timestamp("2008-05-05")
    assert ts.dt.to_period("M").is_monotonic_increasing  # time order kept, month by month
    assert set(ts.dt.year) == {2008, 2009, 2010}
    src = _bank_src()
    assert (ts.dt.day.to_numpy() == src.day.to_numpy()).all()


def test_bank_marketing_birth_date_reproduces_the_age_at_the_call(bank_out) -> None:
    out, _ = bank_out
    customer = read(out, "customer")
    call = pd.to_datetime(read(out, "contact_history").ts)
    birth = pd.to_datetime(customer.birth_date)
    had_birthday = (call.dt.month > birth.dt.month) | (
        (call.dt.month == birth.dt.month) & (call.dt.day >= birth.dt.day)
    )
    age = call.dt.year - birth.dt.year - (~had_birthday).astype(int)
    assert (age.to_numpy() == _bank_src().age.to_numpy()).all()


def test_bank_marketing_duration_reaches_no_file_and_no_model(bank_out) -> None:
    from kequn.adapters.bank_marketing import model_frame

    out, _ = bank_out
    for path in out.glob("*.csv"):
        assert "duration" not in path.read_text(encoding="utf-8").splitlines()[0]
    frame = model_frame(BANK)
    assert "duration" not in frame.columns
    src = _bank_src()
    assert frame.y.sum() == (src.y == "yes").sum() and len(frame) == len(src)
    assert frame.call_date.dt.to_period("M").is_monotonic_increasing


def test_call_dates_wrap_years_and_reject_impossible_days() -> None:
    from kequn.adapters.bank_marketing import call_dates

    got = call_dates(pd.Series(["nov", "dec", "jan", "may", "feb"]), pd.Series([3, 4, 5, 6, 7]), where="t")
    assert list(got.dt.year) == [2008, 2008, 2009, 2009, 2010]
    with pytest.raises(LoadError) as err:
        call_dates(pd.Series(["feb", "feb", "mar"]), pd.Series([28, 30, 31]), where="t")
    assert len(err.value.details) == 1 and "t:3" in err.value.details[0]["where"]
    with pytest.raises(LoadError, match="unknown month"):
        call_dates(pd.Series(["may", "mai"]), pd.Series([1, 2]), where="t")


# ------------------------------------------------------------------------------------------ through the loader


def _loader():
    ingest = pytest.importorskip("kequn.ingest")
    if not hasattr(ingest, "load_dir"):
        pytest.skip("kequn.ingest.load_dir is not built yet")
    return ingest


@pytest.mark.parametrize("source", ["berka", "bank-marketing"])
def test_sample_loads_with_nothing_quarantined(source: str, tmp_path: Path) -> None:
    ingest = _loader()
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    out = tmp_path / "canonical"
    report = get_adapter(source).convert(BERKA if source == "berka" else BANK, out)
    wh = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    try:
        create_tables(wh)
        ingest.ensure_internal_tables(wh)
        summary = ingest.load_dir(wh, out)
        assert summary.quarantined == 0, [t for t in summary.tables if t.quarantined]
        assert {t.table: t.loaded for t in summary.tables} == report.rows
    finally:
        wh.close()


@pytest.mark.postgres
def test_berka_sample_loads_into_postgresql_with_nothing_quarantined(pg_url: str, tmp_path: Path) -> None:
    ingest = _loader()
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    report = get_adapter("berka").convert(BERKA, tmp_path / "canonical")
    wh = connect(pg_url)
    try:
        create_tables(wh)
        ingest.ensure_internal_tables(wh)
        summary = ingest.load_dir(wh, tmp_path / "canonical")
        assert summary.quarantined == 0
        assert {t.table: t.loaded for t in summary.tables} == report.rows
    finally:
        wh.close()
