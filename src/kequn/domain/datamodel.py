"""The canonical data model: every warehouse table a bank exports into, declared once.

From this one declaration come the warehouse DDL (``kequn.warehouse.ddl``), the loader's validation
(``kequn.ingest``) and ``docs/data-model.md`` (``kequn.domain.datamodel_doc``; a test fails when the doc
is stale).

Personal-information classes follow JR/T 0171-2020: ``C3`` authentication data (never enters Kequn),
``C2`` data that identifies a person or their money (masked by default), ``C1`` internal data about a
person's relationship with the bank (account status, internal ids); ``None`` = not personal information.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "int64", "float64", "decimal", "date", "timestamp", "boolean"]
PIClass = Literal["C1", "C2", "C3"]

#: Money is DECIMAL(18,2) in yuan (CNY) everywhere in the warehouse.
DECIMAL_PRECISION = (18, 2)


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    nullable: bool = True
    unit: str | None = None
    pi: PIClass | None = None
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    fk: ForeignKey | None = None
    not_future: bool = False  # dates/timestamps may not lie after the load date


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    group: str
    #: columns whose values together say "when this row became known" (for point-in-time reads)
    time_column: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name}.{name}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, type: ColumnType, description: str, **kw: object) -> Column:
    return Column(name, type, description, **kw)  # type: ignore[arg-type]


def _fk(table: str, column: str | None = None) -> ForeignKey:
    return ForeignKey(table, column or f"{table}_id")


PRODUCT_CATEGORIES = (
    "deposit", "time_deposit", "wealth", "fund", "insurance", "loan", "credit_card", "debit_card",
    "payroll_service", "acquiring",
)
ACCOUNT_KINDS = ("deposit", "time_deposit", "wealth", "loan", "credit_card")
CHANNELS_TXN = ("app", "wechat", "counter", "atm", "pos", "online", "batch", "auto")
TXN_TYPES = (
    "salary", "transfer_in", "transfer_out", "card_spend", "cash_withdrawal", "cash_deposit", "interest",
    "fee", "loan_disbursement", "loan_repayment", "wealth_purchase", "wealth_redemption", "refund",
    "bill_payment", "time_deposit_open", "time_deposit_maturity",
)
EVENT_CHANNELS = ("app", "wechat_work", "web", "branch", "call_centre")
CONSENT_PURPOSES = ("marketing", "personalisation", "gov_data", "profiling", "third_party")
CONSENT_CHANNELS = ("sms", "app_push", "wechat_work", "call", "email", "any")
GOV_SOURCES = ("social_security", "housing_fund", "medical_insurance", "tax", "utility")
JOURNEY_STAGES = ("awareness", "onboarding", "activation", "engagement", "cross_sell", "retention", "service")

TABLES: tuple[Table, ...] = (
    # ----------------------------------------------------------------- organisation
    Table(
        "branch", "机构", "The bank's organisation: head office → branch → sub-branch.",
        (
            _c("branch_id", "string", "Branch code", nullable=False),
            _c("name", "string", "Branch name", nullable=False),
            _c("level", "string", "Level in the hierarchy", nullable=False, enum=("hq", "branch", "sub_branch")),
            _c("parent_id", "string", "Parent branch code (empty for head office)", fk=_fk("branch")),
            _c("city", "string", "City the branch is in", nullable=False),
            _c("opened_on", "date", "Date the branch opened", not_future=True),
        ),
        ("branch_id",), "organisation",
    ),
    Table(
        "staff", "员工", "Relationship managers (客户经理), branch managers and other staff.",
        (
            _c("staff_id", "string", "Staff number", nullable=False, pi="C1"),
            _c("name", "string", "Staff name", nullable=False, pi="C2"),
            _c("branch_id", "string", "Branch the staff member works in", nullable=False, fk=_fk("branch")),
            _c("role", "string", "Role", nullable=False, enum=("rm", "branch_manager", "teller", "other")),
            _c("hired_on", "date", "Hire date", not_future=True),
        ),
        ("staff_id",), "organisation",
    ),
    # ----------------------------------------------------------------- parties
    Table(
        "customer", "个人客户", "Individual (retail) customers.",
        (
            _c("customer_id", "string", "Customer number (客户号)", nullable=False, pi="C1"),
            _c("name", "string", "Full name", nullable=False, pi="C2"),
            _c("id_number", "string", "Resident ID number (身份证号), 18 characters", pi="C2"),
            _c("phone", "string", "Mobile phone number, 11 digits", pi="C2"),
            _c("gender", "string", "Gender", enum=("M", "F")),
            _c("birth_date", "date", "Date of birth", pi="C2", not_future=True),
            _c("occupation", "string", "Occupation category"),
            _c("city", "string", "City of residence"),
            _c("home_branch_id", "string", "Branch that owns the customer", nullable=False, fk=_fk("branch", "branch_id")),
            _c("rm_id", "string", "Relationship manager (客户经理)", fk=_fk("staff")),
            _c("onboarded_on", "date", "Date the customer relationship began", nullable=False, not_future=True),
            _c("is_new_citizen", "boolean", "New citizen (新市民): moved to the city within 5 years"),
            _c("status", "string", "Relationship status", nullable=False, enum=("active", "closed")),
            _c("closed_on", "date", "Date the relationship closed", not_future=True),
        ),
        ("customer_id",), "parties", time_column="onboarded_on",
    ),
    Table(
        "enterprise", "企业客户", "Corporate clients, including payroll (代发) employers.",
        (
            _c("enterprise_id", "string", "Corporate customer number", nullable=False),
            _c("name", "string", "Registered name", nullable=False),
            _c("uscc", "string", "Unified social credit code (统一社会信用代码), 18 characters"),
            _c("industry", "string", "Industry (国民经济行业分类 section name)", nullable=False),
            _c("size", "string", "Enterprise size", nullable=False, enum=("micro", "small", "medium", "large")),
            _c("city", "string", "City of registration"),
            _c("branch_id", "string", "Branch that owns the client", nullable=False, fk=_fk("branch")),
            _c("onboarded_on", "date", "Date the relationship began", nullable=False, not_future=True),
            _c("legal_rep_customer_id", "string", "Legal representative, if a retail customer", pi="C1",
               fk=_fk("customer")),
        ),
        ("enterprise_id",), "parties", time_column="onboarded_on",
    ),
    Table(
        "merchant", "收单商户", "Acquiring merchants (individual or enterprise-owned).",
        (
            _c("merchant_id", "string", "Merchant number", nullable=False),
            _c("name", "string", "Merchant trading name", nullable=False),
            _c("mcc", "string", "Merchant category code (4 digits)", nullable=False),
            _c("owner_customer_id", "string", "Owner, when an individual", pi="C1", fk=_fk("customer")),
            _c("enterprise_id", "string", "Owner, when an enterprise", fk=_fk("enterprise")),
            _c("branch_id", "string", "Branch that owns the merchant", nullable=False, fk=_fk("branch")),
            _c("terminals", "int64", "Number of POS / QR terminals", min=0, max=10000),
            _c("onboarded_on", "date", "Date acquiring began", nullable=False, not_future=True),
            _c("status", "string", "Status", nullable=False, enum=("active", "closed")),
            _c("closed_on", "date", "Date acquiring ended", not_future=True),
        ),
        ("merchant_id",), "parties", time_column="onboarded_on",
    ),
    Table(
        "programme", "政府项目", "Government programmes that link government → enterprises → people (G→B→C).",
        (
            _c("programme_id", "string", "Programme code", nullable=False),
            _c("name", "string", "Programme name", nullable=False),
            _c("agency", "string", "Government agency running it"),
            _c("kind", "string", "Kind", nullable=False,
               enum=("medical_insurance", "social_security", "housing_fund", "subsidy", "other")),
        ),
        ("programme_id",), "parties",
    ),
    Table(
        "relationship", "关系", "Links between parties: employer→employee (from payroll), merchant owner, "
        "household, guarantor, programme membership. Endpoints are typed, so there are no database foreign "
        "keys; the loader checks each endpoint against its table.",
        (
            _c("from_type", "string", "Type of the source party", nullable=False,
               enum=("enterprise", "customer", "merchant", "programme")),
            _c("from_id", "string", "Id of the source party", nullable=False, pi="C1"),
            _c("to_type", "string", "Type of the target party", nullable=False,
               enum=("enterprise", "customer", "merchant")),
            _c("to_id", "string", "Id of the target party", nullable=False, pi="C1"),
            _c("kind", "string", "Kind of link", nullable=False,
               enum=("employer_employee", "merchant_owner", "household", "guarantor", "programme_member")),
            _c("valid_from", "date", "First day the link held", nullable=False, not_future=True),
            _c("valid_to", "date", "Last day the link held (empty = still holds)"),
        ),
        ("from_type", "from_id", "to_type", "to_id", "kind", "valid_from"), "parties", time_column="valid_from",
    ),
    # ----------------------------------------------------------------- products and holdings
    Table(
        "product", "产品", "The product catalogue of the bank, its consumer-finance subsidiary and partners.",
        (
            _c("product_id", "string", "Product code", nullable=False),
            _c("name", "string", "Product name (Chinese)", nullable=False),
            _c("category", "string", "Product category", nullable=False, enum=PRODUCT_CATEGORIES),
            _c("provider", "string", "Who provides it", nullable=False, enum=("bank", "subsidiary", "partner")),
            _c("online_closable", "boolean", "Can be sold end to end online (else a branch lead)", nullable=False),
            _c("launched_on", "date", "Launch date", not_future=True),
        ),
        ("product_id",), "products",
    ),
    Table(
        "account", "账户", "Accounts: deposit, time deposit, wealth, loan and credit-card accounts.",
        (
            _c("account_id", "string", "Account number (internal)", nullable=False, pi="C1"),
            _c("customer_id", "string", "Owning retail customer", pi="C1", fk=_fk("customer")),
            _c("enterprise_id", "string", "Owning enterprise (corporate accounts)", fk=_fk("enterprise")),
            _c("product_id", "string", "Product", nullable=False, fk=_fk("product")),
            _c("kind", "string", "Account kind", nullable=False, enum=ACCOUNT_KINDS),
            _c("branch_id", "string", "Opening branch", nullable=False, fk=_fk("branch")),
            _c("opened_on", "date", "Opening date", nullable=False, not_future=True),
            _c("closed_on", "date", "Closing date", not_future=True),
            _c("status", "string", "Status", nullable=False, enum=("active", "dormant", "closed")),
        ),
        ("account_id",), "products", time_column="opened_on",
    ),
    Table(
        "balance_monthly", "月末余额", "Month-end balance and month average daily balance (月日均) per account, "
        "as core banking reports them. Loans report outstanding principal as a positive number.",
        (
            _c("account_id", "string", "Account", nullable=False, pi="C1", fk=_fk("account")),
            _c("month_end", "date", "Last day of the month", nullable=False, not_future=True),
            _c("balance", "decimal", "Balance at month end", nullable=False, unit="CNY", pi="C2",
               min=-1e12, max=1e12),
            _c("avg_daily_balance", "decimal", "Average daily balance over the month (月日均)", nullable=False,
               unit="CNY", pi="C2", min=-1e12, max=1e12),
            _c("days_past_due", "int64", "Days past due at month end (loans and credit cards)", min=0, max=10000),
        ),
        ("account_id", "month_end"), "products", time_column="month_end",
    ),
    Table(
        "holding", "持有产品", "Products held without a Kequn account (insurance, partner funds): who holds "
        "what, from when, for how much.",
        (
            _c("holding_id", "string", "Holding id", nullable=False),
            _c("customer_id", "string", "Customer", nullable=False, pi="C1", fk=_fk("customer")),
            _c("product_id", "string", "Product", nullable=False, fk=_fk("product")),
            _c("start_date", "date", "First day held", nullable=False, not_future=True),
            _c("end_date", "date", "Last day held (empty = still held)"),
            _c("amount", "decimal", "Premium or amount invested", unit="CNY", pi="C2", min=0, max=1e12),
        ),
        ("holding_id",), "products", time_column="start_date",
    ),
    Table(
        "loan", "贷款", "Loans, from the bank and its consumer-finance subsidiary.",
        (
            _c("loan_id", "string", "Loan contract number", nullable=False, pi="C1"),
            _c("account_id", "string", "Loan account", nullable=False, pi="C1", fk=_fk("account")),
            _c("customer_id", "string", "Borrower (retail)", pi="C1", fk=_fk("customer")),
            _c("enterprise_id", "string", "Borrower (corporate)", fk=_fk("enterprise")),
            _c("product_id", "string", "Loan product", nullable=False, fk=_fk("product")),
            _c("principal", "decimal", "Amount lent", nullable=False, unit="CNY", pi="C2", min=0, max=1e11),
            _c("rate", "float64", "Annual interest rate (APR)", nullable=False, unit="% per year", min=0, max=36),
            _c("term_months", "int64", "Term", nullable=False, unit="months", min=1, max=360),
            _c("start_date", "date", "Disbursement date", nullable=False, not_future=True),
            _c("maturity_date", "date", "Maturity date", nullable=False),
            _c("status", "string", "Status at export", nullable=False,
               enum=("current", "overdue", "settled", "written_off")),
            _c("days_past_due", "int64", "Days past due at export", min=0, max=10000),
        ),
        ("loan_id",), "products", time_column="start_date",
    ),
    Table(
        "card", "银行卡", "Debit and credit cards.",
        (
            _c("card_id", "string", "Card id (internal)", nullable=False, pi="C1"),
            _c("account_id", "string", "Account the card draws on", nullable=False, pi="C1", fk=_fk("account")),
            _c("customer_id", "string", "Cardholder", nullable=False, pi="C1", fk=_fk("customer")),
            _c("card_type", "string", "Card type", nullable=False, enum=("debit", "credit")),
            _c("card_number", "string", "Card number (PAN), 16–19 digits", pi="C2"),
            _c("credit_limit", "decimal", "Credit limit (credit cards)", unit="CNY", pi="C2", min=0, max=1e8),
            _c("issued_on", "date", "Issue date", nullable=False, not_future=True),
            _c("status", "string", "Status", nullable=False, enum=("active", "blocked", "closed")),
        ),
        ("card_id",), "products", time_column="issued_on",
    ),
    # ----------------------------------------------------------------- flows
    Table(
        "transaction", "交易流水", "Account transactions. Amount is signed: money in positive, out negative.",
        (
            _c("txn_id", "string", "Transaction id", nullable=False, pi="C1"),
            _c("account_id", "string", "Account", nullable=False, pi="C1", fk=_fk("account")),
            _c("customer_id", "string", "Account owner (retail), denormalised", pi="C1", fk=_fk("customer")),
            _c("ts", "timestamp", "Time of the transaction (bank local time)", nullable=False, not_future=True),
            _c("amount", "decimal", "Signed amount: in > 0, out < 0", nullable=False, unit="CNY", pi="C2",
               min=-1e10, max=1e10),
            _c("channel", "string", "Channel", nullable=False, enum=CHANNELS_TXN),
            _c("txn_type", "string", "Transaction type", nullable=False, enum=TXN_TYPES),
            _c("counterparty", "string", "Counterparty name or account", pi="C2"),
            _c("merchant_id", "string", "Merchant (card spend at our acquiring merchants)", fk=_fk("merchant")),
            _c("mcc", "string", "Merchant category code of card spend"),
        ),
        ("txn_id",), "flows", time_column="ts",
    ),
    Table(
        "payroll_batch", "代发批次", "Payroll (代发工资) batches: an enterprise pays its employees through the bank.",
        (
            _c("batch_id", "string", "Batch id", nullable=False),
            _c("enterprise_id", "string", "Paying enterprise", nullable=False, fk=_fk("enterprise")),
            _c("pay_date", "date", "Pay date", nullable=False, not_future=True),
            _c("headcount", "int64", "Employees paid", nullable=False, min=0, max=1_000_000),
            _c("total_amount", "decimal", "Total paid", nullable=False, unit="CNY", min=0, max=1e11),
        ),
        ("batch_id",), "flows", time_column="pay_date",
    ),
    Table(
        "payroll_item", "代发明细", "One employee's pay in a payroll batch (the B→C link).",
        (
            _c("batch_id", "string", "Batch", nullable=False, fk=_fk("payroll_batch", "batch_id")),
            _c("customer_id", "string", "Employee", nullable=False, pi="C1", fk=_fk("customer")),
            _c("account_id", "string", "Account credited", nullable=False, pi="C1", fk=_fk("account")),
            _c("amount", "decimal", "Net pay", nullable=False, unit="CNY", pi="C2", min=0, max=1e8),
        ),
        ("batch_id", "customer_id"), "flows",
    ),
    Table(
        "acquiring_daily", "收单日汇总", "Daily acquiring turnover per merchant.",
        (
            _c("merchant_id", "string", "Merchant", nullable=False, fk=_fk("merchant")),
            _c("date", "date", "Business date", nullable=False, not_future=True),
            _c("txn_count", "int64", "Payments acquired", nullable=False, min=0, max=10_000_000),
            _c("amount", "decimal", "Amount acquired", nullable=False, unit="CNY", min=0, max=1e11),
            _c("refund_count", "int64", "Refunds", nullable=False, min=0, max=10_000_000),
            _c("refund_amount", "decimal", "Amount refunded", nullable=False, unit="CNY", min=0, max=1e11),
        ),
        ("merchant_id", "date"), "flows", time_column="date",
    ),
    # ----------------------------------------------------------------- behaviour and consent
    Table(
        "touchpoint", "触点", "The touchpoint catalogue (400+), each mapped to a journey stage.",
        (
            _c("touchpoint_id", "string", "Touchpoint code", nullable=False),
            _c("name", "string", "Touchpoint name (Chinese)", nullable=False),
            _c("channel", "string", "Channel", nullable=False, enum=EVENT_CHANNELS),
            _c("journey_stage", "string", "Journey stage it belongs to", nullable=False, enum=JOURNEY_STAGES),
            _c("description", "string", "What the customer did"),
        ),
        ("touchpoint_id",), "behaviour",
    ),
    Table(
        "event", "触点事件", "Touchpoint events: app, WeChat Work, web, branch and call-centre interactions.",
        (
            _c("event_id", "string", "Event id (unique; duplicates are dropped)", nullable=False),
            _c("customer_id", "string", "Customer", nullable=False, pi="C1", fk=_fk("customer")),
            _c("ts", "timestamp", "Time of the event (bank local time)", nullable=False, not_future=True),
            _c("touchpoint_id", "string", "Touchpoint", nullable=False, fk=_fk("touchpoint")),
            _c("channel", "string", "Channel", nullable=False, enum=EVENT_CHANNELS),
            _c("session_id", "string", "Session id"),
        ),
        ("event_id",), "behaviour", time_column="ts",
    ),
    Table(
        "gov_data", "政务数据", "Government data received with the customer's consent: social security, "
        "housing fund, medical insurance, tax, utility payments.",
        (
            _c("record_id", "string", "Record id", nullable=False),
            _c("customer_id", "string", "Customer", nullable=False, pi="C1", fk=_fk("customer")),
            _c("source", "string", "Source", nullable=False, enum=GOV_SOURCES),
            _c("period_month", "date", "First day of the month the record covers", nullable=False, not_future=True),
            _c("amount", "decimal", "Contribution or payment", unit="CNY", pi="C2", min=0, max=1e9),
            _c("employer_uscc", "string", "Contributing employer's USCC"),
            _c("programme_id", "string", "Government programme", fk=_fk("programme")),
            _c("received_on", "date", "Date the bank received it", nullable=False, not_future=True),
        ),
        ("record_id",), "behaviour", time_column="received_on",
    ),
    Table(
        "consent", "授权记录", "Consent records per purpose and channel: granted or withdrawn, when and where. "
        "The latest record per (customer, purpose, channel) at a time is the one in force.",
        (
            _c("consent_id", "string", "Consent record id", nullable=False),
            _c("customer_id", "string", "Customer", nullable=False, pi="C1", fk=_fk("customer")),
            _c("purpose", "string", "Purpose", nullable=False, enum=CONSENT_PURPOSES),
            _c("channel", "string", "Channel", nullable=False, enum=CONSENT_CHANNELS),
            _c("status", "string", "Granted or withdrawn", nullable=False, enum=("granted", "withdrawn")),
            _c("effective_at", "timestamp", "When it took effect", nullable=False, not_future=True),
            _c("source", "string", "Where it was given", nullable=False,
               enum=("app", "branch", "call_centre", "web", "paper", "wechat_work")),
        ),
        ("consent_id",), "behaviour", time_column="effective_at",
    ),
    Table(
        "contact_history", "营销接触历史", "Past marketing contacts made outside Kequn (legacy campaigns, "
        "imported call lists), with their outcome. Kequn's own campaigns live in the ops store.",
        (
            _c("contact_id", "string", "Contact id", nullable=False),
            _c("customer_id", "string", "Customer", nullable=False, pi="C1", fk=_fk("customer")),
            _c("campaign_code", "string", "Campaign code", nullable=False),
            _c("channel", "string", "Channel", nullable=False, enum=("sms", "app_push", "wechat_work", "call", "email", "branch")),
            _c("ts", "timestamp", "When the contact was made", nullable=False, not_future=True),
            _c("arm", "string", "Treatment or control", enum=("treatment", "control")),
            _c("outcome", "string", "Outcome", enum=("no_answer", "refused", "no_conversion", "converted")),
            _c("converted", "boolean", "Whether the customer converted"),
            _c("amount", "decimal", "Value of the conversion", unit="CNY", pi="C2", min=0, max=1e10),
        ),
        ("contact_id",), "behaviour", time_column="ts",
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The table called ``name``; raises ``NotFoundError`` naming the known tables."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        from kequn.errors import NotFoundError

        raise NotFoundError(f"unknown table {name!r}; known tables: {', '.join(TABLES_BY_NAME)}") from None


def load_order() -> tuple[Table, ...]:
    """Tables ordered so that every foreign key points at a table earlier in the order."""
    done: list[str] = []
    pending = list(TABLES)
    while pending:
        for t in pending:
            deps = {c.fk.table for c in t.columns if c.fk and c.fk.table != t.name}
            if deps <= set(done):
                done.append(t.name)
                pending.remove(t)
                break
        else:  # pragma: no cover - the declaration above is acyclic; a test checks
            raise RuntimeError(f"foreign-key cycle among {[t.name for t in pending]}")
    return tuple(TABLES_BY_NAME[n] for n in done)
