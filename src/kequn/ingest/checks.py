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
    return format(Decimal(repr(v)), "f")


def typed_select(table: Table, source: str, source_types: dict[str, str] | None, d: Dialect,
                 today: dt.date) -> str:
    """One pass over ``source``: every column cast to its canonical type, plus ``_err0`` — the row-local
    problems (type, required, enum, range, future) as ``;``-separated codes ('' when none)."""
    cols, codes = [], []
    for c in table.columns:
        raw, typed, needs_cast = _raw_and_typed(c, source_types, d)
        cols.append(f"{typed} AS {q(c.name)}")
        codes.extend(_row_checks(c, raw, typed, needs_cast, d, today))
    err = f"concat_ws(';', {', '.join(codes)})" if codes else "''"
    return f"SELECT s._row, {', '.join(cols)}, {err} AS _err0 FROM {source} s"


def _raw_and_typed(c: Column, source_types: dict[str, str] | None, d: Dialect) -> tuple[str, str, bool]:
    col = f"s.{q(c.name)}"
    src_type = (source_types or {}).get(c.name, "VARCHAR").upper()
    if src_type in ("VARCHAR", "TEXT"):
        raw = f"NULLIF({col}, '')"
        return raw, d.cast_text(raw, c.type), c.type != "string"
    if src_type == d.sql_type(c.type).upper():
        return col, col, False
    if c.type == "string":
        return col, f"NULLIF({d.text(col)}, '')", False
    return col, f"TRY_CAST({col} AS {d.sql_type(c.type)})", True


def _row_checks(c: Column, raw: str, typed: str, needs_cast: bool, d: Dialect, today: dt.date) -> list[str]:
    out = []
    if not c.nullable:
        out.append(f"CASE WHEN {raw} IS NULL THEN 'required:{c.name}' END")
    if needs_cast:
        out.append(f"CASE WHEN {raw} IS NOT NULL AND {typed} IS NULL THEN 'type:{c.name}' END")
    if c.enum:
        values = ", ".join(lit(v) for v in c.enum)
        out.append(f"CASE WHEN {typed} NOT IN ({values}) THEN 'enum:{c.name}' END")
    bounds = []
    if c.min is not None:
        bounds.append(f"{typed} < {_num(c.min)}")
    if c.max is not None:
        bounds.append(f"{typed} > {_num(c.max)}")
    if bounds:
        out.append(f"CASE WHEN {' OR '.join(bounds)} THEN 'range:{c.name}' END")
    if c.not_future:
        day = typed if c.type == "date" else f"CAST({typed} AS DATE)"
        out.append(f"CASE WHEN {day} > DATE '{today.isoformat()}' THEN 'future:{c.name}' END")
    return out


def _pk_match(pk: tuple[str, ...], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{q(k)} = {b}.{q(k)}" for k in pk)


def bad_rows_select(table: Table, typed: str) -> str:
    """Rows of ``typed`` with any problem, as (``_row``, ``codes``): row-local ones from ``_err0`` plus
    duplicate keys within the file (all but the first occurrence) and foreign keys / typed endpoints
    (anti-joins against the warehouse, which already holds this batch's earlier tables)."""
    pk = table.primary_key
    pk_cols = ", ".join(q(k) for k in pk)
    joins = [f"LEFT JOIN (SELECT {pk_cols}, min(_row) AS _first FROM {typed} "
             f"WHERE {' AND '.join(f'{q(k)} IS NOT NULL' for k in pk)} "
             f"GROUP BY {pk_cols} HAVING count(*) > 1) d ON {_pk_match(pk, 't', 'd')}"]
    codes = ["NULLIF(t._err0, '')", "CASE WHEN d._first IS NOT NULL AND t._row <> d._first "
             "THEN 'duplicate_key' END"]
    for i, c in enumerate(col for col in table.columns if col.fk):
        assert c.fk is not None
        rc = ref_column(c)
        ref = f"SELECT {q(rc)} AS k FROM {q(c.fk.table)}"
        if c.fk.table == table.name:
            ref += f" UNION SELECT {q(rc)} FROM {typed}"
        elif TABLES_BY_NAME[c.fk.table].primary_key != (rc,):
            ref = f"SELECT DISTINCT {q(rc)} AS k FROM {q(c.fk.table)}"
        joins.append(f"LEFT JOIN ({ref}) f{i} ON t.{q(c.name)} = f{i}.k")
        codes.append(f"CASE WHEN t.{q(c.name)} IS NOT NULL AND f{i}.k IS NULL THEN 'foreign_key:{c.name}' END")
    for i, e in enumerate(endpoints(table)):
        parts = []
        for ref_name in e.tables:
            key = TABLES_BY_NAME[ref_name].primary_key[0]
            parts.append(f"SELECT {lit(ref_name)} AS ty, {q(key)} AS k FROM {q(ref_name)}")
        joins.append(f"LEFT JOIN ({' UNION ALL '.join(parts)}) e{i} "
                     f"ON t.{q(e.type_column)} = e{i}.ty AND t.{q(e.id_column)} = e{i}.k")
        codes.append(f"CASE WHEN t.{q(e.type_column)} IS NOT NULL AND t.{q(e.id_column)} IS NOT NULL "
                     f"AND e{i}.k IS NULL THEN 'foreign_key:{e.id_column}' END")
    err = f"concat_ws(';', {', '.join(codes)})"
    return (f"SELECT _row, codes FROM (SELECT t._row, {err} AS codes FROM {typed} t {' '.join(joins)}) x "
            f"WHERE codes <> ''")


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
    exploded = f"SELECT _row, {d.split('codes')} AS code FROM {bad}"
    return (f"SELECT {lit(batch_id)}, {lit(table.name)}, p._row, {key}, "
            f"CASE WHEN p.code = 'duplicate_key' THEN {lit(','.join(table.primary_key))} "
            f"ELSE split_part(p.code, ':', 2) END, split_part(p.code, ':', 1), {message}, {whole} "
            f"FROM ({exploded}) p JOIN {source} s ON s._row = p._row")


_TYPE_WORD = {"string": "text", "int64": "whole number", "float64": "number",
              "decimal": f"decimal({_P},{_S}) amount", "date": "date (YYYY-MM-DD)",
              "timestamp": "timestamp (YYYY-MM-DD HH:MM:SS)", "boolean": "boolean (true/false/1/0)"}


def upsert_delete(table: Table, typed: str, bad: str) -> str:
    """Delete warehouse rows whose key arrives again in this batch (the newer export replaces them)."""
    return (f"DELETE FROM {q(table.name)} w WHERE EXISTS (SELECT 1 FROM {typed} t WHERE "
            f"{_pk_match(table.primary_key, 't', 'w')} AND NOT EXISTS "
            f"(SELECT 1 FROM {bad} b WHERE b._row = t._row))")


def insert_good(table: Table, typed: str, bad: str, any_bad: bool) -> str:
    cols = ", ".join(q(c.name) for c in table.columns)
    where = f" WHERE NOT EXISTS (SELECT 1 FROM {bad} b WHERE b._row = t._row)" if any_bad else ""
    return f"INSERT INTO {q(table.name)} ({cols}) SELECT {cols} FROM {typed} t{where}"
