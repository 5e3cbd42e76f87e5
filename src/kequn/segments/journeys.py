"""Journey tracks (客户旅程): ordered stages with entry rules, daily stage assignment, transitions, funnel
conversion, median dwell per stage, and the touchpoints mapped to each stage.

A customer's stage on a day is the furthest ordered stage whose rule holds (the first stage when none
does); when a side stage's rule holds (e.g. "at risk") the customer is shown in it, while ``stage_index``
keeps their ordered progress for the funnel. Tracks are independent: a customer can be on several.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from kequn.domain.datamodel import JOURNEY_STAGES
from kequn.errors import NotFoundError, SegmentError, ValidationError
from kequn.segments import catalogue as catalogue_mod
from kequn.segments import engine, store
from kequn.segments.lang import BoolOp, Node, parse
from kequn.segments.rules import ENTITY_KEYS, Catalogue, band_levels, check, to_ibis

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog" / "journeys"
LEFT = "_left"  # to_stage of a transition out of the track


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1)
    rule: str = Field(min_length=1)
    maps_to: str

    @model_validator(mode="after")
    def _known_stage(self) -> Stage:
        if self.maps_to not in JOURNEY_STAGES:
            raise ValueError(f"maps_to {self.maps_to!r} is not a touchpoint journey stage ({', '.join(JOURNEY_STAGES)})")
        return self


class Track(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    entity: str = "customer"
    audience: str = Field(min_length=1)
    stages: tuple[Stage, ...] = Field(min_length=2)
    side_stages: tuple[Stage, ...] = ()

    @model_validator(mode="after")
    def _unique_stages(self) -> Track:
        ids = [s.id for s in self.stages + self.side_stages]
        if len(ids) != len(set(ids)):
            raise ValueError(f"stage ids repeat in track {self.id!r}: {ids}")
        return self


def load_tracks(directory: Path | None = None) -> dict[str, Track]:
    """The shipped journey tracks by id; ``ValidationError`` lists every problem."""
    import yaml

    directory = directory or CATALOG_DIR
    tracks: dict[str, Track] = {}
    problems: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        entries = doc.get("tracks") if isinstance(doc, Mapping) else None
        if not isinstance(entries, list):
            problems.append({"where": path.name, "message": "expected a top-level 'tracks:' list"})
            continue
        for i, raw in enumerate(entries):
            try:
                t = Track.model_validate(raw)
            except PydanticValidationError as exc:
                problems += [{"where": f"{path.name} entry {i + 1}", "field": ".".join(map(str, e["loc"])),
                              "message": e["msg"]} for e in exc.errors()]
                continue
            if t.id in tracks:
                problems.append({"where": path.name, "message": f"duplicate track id {t.id!r}"})
            tracks[t.id] = t
    if problems:
        raise ValidationError(f"journey tracks in {directory} have {len(problems)} problem(s)", details=problems)
    return tracks


def get_track(track_id: str) -> Track:
    tracks = load_tracks()
    if track_id not in tracks:
        raise NotFoundError(f"unknown journey track {track_id!r}; known: {', '.join(tracks)}")
    return tracks[track_id]


def _nodes(track: Track, catalogue: Catalogue) -> tuple[Node, list[Node], list[Node]]:
    def parsed(rule: str, where: str) -> Node:
        try:
            node = parse(rule)
            check(node, catalogue, track.entity)
        except SegmentError as exc:
            raise SegmentError(f"track {track.id}, {where}: {exc.message}", details=exc.details) from None
        return node

    return (parsed(track.audience, "audience"), [parsed(s.rule, f"stage {s.id}") for s in track.stages],
            [parsed(s.rule, f"side stage {s.id}") for s in track.side_stages])


def validate(track: Track, catalogue: Catalogue) -> None:
    """Check every rule of the track against the catalogue (``SegmentError`` naming the stage)."""
    _nodes(track, catalogue)


def assign(wh: Any, track: Track, as_of: dt.date, catalogue: Catalogue | None = None) -> Any:
    """(customer_id, stage, stage_index) of everyone on the track as of the date — one Ibis expression."""
    cat = catalogue or catalogue_mod.load(wh)
    audience, stages, sides = _nodes(track, cat)
    everything = BoolOp("and", (audience, *stages, *sides), 0)
    t = engine.prepared(wh, track.entity, everything, cat, as_of)
    bands = band_levels(everything, cat, track.entity)

    def holds(node: Node) -> Any:
        return to_ibis(node, t, bands).fill_null(False)

    key = ENTITY_KEYS[track.entity]
    index = ibis.cases(*((holds(n), k) for k, n in reversed(list(enumerate(stages)))), else_=0)
    ordered = ibis.cases(*((index == k, s.id) for k, s in enumerate(track.stages)), else_=track.stages[0].id)
    stage = ibis.cases(*((holds(n), s.id) for n, s in zip(sides, track.side_stages, strict=True)), else_=ordered) \
        if sides else ordered
    on = t.filter(holds(audience))
    return on.select(customer_id=on[key], stage=stage, stage_index=index.cast("int64")).distinct()


def _previous_day(wh: Any, track_id: str, as_of: dt.date) -> dt.date | None:
    t = wh.table("journey_stage_daily")
    day = t.filter(t.track_id == track_id, t.as_of < ibis.date(as_of)).as_of.max().execute()
    return None if day is None or str(day) in ("NaT", "nan", "None") else dt.date.fromisoformat(str(day)[:10])


def run(wh: Any, track: Track, as_of: dt.date, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Assign stages as of the date, store them and the transitions since the previous stored day."""
    store.ensure_tables(wh)
    rows = assign(wh, track, as_of, catalogue).mutate(track_id=ibis.literal(track.id), as_of=ibis.date(as_of))
    store.replace_day(wh, "journey_stage_daily", "track_id", track.id, as_of, rows)
    prev_day = _previous_day(wh, track.id, as_of)
    daily = wh.table("journey_stage_daily")
    cur = daily.filter(daily.track_id == track.id, daily.as_of == ibis.date(as_of))
    if prev_day is None:
        prev = cur.filter(ibis.literal(False)).select("customer_id", "stage")
    else:
        p = daily.filter(daily.track_id == track.id, daily.as_of == ibis.date(prev_day))
        prev = p.select("customer_id", "stage")
    j = cur.select("customer_id", "stage").outer_join(prev, "customer_id")
    moved = j.select(
        customer_id=ibis.coalesce(j.customer_id, j.customer_id_right), from_stage=j.stage_right,
        to_stage=ibis.coalesce(j.stage, ibis.literal(LEFT)),
    )
    moved = moved.filter(moved.from_stage.isnull() | (moved.from_stage != moved.to_stage))
    trans = moved.mutate(track_id=ibis.literal(track.id), as_of=ibis.date(as_of))
    store.replace_day(wh, "journey_transition", "track_id", track.id, as_of, trans)
    t = wh.table("journey_transition")
    n_moves = int(t.filter(t.track_id == track.id, t.as_of == ibis.date(as_of)).count().execute())
    return {"track": track.id, "as_of": as_of, "customers": int(cur.count().execute()), "transitions": n_moves,
            "previous": prev_day}


