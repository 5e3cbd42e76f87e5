"""PKDD'99 Czech bank ("Berka") → canonical files.

The source folder holds the challenge's ``.asc`` files (``;``-separated, quoted; dates ``YYMMDD``):
district, client, disp, account, order, loan, card. ``trans.asc`` is not needed (and not in the copy we
test against). Every mapping decision is documented column by column in ``docs/adapters.md``; the ones a
reader of the warehouse must know are also returned in ``AdapterReport.notes``.

Ids get a ``BK-`` prefix so Berka rows never collide with another source in the same warehouse.
Amounts are Czech crowns (CZK) written as they are: no currency conversion.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kequn.adapters import AdapterReport
from kequn.adapters._common import add_months, parse_yymmdd, read_semicolon, require_files, write_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SOURCE = "berka"
#: the data end: the last transactions of PKDD'99 are dated 1998-12-31; standing orders are "as of" it
EXPORT_DATE = "1998-12-31"
HQ_ID = "BK-HQ"

#: loan status (PKDD'99 description): A finished, no problems; B finished, loan not paid;
#: C running, OK so far; D running, client in debt
LOAN_STATUS = {"A": "settled", "B": "written_off", "C": "current", "D": "overdue"}
#: standing-order purpose (k_symbol) → canonical transaction type
ORDER_TXN_TYPE = {
    "SIPO": "bill_payment",  # household payment (rent, utilities)
    "POJISTNE": "bill_payment",  # insurance premium
    "LEASING": "bill_payment",  # leasing instalment
    "UVER": "loan_repayment",  # loan instalment
    "": "transfer_out",  # no purpose given
}
CARD_TYPES = ("classic", "junior", "gold")  # all debit cards in PKDD'99

PRODUCTS = (
    # product_id, name, category
    ("BK-DEPOSIT", "活期存款账户（PKDD'99）", "deposit"),
    ("BK-LOAN", "个人贷款（PKDD'99）", "loan"),
)

#: source files and the columns the adapter reads from each (other columns are ignored)
COLUMNS = {
    "district.asc": ("A1", "A2", "A3"),
    "client.asc": ("client_id", "birth_number", "district_id"),
    "disp.asc": ("disp_id", "client_id", "account_id", "type"),
    "account.asc": ("account_id", "district_id", "frequency", "date"),
    "order.asc": ("order_id", "account_id", "bank_to", "account_to", "amount", "k_symbol"),
    "loan.asc": ("loan_id", "account_id", "date", "amount", "duration", "payments", "status"),
    "card.asc": ("card_id", "disp_id", "type", "issued"),
}
FILES = tuple(COLUMNS)
#: columns read as text (codes with leading zeros, free text)
TEXT_COLUMNS = dict.fromkeys(
    ("birth_number", "k_symbol", "account_to", "bank_to", "type", "status", "issued", "A2", "A3"), "string"
)

NOTES = (
    "amounts are Czech crowns (CZK) as in the source; no currency conversion",
    "customer.name is required but the source has no names: a pseudonym 匿名客户<id> is written; "
    "id_number, phone, occupation, rm_id are NULL",
    "loan.rate = 0.0 means 'unknown': PKDD'99 amount = payments × duration exactly, so interest "
    "cannot be separated from principal; loan.principal is the source amount (total repayable)",
    "each loan gets its own loan account BK-LA<loan_id>; account has 4,500 deposit + one loan account per loan",
    f"standing orders → one auto transaction each, dated {EXPORT_DATE} (the month they were in force at "
    "export); their history is not in the source",
    "card tier (classic/junior/gold) has no canonical column; all PKDD'99 cards are written as debit",
    "district demographics (A4–A16) and account statement frequency are not mapped",
)


def _read(paths: dict[str, Path]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, path in paths.items():
        dtypes = {c: t for c, t in TEXT_COLUMNS.items() if c in COLUMNS[name]}
        out[name.removesuffix(".asc")] = read_semicolon(
            path, source=SOURCE, columns=COLUMNS[name], dtype=dtypes, keep_default_na=False, na_values=[]
        )
    return out


def _branches(district: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    hq = pd.DataFrame(
        {
            "branch_id": [HQ_ID],
            "name": ["PKDD'99 总行"],
            "level": ["hq"],
            "parent_id": [None],
            "city": [_hq_city(district)],
        }
    )
    br = pd.DataFrame(
        {
            "branch_id": _branch_id(district.A1),
            "name": district.A2 + "分行",
            "level": "branch",
            "parent_id": HQ_ID,
            "city": district.A2,
        }
    )
    return pd.concat([hq, br], ignore_index=True)


def _hq_city(district: pd.DataFrame) -> str:
    """The head office is in Prague (district 1, "Hl.m. Praha")."""
    prague = district.loc[district.A1 == 1, "A2"]
    return str(prague.iloc[0]) if len(prague) else "Hl.m. Praha"


def _branch_id(district_id: pd.Series) -> pd.Series:
    return "BK-D" + district_id.astype("Int64").astype("string").str.zfill(2)


def _decode_birth_number(bn: pd.Series, *, where: str) -> tuple[pd.Series, pd.Series]:
    """YYMMDD with MM + 50 for women → (gender M/F, birth date)."""
    import numpy as np
    import pandas as pd

    num = pd.to_numeric(bn.str.strip(), errors="coerce").astype("Int64")
    mm = num // 100 % 100
    female = (mm > 50).fillna(False)
    fixed = num - np.where(female, 5000, 0)
    gender = female.map({True: "F", False: "M"})
    return gender, parse_yymmdd(fixed, where=where)


def _customers(t: dict[str, pd.DataFrame], acc: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    client, disp = t["client"], t["disp"]
    gender, birth = _decode_birth_number(client.birth_number, where="client.asc birth_number")
    first = disp.merge(acc[["account_id", "opened_on"]], on="account_id").groupby("client_id").opened_on.min()
    cid = _client_id(client.client_id)
    district = t["district"].set_index("A1").A2
    return pd.DataFrame(
        {
            "customer_id": cid,
            "name": "匿名客户" + cid,
            "gender": gender,
            "birth_date": birth,
            "city": client.district_id.map(district),
            "home_branch_id": _branch_id(client.district_id),
            "onboarded_on": client.client_id.map(first),
            "status": "active",
        }
    )


def _client_id(s: pd.Series) -> pd.Series:
    return "BK-C" + s.astype("string")


def _account_id(s: pd.Series) -> pd.Series:
    return "BK-A" + s.astype("string")


def _accounts(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Deposit accounts with their owner (the OWNER disposition) and opening date."""
    acc = t["account"].copy()
    acc["opened_on"] = parse_yymmdd(acc.date, where="account.asc date")
    owners = t["disp"].loc[t["disp"].type == "OWNER", ["account_id", "client_id"]]
    return acc.merge(owners, on="account_id", how="left")


