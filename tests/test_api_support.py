"""Helpers shared by the console tests (no tests here): a tiny real bank in DuckDB, a migrated SQLite ops
store, one user per role, and a logged-in TestClient.

Branches: HQ → B100 → B110 (sub-branch); HQ → B200. Customers C001 (B100), C002 (B110), C003 (B200).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SECRET = "x" * 8 + "9f3Jq2LrT0pVw7ZbN4cYh6Ue"  # 32 random-looking characters, not a demo marker
PASSWORD = "Correct-Horse-42"
CUSTOMERS = {
    "C001": ("张三", "110101199001011234", "13812345678", "B100"),
    "C002": ("欧阳娜娜", "430102198502023456", "13987654321", "B110"),
    "C003": ("李四", "430103197703034567", "13700001111", "B200"),
}
#: role -> (username, branch): branch users sit in B100 (sees B100 + B110, not B200)
USERS = {
    "hq_admin": ("admin", None), "hq_analyst": ("analyst", None), "marketer": ("marketer", None),
    "branch_manager": ("manager", "B100"), "relationship_manager": ("rm", "B100"), "auditor": ("auditor", None),
}
OWN, FOREIGN = "C002", "C003"  # for the B100 users: a sub-branch customer and another branch's customer


def build_warehouse(path: Path) -> Any:
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    wh = connect(f"duckdb:///{path}")
    create_tables(wh)
    wh.sql("""INSERT INTO branch VALUES ('HQ', '总行', 'hq', NULL, '长沙', DATE '2000-01-01'),
        ('B100', '岳麓支行', 'branch', 'HQ', '长沙', DATE '2005-01-01'),
        ('B110', '梅溪湖分理处', 'sub_branch', 'B100', '长沙', DATE '2010-01-01'),
        ('B200', '株洲支行', 'branch', 'HQ', '株洲', DATE '2006-01-01')""")
    wh.sql("INSERT INTO product (product_id, name, category, provider, online_closable) VALUES "
           "('P1', '活期储蓄', 'deposit', 'bank', true), ('P2', '稳健理财', 'wealth', 'bank', true)")
    for i, (cid, (name, idn, phone, br)) in enumerate(CUSTOMERS.items()):
        wh.sql(f"""INSERT INTO customer (customer_id, name, id_number, phone, gender, birth_date, city,
            home_branch_id, onboarded_on, status) VALUES ('{cid}', '{name}', '{idn}', '{phone}', 'F',
            DATE '1990-01-01', '长沙', '{br}', DATE '2020-01-0{i + 1}', 'active')""")
        for j, (prod, kind, bal) in enumerate((("P1", "deposit", 12000 * (i + 1)), ("P2", "wealth", 300000 * (i + 1)))):
            aid = f"A{cid}{j}"
            wh.sql(f"""INSERT INTO account (account_id, customer_id, product_id, kind, branch_id, opened_on, status)
                VALUES ('{aid}', '{cid}', '{prod}', '{kind}', '{br}', DATE '2020-02-01', 'active')""")
            wh.sql(f"""INSERT INTO balance_monthly (account_id, month_end, balance, avg_daily_balance)
                VALUES ('{aid}', DATE '2026-10-31', {bal}, {bal})""")
    return wh


def _compute_tags(wh: Any) -> None:
    """A stored tag snapshot, so the 360 page reads it instead of computing tags on every request."""
    import datetime as dt

    try:
        from kequn.tags.catalog import default_catalog
        from kequn.tags.store import compute
    except ImportError:  # the tag system is not installed in this build: the 360 falls back to raw tables
        return
    compute(wh, dt.date(2026, 11, 29), default_catalog())


def build_opstore(path: Path) -> Any:
    from kequn.opstore import engine_for, migrate

    engine = engine_for(f"sqlite:///{path}")
    migrate(engine)
    return engine


def add_users(engine: Any) -> None:
    from kequn.services import users

    for role, (name, branch) in USERS.items():
        users.create_user(engine, name, role, password=PASSWORD, branch_id=branch, actor="test")


def settings(**kw: Any) -> Any:
    from kequn.settings import Settings

    return Settings(secret_key=kw.pop("secret_key", SECRET), demo=kw.pop("demo", False), **kw)


_TEMPLATES: dict[str, Path] = {}


def _fresh_copy(kind: str, dest: Path) -> Path:
    """Build the bank (or the migrated ops store with users) once per process; copy it for each test."""
    import shutil
    import tempfile

    if kind not in _TEMPLATES:
        src = Path(tempfile.mkdtemp(prefix="kequn-console-")) / dest.name
        if kind == "wh":
            wh = build_warehouse(src)
            _compute_tags(wh)
            wh.close()
        else:
            engine = build_opstore(src)
            add_users(engine)
            engine.dispose()
        _TEMPLATES[kind] = src
    shutil.copy(_TEMPLATES[kind], dest)
    return dest


def make_app(tmp_path: Path, **kw: Any) -> tuple[Any, Any, Any]:
    """(app, warehouse, ops engine) over a fresh bank with one user per role."""
    from kequn.api import create_app
    from kequn.opstore import engine_for
    from kequn.warehouse import connect

    wh = connect(f"duckdb:///{_fresh_copy('wh', tmp_path / 'wh.duckdb')}")
    engine = engine_for(f"sqlite:///{_fresh_copy('ops', tmp_path / 'ops.sqlite')}")
    return create_app(settings(), warehouse=wh, opstore=engine, **kw), wh, engine


def login(client: Any, username: str, password: str = PASSWORD) -> str:
    """Log in through the form (with its CSRF cookie); returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'id="login-csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    home = client.get("/docs")
    return re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
