"""Validation SQL generated from the canonical data model — the same checks for every table and engine.

Nothing here is written per table: each rule comes from the declaration in ``kequn.domain.datamodel``
(type, ``nullable``, ``enum``, ``min``/``max``, ``not_future``, ``primary_key``, ``fk``, and typed
endpoints such as ``relationship.from_type``/``from_id``). The generated SQL is portable between DuckDB
and PostgreSQL; the only engine differences (type names and a safe cast) live in :class:`Dialect`.

Problem codes are ``rule:column`` (or just ``rule`` for ``duplicate_key``); rules are
``type``, ``required``, ``enum``, ``range``, ``future``, ``duplicate_key`` and ``foreign_key``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from kequn.domain.datamodel import DECIMAL_PRECISION, TABLES_BY_NAME, Column, Table

RULES = ("type", "required", "enum", "range", "future", "duplicate_key", "foreign_key")
_P, _S = DECIMAL_PRECISION


def q(name: str) -> str:
    """A quoted identifier (``transaction`` and friends are reserved words)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dialect:
    name: str  # "duckdb" | "postgres"

    def sql_type(self, column_type: str) -> str:
        pg = self.name == "postgres"
        return {
            "string": "TEXT" if pg else "VARCHAR",
            "int64": "BIGINT",
            "float64": "DOUBLE PRECISION" if pg else "DOUBLE",
            "decimal": f"NUMERIC({_P},{_S})" if pg else f"DECIMAL({_P},{_S})",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
            "boolean": "BOOLEAN",
        }[column_type]

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS {'TEXT' if self.name == 'postgres' else 'VARCHAR'})"

    def cast_text(self, expr: str, column_type: str) -> str:
        """``expr`` (text, NULL for empty) as ``column_type``, or NULL when it does not parse."""
        if column_type == "string":
            return expr
        if column_type == "boolean":
            return (f"CASE lower(trim({expr})) WHEN 'true' THEN TRUE WHEN '1' THEN TRUE "
                    f"WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END")
        if self.name == "postgres":
            return f"_kequn_try_{column_type}({expr})"
        return f"TRY_CAST({expr} AS {self.sql_type(column_type)})"

    def matches(self, expr: str, pattern: str) -> str:
        return f"{expr} ~ {lit(pattern)}" if self.name == "postgres" else f"regexp_matches({expr}, {lit(pattern)})"

    def key_hash(self, exprs: list[str]) -> str | None:
        """A 64-bit hash of a key, where grouping on it is cheaper than on the key itself (DuckDB)."""
        return f"hash({', '.join(exprs)})" if self.name == "duckdb" else None

    def split(self, expr: str) -> str:
        """A set-returning split of a ``;``-separated list of problem codes."""
        if self.name == "postgres":
            return f"unnest(string_to_array({expr}, ';'))"
        return f"unnest(string_split({expr}, ';'))"


#: PostgreSQL (15 has no TRY_CAST / pg_input_is_valid): safe casts created by ensure_internal_tables
PG_TRY_FUNCTIONS = tuple(
    f"""CREATE OR REPLACE FUNCTION _kequn_try_{name}(v TEXT) RETURNS {pg_type} AS $$
BEGIN RETURN v::{pg_type}; EXCEPTION WHEN others THEN RETURN NULL; END $$ LANGUAGE plpgsql IMMUTABLE"""
    for name, pg_type in (("int64", "BIGINT"), ("float64", "DOUBLE PRECISION"),
                          ("decimal", f"NUMERIC({_P},{_S})"), ("date", "DATE"), ("timestamp", "TIMESTAMP"))
)


# ---------------------------------------------------------------------------------------- declaration


@dataclass(frozen=True)
class Endpoint:
    """A typed reference: ``type_column`` names the table, ``id_column`` holds that table's key."""

    type_column: str
    id_column: str
    tables: tuple[str, ...]


