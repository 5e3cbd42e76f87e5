"""Use-cases over the ops store: route one application (champion/challenger, PD grade, log, lead),
replay a ladder version over the decision log, and set the traffic split (maker-checker too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kequn.domain.loans import Application, Decision
from kequn.errors import ValidationError
from kequn.routing import ladder as ladders
from kequn.routing import store
from kequn.routing.replay import ReplayReport, assign_arm, replay
from kequn.routing.router import CompiledLadder, route

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from kequn.models.pd import PDModel

SPLIT_KIND = ladders.SPLIT_KIND


@dataclass(frozen=True)
class Routed:
    decision_id: int | None
    arm: str
    decision: Decision


def grade_application(app: Application, model: PDModel | None) -> tuple[Application, str]:
    """Fill ``risk_grade`` from the PD model when the application does not carry one."""
    if app.risk_grade is not None or model is None:
        return app, "declared" if app.risk_grade is not None else "none"
    if not app.credit_features:
        return app, model.version
    grade = model.grade(app.credit_features)
    return app.model_copy(update={"risk_grade": grade}), model.version


def split(engine: Engine, ladder_id: str) -> dict[str, Any] | None:
    """The approved champion/challenger split of a ladder, e.g. ``{"challenger_version": 2, "share": 0.1}``."""
    rid = ladders.approved_ids(engine, ladder_id).get(SPLIT_KIND)
    return _active(ladders.by_request(engine, rid)) if rid is not None else None


def _active(payload: dict[str, Any]) -> dict[str, Any] | None:
    return payload if payload.get("share") else None


def submit_split(engine: Engine, ladder_id: str, challenger_version: int, share: float, maker: str) -> Any:
    """Propose sending ``share`` of traffic to an approved challenger version (a checker must approve)."""
    from kequn.opstore import approvals

    if not 0 <= share <= 0.5:
        raise ValidationError(f"challenger share must be within [0, 0.5], got {share}")
    ladders.version_of(engine, ladder_id, challenger_version, approved_only=True)
    version = 1 + max(_split_history(engine, ladder_id), default=0)
    return approvals.submit(engine, SPLIT_KIND, ladder_id, version,
                            {"challenger_version": challenger_version, "share": share}, maker)


def _split_history(engine: Engine, ladder_id: str) -> list[int]:
    from sqlalchemy import select

    from kequn.opstore.tables import change_request as cr

    with engine.connect() as conn:
        return [int(v) for (v,) in conn.execute(select(cr.c.version).where(
            cr.c.kind == SPLIT_KIND, cr.c.item_id == ladder_id))]


def choose_ladder(engine: Engine, app: Application, ladder_id: str) -> tuple[CompiledLadder, str]:
    """The approved champion, or for a sticky share of applications the approved challenger."""
    ids = ladders.approved_ids(engine, ladder_id)
    if ladders.KIND not in ids:
        return ladders.approved(engine, ladder_id), "champion"  # raises: nothing approved
    champion = ladders.by_request(engine, ids[ladders.KIND])
    cfg = _active(ladders.by_request(engine, ids[SPLIT_KIND])) if SPLIT_KIND in ids else None
    if cfg is None or assign_arm(app.application_id, float(cfg["share"]), ladder_id) == "champion":
        return champion, "champion"
    return ladders.version_of(engine, ladder_id, int(cfg["challenger_version"]), approved_only=True), \
        "challenger"


def decide(engine: Engine, app: Application, *, ladder_id: str = "main",
           pd_model: PDModel | None = None) -> tuple[Application, Decision, str]:
    """Grade (when needed) and route with the approved ladder or the challenger arm; nothing stored yet."""
    app, model_version = grade_application(app, pd_model)
    ladder, arm = choose_ladder(engine, app, ladder_id)
    return app, route(ladder, app, model_version=model_version), arm


def route_application(engine: Engine, app: Application, *, ladder_id: str = "main",
                      pd_model: PDModel | None = None, log: bool = True,
                      writer: store.DecisionWriter | None = None) -> Routed:
    """Route and store the decision (creating any branch lead). With a ``writer`` the decision is stored
    by group commit."""
    app, decision, arm = decide(engine, app, ladder_id=ladder_id, pd_model=pd_model)
    decision_id = None
    if log:
        decision_id = (writer.write(app, decision, arm=arm) if writer is not None
                       else store.log_decision(engine, app, decision, arm=arm))
    return Routed(decision_id, arm, decision)


def past_applications(engine: Engine, ladder_id: str = "main", limit: int = 10000) -> list[Application]:
    """Applications from the decision log, one per application id (the latest), oldest first."""
    seen: dict[str, Application] = {}
    for d in store.decisions(engine, limit=limit, ladder_id=ladder_id):
        seen.setdefault(d.application_id, Application.model_validate(d.application))
    return list(reversed(list(seen.values())))


def replay_version(engine: Engine, candidate_version: int, *, ladder_id: str = "main",
                   limit: int = 10000) -> ReplayReport:
    """Compare the approved ladder with ``candidate_version`` (draft or approved) over past applications."""
    baseline = ladders.approved(engine, ladder_id)
    candidate = ladders.version_of(engine, ladder_id, candidate_version)
    return replay(baseline, candidate, past_applications(engine, ladder_id, limit))


__all__ = ["Routed", "choose_ladder", "decide", "grade_application", "past_applications", "replay_version",
           "route_application", "split", "submit_split"]
