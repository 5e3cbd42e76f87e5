"""Data-quality rules declared as data (``catalog/dq_rules.yaml``), validated by pydantic on load.

The rule kinds form a discriminated union on ``kind`` (invalid combinations cannot be written); every
rule names its table and columns in the canonical data model, which is checked too. A bad rule file gives
one ``ValidationError`` whose message names the file, the rule id and the field, with every problem in
``details``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from kequn.domain.datamodel import TABLES_BY_NAME
from kequn.errors import NotFoundError, ValidationError

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "catalog" / "dq_rules.yaml"

Severity = Literal["blocking", "warning"]
NUMERIC_TYPES = frozenset({"int64", "float64", "decimal"})
TIME_TYPES = frozenset({"date", "timestamp"})


def _bad(field: str, message: str) -> ValueError:
    """A cross-field error that still names its field (``[field] message``; see :func:`parse_rules`)."""
    return ValueError(f"[{field}] {message}")


class Description(BaseModel):
    """What the rule protects, in Chinese (shown first) and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", description="Stable id, e.g. customer.phone.completeness")
    table: str
    severity: Severity
    description: Description

    @field_validator("table")
    @classmethod
    def _known_table(cls, v: str) -> str:
        if v not in TABLES_BY_NAME:
            raise ValueError(f"unknown table {v!r} (not in the canonical data model)")
        return v

    def _column_type(self, column: str, field: str, table: str | None = None) -> str:
        t = TABLES_BY_NAME[table or self.table]
        if column not in t.column_names:
            raise _bad(field, f"column {column!r} is not in table {t.name!r}")
        return t.column(column).type

    @property
    def columns_used(self) -> tuple[str, ...]:
        return ()


class CompletenessRule(_Rule):
    """完整性: the share of NULL (and, for strings, blank) values in ``column`` is at most ``max_null_rate``."""

    kind: Literal["completeness"]
    column: str
    max_null_rate: float = Field(0.0, ge=0, le=1)
    blank_is_null: bool = True

    @model_validator(mode="after")
    def _check(self) -> CompletenessRule:
        self._column_type(self.column, "column")
        return self


