"""`kequn load` refuses whole files with one clear LoadError; encodings (GBK, UTF-8 BOM) load."""

from __future__ import annotations

from pathlib import Path

import pytest

from kequn.errors import LoadError
from kequn.ingest import load_dir
from kequn.ingest.files import looks_like_c3
from kequn.warehouse import connect
from kequn.warehouse.schema import create_tables

BANK = Path(__file__).resolve().parents[1] / "examples" / "bank"
BRANCH = (BANK / "branch.csv").read_text(encoding="utf-8")


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    create_tables(w)
    yield w
    w.close()


def folder(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    d = tmp_path / "batch"
    d.mkdir(exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (d / name).write_bytes(data)
    return d


def refused(wh, d: Path, **kw) -> LoadError:
    with pytest.raises(LoadError) as info:
        load_dir(wh, d, **kw)
    assert "\n" not in info.value.message
    return info.value


def nothing_loaded(wh) -> bool:
    return wh.sql("SELECT count(*) FROM branch").fetchone()[0] == 0


def test_missing_folder(wh, tmp_path):
    err = refused(wh, tmp_path / "nope")
    assert err.message == f"folder not found: {tmp_path / 'nope'}"


def test_folder_without_canonical_files(wh, tmp_path):
    err = refused(wh, folder(tmp_path, {"README.md": "notes"}))
    assert "no canonical files" in err.message and "customer.csv" in err.message


def test_unknown_table_names_the_known_ones(wh, tmp_path):
    err = refused(wh, folder(tmp_path, {"branch.csv": BRANCH, "clients.csv": "a,b\n1,2\n"}))
    assert "unknown table 'clients'" in err.message and "customer" in err.message and "transaction" in err.message
    assert nothing_loaded(wh)


def test_unsupported_format(wh, tmp_path):
    err = refused(wh, folder(tmp_path, {"branch.xlsx": b"PK\x03\x04"}))
    assert "branch.xlsx" in err.message and "unsupported format .xlsx" in err.message
    with pytest.raises(LoadError, match="unsupported format 'json'"):
        load_dir(wh, folder(tmp_path, {"branch.csv": BRANCH}), fmt="json")


def test_missing_and_extra_columns_are_all_named(wh, tmp_path):
    bad = BRANCH.replace("branch_id,name,level,parent_id,city,opened_on", "branch_id,name,level,parent_id,town,opened_on")
    err = refused(wh, folder(tmp_path, {"branch.csv": bad}))
    assert "branch.csv" in err.message
    by_message = {d["message"].split(" (")[0]: d["column"] for d in err.details}
    assert by_message == {"missing column(s) of table branch": "city", "extra column(s) not in table branch": "town"}
    assert nothing_loaded(wh)


def test_c3_authentication_column_is_refused(wh, tmp_path):
    header = "card_id,account_id,customer_id,card_type,card_number,credit_limit,issued_on,status,cvv2\n"
    err = refused(wh, folder(tmp_path, {"card.csv": header + "K1,A1,C1,debit,6222,,2020-01-01,active,123\n"}))
    assert "C3" in err.message and "cvv2" in err.message and "COMPLIANCE" in err.message
    assert all(looks_like_c3(c) for c in ("password", "Login_PWD", "pin", "sms_code", "交易密码", "短信验证码", "cvn2"))
    assert not any(looks_like_c3(c) for c in ("shipping_city", "pinyin_name", "opened_on", "card_number"))


def test_empty_file(wh, tmp_path):
    err = refused(wh, folder(tmp_path, {"branch.csv": b""}))
    assert err.message.startswith("empty file: branch.csv")


def test_header_only_file_loads_nothing(wh, tmp_path):
    summary = load_dir(wh, folder(tmp_path, {"branch.csv": BRANCH.splitlines()[0] + "\n"}))
    assert [(t.read, t.loaded, t.quarantined) for t in summary.tables] == [(0, 0, 0)]


def test_undecodable_encoding(wh, tmp_path):
    header = BRANCH.splitlines()[0].encode("ascii")
    err = refused(wh, folder(tmp_path, {"branch.csv": header + b"\nB9,\xff\xfe\x80,hq,,x,\n"}))
    assert err.message == ("branch.csv: undecodable encoding — not UTF-8 (bad byte at offset 49) and not "
                           "GBK/GB18030 (bad byte at offset 49); re-export as UTF-8 or GBK")


def test_broken_utf8_is_not_misread_as_gbk(wh, tmp_path):
    err = refused(wh, folder(tmp_path, {"branch.csv": BRANCH.encode("utf-8") + b"B9,\xe6\x9d,hq,,x,\n"}))
    assert "is UTF-8 but has an invalid byte sequence at offset" in err.message
    assert nothing_loaded(wh)


def test_ragged_row_is_a_load_error_and_nothing_loads(wh, tmp_path):
    d = folder(tmp_path, {"branch.csv": BRANCH + "B999,多余,branch,B000,杭州,2020-01-01,extra\n"})
    err = refused(wh, d)
    assert err.message.startswith("branch.csv: cannot be read or loaded")
    assert nothing_loaded(wh)


def test_gbk_file_loads(wh, tmp_path):
    summary = load_dir(wh, folder(tmp_path, {"branch.csv": BRANCH.encode("gbk")}))
    assert summary.tables[0].loaded == 5
    assert wh.sql("SELECT name FROM branch WHERE branch_id = 'B110'").fetchone() == ("杭州西湖支行",)


def test_gb18030_large_file_is_transcoded_in_chunks(wh, tmp_path):
    rows = [BRANCH.splitlines()[0]] + [f"X{i:07d},分行{i}号网点,sub_branch,,宁波,2020-01-01" for i in range(40_000)]
    data = ("\n".join(rows) + "\n").encode("gb18030")
    assert len(data) > 1 << 20  # bigger than one transcoding chunk
    summary = load_dir(wh, folder(tmp_path, {"branch.csv": data}))
    assert summary.tables[0].loaded == 40_000
    assert wh.sql("SELECT name FROM branch WHERE branch_id = 'X0039999'").fetchone() == ("分行39999号网点",)


def test_utf8_with_bom_loads(wh, tmp_path):
    summary = load_dir(wh, folder(tmp_path, {"branch.csv": b"\xef\xbb\xbf" + BRANCH.encode("utf-8")}))
    assert summary.tables[0].loaded == 5 and summary.quarantined == 0
    assert wh.sql("SELECT city FROM branch WHERE branch_id = 'B000'").fetchone() == ("杭州",)


def test_failure_in_a_later_table_rolls_back_the_earlier_ones(wh, tmp_path):
    ragged = (BANK / "staff.csv").read_text(encoding="utf-8") + "S9,甲,B110,rm,2020-01-01,extra\n"
    err = refused(wh, folder(tmp_path, {"branch.csv": BRANCH, "staff.csv": ragged}))
    assert "staff.csv" in err.message
    assert nothing_loaded(wh)
    assert wh.sql("SELECT count(*) FROM _load_batch").fetchone()[0] == 0


def test_load_sequence_puts_every_reference_first():
    from kequn.domain.datamodel import TABLES
    from kequn.ingest.checks import dependencies, endpoints, load_sequence

    order = [t.name for t in load_sequence(list(TABLES))]
    assert sorted(order) == sorted(t.name for t in TABLES)
    for t in TABLES:
        assert all(order.index(dep) < order.index(t.name) for dep in dependencies(t)), t.name
    rel = next(t for t in TABLES if t.name == "relationship")
    assert [(e.type_column, e.id_column) for e in endpoints(rel)] == [("from_type", "from_id"), ("to_type", "to_id")]


def test_load_creates_missing_canonical_tables(tmp_path):
    w = connect(f"duckdb:///{tmp_path / 'empty.duckdb'}")
    try:
        summary = load_dir(w, folder(tmp_path, {"branch.csv": BRANCH}))
        assert summary.tables[0].loaded == 5 and w.has_table("transaction")
    finally:
        w.close()


def test_c3_contents_refuse_the_batch(wh, tmp_path):
    header = "card_id,account_id,customer_id,card_type,card_number,credit_limit,issued_on,status\n"
    track2 = header + "K1,A1,C1,debit,6222000000000001=25121010000012300000,,2020-01-01,active\n"
    d = folder(tmp_path, {"branch.csv": BRANCH, "card.csv": track2})
    err = refused(wh, d)
    assert err.message.startswith("card.csv: column card_number (1 values) looks like authentication data (C3")
    assert nothing_loaded(wh)
    staff = ("staff_id,name,branch_id,role,hired_on\n"
             "S1,$2b$12$KIXQJ1y8cVh0uH9lq0bW1u3bq6tG2lR9sX1pZ0aYv5cN4eT7mQ2wS,B000,rm,2020-01-01\n")
    (d / "card.csv").unlink()
    err = refused(wh, folder(tmp_path, {"branch.csv": BRANCH, "staff.csv": staff}))
    assert err.message.startswith("staff.csv: column name (1 values) looks like authentication data")
