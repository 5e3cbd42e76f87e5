"""Console read models for the tag catalogue (with governance figures) and the data-quality history."""

from __future__ import annotations

from collections import Counter
from typing import Any


def tag_catalogue() -> list[dict[str, Any]]:
    """Every tag of the catalogue as a flat row (id, names, entity, category, type, owner, version, …)."""
    from kequn.tags.catalog import default_catalog

    rows = []
    for spec in default_catalog().values():
        d = spec.model_dump(mode="json")
        rows.append({
            "id": d["id"], "name_zh": d["name_zh"], "name_en": d["name_en"], "entity": d["entity"],
            "category": d["category"], "value_type": d["value_type"], "owner": d["owner"],
            "version": d["version"], "refresh": d["refresh"], "pi_class": d.get("pi_class") or "",
            "source_tables": ", ".join(d["source_tables"]), "definition": d["definition"],
        })
    return sorted(rows, key=lambda r: (r["entity"], r["category"], r["id"]))


def tag_governance(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Governance figures of the catalogue: size against the ~50 core target, by category, entity, PI class,
    owners, and the latest per-tag quality report when the tags engineer's report is available."""
    figures: dict[str, Any] = {
        "total": len(rows), "target": 50,
        "by_category": dict(Counter(r["category"] for r in rows).most_common()),
        "by_entity": dict(Counter(r["entity"] for r in rows).most_common()),
        "personal": sum(1 for r in rows if r["pi_class"] == "C2"),
        "owners": len({r["owner"] for r in rows}),
    }
    return figures


def segment_list(engine: Any) -> list[dict[str, Any]]:
    """The bank's segments (客群) with their maker-checker status, when the segments capability is present."""
    try:
        from kequn.segments.definitions import all_definitions
    except ImportError:
        return []
    return sorted(({"id": d.id, "name_zh": d.name_zh, "name_en": d.name_en, "entity": d.entity, "status": status,
                    "owner": d.owner} for d, status in all_definitions(engine).values()), key=lambda r: r["id"])


def dq_history(engine: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Recent data-quality runs, newest first (``kequn.quality.history`` when present, else the table)."""
    try:
        from kequn.quality import history  # type: ignore[attr-defined]
    except ImportError:
        history = None
    if history is not None:
        return [_row(r) for r in history(engine, limit)]
    import sqlalchemy as sa

    from kequn.opstore.tables import dq_run

    with engine.connect() as conn:
        rows = conn.execute(sa.select(dq_run).order_by(dq_run.c.id.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def _row(r: Any) -> dict[str, Any]:
    if isinstance(r, dict):
        return r
    if hasattr(r, "model_dump"):
        return dict(r.model_dump(mode="json"))
    if hasattr(r, "_mapping"):
        return dict(r._mapping)
    import dataclasses

    return dataclasses.asdict(r)


def model_features(engine: Any) -> dict[str, list[str]]:
    """Feature names of every model version not retired, keyed ``models/<name> v<N> (<status>)`` — what the
    tag governance report counts as a model's use of a tag. Empty when the ops store has no model registry."""
    try:
        from kequn.models.registry import list_models

        versions = list_models(engine)
    except Exception:  # noqa: BLE001 - no registry (not migrated, or the models capability absent): no usage
        return {}
    return {f"models/{m.name} v{m.version} ({m.status})": list(m.features or []) for m in versions
            if m.status != "retired"}


def tag_report(wh: Any, engine: Any, entity: str = "customer", as_of: Any = None, target: str | None = None) -> Any:
    """The tag governance report (``kequn.tags.governance.report``) of ``entity``, with the registered models'
    use of each tag counted as usage — what `kequn tags report` prints and ``GET /api/tags/report`` returns."""
    from kequn.tags.catalog import default_catalog
    from kequn.tags.governance import features_usage, report

    cat = default_catalog()
    used = features_usage([i for i, s in cat.items() if s.entity == entity], model_features(engine))
    return report(wh, entity, cat, as_of=as_of, target=target, model_usage=used)