def _deposit_accounts(acc: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "account_id": _account_id(acc.account_id),
            "customer_id": _client_id(acc.client_id.astype("Int64")),
            "product_id": "BK-DEPOSIT",
            "kind": "deposit",
            "branch_id": _branch_id(acc.district_id),
            "opened_on": acc.opened_on,
            "status": "active",
        }
    )


def _households(t: dict[str, pd.DataFrame], acc: pd.DataFrame) -> pd.DataFrame:
    """Each DISPONENT (may operate someone else's account) → household link owner → disponent."""
    import pandas as pd

    disp = t["disp"]
    dis = disp[disp.type == "DISPONENT"].merge(
        acc[["account_id", "client_id", "opened_on"]], on="account_id", suffixes=("", "_owner")
    )
    return pd.DataFrame(
        {
            "from_type": "customer",
            "from_id": _client_id(dis.client_id_owner.astype("Int64")),
            "to_type": "customer",
            "to_id": _client_id(dis.client_id),
            "kind": "household",
            "valid_from": dis.opened_on,
        }
    )


def _loans(t: dict[str, pd.DataFrame], acc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loan rows, their loan accounts). Status A/B/C/D per the PKDD'99 description."""
    import pandas as pd

    loan = t["loan"].merge(acc[["account_id", "client_id", "district_id"]], on="account_id", how="left")
    start = parse_yymmdd(loan.date, where="loan.asc date")
    status = loan.status.str.strip().map(LOAN_STATUS)
    lid = "BK-L" + loan.loan_id.astype("string")
    laid = "BK-LA" + loan.loan_id.astype("string")
    customer = _client_id(loan.client_id.astype("Int64"))
    loans = pd.DataFrame(
        {
            "loan_id": lid,
            "account_id": laid,
            "customer_id": customer,
            "product_id": "BK-LOAN",
            "principal": loan.amount,
            "rate": 0.0,
            "term_months": loan.duration,
            "start_date": start,
            "maturity_date": add_months(start, loan.duration),
            "status": status,
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": laid,
            "customer_id": customer,
            "product_id": "BK-LOAN",
            "kind": "loan",
            "branch_id": _branch_id(loan.district_id),
            "opened_on": start,
            "status": status.isin(["current", "overdue"]).map({True: "active", False: "closed"}),
        }
    )
    return loans, accounts


