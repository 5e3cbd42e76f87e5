"""The model registry in the ops store (table ``model_version``, migration 0011_model_registry).

Life cycle: ``draft`` (trained, registered) → ``approved`` (a second person approved the change request of
kind "model" through kequn.opstore.approvals; the checker must differ from the maker) → ``champion`` (the
one version of its family that scores by default; promoting a new champion retires the old one) →
``retired``. Only approved and champion versions score customers. Every transition is in the audit log.
Artifacts are joblib files under ``data/models/``; their sha256 is stored and checked on load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kequn.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError

KIND = "model"
SCORING = ("approved", "champion")

_meta = sa.MetaData()
model_version = sa.Table(
    "model_version", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64)), sa.Column("version", sa.Integer), sa.Column("target", sa.String(64)),
    sa.Column("entity", sa.String(16)), sa.Column("kind", sa.String(32)), sa.Column("status", sa.String(16)),
    sa.Column("created_at", sa.DateTime(timezone=True)), sa.Column("created_by", sa.String(64)),
    sa.Column("train_dates", sa.Text), sa.Column("test_dates", sa.Text), sa.Column("data_fingerprint", sa.String(64)),
    sa.Column("features", sa.Text), sa.Column("params", sa.Text), sa.Column("metrics", sa.Text),
    sa.Column("artifact_path", sa.Text), sa.Column("artifact_hash", sa.String(64)),
    sa.Column("change_request_id", sa.Integer), sa.Column("approved_by", sa.String(64)),
    sa.Column("approved_at", sa.DateTime(timezone=True)), sa.Column("promoted_at", sa.DateTime(timezone=True)),
    sa.Column("retired_at", sa.DateTime(timezone=True)),
)
JSON_COLS = ("train_dates", "test_dates", "features", "params", "metrics")


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    version: int
    target: str
    entity: str
    kind: str
    status: str
    created_by: str
    created_at: Any
    train_dates: list[str]
    test_dates: list[str]
    data_fingerprint: str
    features: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifact_path: str
    artifact_hash: str
    approved_by: str | None
    change_request_id: int | None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _row(r: Any) -> ModelVersion:
    d = dict(r)
    for c in JSON_COLS:
        d[c] = json.loads(d[c])
    keep = ModelVersion.__dataclass_fields__
    return ModelVersion(**{k: v for k, v in d.items() if k in keep})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def models_dir() -> Path:
    from kequn.settings import get_settings

    s = get_settings()
    base = Path(getattr(s, "data_dir", "data"))
    return base / "models"


def save_artifact(obj: Any, name: str, version: int, folder: Path | None = None) -> tuple[Path, str]:
    import joblib

    folder = Path(folder or models_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-v{version}.joblib"
    joblib.dump(obj, path)
    return path, file_hash(path)


def next_version(engine: Any, name: str) -> int:
    with engine.connect() as c:
        v = c.execute(sa.select(sa.func.max(model_version.c.version)).where(model_version.c.name == name)).scalar()
    return int(v or 0) + 1


def register(engine: Any, *, name: str, target: str, entity: str, kind: str, artifact: Any, created_by: str,
             train_dates: list[Any], test_dates: list[Any], fingerprint: str, features: list[str],
             params: dict[str, Any], metrics: dict[str, Any], folder: Path | None = None) -> ModelVersion:
    """Save the artifact and register a new draft version of ``name``."""
    from kequn.opstore import audit

    version = next_version(engine, name)
    path, digest = save_artifact(artifact, name, version, folder)
    vals = dict(name=name, version=version, target=target, entity=entity, kind=kind, status="draft",
                created_at=_now(), created_by=created_by, data_fingerprint=fingerprint, artifact_path=str(path),
                artifact_hash=digest, train_dates=json.dumps([str(d) for d in train_dates]),
                test_dates=json.dumps([str(d) for d in test_dates]), features=json.dumps(features),
                params=json.dumps(params, default=str), metrics=json.dumps(metrics, default=str, ensure_ascii=False))
    with engine.begin() as c:
        c.execute(model_version.insert().values(**vals))
        audit.record(c, created_by, "model.register", f"model:{name}@v{version}",
                     details={"fingerprint": fingerprint, "artifact_hash": digest})
    return get(engine, name, version)


def get(engine: Any, name: str, version: int | None = None) -> ModelVersion:
    """One version (default: the champion, else the latest approved, else the latest)."""
    q = sa.select(model_version).where(model_version.c.name == name)
    with engine.connect() as c:
        rows = [_row(r) for r in c.execute(q.order_by(model_version.c.version)).mappings()]
    if not rows:
        raise NotFoundError(f"no model {name!r} in the registry; train one: kequn models train {name}")
    if version is not None:
        hit = [r for r in rows if r.version == version]
        if not hit:
            raise NotFoundError(f"model {name} has no version {version} (versions: {[r.version for r in rows]})")
        return hit[0]
    for status in ("champion", "approved"):
        hit = [r for r in rows if r.status == status]
        if hit:
            return hit[-1]
    return rows[-1]


def list_models(engine: Any, name: str | None = None) -> list[ModelVersion]:
    q = sa.select(model_version).order_by(model_version.c.name, model_version.c.version)
    if name:
        q = q.where(model_version.c.name == name)
    with engine.connect() as c:
        return [_row(r) for r in c.execute(q).mappings()]


def _set(engine: Any, mv: ModelVersion, **vals: Any) -> None:
    with engine.begin() as c:
        c.execute(model_version.update().where(model_version.c.id == mv.id).values(**vals))


def submit(engine: Any, name: str, version: int, maker: str) -> Any:
    """The maker asks for approval (change request kind "model")."""
    from kequn.opstore import approvals

    mv = get(engine, name, version)
    if mv.status != "draft":
        raise ConflictError(f"model {mv.ref} is {mv.status}, not draft: nothing to submit")
    payload = {"artifact_hash": mv.artifact_hash, "fingerprint": mv.data_fingerprint, "metrics": mv.metrics}
    req = approvals.submit(engine, KIND, name, version, payload, maker)
    _set(engine, mv, change_request_id=req.id)
    return req


def approve(engine: Any, name: str, version: int, checker: str) -> ModelVersion:
    """A second person approves the pending change request; the version becomes ``approved``."""
    from kequn.opstore import approvals

    mv = get(engine, name, version)
    if mv.status != "draft" or mv.change_request_id is None:
        raise ConflictError(f"model {mv.ref} is {mv.status} with no pending approval request; "
                            f"submit it first: kequn models submit {name} --version {version} --as USER")
    req = approvals.approve(engine, mv.change_request_id, checker)  # PermissionDenied when checker == maker
    _set(engine, mv, status="approved", approved_by=checker, approved_at=_now())
    from kequn.opstore import audit

    audit.record(engine, checker, "model.approve", f"model:{mv.ref}", details={"change_request": req.id})
    return get(engine, name, version)


def promote(engine: Any, name: str, version: int, actor: str, reason: str | None = None) -> ModelVersion:
    """Make an approved version the champion; the previous champion is retired."""
    from kequn.opstore import audit

    mv = get(engine, name, version)
    if mv.status not in SCORING:
        raise PermissionDenied(f"model {mv.ref} is {mv.status}: only an approved version can become champion")
    old = [m for m in list_models(engine, name) if m.status == "champion" and m.version != version]
    with engine.begin() as c:
        for m in old:
            c.execute(model_version.update().where(model_version.c.id == m.id)
                      .values(status="retired", retired_at=_now()))
            audit.record(c, actor, "model.retire", f"model:{m.ref}", reason=f"replaced by v{version}")
        c.execute(model_version.update().where(model_version.c.id == mv.id)
                  .values(status="champion", promoted_at=_now()))
        audit.record(c, actor, "model.promote", f"model:{mv.ref}", reason=reason,
                     details={"previous": [m.version for m in old]})
    return get(engine, name, version)


def retire(engine: Any, name: str, version: int, actor: str, reason: str | None = None) -> ModelVersion:
    from kequn.opstore import audit

    mv = get(engine, name, version)
    _set(engine, mv, status="retired", retired_at=_now())
    audit.record(engine, actor, "model.retire", f"model:{mv.ref}", reason=reason)
    return get(engine, name, version)


def load(mv: ModelVersion, *, for_scoring: bool = True) -> Any:
    """The artifact of ``mv`` (hash checked). ``for_scoring`` refuses versions that are not approved."""
    import joblib

    if for_scoring and mv.status not in SCORING:
        raise PermissionDenied(f"model {mv.ref} is {mv.status}: only approved or champion models score customers "
                               f"(approval by a second person: kequn models submit / approve)")
    path = Path(mv.artifact_path)
    if not path.exists():
        raise NotFoundError(f"artifact of model {mv.ref} is missing: {path}")
    if file_hash(path) != mv.artifact_hash:
        raise ValidationError(f"artifact of model {mv.ref} changed since registration (hash mismatch): {path}")
    return joblib.load(path)