def endpoints(table: Table) -> tuple[Endpoint, ...]:
    """Typed endpoints declared by an ``X_type`` enum of table names next to an ``X_id`` column."""
    found = []
    for c in table.columns:
        if c.name.endswith("_type") and c.enum and all(v in TABLES_BY_NAME for v in c.enum):
            id_col = c.name[: -len("_type")] + "_id"
            if id_col in table.column_names:
                found.append(Endpoint(c.name, id_col, tuple(c.enum)))
    return tuple(found)


def dependencies(table: Table) -> set[str]:
    deps = {c.fk.table for c in table.columns if c.fk}
    for e in endpoints(table):
        deps |= set(e.tables)
    return deps - {table.name}


def load_sequence(tables: list[Table]) -> list[Table]:
    """``tables`` ordered so that every reference (FK or typed endpoint) is loaded before it is used."""
    order: list[Table] = []
    pending = list(tables)
    names = {t.name for t in tables}
    while pending:
        ready = next((t for t in pending if not (dependencies(t) & names) - {o.name for o in order}), None)
        if ready is None:  # pragma: no cover - the declaration is acyclic (tested)
            raise RuntimeError(f"reference cycle among {[t.name for t in pending]}")
        order.append(ready)
        pending.remove(ready)
    return order


# ---------------------------------------------------------------------------------------- SQL builders


def ref_column(c: Column) -> str:
    """The referenced column of ``c.fk``; a reference to a missing column means the table's key."""
    assert c.fk is not None
    ref = TABLES_BY_NAME[c.fk.table]
    if c.fk.column in ref.column_names:
        return c.fk.column
    if len(ref.primary_key) == 1:
        return ref.primary_key[0]
    raise ValueError(f"{c.name}: foreign key to {c.fk.table}.{c.fk.column}, which does not exist")


def _num(v: float) -> str:
    return format(Decimal(repr(v)).normalize(), "f")


def typed_relation(table: Table, source: str, source_types: dict[str, str] | None, d: Dialect) -> str:
    """``source`` with every column cast to its canonical type (NULL where it does not parse), as a
    subquery: the engine only computes the columns a query uses."""
    cols = [f"{_raw_and_typed(c, source_types, d)[1]} AS {q(c.name)}" for c in table.columns]
    return f"(SELECT s._row, {', '.join(cols)} FROM {source} s)"


def local_problems(table: Table, source: str, source_types: dict[str, str] | None, d: Dialect,
                   today: dt.date) -> str | None:
    """Rows with row-local problems (type, required, enum, range, future) as (``_row``, ``code``), the
    code a ``;``-separated list; None when the table declares no such rule."""
    conds, codes = [], []
    for c in table.columns:
        raw, typed, needs_cast = _raw_and_typed(c, source_types, d)
        for cond, code in _row_checks(c, raw, typed, needs_cast, today):
            conds.append(cond)
            codes.append(f"CASE WHEN {cond} THEN '{code}' END")
    if not conds:
        return None
    return (f"SELECT s._row, concat_ws(';', {', '.join(codes)}) AS code FROM {source} s "
            f"WHERE {' OR '.join(f'({c})' for c in conds)}")


def _raw_and_typed(c: Column, source_types: dict[str, str] | None, d: Dialect) -> tuple[str, str, bool]:
    """(raw value — NULL when empty, typed value, whether a failed cast is possible) of column ``c``.

    ``source_types`` None means every column is text (CSV, PostgreSQL staging). A typed source (Parquet)
    whose column already has the canonical type is used as is: re-writing every string would cost more
    than the load itself, so an empty string counts as missing for the rules but is otherwise kept."""
    col = f"s.{q(c.name)}"
    src_type = "VARCHAR" if source_types is None else source_types.get(c.name, "VARCHAR").upper()
    if src_type in ("VARCHAR", "TEXT") and (source_types is None or c.type != "string"):
        raw = f"NULLIF({col}, '')"
        return raw, d.cast_text(raw, c.type), c.type != "string"
    if src_type == d.sql_type(c.type).upper() or (c.type == "string" and src_type in ("VARCHAR", "TEXT")):
        return (f"NULLIF({col}, '')" if c.type == "string" else col), col, False
    if c.type == "string":
        return col, f"NULLIF({d.text(col)}, '')", False
    return col, f"TRY_CAST({col} AS {d.sql_type(c.type)})", True


