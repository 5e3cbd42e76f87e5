"""Segment use-cases: size, daily snapshot, trend, entries/exits, overlap, masked export, maker-checker.

Heavy work is Ibis over the warehouse; only counts and small result sets come back into Python. A
campaign may target a segment only when :func:`usable` says so (an approved version exists).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kequn.errors import ConflictError, KequnError, NotFoundError, SegmentError, ValidationError
from kequn.segments import catalogue as catalogue_mod
from kequn.segments import definitions, engine, store
from kequn.segments.definitions import SegmentDef
from kequn.segments.lang import parse
from kequn.segments.rules import ENTITY_KEYS, Catalogue, check


def validate_rule(rule: str, entity: str, catalogue: Catalogue) -> None:
    """Parse and check ``rule`` (``SegmentError`` with the position of each problem)."""
    check(parse(rule), catalogue, entity)


def evaluate(wh: Any, seg: SegmentDef, as_of: dt.date | None, catalogue: Catalogue | None = None) -> Any:
    """The members of ``seg`` as of the date, as an Ibis table with one column ``entity_id``."""
    if seg.static:
        return store.static_members(wh, seg.id, seg.version)
    assert seg.rule is not None
    cat = catalogue or catalogue_mod.load(wh)
    node = parse(seg.rule)
    check(node, cat, seg.entity)
    return engine.rule_members(wh, seg.entity, node, cat, as_of)


def size(wh: Any, seg: SegmentDef, as_of: dt.date | None, catalogue: Catalogue | None = None) -> int:
    """How many members the segment has as of the date (computed live, not stored)."""
    return int(evaluate(wh, seg, as_of, catalogue).count().execute())


SIZE_MODES = ("stored", "missing", "live")


def sizes(wh: Any, segs: list[SegmentDef], as_of: dt.date, mode: str = "missing",
          catalogue: Catalogue | None = None) -> dict[str, dict[str, Any]]:
    """The size of each segment for a list, without recomputing every segment on a big warehouse:
    segment id → ``{size, as_of, source}``.

    - ``stored``: the latest stored snapshot on or before ``as_of`` (``source="snapshot"``, ``as_of`` = the
      snapshot's day, which may be earlier) when its version is the segment's version, else no size
      (``source=None``). One small query; never evaluates a rule.
    - ``missing`` (default): as ``stored``, and computed live (``source="live"``) for the segments without
      such a snapshot.
    - ``live``: every segment computed live as of ``as_of`` (on demand).

    A rule that cannot be evaluated (a tag not computed for the day) gives ``size=None`` with ``error``."""
    if mode not in SIZE_MODES:
        raise ValidationError(f"size mode {mode!r} is not one of {', '.join(SIZE_MODES)}")
    stored = store.latest_sizes(wh, as_of) if mode != "live" else {}
    cat = None
    out: dict[str, dict[str, Any]] = {}
    for seg in segs:
        snap = stored.get(seg.id)
        if snap is not None and int(snap["version"]) == seg.version:
            day = snap["as_of"]
            out[seg.id] = {"size": int(snap["size"]), "as_of": day if isinstance(day, dt.date) else
                           dt.date.fromisoformat(str(day)[:10]), "source": "snapshot"}
            continue
        if mode == "stored":
            out[seg.id] = {"size": None, "as_of": None, "source": None}
            continue
        try:
            cat = cat or catalogue or catalogue_mod.load(wh)
            out[seg.id] = {"size": size(wh, seg, as_of, cat), "as_of": as_of, "source": "live"}
        except KequnError as exc:  # e.g. a tag not computed for the day
            out[seg.id] = {"size": None, "as_of": as_of, "source": "live", "error": exc.message}
    return out


def snapshot(wh: Any, seg: SegmentDef, as_of: dt.date, catalogue: Catalogue | None = None) -> int:
    """Compute and store the segment's membership as of ``as_of`` (replacing that day); its size."""
    store.ensure_tables(wh)
    members = evaluate(wh, seg, as_of, catalogue)
    import ibis

    rows = members.mutate(segment_id=ibis.literal(seg.id), version=ibis.literal(seg.version, "int64"),
                          as_of=ibis.date(as_of))
    store.replace_day(wh, "segment_membership", "segment_id", seg.id, as_of, rows)
    n = int(store.membership(wh, seg.id, as_of).count().execute())
    store.record_size(wh, seg.id, seg.version, as_of, n)
    return n


def snapshot_many(wh: Any, segs: list[SegmentDef], as_of: dt.date,
                  catalogue: Catalogue | None = None) -> dict[str, int]:
    """Snapshot several segments as of one day in one statement each for delete, insert and count
    (the daily run); segment id → size."""
    import ibis

    if not segs:
        return {}
    store.ensure_tables(wh)
    cat = catalogue or catalogue_mod.load(wh)
    schema = ibis.schema(store.SCHEMAS["segment_membership"])
    parts = [evaluate(wh, s, as_of, cat).mutate(segment_id=ibis.literal(s.id), version=ibis.literal(s.version, "int64"),
                                                 as_of=ibis.date(as_of)).select(*schema.names).cast(schema)
             for s in segs]
    rows = ibis.union(*parts) if len(parts) > 1 else parts[0]
    store.replace_days(wh, "segment_membership", "segment_id", [s.id for s in segs], as_of, rows)
    t = wh.table("segment_membership")
    counts = t.filter(t.as_of == ibis.date(as_of), t.segment_id.isin([s.id for s in segs])) \
        .group_by("segment_id").aggregate(n=ibis._.count()).to_pyarrow().to_pylist()
    sizes = {s.id: 0 for s in segs} | {r["segment_id"]: int(r["n"]) for r in counts}
    for s in segs:
        store.record_size(wh, s.id, s.version, as_of, sizes[s.id])
    return sizes


def _stored(wh: Any, segment_id: str, as_of: dt.date) -> Any:
    if not wh.has_table("segment_snapshot"):
        raise NotFoundError(f"segment {segment_id!r} has no snapshots; run `kequn segments size {segment_id} "
                            "--as-of DATE --store` first")
    snaps = wh.table("segment_snapshot")
    found = snaps.filter(snaps.segment_id == segment_id, snaps.as_of == as_of).count().execute()
    if not found:
        raise NotFoundError(f"segment {segment_id!r} has no snapshot as of {as_of}")
    return store.membership(wh, segment_id, as_of)


def changes(wh: Any, segment_id: str, before: dt.date, after: dt.date) -> dict[str, Any]:
    """Entries (members on ``after`` not on ``before``) and exits (the reverse): Ibis tables and counts."""
    old, new = _stored(wh, segment_id, before), _stored(wh, segment_id, after)
    entries = new.anti_join(old, "entity_id")
    exits = old.anti_join(new, "entity_id")
    return {"entries": entries, "exits": exits, "entered": int(entries.count().execute()),
            "exited": int(exits.count().execute())}


def overlap(wh: Any, a: str, b: str, as_of: dt.date) -> dict[str, Any]:
    """Sizes of two stored snapshots and of their intersection, with the Jaccard index."""
    ma, mb = _stored(wh, a, as_of), _stored(wh, b, as_of)
    na, nb = int(ma.count().execute()), int(mb.count().execute())
    both = int(ma.semi_join(mb, "entity_id").count().execute())
    union = na + nb - both
    return {"a": a, "b": b, "as_of": as_of, "size_a": na, "size_b": nb, "both": both,
            "jaccard": round(both / union, 4) if union else None}


# ----------------------------------------------------------------------------------------- export
_EXPORT_COLUMNS = {
    "customer": ("customer_id", "name", "phone", "city", "home_branch_id"),
    "enterprise": ("enterprise_id", "name", "industry", "size", "city", "branch_id"),
    "merchant": ("merchant_id", "name", "mcc", "branch_id", "status"),
}


def export_rows(wh: Any, seg: SegmentDef, as_of: dt.date | None, limit: int | None = None) -> list[dict[str, Any]]:
    """Members with their contact columns, every personal column masked (JR/T 0171-2020)."""
    from kequn.security.masking import mask_row

    key = ENTITY_KEYS[seg.entity]
    members = evaluate(wh, seg, as_of)
    party = wh.table(seg.entity)
    cols = [c for c in _EXPORT_COLUMNS[seg.entity] if c in party.columns]
    j = members.join(party.select(*cols), members.entity_id == party[key]).select(*cols).order_by(key)
    if limit is not None:
        j = j.limit(limit)
    return [mask_row(seg.entity, r) for r in j.to_pyarrow().to_pylist()]


def export(wh: Any, seg: SegmentDef, as_of: dt.date | None, path: Path) -> int:
    """Write the masked member list to ``path`` (.csv, UTF-8 with BOM for Excel; or .xlsx); rows written."""
    rows = export_rows(wh, seg, as_of)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ValidationError(f"cannot export to {path.name}: use a .csv or .xlsx file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0]) if rows else list(_EXPORT_COLUMNS[seg.entity])
    if suffix == ".csv":
        import csv

        with path.open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = seg.id[:31]
        ws.append(cols)
        for r in rows:
            ws.append([None if r.get(c) is None else str(r.get(c)) for c in cols])
        wb.save(path)
    return len(rows)


# ----------------------------------------------------------------------------------------- maker-checker
def create(engine_: Any, wh: Any | None, seg: SegmentDef, maker: str, ids: list[str] | None = None) -> Any:
    """Submit ``seg`` as the next version of its id (a draft until a second person approves it)."""
    from kequn.opstore import approvals

    if seg.rule:
        validate_rule(seg.rule, seg.entity, catalogue_mod.load(wh))
    existing = definitions.latest_requests(engine_).get(seg.id)
    version = existing.version + 1 if existing else 1
    if existing and existing.status == "draft":
        raise ConflictError(f"segment {seg.id!r} version {existing.version} is still awaiting approval "
                            f"(request {existing.id}); approve or reject it first")
    seg = seg.model_copy(update={"version": version})
    if seg.static:
        if not ids:
            raise ValidationError(f"static segment {seg.id!r} needs a list of ids")
        if wh is None:
            raise ValidationError("a static segment needs the warehouse to store its ids")
        store.ensure_tables(wh)
        store.replace_static(wh, seg.id, version, ids)
    return approvals.submit(engine_, "segment", seg.id, version, seg.model_dump(mode="json"), maker)


def submit_shipped(engine_: Any, wh: Any | None, segment_id: str, maker: str) -> Any:
    """Submit a shipped standard group for approval (its first version, or the next one)."""
    shipped = definitions.load_shipped().get(segment_id)
    if shipped is None:
        raise NotFoundError(f"{segment_id!r} is not a shipped segment")
    return create(engine_, wh, shipped, maker)


def approve(engine_: Any, segment_id: str, checker: str, *, reject_reason: str | None = None) -> Any:
    """Approve (or reject, with a reason) the draft awaiting a checker for ``segment_id``."""
    from kequn.opstore import approvals

    drafts = [r for r in approvals.pending(engine_, "segment") if r.item_id == segment_id]
    if not drafts:
        raise NotFoundError(f"segment {segment_id!r} has no version awaiting approval")
    if reject_reason:
        return approvals.reject(engine_, drafts[-1].id, checker, reject_reason)
    return approvals.approve(engine_, drafts[-1].id, checker)


def usable(segment_id: str, engine_: Any | None = None) -> bool:
    """Whether a campaign may target ``segment_id``: an approved version exists (maker-checker done).
    An ops store not yet migrated has approved nothing."""
    from sqlalchemy import inspect

    from kequn.opstore import approvals

    if engine_ is None:
        from kequn.opstore import open_default

        engine_ = open_default()
    if not inspect(engine_).has_table("change_request"):
        return False
    return approvals.current(engine_, "segment", segment_id) is not None


def approved(engine_: Any, segment_id: str) -> SegmentDef:
    """The approved definition campaigns use (``NotFoundError`` when none is approved)."""
    return definitions.get(engine_, segment_id, approved_only=True)


def daily(wh: Any, engine_: Any, as_of: dt.date) -> dict[str, Any]:
    """The daily step of segments (for `kequn run`): snapshot every approved segment and run every journey
    track as of the day. Returns sizes by segment and customers/transitions by track."""
    from kequn.segments import journeys

    cat = catalogue_mod.load(wh)
    approved_ids = [i for i, (_d, status) in definitions.all_definitions(engine_).items() if status == "approved"]
    segs = [approved(engine_, i) for i in approved_ids]
    sizes = snapshot_many(wh, segs, as_of, cat)
    tracks: dict[str, Any] = {}
    for t in journeys.load_tracks().values():
        try:
            tracks[t.id] = journeys.run(wh, t, as_of, cat)
        except SegmentError as exc:  # one track's missing tag must not stop the others
            tracks[t.id] = {"track": t.id, "error": exc.message}
    return {"as_of": as_of, "segments": sizes, "journeys": tracks}


__all__ = [
    "SegmentError", "approve", "approved", "changes", "create", "daily", "evaluate", "export", "export_rows", "overlap",
    "size", "snapshot", "submit_shipped", "usable", "validate_rule",
]
