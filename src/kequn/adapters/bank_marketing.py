"""UCI Bank Marketing (Moro, Cortez & Rita 2014) → canonical files, and a model-ready frame.

``bank-full.csv`` (``;``-separated, 17 columns) holds one row per client called in a Portuguese bank's
term-deposit telemarketing, May 2008 – November 2010, in time order but without the year. The year is
inferred: it starts at 2008 and goes up by one each time the month number falls (``dec`` → ``jan``).

``duration`` (length of the call) is only known after the call and decides ``y`` almost by itself: it is
NOT written into any canonical file and NOT in :func:`model_frame`. Column-by-column mapping:
``docs/adapters.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kequn.adapters import AdapterReport
from kequn.adapters._common import read_semicolon, write_table
from kequn.errors import LoadError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SOURCE = "bank-marketing"
FILE = "bank-full.csv"
START_YEAR = 2008
BRANCH_ID = "BM-HQ"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
COLUMNS = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
)
#: columns a model may read (known before the call); ``duration``, ``day`` and ``month`` are not here
FEATURES = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
)

PRODUCTS = (
    ("BM-TERM-DEPOSIT", "定期存款（UCI 电话营销）", "time_deposit"),
    ("BM-HOUSING-LOAN", "住房贷款（UCI 电话营销）", "loan"),
    ("BM-PERSONAL-LOAN", "个人消费贷款（UCI 电话营销）", "loan"),
)

NOTES = (
    "the year of each call is inferred from the row order (2008, +1 at each dec→jan wrap); time of day "
    "unknown → 00:00:00",
    "duration (call length) is known only after the call: it is not written anywhere a model reads",
    "customer.name is required but the source has no names: a pseudonym 匿名客户<id> is written",
    "birth_date ≈ call date − age years − 182 days (the middle of the possible range); onboarded_on = "
    "call date (an upper bound: the client's real tenure is not in the source)",
    "housing / personal loans → holding rows dated the call date (amount and start unknown); "
    "default, balance, marital, education, contact type, campaign, pdays, previous, poutcome are not in "
    "the canonical model: model_frame() keeps them",
    "campaign_code = BM-TD-YYYYMM (the call month): the source does not identify its campaigns",
    "amounts (balance) are euros; not written to canonical files",
)


def _source_file(src: Path) -> Path:
    src = Path(src)
    path = src if src.is_file() else src / FILE
    if not path.is_file():
        raise NotFoundError(f"{SOURCE}: {FILE} not found in {src} (expected the UCI bank-full.csv)")
    return path


def read_source(src: Path) -> pd.DataFrame:
    """The raw rows of ``bank-full.csv`` (a folder holding it, or the file), with ``row`` (1-based, file
    order), ``customer_id`` and the reconstructed ``call_date``."""
    path = _source_file(src)
    df = read_semicolon(path, source=SOURCE, columns=COLUMNS)
    df.insert(0, "row", range(1, len(df) + 1))
    df.insert(1, "customer_id", "BM-C" + df["row"].astype("string").str.zfill(5))
    df["call_date"] = call_dates(df["month"], df["day"], where=str(path))
    return df


def call_dates(month: pd.Series, day: pd.Series, *, where: str, start_year: int = START_YEAR) -> pd.Series:
    """Dates of calls listed in time order with month names and days but no year.

    The year starts at ``start_year`` and increases by one each time the month number falls from one
    row to the next. Raises one ``LoadError`` naming every unknown month or impossible day.
    """
    import pandas as pd

    num = month.astype("string").str.strip().str.lower().map({m: i + 1 for i, m in enumerate(MONTHS)})
    problems = [
        {"where": f"{where}:{i + 2}", "column": "month", "message": f"unknown month {month[i]!r}"}
        for i in num.index[num.isna()][:50]
    ]
    if problems:
        raise LoadError(
            f"{SOURCE}: {int(num.isna().sum())} row(s) with an unknown month in {where}", details=problems
        )
    num = num.astype("int64")
    year = start_year + (num.diff().fillna(0) < 0).cumsum()
    dates = pd.to_datetime(
        pd.DataFrame({"year": year, "month": num, "day": pd.to_numeric(day, errors="coerce")}),
        errors="coerce",
    )
    bad = dates.index[dates.isna()]
    if len(bad):
        raise LoadError(
            f"{SOURCE}: {len(bad)} row(s) with an impossible day in {where}, first at line {bad[0] + 2}",
            details=[
                {"where": f"{where}:{i + 2}", "column": "day", "message": f"{day[i]!r} {month[i]!r}"}
                for i in bad[:50]
            ],
        )
    return dates


def model_frame(src: Path) -> pd.DataFrame:
    """A model-ready frame: ``customer_id``, ``call_date``, the features known before the call
    (:data:`FEATURES`, no ``duration``) and the target ``y`` (1 = subscribed a term deposit).

    Rows keep the file's time order, so an out-of-time split is ``frame[frame.call_date < cutoff]``.
    """
    df = read_source(src)
    frame = df[["customer_id", "call_date", *FEATURES]].copy()
    frame["y"] = (df["y"].str.strip() == "yes").astype("int8")
    return frame


def _customers(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    mid = df.call_date - pd.to_timedelta(182, unit="D")
    leap_day = (mid.dt.month == 2) & (mid.dt.day == 29)  # 29 Feb minus whole years → 28 Feb
    birth = pd.to_datetime(
        pd.DataFrame(
            {
                "year": mid.dt.year - df.age.astype("int64"),
                "month": mid.dt.month,
                "day": mid.dt.day.where(~leap_day, 28),
            }
        )
    )
    job = df.job.str.strip()
    return pd.DataFrame(
        {
            "customer_id": df.customer_id,
            "name": "匿名客户" + df.customer_id,
            "birth_date": birth,
            "occupation": job.where(job != "unknown"),
            "home_branch_id": BRANCH_ID,
            "onboarded_on": df.call_date,
            "status": "active",
        }
    )


def _contacts(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    converted = df.y.str.strip() == "yes"
    return pd.DataFrame(
        {
            "contact_id": "BM-CALL-" + df["row"].astype("string").str.zfill(5),
            "customer_id": df.customer_id,
            "campaign_code": "BM-TD-" + df.call_date.dt.strftime("%Y%m"),
            "channel": "call",
            "ts": df.call_date,
            "outcome": converted.map({True: "converted", False: "no_conversion"}),
            "converted": converted,
        }
    )


def _holdings(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for col, product, tag in (("housing", "BM-HOUSING-LOAN", "H"), ("loan", "BM-PERSONAL-LOAN", "P")):
        has = df[df[col].str.strip() == "yes"]
        parts.append(
            pd.DataFrame(
                {
                    "holding_id": f"BM-{tag}-" + has["row"].astype("string").str.zfill(5),
                    "customer_id": has.customer_id,
                    "product_id": product,
                    "start_date": has.call_date,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _reference() -> dict[str, pd.DataFrame]:
    import pandas as pd

    branch = pd.DataFrame(
        {
            "branch_id": [BRANCH_ID],
            "name": ["UCI 电话营销银行（葡萄牙）总行"],
            "level": ["hq"],
            "city": ["Portugal"],
        }
    )
    product = pd.DataFrame(
        {
            "product_id": [p[0] for p in PRODUCTS],
            "name": [p[1] for p in PRODUCTS],
            "category": [p[2] for p in PRODUCTS],
            "provider": "bank",
            "online_closable": False,
        }
    )
    return {"branch": branch, "product": product}


class BankMarketingAdapter:
    """UCI bank-marketing calls → canonical branch, product, customer, holding and contact_history."""

    name = SOURCE
    description = "UCI Bank Marketing (Moro et al. 2014) bank-full.csv: term-deposit telemarketing calls"

    def convert(self, src: Path, out: Path) -> AdapterReport:
        df = read_source(Path(src))
        tables = {
            **_reference(),
            "customer": _customers(df),
            "holding": _holdings(df),
            "contact_history": _contacts(df),
        }
        report = AdapterReport(source=SOURCE, notes=list(NOTES))
        for name, frame in tables.items():
            report.rows[name] = write_table(Path(out), name, frame)
        return report


ADAPTER = BankMarketingAdapter()
