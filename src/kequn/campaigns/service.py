"""Campaign lifecycle: define (YAML or API) → submit → approve (maker-checker, kind="campaign") → launch.

Launch builds the audience (segment + score filters, or uplift top-k under a budget) as ONE Ibis
expression, assigns arms by sticky hash, applies the contact policy vectorised
(:mod:`kequn.campaigns.policy`), arbitrates against other campaigns' pending contacts and writes the
assignments, the suppressed contacts (with their reasons) and the outbox in bulk.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import ValidationError as PydanticValidationError

from kequn.campaigns import tables as T
from kequn.domain.campaigns import CampaignSpec, PolicyConfig, next_allowed
from kequn.errors import ConflictError, NotFoundError, ValidationError
from kequn.opstore import approvals, audit

KIND = "campaign"
CATALOG = Path(__file__).resolve().parents[1] / "catalog" / "campaigns"


def parse_spec(data: Any, where: str = "campaign") -> CampaignSpec:
    """A validated spec; ``ValidationError`` lists every problem (field path and message) at once."""
    try:
        return CampaignSpec.model_validate(data)
    except PydanticValidationError as exc:
        details = [{"where": ".".join(map(str, e["loc"])) or "(top)", "message": e["msg"].removeprefix("Value error, ")}
                   for e in exc.errors()]
        first = details[0]
        raise ValidationError(f"{where}: {len(details)} problem(s); {first['where']}: {first['message']}",
                              details=details) from None


def load_file(path: Path) -> CampaignSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"{path}: cannot read campaign YAML: {exc}") from None
    return parse_spec(data, str(path))


def shipped() -> list[CampaignSpec]:
    return [load_file(p) for p in sorted(CATALOG.glob("*.yaml"))]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def submit(engine: Any, spec: CampaignSpec, maker: str) -> approvals.ChangeRequest:
    """Store the spec as a draft and submit it for a checker's approval."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(T.campaign).where(T.campaign.c.campaign_id == spec.campaign_id)).mappings().first()
        version = 1 if row is None else int(row["version"]) + 1
        values = dict(version=version, name=spec.name, spec=spec.model_dump_json(), status="draft",
                      priority=spec.priority, created_by=maker)
        if row is None:
            conn.execute(T.campaign.insert().values(campaign_id=spec.campaign_id, created_at=_now(), **values))
        else:
            if row["status"] == "live":
                raise ConflictError(f"campaign {spec.campaign_id} is live: stop it before changing it")
            conn.execute(T.campaign.update().where(T.campaign.c.campaign_id == spec.campaign_id).values(**values))
    return approvals.submit(engine, KIND, spec.campaign_id, version, json.loads(spec.model_dump_json()), maker)


def approve(engine: Any, campaign_id: str, checker: str, *, reject_reason: str | None = None) -> approvals.ChangeRequest:
    """The checker approves (or rejects) the campaign's pending version; the maker cannot."""
    pend = [r for r in approvals.pending(engine, KIND) if r.item_id == campaign_id]
    if not pend:
        raise NotFoundError(f"campaign {campaign_id} has no version awaiting approval")
    req = pend[-1]
    if reject_reason:
        return approvals.reject(engine, req.id, checker, reject_reason)
    done = approvals.approve(engine, req.id, checker)
    with engine.begin() as conn:
        conn.execute(T.campaign.update().where(T.campaign.c.campaign_id == campaign_id,
                                               T.campaign.c.version == req.version).values(status="approved"))
    return done


def approved_spec(engine: Any, campaign_id: str) -> tuple[CampaignSpec, int]:
    req = approvals.current(engine, KIND, campaign_id)
    if req is None:
        raise ValidationError(f"campaign {campaign_id} has no approved version: a checker must approve it first")
    return parse_spec(req.payload, f"campaign {campaign_id}"), req.version


