"""Models over HTTP (透视图 and the model registry page): registry, churn/opportunity lists with reasons
(filterable by branch), approval and promotion. Thin: each route calls :mod:`kequn.models`.

Stores: the console app's (``app.state.kequn.data`` / ``.engine``) or, for a bare app (tests),
``app.state.models_warehouse`` and ``app.state.models_engine``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool

from kequn.api import stores
from kequn.errors import ValidationError

router = APIRouter(tags=["models 透视图"])


def _warehouse(request: Request) -> Any:
    return stores.warehouse(request, "models")


def _engine(request: Request) -> Any:
    return stores.engine(request, "models")


def _actor(request: Request, body: dict[str, Any]) -> str:
    principal = getattr(request.state, "principal", None)
    name = principal.username if principal is not None else body.get("user")
    if not isinstance(name, str) or not name:
        raise ValidationError("who is acting is unknown: sign in or give 'user'")
    return name


def _public(mv: Any) -> dict[str, Any]:
    d = mv.as_dict()
    d.pop("artifact_path", None)
    return d


@router.get("/api/models")
def list_models(request: Request) -> list[dict[str, Any]]:
    from kequn.models import registry

    return [_public(m) for m in registry.list_models(_engine(request))]


@router.get("/api/models/{name}")
def model_versions(request: Request, name: str) -> list[dict[str, Any]]:
    from kequn.errors import NotFoundError
    from kequn.models import registry

    rows = registry.list_models(_engine(request), name)
    if not rows:
        raise NotFoundError(f"no model {name!r} in the registry")
    return [_public(m) for m in rows]


def _lead_rows(wh: Any, score_name: str, branch: str | None, limit: int) -> list[dict[str, Any]]:
    import json

    if not wh.has_table("model_score"):
        return []
    s = wh.table("model_score")
    s = s.filter(s.score_name == score_name)
    last = s.as_of.max().execute()
    if last is None:
        return []
    s = s.filter(s.as_of == last)
    c = wh.table("customer").select("customer_id", "home_branch_id", "rm_id")
    j = s.left_join(c, "customer_id")
    if branch:
        j = j.filter(j.home_branch_id == branch)
    rows = j.order_by(j.score.desc()).limit(limit).select(
        "customer_id", "home_branch_id", "rm_id", "score", "reasons", "as_of", "model").to_pyarrow().to_pylist()
    for r in rows:
        r["reasons"] = json.loads(r["reasons"] or "[]")
    return rows


@router.get("/api/models/leads/{score_name}")
async def leads(request: Request, score_name: str, branch: str | None = None, limit: int = 100) -> dict[str, Any]:
    """The highest scores of ``score_name`` (churn_risk, potential_score, reward_sensitivity, …) with reasons."""
    if not 1 <= limit <= 5000:
        raise ValidationError("limit must be between 1 and 5000")

    def job() -> list[dict[str, Any]]:
        with _warehouse(request) as wh:
            return _lead_rows(wh, score_name, branch, limit)

    return {"score_name": score_name, "branch": branch, "rows": await run_in_threadpool(job)}


@router.post("/api/models/{name}/{version}/submit")
def submit(request: Request, name: str, version: int, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.models import registry

    req = registry.submit(_engine(request), name, version, _actor(request, body))
    return {"request": req.id, "status": req.status}


@router.post("/api/models/{name}/{version}/approve")
def approve(request: Request, name: str, version: int, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.models import registry

    return _public(registry.approve(_engine(request), name, version, _actor(request, body)))


@router.post("/api/models/{name}/{version}/promote")
def promote(request: Request, name: str, version: int, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
    from kequn.models import registry

    reason = body.get("reason")
    return _public(registry.promote(_engine(request), name, version, _actor(request, body),
                                    reason if isinstance(reason, str) else None))
