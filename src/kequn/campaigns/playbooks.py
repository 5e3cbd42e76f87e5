"""Playbooks (路线图): a parameterised campaign template, piloted in some branches, rolled out to the rest.

A playbook is declared data (``catalog/playbooks/*.yaml``), approved by maker-checker (kind="playbook").
``instantiate`` turns it into a campaign spec for a stage (pilot / rollout) and a set of branches. The PDCA
history (plan → do → check → act) is kept append-only in ``playbook_history``. A rollout is evaluated
against the not-yet branches by difference in differences on a per-customer 0/1 metric (opened the
offered product category in the period), from sufficient statistics aggregated in the warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path
from typing import Any, Literal

import ibis
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from kequn.campaigns import tables as T
from kequn.domain.campaigns import ArmStats, CampaignSpec, did
from kequn.errors import NotFoundError, ValidationError
from kequn.opstore import approvals, audit

CATALOG = Path(__file__).resolve().parents[1] / "catalog" / "playbooks"
KIND = "playbook"


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,40}$")
    name: str
    version: int = Field(1, ge=1)
    description: str = ""
    parameters: dict[str, str | int | float] = Field(default_factory=dict)
    pilot_branches: tuple[str, ...] = Field(min_length=1)
    metric_category: str = Field(description="product category whose opening is the success metric")
    template: dict[str, Any] = Field(description="a campaign spec with ${parameter} placeholders")


def _fill(obj: Any, params: dict[str, Any]) -> Any:
    if isinstance(obj, str):
        if obj.startswith("${") and obj.endswith("}") and obj[2:-1] in params:
            return params[obj[2:-1]]  # keep the parameter's type (an int stays an int)
        return string.Template(obj).substitute(params)
    if isinstance(obj, dict):
        return {k: _fill(v, params) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, params) for v in obj]
    return obj


def load(path: Path) -> Playbook:
    try:
        return Playbook.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except PydanticValidationError as exc:
        details = [{"where": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ValidationError(f"{path}: {details[0]['where']}: {details[0]['message']}", details=details) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"{path}: cannot read playbook: {exc}") from None


def shipped() -> dict[str, Playbook]:
    return {p.playbook_id: p for p in (load(f) for f in sorted(CATALOG.glob("*.yaml")))}


def instantiate(pb: Playbook, stage: Literal["pilot", "rollout"], branches: list[str],
                overrides: dict[str, Any] | None = None) -> CampaignSpec:
    """The campaign for one stage: the template with parameters filled and the audience limited to branches."""
    from kequn.campaigns.service import parse_spec

    params = {**pb.parameters, **(overrides or {})}
    try:
        data = _fill(pb.template, params)
    except KeyError as exc:
        raise ValidationError(f"playbook {pb.playbook_id}: template uses undefined parameter {exc}") from None
    data["campaign_id"] = f"{pb.playbook_id}-{stage}-v{pb.version}"
    data["playbook_id"] = pb.playbook_id
    data.setdefault("audience", {})["branches"] = sorted(branches)
    return parse_spec(data, f"playbook {pb.playbook_id} ({stage})")


def record(engine: Any, pb: Playbook, stage: str, note: str, actor: str, *, branches: list[str] | None = None,
           campaign_id: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append one PDCA step (plan / do / check / act)."""
    with engine.begin() as conn:
        conn.execute(T.playbook_history.insert().values(
            playbook_id=pb.playbook_id, version=pb.version, stage=stage, branches=json.dumps(sorted(branches or [])),
            campaign_id=campaign_id, note=note, details=json.dumps(details or {}, ensure_ascii=False, default=str),
            actor=actor, at=dt.datetime.now(dt.UTC)))
    audit.record(engine, actor, f"playbook.{stage}", f"playbook:{pb.playbook_id}@v{pb.version}", reason=note)


def history(engine: Any, playbook_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.playbook_history).where(T.playbook_history.c.playbook_id == playbook_id)
                            .order_by(T.playbook_history.c.id)).mappings().all()
    return [{**dict(r), "branches": json.loads(r["branches"]), "details": json.loads(r["details"])} for r in rows]


def submit(engine: Any, pb: Playbook, maker: str) -> approvals.ChangeRequest:
    req = approvals.submit(engine, KIND, pb.playbook_id, pb.version, pb.model_dump(mode="json"), maker)
    record(engine, pb, "plan", "submitted for approval", maker, branches=list(pb.pilot_branches))
    return req


def approved(engine: Any, playbook_id: str) -> Playbook:
    req = approvals.current(engine, KIND, playbook_id)
    if req is None:
        raise NotFoundError(f"playbook {playbook_id!r} has no approved version")
    return Playbook.model_validate(req.payload)


# ------------------------------------------------------------------------------------------- DiD
def branch_metric(wh: Any, category: str, branches: list[str], start: dt.date, end: dt.date) -> ArmStats:
    """Per active customer of these branches: opened an account of ``category`` in [start, end) (0/1);
    n, Σx, Σx² computed by the warehouse."""
    from kequn.campaigns.audience import expand_branches

    branches = expand_branches(wh, branches)
    c, a, p = wh.table("customer"), wh.table("account"), wh.table("product")
    cust = c.filter(c.home_branch_id.isin(branches), c.onboarded_on < ibis.date(start),
                    c.closed_on.isnull() | (c.closed_on >= ibis.date(end))).select("customer_id")
    opened = a.inner_join(p, a.product_id == p.product_id)
    opened = opened.filter(opened.category == category, opened.opened_on >= ibis.date(start),
                           opened.opened_on < ibis.date(end), opened.customer_id.notnull())
    opened = opened.select("customer_id").distinct().mutate(x=ibis.literal(1))
    j = cust.left_join(opened, "customer_id")
    x = j.x.fill_null(0)
    row = j.aggregate(n=j.count(), s=x.sum(), ss=(x * x).sum()).to_pyarrow().to_pylist()[0]
    return ArmStats(int(row["n"]), float(row["s"] or 0), float(row["ss"] or 0))


def evaluate_rollout(wh: Any, category: str, pilot: list[str], rest: list[str], *, before: tuple[dt.date, dt.date],
                     after: tuple[dt.date, dt.date]) -> dict[str, Any]:
    """Difference in differences: pilot branches' change minus the not-yet branches' change, with a 95% CI
    (independent cells: the variances of the four means add)."""
    cells = {(g, per): branch_metric(wh, category, br, *rng)
             for g, br in (("pilot", pilot), ("rest", rest)) for per, rng in (("before", before), ("after", after))}
    est = did(cells["pilot", "before"].mean, cells["pilot", "after"].mean,
              cells["rest", "before"].mean, cells["rest", "after"].mean)
    var = sum(s.variance / s.n for s in cells.values() if s.n)
    half = 1.96 * var ** 0.5
    return {"did": est, "ci95": [est - half, est + half],
            "cells": {f"{g}_{p}": {"n": s.n, "rate": s.mean} for (g, p), s in cells.items()}}
