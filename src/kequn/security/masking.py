"""Masking of personal financial information (JR/T 0171-2020 个人金融信息保护技术规范).

Pure functions, value in → masked string out. C2 data is masked by default everywhere Kequn shows it
(pages, API responses, exports, logs); the industry-practice formats are:

- phone ``13812345678`` → ``138****5678`` (first 3 + last 4)
- resident ID ``110101199001011234`` → ``110101********1234`` (first 6 + last 4)
- bank card ``6225881234561234`` → ``622588******1234`` (first 6 + last 4)
- name ``张三`` → ``张*``; compound surname ``欧阳娜娜`` → ``欧阳**``
- money (balances, amounts) → a range such as ``1万–10万`` (the order of magnitude, never the figure)
- dates of birth → the year only (``1990-**-**``)

``mask_value(column, value)`` picks the format from the column's PI class in the canonical data model.
``None`` stays ``None`` (absence is not personal data).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

#: Chinese compound surnames (复姓) — the surname is kept whole, the given name masked.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 端木 独孤 南宫 "
    "西门 百里 呼延 闻人 澹台 公冶 太叔 申屠 濮阳 淳于 单于 赫连 万俟 宗政 拓跋 第五 司空 "
    "亓官 巫马 羊舌 微生 梁丘 左丘 东郭 南门 公羊 谷梁".split()
)

_MONEY_BANDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(0), "0"),
    (Decimal(10_000), "0–1万"),
    (Decimal(100_000), "1万–10万"),
    (Decimal(500_000), "10万–50万"),
    (Decimal(1_000_000), "50万–100万"),
    (Decimal(6_000_000), "100万–600万"),
    (Decimal(30_000_000), "600万–3000万"),
)


def _keep(value: str, head: int, tail: int) -> str:
    """Keep ``head`` first and ``tail`` last characters, star the middle (short values: all stars)."""
    s = str(value).strip()
    if len(s) <= head + tail:
        return "*" * len(s)
    return s[:head] + "*" * (len(s) - head - tail) + s[len(s) - tail:] if tail else s[:head] + "*" * (len(s) - head)


def mask_phone(value: str | None) -> str | None:
    """Mobile phone: first 3 + last 4 (``138****5678``); a +86/86 prefix is dropped first."""
    if value is None:
        return None
    s = re.sub(r"[\s-]", "", str(value))
    s = re.sub(r"^(\+?86)(?=1\d{10}$)", "", s)
    return _keep(s, 3, 4)


def mask_id_number(value: str | None) -> str | None:
    """Resident ID number: first 6 (region) + last 4 (``110101********1234``)."""
    return None if value is None else _keep(str(value).replace(" ", ""), 6, 4)


def mask_card(value: str | None) -> str | None:
    """Bank card number (PAN): first 6 (BIN) + last 4 (``622588******1234``)."""
    return None if value is None else _keep(re.sub(r"[\s-]", "", str(value)), 6, 4)


def mask_name(value: str | None) -> str | None:
    """Chinese name: the surname stays, every other character is ``*`` (``张*``, ``欧阳**``).

    Names in Latin letters keep the first letter of each word (``L*** W**``).
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    if s.isascii():
        return " ".join(w[:1] + "*" * (len(w) - 1) for w in s.split())
    surname = s[:2] if s[:2] in COMPOUND_SURNAMES and len(s) > 2 else s[:1]
    return surname + "*" * (len(s) - len(surname))


def mask_amount(value: Any) -> str | None:
    """Money → its range (``1万–10万``); negative amounts keep their sign (``-(1万–10万)``)."""
    if value is None:
        return None
    d = Decimal(str(value))
    if d < 0:
        return f"-({mask_amount(-d)})"
    if d == 0:
        return "0"
    for upper, label in _MONEY_BANDS[1:]:
        if d < upper:
            return label
    return "≥3000万"


def mask_date(value: Any) -> str | None:
    """A date of birth (or other C2 date) → the year only (``1990-**-**``)."""
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.year:04d}-**-**"
    s = str(value)
    return f"{s[:4]}-**-**" if len(s) >= 4 else "*" * len(s)


def mask_text(value: Any) -> str | None:
    """Any other C2 text (counterparty, address): first character + stars, at most 6 stars."""
    if value is None:
        return None
    s = str(value)
    return s[:1] + "*" * min(max(len(s) - 1, 1), 6) if s else s


_BY_COLUMN_NAME = {
    "phone": mask_phone,
    "mobile": mask_phone,
    "id_number": mask_id_number,
    "card_number": mask_card,
    "name": mask_name,
    "customer_name": mask_name,
}


def _column_pi(column: str) -> tuple[str | None, str | None]:
    """(PI class, column type) of ``table.column`` or a bare column name from the canonical model."""
    from kequn.domain.datamodel import TABLES, TABLES_BY_NAME

    if "." in column:
        tname, cname = column.split(".", 1)
        t = TABLES_BY_NAME.get(tname)
        if t is not None and cname in t.column_names:
            c = t.column(cname)
            return c.pi, c.type
        return None, None
    for t in TABLES:
        if column in t.column_names:
            c = t.column(column)
            if c.pi == "C2":
                return c.pi, c.type
    return None, None


def mask_value(column: str, value: Any, *, pi: str | None = None, kind: str | None = None) -> Any:
    """Mask ``value`` of ``column`` (``"customer.phone"`` or ``"phone"``) by its PI class.

    C2 values are masked in the format of their kind (phone, ID, card, name, date, money, text); C1 and
    non-personal values pass through unchanged. ``pi``/``kind`` override the data model (used for tags,
    whose PI class is declared in the tag catalogue; ``kind`` is ``"money"`` for amounts).
    """
    if value is None:
        return None
    col_pi, col_type = _column_pi(column)
    pi = pi or col_pi
    if pi == "C3":
        return "******"
    if pi != "C2":
        return value
    bare = column.rsplit(".", 1)[-1]
    if bare in _BY_COLUMN_NAME:
        return _BY_COLUMN_NAME[bare](value)
    kind = kind or ("money" if col_type in ("decimal", "float64", "int64") else col_type)
    if kind in ("money", "number", "decimal"):
        return mask_amount(value)
    if kind in ("date", "timestamp"):
        return mask_date(value)
    return mask_text(value)


def mask_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """Every column of a canonical ``table`` row masked by its PI class."""
    return {k: mask_value(f"{table}.{k}", v) for k, v in row.items()}


__all__ = [
    "COMPOUND_SURNAMES", "mask_amount", "mask_card", "mask_date", "mask_id_number", "mask_name", "mask_phone",
    "mask_row", "mask_text", "mask_value",
]