def _row_checks(c: Column, raw: str, typed: str, needs_cast: bool, today: dt.date) -> list[tuple[str, str]]:
    out = []
    if not c.nullable:
        out.append((f"{raw} IS NULL", f"required:{c.name}"))
    if needs_cast:
        out.append((f"{raw} IS NOT NULL AND {typed} IS NULL", f"type:{c.name}"))
    if c.enum:
        out.append((f"{typed} NOT IN ({', '.join(lit(v) for v in c.enum)})", f"enum:{c.name}"))
    bounds = []
    if c.min is not None:
        bounds.append(f"{typed} < {_num(c.min)}")
    if c.max is not None:
        bounds.append(f"{typed} > {_num(c.max)}")
    if bounds:
        out.append((" OR ".join(bounds), f"range:{c.name}"))
    if c.not_future:
        day = typed if c.type == "date" else f"CAST({typed} AS DATE)"
        out.append((f"{day} > DATE '{today.isoformat()}'", f"future:{c.name}"))
    return out


def _pk_match(pk: tuple[str, ...], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{q(k)} = {b}.{q(k)}" for k in pk)


def duplicate_keys(table: Table, typed: str, candidates: str | None = None, d: Dialect | None = None) -> str:
    """The primary keys that occur more than once in the file (one aggregate over the key columns only);
    with ``candidates`` (hashes from :func:`duplicate_hash_candidates`) only among those rows."""
    cols = ", ".join(q(k) for k in table.primary_key)
    where = " AND ".join(f"{q(k)} IS NOT NULL" for k in table.primary_key)
    if candidates is not None and d is not None:
        where += f" AND {d.key_hash([q(k) for k in table.primary_key])} IN (SELECT _h FROM {candidates})"
    return f"SELECT {cols} FROM {typed} t0 WHERE {where} GROUP BY {cols} HAVING count(*) > 1"


def duplicate_hash_candidates(table: Table, typed: str, d: Dialect) -> str | None:
    """Hashes of keys seen more than once — a superset of the duplicate keys, found by grouping on one
    64-bit number instead of the key strings (≈ 30 % faster at 10M rows); None where not supported."""
    h = d.key_hash([q(k) for k in table.primary_key])
    if h is None:
        return None
    where = " AND ".join(f"{q(k)} IS NOT NULL" for k in table.primary_key)
    return f"SELECT {h} AS _h FROM {typed} t0 WHERE {where} GROUP BY _h HAVING count(*) > 1"


def duplicate_problems(table: Table, typed: str, keys: str) -> str:
    """Every occurrence but the first of the repeated keys in ``keys``."""
    pk = table.primary_key
    part = ", ".join(f"t.{q(k)}" for k in pk)
    return (f"SELECT _row, 'duplicate_key' AS code FROM (SELECT t._row, row_number() OVER (PARTITION BY {part} "
            f"ORDER BY t._row) AS _n FROM {typed} t JOIN {keys} k ON {_pk_match(pk, 't', 'k')}) x WHERE _n > 1")


def _present(c: Column, alias: str) -> str:
    """``c`` holds a value (an empty string in a typed source counts as none)."""
    col = f"{alias}.{q(c.name)}"
    return f"{col} <> ''" if c.type == "string" else f"{col} IS NOT NULL"


def reference_problems(table: Table, typed: str) -> str | None:
    """Foreign keys and typed endpoints not found in the warehouse (which already holds this batch's
    earlier tables; a self-reference also accepts the keys of this file): one scan of the file with a
    left join per reference, keeping only the rows where one misses. None when the table has none."""
    joins, conds, codes = [], [], []
    for i, c in enumerate(col for col in table.columns if col.fk):
        assert c.fk is not None
        rc = ref_column(c)
        ref = f"SELECT {q(rc)} AS k FROM {q(c.fk.table)}"
        if c.fk.table == table.name:
            ref += f" UNION SELECT {q(rc)} FROM {typed} t1"
        joins.append(f"LEFT JOIN ({ref}) f{i} ON f{i}.k = t.{q(c.name)}")
        conds.append(f"{_present(c, 't')} AND f{i}.k IS NULL")
        codes.append(f"foreign_key:{c.name}")
    for i, e in enumerate(endpoints(table)):
        parts = [f"SELECT {lit(n)} AS ty, {q(TABLES_BY_NAME[n].primary_key[0])} AS k FROM {q(n)}" for n in e.tables]
        joins.append(f"LEFT JOIN ({' UNION ALL '.join(parts)}) e{i} "
                     f"ON e{i}.ty = t.{q(e.type_column)} AND e{i}.k = t.{q(e.id_column)}")
        conds.append(f"t.{q(e.type_column)} IS NOT NULL AND {_present(table.column(e.id_column), 't')} "
                     f"AND e{i}.k IS NULL")
        codes.append(f"foreign_key:{e.id_column}")
    if not joins:
        return None
    code = ", ".join(f"CASE WHEN {cond} THEN '{code}' END" for cond, code in zip(conds, codes, strict=True))
    return (f"SELECT t._row, concat_ws(';', {code}) AS code FROM {typed} t {' '.join(joins)} "
            f"WHERE {' OR '.join(f'({c})' for c in conds)}")


def quarantine_select(table: Table, bad: str, source: str, d: Dialect, batch_id: str,
                      source_types: dict[str, str] | None) -> str:
    """One ``_quarantine`` row per problem of each bad row, with the raw values from ``source``."""
    def raw(col: str) -> str:
        expr = f"s.{q(col)}"
        is_text = (source_types or {}).get(col, "VARCHAR").upper() in ("VARCHAR", "TEXT")
        return f"coalesce({expr if is_text else d.text(expr)}, '')"

    key = " || '|' || ".join(raw(k) for k in table.primary_key)
    whole = " || ', ' || ".join(f"{lit(c.name + '=')} || {raw(c.name)}" for c in table.columns)
    msg = ["CASE p.code WHEN 'duplicate_key' THEN "
           f"{lit('duplicate primary key (' + ', '.join(table.primary_key) + ') = ')} || {key} || "
           "' (an earlier row of this file has it; the first occurrence is kept)'"]
    for c in table.columns:
        v = raw(c.name)
        msg.append(f"WHEN 'required:{c.name}' THEN {lit(c.name + ' is required but empty')}")
        msg.append(f"WHEN 'type:{c.name}' THEN {lit(c.name + ': ')} || {v} || {lit(' is not a ' + _TYPE_WORD[c.type])}")
        if c.enum:
            msg.append(f"WHEN 'enum:{c.name}' THEN {lit(c.name + ': ')} || {v} || "
                       f"{lit(' is not one of ' + ', '.join(c.enum))}")
        if c.min is not None or c.max is not None:
            lo = "" if c.min is None else _num(c.min)
            hi = "" if c.max is None else _num(c.max)
            msg.append(f"WHEN 'range:{c.name}' THEN {lit(c.name + ': ')} || {v} || {lit(f' is outside [{lo}, {hi}]')}")
        if c.not_future:
            msg.append(f"WHEN 'future:{c.name}' THEN {lit(c.name + ': ')} || {v} || ' lies in the future'")
        if c.fk:
            msg.append(f"WHEN 'foreign_key:{c.name}' THEN {lit(c.name + ': ')} || {v} || "
                       f"{lit(f' not found in {c.fk.table}.{ref_column(c)} (warehouse or this batch)')}")
    for e in endpoints(table):
        msg.append(f"WHEN 'foreign_key:{e.id_column}' THEN {lit(e.id_column + ': ')} || {raw(e.id_column)} || "
                   f"' not found in table ' || {raw(e.type_column)} || ' (warehouse or this batch)'")
    message = " ".join(msg) + " ELSE p.code END"
    exploded = f"SELECT DISTINCT _row, {d.split('code')} AS code FROM {bad}"
    return (f"SELECT {lit(batch_id)}, {lit(table.name)}, p._row, {key}, "
            f"CASE WHEN p.code = 'duplicate_key' THEN {lit(','.join(table.primary_key))} "
            f"ELSE split_part(p.code, ':', 2) END, split_part(p.code, ':', 1), {message}, {whole} "
            f"FROM ({exploded}) p JOIN {source} s ON s._row = p._row")


_TYPE_WORD = {"string": "text", "int64": "whole number", "float64": "number",
              "decimal": f"decimal({_P},{_S}) amount", "date": "date (YYYY-MM-DD)",
              "timestamp": "timestamp (YYYY-MM-DD HH:MM:SS)", "boolean": "boolean (true/false/1/0)"}


#: values that are authentication data (C3): card track data and stored password hashes
C3_VALUE_PATTERN = (r"^;?[0-9]{12,19}=[0-9]{4}|^%?B[0-9]{12,19}\^|"
                    r"^\$(2[abxy]?|5|6|argon2(id|i|d)?|scrypt|pbkdf2[-_a-z0-9]*)\$|^\{(SSHA|SHA|SMD5|CRYPT)\}")
#: rows of each file whose text values are scanned for C3 contents
C3_SAMPLE_ROWS = 100_000


def c3_content_counts(table: Table, source: str, source_types: dict[str, str] | None, d: Dialect) -> str | None:
    """Per text column, how many of the first ``C3_SAMPLE_ROWS`` values look like C3 (track data, password
    hashes); None when the table has no text column."""
    cols = [c.name for c in table.columns
            if c.type == "string" and (source_types or {}).get(c.name, "VARCHAR").upper() in ("VARCHAR", "TEXT")]
    if not cols:
        return None
    counts = ", ".join(f"sum(CASE WHEN {d.matches(q(c), C3_VALUE_PATTERN)} THEN 1 ELSE 0 END)" for c in cols)
    return f"SELECT {counts} FROM (SELECT * FROM {source} s LIMIT {C3_SAMPLE_ROWS}) x"


def upsert_probe(table: Table, typed: str) -> str:
    """1 when any key of the file is already in the warehouse, else 0. A join (not ``EXISTS``) so the
    engine builds on the file's keys and can skip most of a large table by their min/max."""
    return (f"SELECT count(*) FROM (SELECT 1 FROM {typed} t JOIN {q(table.name)} w "
            f"ON {_pk_match(table.primary_key, 't', 'w')} LIMIT 1) x")


def upsert_delete(table: Table, typed: str, bad: str) -> str:
    """Delete warehouse rows whose key arrives again in this batch (the newer export replaces them)."""
    cols = ", ".join(f"t.{q(k)}" for k in table.primary_key)
    return (f"DELETE FROM {q(table.name)} w USING (SELECT DISTINCT {cols} FROM {typed} t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {bad} b WHERE b._row = t._row)) g WHERE {_pk_match(table.primary_key, 'g', 'w')}")


def replaced_time_span(table: Table, typed: str, bad: str) -> str:
    """min/max of the time column over the warehouse rows whose key arrives again in this batch."""
    tc = q(table.time_column or "")
    cols = ", ".join(f"t.{q(k)}" for k in table.primary_key)
    return (f"SELECT min(w.{tc}), max(w.{tc}) FROM {q(table.name)} w JOIN (SELECT DISTINCT {cols} FROM {typed} t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {bad} b WHERE b._row = t._row)) g "
            f"ON {_pk_match(table.primary_key, 'g', 'w')}")


def insert_good(table: Table, typed: str, bad: str, any_bad: bool) -> str:
    cols = ", ".join(q(c.name) for c in table.columns)
    where = f" WHERE NOT EXISTS (SELECT 1 FROM {bad} b WHERE b._row = t._row)" if any_bad else ""
    return f"INSERT INTO {q(table.name)} ({cols}) SELECT {cols} FROM {typed} t{where}"