class ValidityRule(_Rule):
    """有效性: non-NULL values of ``column`` are in ``allowed``, within ``min``..``max``, or match ``pattern``."""

    kind: Literal["validity"]
    column: str
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_invalid_rate: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> ValidityRule:
        ctype = self._column_type(self.column, "column")
        forms = [self.allowed is not None, self.min is not None or self.max is not None, self.pattern is not None]
        if sum(forms) != 1:
            raise _bad("allowed|min|max|pattern", "give exactly one of: allowed (enum), min/max (range), pattern (regular expression)")
        if forms[0] and ctype != "string":
            raise _bad("allowed", f"allowed (an enum of strings) needs a string column; {self.column!r} is {ctype}")
        if forms[1] and ctype not in NUMERIC_TYPES:
            raise _bad("min|max", f"min/max needs a numeric column; {self.column!r} is {ctype}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _bad("min", f"min {self.min} is greater than max {self.max}")
        if self.pattern is not None:
            if ctype != "string":
                raise _bad("pattern", f"pattern needs a string column; {self.column!r} is {ctype}")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise _bad("pattern", f"pattern {self.pattern!r} is not a valid regular expression: {exc}") from None
        return self


class UniquenessRule(_Rule):
    """唯一性: no two rows share the same values of ``columns`` (rows with a NULL key part are ignored)."""

    kind: Literal["uniqueness"]
    columns: tuple[str, ...] = Field(min_length=1)
    max_duplicates: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> UniquenessRule:
        for c in self.columns:
            self._column_type(c, "columns")
        return self


class ReferentialRule(_Rule):
    """参照完整性: every non-NULL ``column`` value exists in ``parent_table.parent_column``."""

    kind: Literal["referential"]
    column: str
    parent_table: str
    parent_column: str
    max_orphan_rate: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> ReferentialRule:
        self._column_type(self.column, "column")
        if self.parent_table not in TABLES_BY_NAME:
            raise _bad("parent_table", f"unknown parent_table {self.parent_table!r}")
        self._column_type(self.parent_column, "parent_column", self.parent_table)
        return self


class FreshnessRule(_Rule):
    """及时性: the latest ``column`` value on or before ``--as-of`` is at most ``max_age_days`` old."""

    kind: Literal["freshness"]
    column: str
    max_age_days: int = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> FreshnessRule:
        ctype = self._column_type(self.column, "column")
        if ctype not in TIME_TYPES:
            raise _bad("column", f"freshness needs a date or timestamp column; {self.column!r} is {ctype}")
        return self


class VolumeChangeRule(_Rule):
    """量级波动: rows loaded into ``table`` by the latest batch ÷ the previous batch lies in
    ``min_ratio``..``max_ratio`` (from the warehouse's ``_load_batch`` table)."""

    kind: Literal["volume_change"]
    min_ratio: float = Field(0.5, ge=0)
    max_ratio: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> VolumeChangeRule:
        if self.min_ratio > self.max_ratio:
            raise _bad("min_ratio", f"min_ratio {self.min_ratio} is greater than max_ratio {self.max_ratio}")
        return self


class DistributionShiftRule(_Rule):
    """分布漂移: the population stability index (PSI) of ``column`` against the histogram stored by the
    previous DQ run is at most ``max_psi``. Numeric columns are binned at the baseline's quantiles;
    strings and booleans by value (the ``max_categories`` most frequent, the rest as ``__other__``).
    With ``window_days``, only rows whose time column lies in the last ``window_days`` up to ``--as-of``."""

    kind: Literal["distribution_shift"]
    column: str
    max_psi: float = Field(0.2, gt=0)
    bins: int = Field(10, ge=2, le=50)
    max_categories: int = Field(30, ge=2, le=200)
    window_days: int | None = Field(None, ge=1)
    time_column: str | None = None

    @model_validator(mode="after")
    def _check(self) -> DistributionShiftRule:
        self._column_type(self.column, "column")
        if self.window_days is not None:
            tc = self.time_column or TABLES_BY_NAME[self.table].time_column
            if tc is None:
                raise _bad("time_column", f"window_days needs a time_column: table {self.table!r} has none by default")
            if self._column_type(tc, "time_column") not in TIME_TYPES:
                raise _bad("time_column", f"time_column {tc!r} is not a date or timestamp")
        return self

    @property
    def numeric(self) -> bool:
        return TABLES_BY_NAME[self.table].column(self.column).type in NUMERIC_TYPES

    @property
    def effective_time_column(self) -> str | None:
        return self.time_column or TABLES_BY_NAME[self.table].time_column


Rule = Annotated[
    CompletenessRule | ValidityRule | UniquenessRule | ReferentialRule | FreshnessRule | VolumeChangeRule
    | DistributionShiftRule,
    Field(discriminator="kind"),
]
RULE_KINDS: tuple[str, ...] = ("completeness", "validity", "uniqueness", "referential", "freshness",
                               "volume_change", "distribution_shift")


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    rules: tuple[Rule, ...]


def _rule_label(raw: Any, loc: tuple[Any, ...]) -> tuple[str, str]:
    """(rule label, field path) for a pydantic error location inside the raw document."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        entry = raw.get("rules", [])[loc[1]] if isinstance(raw, dict) else None
        rid = entry.get("id") if isinstance(entry, dict) else None
        label = f"rule {rid!r}" if rid else f"rule #{loc[1] + 1}"
        rest = [str(p) for p in loc[2:] if str(p) not in RULE_KINDS]
        return label, ".".join(rest) or "(rule)"
    return "file", ".".join(map(str, loc)) or "(document)"


def parse_rules(raw: Any, source: str) -> RuleFile:
    """Validate an already-parsed rule document; ``source`` names it in errors."""
    try:
        doc = TypeAdapter(RuleFile).validate_python(raw)
    except PydanticValidationError as exc:
        details = []
        for e in exc.errors():
            label, field = _rule_label(raw, tuple(e["loc"]))
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
                field = "kind"
            m = re.match(r"\[([^\]]+)\] (.*)", msg, re.S)
            if m:
                field, msg = ".".join(p for p in (field, m.group(1)) if p != "(rule)"), m.group(2)
            details.append({"where": source, "rule": label, "field": field, "message": msg})
        first = details[0]
        more = f" (and {len(details) - 1} more problem(s))" if len(details) > 1 else ""
        raise ValidationError(f"{source}: {first['rule']}, field {first['field']!r}: {first['message']}{more}",
                              details=details) from None
    seen: set[str] = set()
    dups = [r.id for r in doc.rules if r.id in seen or seen.add(r.id)]  # type: ignore[func-returns-value]
    if dups:
        raise ValidationError(f"{source}: rule id(s) used more than once: {', '.join(sorted(set(dups)))}",
                              details=[{"where": source, "rule": d, "field": "id", "message": "duplicate id"}
                                       for d in dups])
    return doc


def load_rules(path: str | Path | None = None) -> tuple[Rule, ...]:
    """The rules in ``path`` (default: the packaged ``catalog/dq_rules.yaml``), validated."""
    import yaml

    p = Path(path) if path is not None else DEFAULT_RULES_FILE
    if not p.is_file():
        raise NotFoundError(f"DQ rule file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{p}: not valid YAML: {exc}".replace("\n", " ")) from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{p}: not UTF-8 text: {exc}") from None
    return parse_rules(raw, str(p)).rules


__all__ = ["DEFAULT_RULES_FILE", "RULE_KINDS", "CompletenessRule", "Description", "DistributionShiftRule",
           "FreshnessRule", "ReferentialRule", "Rule", "RuleFile", "UniquenessRule", "ValidityRule",
           "VolumeChangeRule", "load_rules", "parse_rules"]
