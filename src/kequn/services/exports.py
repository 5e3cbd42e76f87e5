"""Excel exports of console tables (openpyxl). Rows arrive already masked; the caller audits the export."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 50_000


def to_xlsx(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> bytes:
    """A one-sheet workbook: a header row of labels, then ``rows`` (values as shown on the page)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "export")
    ws.append([label for _, label in columns])
    for r in rows[:MAX_EXPORT_ROWS]:
        ws.append([_cell(r.get(key)) for key, _ in columns])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str)):
        return v
    return str(v)
