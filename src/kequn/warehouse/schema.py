"""Warehouse DDL derived from the canonical data model (``kequn.domain.datamodel``).

``ibis_schema(table)`` gives the Ibis schema of a canonical table; ``create_tables(wh)`` creates every
canonical table that does not exist yet (idempotent). Money is DECIMAL(18,2); ids are strings.
"""

from __future__ import annotations

from typing import Any

from kequn.domain.datamodel import DECIMAL_PRECISION, TABLES, Table, load_order


def ibis_dtype(column_type: str, nullable: bool = True) -> Any:
    import ibis.expr.datatypes as dt

    p, s = DECIMAL_PRECISION
    base = {
        "string": dt.String(nullable=nullable),
        "int64": dt.Int64(nullable=nullable),
        "float64": dt.Float64(nullable=nullable),
        "decimal": dt.Decimal(p, s, nullable=nullable),
        "date": dt.Date(nullable=nullable),
        "timestamp": dt.Timestamp(nullable=nullable),
        "boolean": dt.Boolean(nullable=nullable),
    }
    return base[column_type]


def ibis_schema(table: Table) -> Any:
    import ibis

    return ibis.schema({c.name: ibis_dtype(c.type, c.nullable) for c in table.columns})


def create_tables(wh: Any, tables: tuple[Table, ...] | None = None) -> list[str]:
    """Create the canonical tables missing from the warehouse ``wh``; returns the names created."""
    existing = set(wh.con.list_tables())
    created = []
    for t in tables or load_order():
        if t.name not in existing:
            wh.con.create_table(t.name, schema=ibis_schema(t))
            created.append(t.name)
    return created


__all__ = ["TABLES", "create_tables", "ibis_dtype", "ibis_schema"]
