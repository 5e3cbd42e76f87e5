"""Helpers shared by the built-in adapters: find source files, write canonical CSV exactly as the loader
reads it (header = the data model's columns in order; dates ``YYYY-MM-DD``; timestamps
``YYYY-MM-DD HH:MM:SS``; booleans ``true``/``false``; decimals plain with two places; empty = NULL).

pandas is imported inside the functions (start-up stays fast); every transform is vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kequn.domain.datamodel import table as model_table
from kequn.errors import LoadError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def require_files(src: Path, names: Iterable[str], *, source: str) -> dict[str, Path]:
    """Map each expected file name to its path in ``src``; raise one error naming every missing file."""
    src = Path(src)
    if not src.is_dir():
        raise NotFoundError(f"{source}: source folder {src} does not exist or is not a folder")
    found = {n: src / n for n in names}
    missing = [n for n, p in found.items() if not p.is_file()]
    if missing:
        raise NotFoundError(
            f"{source}: {len(missing)} source file(s) missing in {src}: {', '.join(missing)}",
            details=[{"where": str(src / n), "message": "file not found"} for n in missing],
        )
    return found


def read_semicolon(path: Path, *, source: str, columns: Iterable[str], **kw: Any) -> pd.DataFrame:
    """Read a ``;``-separated, quoted export and check its header has ``columns``."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=";", quotechar='"', **kw)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise LoadError(f"{source}: cannot read {path}: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LoadError(
            f"{source}: {path.name} lacks column(s) {', '.join(missing)}; header is {', '.join(map(str, df.columns))}",
            details=[{"where": str(path), "column": c, "message": "column missing"} for c in missing],
        )
    return df


def parse_yymmdd(values: pd.Series, *, where: str, century: int = 1900) -> pd.Series:
    """``930101`` (or ``"931107 00:00:00"``) → datetime64 1993-01-01; raise naming every bad value."""
    import pandas as pd

    text = values.astype("string").str.strip().str.slice(0, 6).str.zfill(6)
    yy = pd.to_numeric(text.str.slice(0, 2), errors="coerce").astype("Int64")
    full = (century + yy).astype("string") + text.str.slice(2, 6)
    out = pd.to_datetime(full, format="%Y%m%d", errors="coerce")
    bad = values[out.isna()]
    if len(bad):
        raise LoadError(
            f"{where}: {len(bad)} value(s) are not dates YYMMDD, first {bad.iloc[0]!r}",
            details=[
                {"where": where, "row": int(i), "message": f"bad date {v!r}"} for i, v in bad.head(50).items()
            ],
        )
    return out


def add_months(dates: pd.Series, months: pd.Series) -> pd.Series:
    """Each date plus its number of months (day clipped to the month's end, like a loan schedule)."""
    import numpy as np
    import pandas as pd

    d = pd.DatetimeIndex(dates)
    total = d.year.to_numpy() * 12 + (d.month.to_numpy() - 1) + months.to_numpy(dtype=np.int64)
    first = pd.to_datetime(pd.DataFrame({"year": total // 12, "month": total % 12 + 1, "day": 1}))
    last_day = (first + pd.offsets.MonthEnd(0)).dt.day.to_numpy()
    day = np.minimum(d.day.to_numpy(), last_day)
    return pd.Series(first.to_numpy() + pd.to_timedelta(day - 1, unit="D").to_numpy(), index=dates.index)


def _format(series: pd.Series, kind: str) -> pd.Series:
    import pandas as pd

    if kind == "date":
        return pd.to_datetime(series).dt.strftime("%Y-%m-%d")
    if kind == "timestamp":
        return pd.to_datetime(series).dt.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "boolean":
        return series.astype("boolean").map({True: "true", False: "false"})
    if kind == "decimal":
        num = pd.to_numeric(series).astype("Float64").round(2)
        return num.map(lambda v: f"{v:.2f}", na_action="ignore")
    if kind == "int64":
        return pd.to_numeric(series).astype("Int64").astype("string")
    if kind == "float64":
        return pd.to_numeric(series).astype("Float64").astype("string")
    return series.astype("string")


def write_table(out: Path, name: str, df: pd.DataFrame) -> int:
    """Write ``df`` as ``out/<name>.csv`` with exactly the data model's columns; return the row count.

    Columns the data model has but ``df`` lacks are written empty (NULL); a column ``df`` has that the
    model lacks is a programming error and raises ``KeyError``.
    """
    import pandas as pd

    spec = model_table(name)
    extra = [c for c in df.columns if c not in spec.column_names]
    if extra:
        raise KeyError(f"{name}: columns not in the data model: {extra}")
    cols = {}
    for col in spec.columns:
        if col.name in df.columns:
            cols[col.name] = _format(df[col.name], col.type)
        else:
            cols[col.name] = pd.Series(pd.NA, index=df.index, dtype="string")
    frame = pd.DataFrame(cols, columns=list(spec.column_names))
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{name}.csv", index=False, encoding="utf-8", na_rep="", lineterminator="\n")
    return len(frame)
