"""The tag catalogue (标签目录): declared as YAML data under ``kequn/catalog/tags/``, validated by pydantic.

Each entry says what a tag means (id, Chinese and English name, entity, category, value type, definition
in words, owner, version, refresh, source tables, personal-information class). What a tag *computes* is its
Ibis expression, registered under the same id in :mod:`kequn.tags.registry`; a test checks that the YAML
and the registry agree both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from kequn.errors import ValidationError

Entity = Literal["customer", "enterprise", "merchant"]
Category = Literal[
    "basic", "asset", "behaviour", "product_holding", "preference", "value", "risk", "lifecycle",
    "relationship", "model_score",
]
ValueType = Literal["number", "band", "flag", "category", "list"]
Refresh = Literal["daily", "monthly", "on_model_run"]

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog" / "tags"

CATEGORY_ZH: dict[str, str] = {
    "basic": "基础属性", "asset": "资产", "behaviour": "行为", "product_holding": "产品持有", "preference": "偏好",
    "value": "价值", "risk": "风险", "lifecycle": "生命周期", "relationship": "关系", "model_score": "模型评分",
}
ENTITY_ZH: dict[str, str] = {"customer": "个人客户", "enterprise": "企业客户", "merchant": "收单商户"}


class TagSpec(BaseModel):
    """One tag as declared in the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    entity: Entity
    category: Category
    value_type: ValueType
    definition: str = Field(min_length=10)
    owner: str = Field(min_length=1)
    version: int = Field(ge=1)
    refresh: Refresh = "daily"
    source_tables: tuple[str, ...] = Field(min_length=1)
    pi_class: Literal["C1", "C2"] | None = None
    unit: str | None = None
    #: Chinese labels of the values of a band/category/flag tag (code → label)
    values: dict[str, str] | None = None

    @field_validator("source_tables")
    @classmethod
    def _known_tables(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from kequn.domain.datamodel import TABLES_BY_NAME

        unknown = [t for t in v if t not in TABLES_BY_NAME and t != "model_score"]
        if unknown:
            raise ValueError(f"unknown source table(s) {unknown}; tables are those of the canonical data model")
        return v

    def label(self, value: object) -> object:
        """The Chinese label of a coded value (the value itself when it has none)."""
        if self.values and value is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            return self.values.get(key, value)
        return value


def _parse_file(path: Path) -> tuple[list[TagSpec], list[dict[str, object]]]:
    import yaml

    specs: list[TagSpec] = []
    problems: list[dict[str, object]] = []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [], [{"where": path.name, "message": f"not valid YAML: {exc}"}]
    entries = doc.get("tags") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        return [], [{"where": path.name, "message": "expected a top-level 'tags:' list"}]
    for i, raw in enumerate(entries):
        where = f"{path.name} entry {i + 1}" + (f" ({raw.get('id')})" if isinstance(raw, Mapping) else "")
        try:
            specs.append(TagSpec.model_validate(raw))
        except PydanticValidationError as exc:
            for e in exc.errors():
                problems.append({"where": where, "field": ".".join(map(str, e["loc"])) or "-", "message": e["msg"]})
    return specs, problems


def load_catalog(directory: Path | None = None) -> dict[str, TagSpec]:
    """Every tag of the catalogue in ``directory`` (default: the shipped one), keyed by id, in file order.

    Raises ``ValidationError`` listing every problem (file, entry, field) at once.
    """
    directory = directory or CATALOG_DIR
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ValidationError(f"no tag catalogue files (*.yaml) in {directory}")
    specs: dict[str, TagSpec] = {}
    problems: list[dict[str, object]] = []
    for path in files:
        found, errs = _parse_file(path)
        problems.extend(errs)
        for s in found:
            if s.id in specs:
                problems.append({"where": path.name, "field": "id", "message": f"duplicate tag id {s.id!r}"})
            specs[s.id] = s
    if problems:
        raise ValidationError(f"tag catalogue in {directory} has {len(problems)} problem(s)", details=problems)
    return specs


@lru_cache(maxsize=1)
def default_catalog() -> dict[str, TagSpec]:
    """The shipped catalogue (cached)."""
    return load_catalog()


def get_spec(tag_id: str, catalog: Mapping[str, TagSpec] | None = None) -> TagSpec:
    from kequn.errors import NotFoundError

    cat = catalog if catalog is not None else default_catalog()
    if tag_id not in cat:
        raise NotFoundError(f"unknown tag {tag_id!r}; run `kequn tags list` to see the {len(cat)} tags")
    return cat[tag_id]