def get(engine: Any, campaign_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(T.campaign).where(T.campaign.c.campaign_id == campaign_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"campaign {campaign_id!r} does not exist")
    return {**dict(row), "spec": json.loads(row["spec"])}


def list_all(engine: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.campaign.c.campaign_id, T.campaign.c.name, T.campaign.c.version,
                                      T.campaign.c.status, T.campaign.c.priority, T.campaign.c.launched_at)
                            .order_by(T.campaign.c.campaign_id)).mappings().all()
    return [dict(r) for r in rows]


def set_status(engine: Any, campaign_id: str, status: str, actor: str) -> None:
    get(engine, campaign_id)
    with engine.begin() as conn:
        conn.execute(T.campaign.update().where(T.campaign.c.campaign_id == campaign_id).values(status=status))
    audit.record(engine, actor, f"campaign.{status}", f"campaign:{campaign_id}")


# ------------------------------------------------------------------------------------------- launch
def launch(wh: Any, engine: Any, campaign_id: str, actor: str, *, now: dt.datetime | None = None,
           as_of: dt.date | None = None, cfg: PolicyConfig | None = None) -> dict[str, Any]:
    """Run the approved campaign once: audience → arms → policy → arbitration → outbox. Idempotent per
    (campaign, version, day): a second launch the same day returns the first run's counts."""
    from kequn.campaigns import audience, policy, writer

    spec, version = approved_spec(engine, campaign_id)
    now = now or _now()
    cfg = cfg or _policy_config()
    as_of = as_of or now.date()
    run_id = f"{campaign_id}-v{version}-{as_of:%Y%m%d}"
    if spec.schedule.kind == "event":
        set_status(engine, campaign_id, "live", actor)
        return {"run_id": None, "campaign_id": campaign_id, "status": "live", "trigger": spec.schedule.touchpoint_id}
    with engine.connect() as conn:
        done = conn.execute(sa.select(T.campaign_run.c.counts).where(T.campaign_run.c.run_id == run_id)).first()
    if done is not None:
        return {"run_id": run_id, "replayed": True, **json.loads(done.counts)}
    t0 = time.perf_counter()
    aud = audience.build(wh, engine, spec, as_of)
    planned = policy.plan(wh, engine, spec, aud, now=now, cfg=cfg)
    timings = {"plan_s": time.perf_counter() - t0}
    counts = writer.write_run(engine, spec, version, run_id, planned, now=now,
                              not_before=next_allowed(now, cfg), as_of=as_of, actor=actor)
    counts["seconds"] = {**timings, "total_s": round(time.perf_counter() - t0, 3)}
    with engine.begin() as conn:
        conn.execute(T.campaign_run.update().where(T.campaign_run.c.run_id == run_id)
                     .values(counts=json.dumps(counts, default=str)))
    return {"run_id": run_id, **counts}


def daily(wh: Any, engine: Any, as_of: dt.date, *, at: dt.datetime | None = None,
          actor: str = "kequn-run") -> dict[str, Any]:
    """The campaigns' daily step (for `kequn run`): launch every approved campaign due on the day, then
    escalate the leads past their SLA."""
    from kequn.campaigns import leads
    from kequn.campaigns.directory import WarehouseDirectory
    from kequn.domain.campaigns import due

    runs = []
    for row in list_all(engine):
        if row["status"] not in ("approved", "live"):
            continue
        spec, _version = approved_spec(engine, row["campaign_id"])
        if due(spec, as_of):
            runs.append(launch(wh, engine, spec.campaign_id, actor, now=at, as_of=as_of))
    escalated = leads.escalate_overdue(engine, as_of, WarehouseDirectory(wh), actor)
    return {"as_of": as_of.isoformat(), "runs": runs, "escalated_leads": escalated}


def _policy_config() -> PolicyConfig:
    from kequn.settings import get_settings

    return PolicyConfig.from_settings(get_settings())


__all__ = ["approve", "approved_spec", "daily", "get", "launch", "list_all", "load_file", "parse_spec", "set_status",
           "shipped", "submit"]
