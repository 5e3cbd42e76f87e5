"""Checks, in DuckDB, that a folder of canonical CSV files conforms to the data model: exact header, every
value parses as its column's type, required columns filled, enums and ranges respected, primary keys
unique, and every foreign key (and typed relationship endpoint) resolves within the folder.

Used by the adapter tests; independent of kequn.ingest so it holds while the loader is being built.
"""

from __future__ import annotations

from pathlib import Path

from kequn.domain.datamodel import TABLES_BY_NAME, Column, Table

_PARSE = {
    "string": "TRUE",
    "int64": "TRY_CAST(v AS BIGINT) IS NOT NULL AND v NOT LIKE '%.%'",
    "float64": "TRY_CAST(v AS DOUBLE) IS NOT NULL",
    "decimal": "regexp_full_match(v, '-?[0-9]+\\.[0-9]{1,2}') AND TRY_CAST(v AS DECIMAL(18,2)) IS NOT NULL",
    "date": "try_strptime(v, '%Y-%m-%d') IS NOT NULL AND length(v) = 10",
    "timestamp": "try_strptime(v, '%Y-%m-%d %H:%M:%S') IS NOT NULL",
    "boolean": "v IN ('true', 'false')",
}
_NUMERIC = {"int64": "BIGINT", "float64": "DOUBLE", "decimal": "DECIMAL(18,2)"}


def _view(con, path: Path) -> str:
    name = path.stem
    con.execute(
        f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_csv('{path}', header=true, all_varchar=true, "
        "delim=',', quote='\"', auto_detect=false, columns=" + _columns_literal(TABLES_BY_NAME[name]) + ")"
    )
    return name


def _columns_literal(t: Table) -> str:
    return "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in t.column_names) + "}"


