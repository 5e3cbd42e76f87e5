"""Computing profiles into the warehouse and keeping dated snapshots.

Tables written (per entity ``e`` in customer / enterprise / merchant):

- ``tag_snapshot_<e>``: one row per entity per as-of date (column ``as_of``), every snapshot kept;
- ``profile_<e>``: the latest snapshot (one wide row per entity), what segments and the 360 view read;
- ``_tag_run``: one row per computed (entity, as-of): when, which tag versions, how many rows, the
  loader's watermark then (the latest ``_load_batch.load_seq``) and which recency groups were carried from
  which earlier day;
- ``_tag_carry``: for each *recency* group (``days_since_last_txn``, ``days_since_last_login``) the latest
  time of every key as of each of the last few computed days.

Re-computing a date already in ``_tag_run`` is skipped unless ``force`` (then that date's snapshot is
replaced). Only approved tags are computed (drafts are left out).

**Incremental where a tag allows.** A recency group's tags read only each key's latest time in the year, so
as of D it is max(the latest time kept as of the previous computed day P, the latest among rows dated after
P) — a scan of the days since P instead of the year. That is only right if no row dated on or before P
arrived or was replaced after P was computed: the run reads the loader's record of every batch loaded
since P's watermark (``_load_batch.time_min`` of the group's table) and scans the full year when one reaches
back to P or earlier, when P's tag versions differ, or when ``full`` is asked for. The warehouse's flows
must therefore come in through ``kequn load`` (the only writer Kequn has); data written into it by other
means needs ``--full`` once. Other tags are computed in full each run (windowed sums need the day leaving
the window; they read only their window, pruned by zone maps).

On Spark the same tables exist, with ``tag_snapshot_<e>`` partitioned by ``as_of`` and ``_tag_run`` by
(``entity``, ``as_of``): a day is replaced with ``INSERT OVERWRITE … PARTITION`` (see
:func:`kequn.warehouse.spark.replace_partition`), so the point-in-time history works there too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis

from kequn.tags.build import groups_of, profile_expr, recency_source
from kequn.tags.catalog import TagSpec
from kequn.tags.model import ENTITY_KEYS, AsOf, Tables
from kequn.tags.registry import GROUPS, REGISTRY

ENTITIES = ("customer", "enterprise", "merchant")
RUN_TABLE = "_tag_run"
CARRY_TABLE = "_tag_carry"
#: computed days whose carried latest times are kept per group (older ones are dropped)
CARRY_KEEP = 3
LOAD_TABLE = "_load_batch"


def snapshot_table(entity: str) -> str:
    return f"tag_snapshot_{entity}"


def profile_table(entity: str) -> str:
    return f"profile_{entity}"


@dataclass(frozen=True)
class RunResult:
    entity: str
    as_of: dt.date
    rows: int
    tags: int
    skipped: bool
    seconds: float
    #: recency group → the earlier day it was carried forward from (None: scanned in full)
    carried: Mapping[str, dt.date | None] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """``full``, or ``incremental`` when every recency group was carried forward."""
        return run_mode(self.carried)


def run_mode(carried: Mapping[str, Any]) -> str:
    """``incremental`` (every recency group carried), ``partly incremental`` or ``full``."""
    if carried and all(v is not None for v in carried.values()):
        return "incremental"
    return "partly incremental" if any(v is not None for v in carried.values()) else "full"


RUN_SCHEMA = {"entity": "string", "as_of": "date", "computed_at": "timestamp", "tag_versions": "string",
              "rows": "int64"}
#: columns only the DuckDB/PostgreSQL form of ``_tag_run`` has (the Spark form is full-only)
RUN_EXTRA = {"load_seq": "int64", "carried": "string"}


def _ensure_run_table(wh: Any) -> None:
    if not wh.has_table(RUN_TABLE):
        wh.con.create_table(RUN_TABLE, schema=ibis.schema({**RUN_SCHEMA, **RUN_EXTRA}))
    else:  # made before the incremental runs
        _add_missing_columns(wh, RUN_TABLE, ibis.schema(RUN_EXTRA))


def _day(v: Any) -> dt.date:
    """A date read back from the warehouse (some engines hand DATE columns back as datetimes)."""
    return v.date() if isinstance(v, dt.datetime) else v  # type: ignore[no-any-return]


def computed_dates(wh: Any, entity: str) -> list[dt.date]:
    """As-of dates already computed for ``entity`` (oldest first)."""
    if not wh.has_table(RUN_TABLE):
        return []
    r = wh.table(RUN_TABLE)
    df = r.filter(r.entity == entity).select("as_of").distinct().order_by("as_of").execute()
    return [_day(d) for d in df["as_of"]]


def _sql_type(wh: Any, dtype: Any) -> str:
    return wh.con.compiler.type_mapper.from_ibis(dtype).sql(dialect=wh.con.dialect)


def _add_missing_columns(wh: Any, table: str, schema: Any) -> None:
    have = set(wh.table(table).columns)
    for name, dtype in schema.items():
        if name not in have:
            wh.sql(f'ALTER TABLE {table} ADD COLUMN "{name}" {_sql_type(wh, dtype)}')


def drop_table(wh: Any, name: str) -> None:
    wh.sql(f'DROP TABLE IF EXISTS "{name}"')


def replace_table(wh: Any, name: str, select_sql: str) -> None:
    """``CREATE TABLE name AS <select_sql>``, replacing any table of that name.

    (Raw SQL: with sqlglot 30.30 Ibis 12's ``drop_table`` and ``create_table(overwrite=True)`` render
    ``DROP TABLE IF EXISTS`` without the table name; compiling once also halves Ibis's overhead.)
    """
    drop_table(wh, name)
    wh.sql(f'CREATE TABLE "{name}" AS {select_sql}')


def _write_snapshot(wh: Any, entity: str, as_of: dt.date, tmp: str) -> None:
    snap = snapshot_table(entity)
    if not wh.has_table(snap):
        wh.sql(f'CREATE TABLE "{snap}" AS SELECT * FROM "{tmp}"')
    else:
        _add_missing_columns(wh, snap, wh.table(tmp).schema())
        cols = ", ".join(f'"{c}"' for c in wh.table(tmp).columns)
        wh.sql(f"DELETE FROM \"{snap}\" WHERE as_of = DATE '{as_of.isoformat()}'")
        wh.sql(f'INSERT INTO "{snap}" ({cols}) SELECT {cols} FROM "{tmp}"')
    latest = max(computed_dates(wh, entity) + [as_of])
    if as_of >= latest:
        replace_table(wh, profile_table(entity), f'SELECT * FROM "{tmp}"')


def _record_run(wh: Any, entity: str, as_of: dt.date, versions: Mapping[str, int], rows: int,
                watermark: int | None, carried: Mapping[str, dt.date | None]) -> None:
    _ensure_run_table(wh)
    wh.sql(f"DELETE FROM {RUN_TABLE} WHERE entity = '{entity}' AND as_of = DATE '{as_of.isoformat()}'")
    wh.con.insert(RUN_TABLE, ibis.memtable({
        "entity": [entity], "as_of": [as_of], "computed_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        "tag_versions": [json.dumps(dict(versions), sort_keys=True)], "rows": [rows],
        "load_seq": [watermark],
        "carried": [json.dumps({g: p and p.isoformat() for g, p in carried.items()}, sort_keys=True)],
    }, schema={**RUN_SCHEMA, **RUN_EXTRA}))


def compute_entity(wh: Any, entity: str, as_of: dt.date, specs: Mapping[str, TagSpec], *,
                   force: bool = False, full: bool = False) -> RunResult:
    """Compute the approved tags ``specs`` of ``entity`` as of ``as_of`` into the snapshot tables; recency
    groups are carried forward from the previous computed day when the loads since allow (not with
    ``full``)."""
    import time

    start = time.perf_counter()
    ids = [i for i, s in specs.items() if s.entity == entity]
    if not force and as_of in computed_dates(wh, entity):
        return RunResult(entity, as_of, 0, len(ids), True, 0.0)
    versions = {i: specs[i].version for i in ids}
    if getattr(wh, "kind", None) == "spark":
        rows = _compute_entity_spark(wh, entity, as_of, ids, versions)
        return RunResult(entity, as_of, rows, len(ids), False, round(time.perf_counter() - start, 3))
    tables = Tables(wh)
    watermark = load_watermark(wh)
    recency = [g for g in groups_of(entity, ids) if GROUPS[g].recency is not None]  # type: ignore[arg-type]
    carried = carry_plan(wh, entity, as_of, recency, versions, full=full)
    sources = {g: _write_carry(wh, tables, g, as_of, since) for g, since in carried.items()}
    expr = profile_expr(entity, tables, as_of, ids, sources=sources)  # type: ignore[arg-type]
    expr = expr.select(as_of=ibis.date(as_of), **{c: expr[c] for c in expr.columns})
    tmp = f"_tag_tmp_{entity}"
    replace_table(wh, tmp, wh.con.compile(expr))
    try:
        rows = int(wh.table(tmp).count().execute())
        _write_snapshot(wh, entity, as_of, tmp)
        _record_run(wh, entity, as_of, versions, rows, watermark, carried)
    finally:
        drop_table(wh, tmp)
    for g in carried:
        _prune_carry(wh, g)
    return RunResult(entity, as_of, rows, len(ids), False, round(time.perf_counter() - start, 3), carried)


def backfill_days(start: dt.date, end: dt.date, *, month_ends: bool = False) -> list[dt.date]:
    """The days a back-fill computes, oldest first: every day from ``start`` to ``end``, or (``month_ends``)
    the month ends in that range and ``end`` itself."""
    from kequn.errors import ValidationError

    if start > end:
        raise ValidationError(f"--from {start} is after --as-of {end}: the range must run forwards")
    if (end - start).days > 3660:
        raise ValidationError(f"--from {start} … {end} spans more than ten years; back-fill a shorter range")
    days = [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]
    if month_ends:
        days = [d for d in days if (d + dt.timedelta(days=1)).day == 1 or d == end]
    return days


def run_history(wh: Any, entity: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The tag runs, newest as-of day first: entity, as_of, computed_at (UTC), rows, tags, mode, the days
    recency groups were carried from, and the loader's watermark then (``load_seq``)."""
    if not wh.has_table(RUN_TABLE):
        return []
    r = wh.table(RUN_TABLE)
    if entity is not None:
        r = r.filter(r.entity == entity)
    rows = r.order_by([r.as_of.desc(), r.entity]).limit(limit).to_pyarrow().to_pylist()
    out = []
    for x in rows:
        carried = json.loads(x.get("carried") or "{}")
        out.append({
            "entity": x["entity"], "as_of": x["as_of"], "computed_at": x["computed_at"], "rows": x["rows"],
            "tags": len(json.loads(x["tag_versions"] or "{}")), "mode": run_mode(carried),
            "carried_from": sorted({v for v in carried.values() if v}),
            "load_seq": x.get("load_seq"),
        })
    return out


# ------------------------------------------------------------------ incremental recency groups
def load_watermark(wh: Any) -> int | None:
    """The latest ``load_seq`` of the loader's batches (None before any numbered load)."""
    if not wh.has_table(LOAD_TABLE) or "load_seq" not in wh.table(LOAD_TABLE).columns:
        return None
    v = wh.table(LOAD_TABLE).load_seq.max().execute()
    return None if v is None or v != v else int(v)


def _previous_run(wh: Any, entity: str, as_of: dt.date) -> dict[str, Any] | None:
    """The run of the latest day computed before ``as_of`` (its tag versions, watermark, carried groups)."""
    if not wh.has_table(RUN_TABLE) or not set(RUN_EXTRA) <= set(wh.table(RUN_TABLE).columns):
        return None
    r = wh.table(RUN_TABLE)
    rows = (r.filter(r.entity == entity, r.as_of < ibis.date(as_of)).order_by(r.as_of.desc()).limit(1)
            .to_pyarrow().to_pylist())
    return rows[0] if rows else None


def _carry_days(wh: Any, group: str) -> set[dt.date]:
    if not wh.has_table(CARRY_TABLE):
        return set()
    c = wh.table(CARRY_TABLE)
    days = c.filter(c.grp == group).select("as_of").distinct().to_pyarrow().column("as_of").to_pylist()
    return {_day(d) for d in days}


def reaching_back(wh: Any, table: str, since: int | None, before: dt.date) -> int:
    """How many of ``table``'s batches committed after the load sequence number ``since`` (all, when None)
    touched a row dated on or before ``before`` — or cannot say (loaded before the loader recorded time
    ranges)."""
    if not wh.has_table(LOAD_TABLE):
        return 0
    b = wh.table(LOAD_TABLE)
    if not {"time_min", "load_seq"} <= set(b.columns):
        return int(b.filter(b.table_name == table).count().execute())
    end = ibis.timestamp(dt.datetime.combine(before + dt.timedelta(days=1), dt.time()))
    hit = b.filter(b.table_name == table,
                   (b.time_min < end) | (b.time_min.isnull() & (b.rows_loaded > 0)))
    if since is not None:  # batches of an older Kequn have no number: they came before any numbered one
        hit = hit.filter(b.load_seq > since)
    return int(hit.count().execute())


def carry_plan(wh: Any, entity: str, as_of: dt.date, groups: list[str], versions: Mapping[str, int], *,
               full: bool = False) -> dict[str, dt.date | None]:
    """For each recency group: the earlier day its latest times can be carried from, or None (scan the year)."""
    plan: dict[str, dt.date | None] = dict.fromkeys(groups)
    prev = None if full or not groups else _previous_run(wh, entity, as_of)
    if prev is None:
        return plan
    p = _day(prev["as_of"])
    then = json.loads(prev["tag_versions"] or "{}")
    for g in groups:
        spec = GROUPS[g].recency
        assert spec is not None
        tags = [d.id for d in REGISTRY.values() if d.group == g and d.id in versions]
        if (as_of - p).days >= spec.days or any(then.get(t) != versions[t] for t in tags):
            continue
        if p not in _carry_days(wh, g):
            continue
        if reaching_back(wh, spec.table, prev["load_seq"], p):
            continue
        plan[g] = p
    return plan


def _write_carry(wh: Any, tables: Tables, group: str, as_of: dt.date, since: dt.date | None) -> Any:
    """Store ``group``'s latest time per key as of ``as_of`` (carried from ``since`` when given) and return
    it as the group's source table (``key``, ``ts``)."""
    spec = GROUPS[group].recency
    assert spec is not None
    def typed(t: Any) -> Any:  # one schema for the union and the carry table
        return t.select(key=t.key.cast("string"), ts=t.ts.cast("timestamp"))

    latest = typed(recency_source(group, tables, as_of, since))
    if since is not None:
        c = wh.table(CARRY_TABLE)
        kept = c.filter(c.grp == group, c.as_of == ibis.date(since), c.ts >= AsOf(as_of).since_ts(spec.days))
        both = typed(kept).union(latest)
        latest = both.group_by("key").aggregate(ts=both.ts.max())
    rows = latest.select(grp=ibis.literal(group), as_of=ibis.date(as_of), key=latest.key, ts=latest.ts)
    day = f"DATE '{as_of.isoformat()}'"
    if not wh.has_table(CARRY_TABLE):
        wh.sql(f'CREATE TABLE "{CARRY_TABLE}" (grp VARCHAR, as_of DATE, "key" VARCHAR, ts TIMESTAMP)')
    wh.sql(f"DELETE FROM \"{CARRY_TABLE}\" WHERE grp = '{group}' AND as_of = {day}")
    wh.sql(f'INSERT INTO "{CARRY_TABLE}" (grp, as_of, "key", ts) {wh.con.compile(rows)}')
    c = wh.table(CARRY_TABLE)
    return c.filter(c.grp == group, c.as_of == ibis.date(as_of)).select("key", "ts")


def _prune_carry(wh: Any, group: str) -> None:
    keep = sorted(_carry_days(wh, group))[-CARRY_KEEP:]
    if keep:
        wh.sql(f"DELETE FROM \"{CARRY_TABLE}\" WHERE grp = '{group}' AND as_of < DATE '{keep[0].isoformat()}'")


def _compute_entity_spark(wh: Any, entity: str, as_of: dt.date, ids: list[str], versions: Mapping[str, int]) -> int:
    """The Spark form of one snapshot: ``tag_snapshot_<e>`` and ``_tag_run`` are Parquet tables partitioned by
    ``as_of`` (and ``entity``); the day's partition is replaced with ``INSERT OVERWRITE … PARTITION`` (plain
    Spark tables cannot DELETE). ``profile_<e>`` is rewritten from the snapshot when the day is the latest."""
    from kequn.warehouse.spark import replace_partition, sql_string, write_table

    expr = profile_expr(entity, Tables(wh), as_of, ids)  # type: ignore[arg-type]
    expr = expr.select(as_of=ibis.date(as_of), **{c: expr[c] for c in expr.columns})
    snap = snapshot_table(entity)
    replace_partition(wh, snap, {"as_of": as_of}, expr, schema=expr.schema())
    day = wh.table(snap)
    day = day.filter(day.as_of == ibis.date(as_of)).select(*expr.columns)
    if as_of >= max(computed_dates(wh, entity) + [as_of]):
        rows = int(write_table(wh, profile_table(entity), day) or 0)
    else:
        rows = int(day.count().execute())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    replace_partition(wh, RUN_TABLE, {"entity": entity, "as_of": as_of},
                      f"SELECT TIMESTAMP'{now}' AS computed_at, "
                      f"{sql_string(json.dumps(dict(versions), sort_keys=True))} AS tag_versions, "
                      f"CAST({rows} AS BIGINT) AS rows", schema=RUN_SCHEMA)
    return rows


def compute(wh: Any, as_of: dt.date, specs: Mapping[str, TagSpec], *, force: bool = False, full: bool = False,
            entities: Iterable[str] = ENTITIES) -> list[RunResult]:
    """Compute every entity's profile as of ``as_of`` from the approved tags in ``specs`` (``full``: no
    recency group is carried forward)."""
    from kequn.warehouse.schema import create_tables

    if getattr(wh, "kind", None) != "spark":  # on Spark the canonical tables are the bank's (or loaded views)
        create_tables(wh)  # a warehouse without canonical tables gets empty ones (profiles are then empty)
    return [compute_entity(wh, e, as_of, specs, force=force, full=full) for e in entities]


def read_snapshot(wh: Any, entity: str, as_of: dt.date | None = None) -> Any:
    """The Ibis table of ``entity``'s snapshot as of ``as_of`` (default: the latest profile)."""
    from kequn.errors import NotFoundError

    if as_of is None:
        if not wh.has_table(profile_table(entity)):
            raise NotFoundError(f"no {entity} profile yet: run `kequn tags compute --as-of DATE`")
        return wh.table(profile_table(entity))
    if as_of not in computed_dates(wh, entity):
        raise NotFoundError(f"no {entity} snapshot as of {as_of}: run `kequn tags compute --as-of {as_of}`")
    s = wh.table(snapshot_table(entity))
    return s.filter(s.as_of == ibis.date(as_of))


__all__ = ["ENTITIES", "ENTITY_KEYS", "RunResult", "backfill_days", "carry_plan", "compute", "compute_entity", "computed_dates",
           "read_snapshot", "run_history", "run_mode"]
