"""Ops store on real SQLite and real PostgreSQL: every migration up and down, the append-only audit log
enforced by the database, and maker ≠ checker enforced twice (service and CHECK constraint)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from kequn.errors import ConflictError, PermissionDenied, ValidationError
from kequn.opstore import approvals, audit, current_revision, downgrade, engine_for, head_revision, migrate

KEQUN_TABLES = {"audit_log", "change_request", "dq_run", "dq_result"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sub' / 'ops.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg://")
    eng = engine_for(url)
    yield eng
    eng.dispose()


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_every_migration_runs_up_down_up(engine):
    assert current_revision(engine) is None
    migrate(engine, "0001_initial")
    assert _tables(engine) == KEQUN_TABLES
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) >= KEQUN_TABLES
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert _tables(engine) == set()
    migrate(engine)
    assert _tables(engine) >= KEQUN_TABLES
    migrate(engine)  # idempotent at head
    assert current_revision(engine) == head_revision()


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path):
    eng = engine_for(f"sqlite:///{tmp_path / 'ops.sqlite'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    migrate(eng)
    with pytest.raises(DBAPIError), eng.begin() as conn:  # dq_result.run_id → dq_run.id is enforced
        conn.exec_driver_sql("INSERT INTO dq_result (run_id, rule_id, table_name, kind, severity, status) "
                             "VALUES (999, 'r', 't', 'completeness', 'warning', 'pass')")


def test_audit_log_is_append_only_in_the_database(engine):
    migrate(engine)
    first = audit.record(engine, "alice", "customer.unmask", "customer:C001", reason="complaint #12",
                         details={"columns": ["phone"]})
    audit.record(engine, "bob", "export", "segment:young_families")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE id = :i"), {"i": first})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log"))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_log"))
    rows = audit.entries(engine)
    assert [(e.actor, e.action) for e in rows] == [("bob", "export"), ("alice", "customer.unmask")]
    assert rows[1].details == {"columns": ["phone"]} and rows[1].reason == "complaint #12"


def test_maker_checker_story(engine):
    migrate(engine)
    r1 = approvals.submit(engine, "dq_rule", "customer.phone.completeness", 1, {"max_null_rate": 0.05}, "alice")
    assert r1.status == "draft" and approvals.current(engine, "dq_rule", r1.item_id) is None
    assert [p.id for p in approvals.pending(engine, "dq_rule")] == [r1.id]
    with pytest.raises(PermissionDenied, match="maker ≠ checker"):
        approvals.approve(engine, r1.id, "alice")
    approved = approvals.approve(engine, r1.id, "bob")
    assert (approved.status, approved.checker) == ("approved", "bob") and approved.decided_at is not None
    with pytest.raises(ConflictError, match="already approved"):
        approvals.reject(engine, r1.id, "carol", "too late")
    with pytest.raises(ConflictError, match="already submitted"):
        approvals.submit(engine, "dq_rule", r1.item_id, 1, {}, "alice")

    r2 = approvals.submit(engine, "dq_rule", r1.item_id, 2, {"max_null_rate": 0.5}, "alice")
    rejected = approvals.reject(engine, r2.id, "carol", "50% missing phones is not acceptable")
    assert rejected.status == "rejected"
    assert approvals.current(engine, "dq_rule", r1.item_id).payload == {"max_null_rate": 0.05}
    assert approvals.pending(engine) == []
    with pytest.raises(ValidationError):
        approvals.submit(engine, "tag", "", 0, {}, "alice")
    actions = [(e.actor, e.action) for e in audit.entries(engine, target=f"dq_rule:{r1.item_id}@v1")]
    assert actions == [("bob", "change_request.approve"), ("alice", "change_request.submit")]


def test_database_refuses_maker_as_checker_even_bypassing_the_service(engine):
    migrate(engine)
    req = approvals.submit(engine, "segment", "payroll_young", 1, {"rule": "age < 30"}, "alice")
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(sa.text("UPDATE change_request SET status = 'approved', checker = maker, "
                             "decided_at = CURRENT_TIMESTAMP WHERE id = :i"), {"i": req.id})
    assert approvals.get(engine, req.id).status == "draft"


def test_unreachable_or_unknown_stores_give_one_line_errors(tmp_path):
    from kequn.errors import ConfigError, StoreError

    with pytest.raises(ConfigError, match="unsupported ops-store URL 'mysql://x'"):
        engine_for("mysql://x")
    with pytest.raises(StoreError, match="upgrade to 'no_such_rev' failed") as info:
        migrate(f"sqlite:///{tmp_path / 'ops.sqlite'}", "no_such_rev")
    assert "\n" not in info.value.message