def _count(con, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def _column_problems(con, t: Table, c: Column) -> list[str]:
    q = f'(SELECT "{c.name}" AS v FROM "{t.name}") s'
    out = []
    if not c.nullable and (n := _count(con, f"SELECT count(*) FROM {q} WHERE v IS NULL OR v = ''")):
        out.append(f"{t.name}.{c.name}: {n} empty value(s) in a required column")
    if n := _count(con, f"SELECT count(*) FROM {q} WHERE v IS NOT NULL AND NOT ({_PARSE[c.type]})"):
        out.append(f"{t.name}.{c.name}: {n} value(s) do not parse as {c.type}")
    if c.enum and (
        n := _count(con, f"SELECT count(*) FROM {q} WHERE v IS NOT NULL AND v NOT IN {tuple(c.enum)!r}")
    ):
        out.append(f"{t.name}.{c.name}: {n} value(s) outside {c.enum}")
    if c.type in _NUMERIC and (c.min is not None or c.max is not None):
        lo, hi = c.min if c.min is not None else -1e30, c.max if c.max is not None else 1e30
        cast = f"TRY_CAST(v AS {_NUMERIC[c.type]})"
        if n := _count(con, f"SELECT count(*) FROM {q} WHERE {cast} < {lo} OR {cast} > {hi}"):
            out.append(f"{t.name}.{c.name}: {n} value(s) outside [{lo}, {hi}]")
    if c.not_future and c.type in ("date", "timestamp"):
        if n := _count(con, f"SELECT count(*) FROM {q} WHERE try_strptime(v, '%Y-%m-%d') > current_date"):
            out.append(f"{t.name}.{c.name}: {n} date(s) in the future")
    if c.fk:
        if c.fk.table not in _written(con):
            if n := _count(con, f"SELECT count(*) FROM {q} WHERE v IS NOT NULL"):
                out.append(f"{t.name}.{c.name}: {n} value(s) refer to {c.fk.table}, which was not written")
        else:
            sql = (
                f"SELECT count(*) FROM {q} WHERE v IS NOT NULL AND v NOT IN "
                f'(SELECT "{c.fk.column}" FROM "{c.fk.table}" WHERE "{c.fk.column}" IS NOT NULL)'
            )
            if n := _count(con, sql):
                out.append(f"{t.name}.{c.name}: {n} value(s) not found in {c.fk.table}.{c.fk.column}")
    return out


def _written(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


_PARTY_KEY = {
    "customer": "customer_id",
    "enterprise": "enterprise_id",
    "merchant": "merchant_id",
    "programme": "programme_id",
}


def _relationship_problems(con) -> list[str]:
    out = []
    for end in ("from", "to"):
        for kind, key in _PARTY_KEY.items():
            if kind not in _written(con):
                sub = "SELECT NULL WHERE FALSE"
            else:
                sub = f'SELECT "{key}" FROM "{kind}"'
            sql = f"SELECT count(*) FROM relationship WHERE {end}_type = '{kind}' AND {end}_id NOT IN ({sub})"
            if n := _count(con, sql):
                out.append(f"relationship.{end}_id: {n} {kind} endpoint(s) not found")
    return out


def canonical_problems(folder: Path) -> list[str]:
    """Every way the canonical files in ``folder`` break the data model (empty list = conforms)."""
    import duckdb

    con = duckdb.connect()
    problems: list[str] = []
    files = sorted(Path(folder).glob("*.csv"))
    for path in files:
        if path.stem not in TABLES_BY_NAME:
            problems.append(f"{path.name}: not a canonical table")
            continue
        header = path.open(encoding="utf-8").readline().rstrip("\n").split(",")
        expected = list(TABLES_BY_NAME[path.stem].column_names)
        if header != expected:
            problems.append(f"{path.name}: header {header} != data model {expected}")
            continue
        _view(con, path)
    for name in sorted(_written(con)):
        t = TABLES_BY_NAME[name]
        for c in t.columns:
            problems += _column_problems(con, t, c)
        pk = ", ".join(f'"{k}"' for k in t.primary_key)
        if n := _count(
            con, f'SELECT count(*) FROM (SELECT {pk} FROM "{name}" GROUP BY ALL HAVING count(*) > 1)'
        ):
            problems.append(f"{name}: {n} duplicated primary key(s) ({pk})")
    if "relationship" in _written(con):
        problems += _relationship_problems(con)
    con.close()
    return problems


def read(folder: Path, name: str):
    """The canonical file ``name`` as a pandas frame of strings (empty = NA)."""
    import pandas as pd

    return pd.read_csv(Path(folder) / f"{name}.csv", dtype="string", keep_default_na=False, na_values=[""])


# ----------------------------------------------------------------------------- the checker itself


def _write(folder: Path, name: str, rows: list[dict[str, str]]) -> None:
    cols = TABLES_BY_NAME[name].column_names
    lines = [",".join(cols)] + [",".join(r.get(c, "") for c in cols) for r in rows]
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_checker_accepts_a_conforming_folder_and_names_every_break(tmp_path: Path) -> None:
    hq = {"branch_id": "HQ", "name": "总行", "level": "hq", "city": "苏州"}
    _write(tmp_path, "branch", [hq])
    good = {
        "customer_id": "C1",
        "name": "张三",
        "home_branch_id": "HQ",
        "onboarded_on": "2020-01-02",
        "status": "active",
        "gender": "F",
    }
    _write(tmp_path, "customer", [good])
    assert canonical_problems(tmp_path) == []

    bad = dict(good, customer_id="C2", home_branch_id="NOPE", gender="X", onboarded_on="2020/01/02")
    _write(tmp_path, "customer", [good, bad, dict(good)])
    problems = canonical_problems(tmp_path)
    assert any("customer.gender" in p and "outside" in p for p in problems)
    assert any("customer.home_branch_id" in p and "not found in branch" in p for p in problems)
    assert any("customer.onboarded_on" in p and "parse as date" in p for p in problems)
    assert any("duplicated primary key" in p for p in problems)


def test_checker_resolves_typed_relationship_endpoints(tmp_path: Path) -> None:
    _write(tmp_path, "branch", [{"branch_id": "HQ", "name": "总行", "level": "hq", "city": "苏州"}])
    _write(
        tmp_path,
        "customer",
        [
            {
                "customer_id": "C1",
                "name": "张三",
                "home_branch_id": "HQ",
                "onboarded_on": "2020-01-02",
                "status": "active",
            }
        ],
    )
    link = {
        "from_type": "customer",
        "from_id": "C1",
        "to_type": "customer",
        "to_id": "C9",
        "kind": "household",
        "valid_from": "2020-01-02",
    }
    _write(tmp_path, "relationship", [link])
    assert canonical_problems(tmp_path) == ["relationship.to_id: 1 customer endpoint(s) not found"]
