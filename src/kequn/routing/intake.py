"""Turn untrusted input (a JSON file, a request body) into an :class:`Application`, or a ``ValidationError``
listing every problem at once: missing fields, wrong types, absurd values. Input values are not echoed
back (they may be personal data); each problem names the field and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kequn.domain.loans import APPLICATION_FIELDS, Application
from kequn.errors import NotFoundError, ValidationError

_LABELS = {**{k: v[0] for k, v in APPLICATION_FIELDS.items()}, "application_id": "申请编号",
           "customer_id": "客户号", "branch_id": "所属网点", "applied_on": "申请日期", "segments": "客群",
           "tags": "标签", "credit_features": "风险模型特征"}


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def problems(exc: Any) -> list[dict[str, Any]]:
    """Pydantic errors as Kequn details: field, its Chinese label, the kind of problem and the message."""
    out = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = tuple(e["loc"])
        out.append({"field": _field(loc), "label": _LABELS.get(str(loc[0]) if loc else "", ""),
                    "problem": e["type"], "message": e["msg"]})
    return out


def parse_application(raw: Any, source: str = "application") -> Application:
    """Validate a decoded JSON document as an application."""
    from pydantic import ValidationError as PydanticError

    if not isinstance(raw, dict):
        raise ValidationError(f"{source}: an application must be a JSON object",
                              details=[{"field": "(body)", "label": "", "problem": "object_type",
                                        "message": f"expected a JSON object, got {type(raw).__name__}"}])
    try:
        return Application.model_validate(raw)
    except PydanticError as exc:
        details = problems(exc)
        raise ValidationError(f"{source}: {len(details)} problem(s) in the application", details=details) from None


def parse_application_bytes(body: bytes, source: str = "application") -> Application:
    try:
        raw = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{source}: not valid UTF-8 JSON ({exc})",
                              details=[{"field": "(body)", "label": "", "problem": "json_invalid",
                                        "message": str(exc)}]) from None
    return parse_application(raw, source)


def read_application(path: Path) -> Application:
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"application file {path} does not exist")
    return parse_application_bytes(path.read_bytes(), str(path))


__all__ = ["parse_application", "parse_application_bytes", "problems", "read_application"]