def _cards(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    card = t["card"].merge(t["disp"], on="disp_id", how="left", suffixes=("", "_disp"))
    return pd.DataFrame(
        {
            "card_id": "BK-K" + card.card_id.astype("string"),
            "account_id": _account_id(card.account_id.astype("Int64")),
            "customer_id": _client_id(card.client_id.astype("Int64")),
            "card_type": "debit",
            "issued_on": parse_yymmdd(card.issued, where="card.asc issued"),
            "status": "active",
        }
    )


def _standing_orders(t: dict[str, pd.DataFrame], acc: pd.DataFrame) -> pd.DataFrame:
    """Standing orders (debits only) → one auto debit each in the export month."""
    import pandas as pd

    order = t["order"].merge(acc[["account_id", "client_id"]], on="account_id", how="left")
    purpose = order.k_symbol.str.strip()
    return pd.DataFrame(
        {
            "txn_id": "BK-O" + order.order_id.astype("string") + "-" + EXPORT_DATE[:7].replace("-", ""),
            "account_id": _account_id(order.account_id),
            "customer_id": _client_id(order.client_id.astype("Int64")),
            "ts": pd.Timestamp(EXPORT_DATE),
            "amount": -pd.to_numeric(order.amount),
            "channel": "auto",
            "txn_type": purpose.map(ORDER_TXN_TYPE).fillna("transfer_out"),
            "counterparty": order.bank_to.str.strip() + "/" + order.account_to.str.strip(),
        }
    )


def _products() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "product_id": [p[0] for p in PRODUCTS],
            "name": [p[1] for p in PRODUCTS],
            "category": [p[2] for p in PRODUCTS],
            "provider": "bank",
            "online_closable": False,
        }
    )


class BerkaAdapter:
    """PKDD'99 Czech bank relational export → canonical branch, customer, relationship, product, account,
    loan, card and transaction files."""

    name = SOURCE
    description = "PKDD'99 Czech bank (Berka): district, client, disp, account, order, loan, card (.asc)"

    def convert(self, src: Path, out: Path) -> AdapterReport:
        import pandas as pd

        t = _read(require_files(Path(src), FILES, source=SOURCE))
        acc = _accounts(t)
        loans, loan_accounts = _loans(t, acc)
        tables = {
            "branch": _branches(t["district"]),
            "product": _products(),
            "customer": _customers(t, acc),
            "relationship": _households(t, acc),
            "account": pd.concat([_deposit_accounts(acc), loan_accounts], ignore_index=True),
            "loan": loans,
            "card": _cards(t),
            "transaction": _standing_orders(t, acc),
        }
        report = AdapterReport(source=SOURCE, notes=list(NOTES))
        for name, frame in tables.items():
            report.rows[name] = write_table(Path(out), name, frame)
        return report


ADAPTER = BerkaAdapter()
