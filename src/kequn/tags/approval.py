"""Tag governance by maker-checker: a new or changed tag (new id, or a version bump in the YAML) is a
**draft** until a second person approves it; drafts are not computed into the profile.

Approved versions come from two places: the release ``BASELINE`` (versions reviewed with the code that
computes them) and the ops store's generic maker-checker (:mod:`kequn.opstore.approvals`, kind ``"tag"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kequn.errors import ConflictError, NotFoundError, StoreError
from kequn.tags.catalog import CATALOG_DIR, TagSpec

Status = Literal["approved", "draft"]
KIND = "tag"


def load_baseline(path: Path | None = None) -> dict[str, int]:
    """``{tag id: version}`` approved at release."""
    path = path or CATALOG_DIR / "BASELINE"
    out: dict[str, int] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            tag_id, version = line.split()
            out[tag_id] = int(version)
    return out


def _approved_in_store(engine: Any, tag_ids: list[str]) -> dict[str, int]:
    from kequn.opstore import approvals

    out = {}
    for tag_id in tag_ids:
        cur = approvals.current(engine, KIND, tag_id)
        if cur is not None:
            out[tag_id] = cur.version
    return out


@dataclass(frozen=True)
class TagStatus:
    id: str
    version: int
    status: Status
    approved_version: int | None
    source: str  # "baseline", "ops store" or "-"


def statuses(catalog: Mapping[str, TagSpec], engine: Any = None, *, baseline: Mapping[str, int] | None = None
             ) -> dict[str, TagStatus]:
    """Approval status of every tag in ``catalog``. Without an ops store (``engine`` None) only the
    baseline counts."""
    base = dict(load_baseline() if baseline is None else baseline)
    store: dict[str, int] = {}
    if engine is not None:
        try:
            store = _approved_in_store(engine, [i for i, s in catalog.items() if base.get(i) != s.version])
        except Exception as exc:  # the ops store is not initialised (no `kequn init`)
            raise StoreError(f"cannot read tag approvals from the ops store: {exc}; run `kequn init`") from None
    out = {}
    for tag_id, spec in catalog.items():
        if base.get(tag_id) == spec.version:
            out[tag_id] = TagStatus(tag_id, spec.version, "approved", spec.version, "baseline")
        elif store.get(tag_id) == spec.version:
            out[tag_id] = TagStatus(tag_id, spec.version, "approved", spec.version, "ops store")
        else:
            prev = store.get(tag_id, base.get(tag_id))
            out[tag_id] = TagStatus(tag_id, spec.version, "draft", prev, "-")
    return out


def approved_ids(catalog: Mapping[str, TagSpec], engine: Any = None, **kw: Any) -> list[str]:
    return [i for i, s in statuses(catalog, engine, **kw).items() if s.status == "approved"]


def submit(engine: Any, spec: TagSpec, maker: str) -> Any:
    """Submit the catalogue's current version of a tag for approval (the maker's step)."""
    from kequn.opstore import approvals

    if load_baseline().get(spec.id) == spec.version:
        raise ConflictError(f"tag {spec.id} v{spec.version} is already approved (release baseline)")
    for req in approvals.pending(engine, KIND):
        if req.item_id == spec.id and req.version == spec.version:
            raise ConflictError(f"tag {spec.id} v{spec.version} is already awaiting approval "
                                f"(change request {req.id}, made by {req.maker})")
    return approvals.submit(engine, KIND, spec.id, spec.version, spec.model_dump(mode="json"), maker)


def approve(engine: Any, spec: TagSpec, checker: str) -> Any:
    """Approve the pending change request for the catalogue's current version (checker ≠ maker)."""
    from kequn.opstore import approvals

    for req in approvals.pending(engine, KIND):
        if req.item_id == spec.id and req.version == spec.version:
            return approvals.approve(engine, req.id, checker)
    raise NotFoundError(f"tag {spec.id} v{spec.version} has no change request awaiting approval; "
                        f"submit it first: kequn tags submit {spec.id} --as USER")