def funnel(wh: Any, track: Track, as_of: dt.date) -> list[dict[str, Any]]:
    """Per ordered stage: customers who reached it (stage_index ≥ k), share of the track and conversion
    from the stage before; then each side stage's current count."""
    d = wh.table("journey_stage_daily")
    d = d.filter(d.track_id == track.id, d.as_of == ibis.date(as_of))
    aggs = {f"r{k}": (d.stage_index >= k).sum() for k in range(len(track.stages))}
    aggs.update({f"s{k}": (d.stage == s.id).sum() for k, s in enumerate(track.side_stages)})
    aggs["total"] = d.count()
    row = d.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    total = int(row["total"] or 0)
    out, before = [], None
    for k, s in enumerate(track.stages):
        n = int(row[f"r{k}"] or 0)
        out.append({"stage": s.id, "name_zh": s.name_zh, "reached": n,
                    "share": round(n / total, 4) if total else None,
                    "conversion": (round(n / before, 4) if before else None) if k else None})
        before = n
    for k, s in enumerate(track.side_stages):
        n = int(row[f"s{k}"] or 0)
        out.append({"stage": s.id, "name_zh": s.name_zh, "reached": n, "share": round(n / total, 4) if total else None,
                    "conversion": None, "side": True})
    return out


def dwell(wh: Any, track: Track) -> list[dict[str, Any]]:
    """Median days spent in each stage, over completed stays (entered, then left for another stage)."""
    t = wh.table("journey_transition")
    t = t.filter(t.track_id == track.id)
    w = ibis.window(group_by="customer_id", order_by="as_of")
    stays = t.mutate(left_on=t.as_of.lead().over(w))
    done = stays.filter(stays.left_on.notnull(), stays.to_stage != LEFT)
    done = done.mutate(days=done.left_on.delta(done.as_of, unit="day"))
    agg = done.group_by("to_stage").aggregate(median_days=done.days.median(), stays=done.count())
    found = {r["to_stage"]: r for r in agg.to_pyarrow().to_pylist()}
    return [{"stage": s.id, "name_zh": s.name_zh,
             "median_days": None if s.id not in found else float(found[s.id]["median_days"]),
             "completed_stays": int(found.get(s.id, {}).get("stays", 0))}
            for s in track.stages + track.side_stages]


def touchpoints(wh: Any, track: Track, as_of: dt.date | None = None, days: int = 30) -> list[dict[str, Any]]:
    """Per stage: the touchpoints mapped to it (via touchpoint.journey_stage) and, with ``as_of``, how many
    events customers currently in the stage had on those touchpoints in the ``days`` before."""
    tp = wh.table("touchpoint")
    counts = tp.group_by("journey_stage").aggregate(touchpoints=tp.count())
    by_stage = {r["journey_stage"]: int(r["touchpoints"]) for r in counts.to_pyarrow().to_pylist()}
    events: dict[str, int] = {}
    if as_of is not None and wh.has_table("journey_stage_daily"):
        d = wh.table("journey_stage_daily")
        d = d.filter(d.track_id == track.id, d.as_of == ibis.date(as_of)).select("customer_id", "stage")
        e = wh.table("event")
        start = dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time())
        e = e.filter(e.ts >= ibis.timestamp(start),
                     e.ts < ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())))
        e = e.join(tp.select("touchpoint_id", "journey_stage"), "touchpoint_id")
        j = e.join(d, "customer_id")
        agg = j.group_by(["stage", "journey_stage"]).aggregate(n=j.count()).to_pyarrow().to_pylist()
        mapped = {s.id: s.maps_to for s in track.stages + track.side_stages}
        events = {r["stage"]: int(r["n"]) for r in agg if mapped.get(r["stage"]) == r["journey_stage"]}
    return [{"stage": s.id, "name_zh": s.name_zh, "maps_to": s.maps_to, "touchpoints": by_stage.get(s.maps_to, 0),
             "events": events.get(s.id, 0) if as_of is not None else None}
            for s in track.stages + track.side_stages]
