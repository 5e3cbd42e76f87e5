"""`kequn init` and `kequn dq` with both stores on the real PostgreSQL server (settings from the
environment), run twice to show init is idempotent there too."""

from __future__ import annotations

import json

import pytest

from kequn.cli.main import main


@pytest.mark.postgres
def test_init_and_dq_with_both_stores_on_postgresql(pg_url, data_dir, monkeypatch, capsys):
    from kequn.settings import get_settings

    monkeypatch.setenv("KEQUN_WAREHOUSE_URL", pg_url)
    monkeypatch.setenv("KEQUN_OPSTORE_URL", pg_url)  # one database may hold both: no table names collide
    get_settings.cache_clear()
    assert main(["--json", "init"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["tables_created"]) == 22 and first["opstore_revision_before"] is None
    assert first["warehouse"].startswith("postgresql://") and not (data_dir / "warehouse.duckdb").exists()
    assert main(["--json", "init"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tables_created"] == [] and again["opstore_revision_before"] == first["opstore_revision"]

    from kequn.warehouse import open_default

    wh = open_default()
    try:
        wh.sql("INSERT INTO branch (branch_id, name, level, city) VALUES ('B1', '总行', 'hq', '杭州')")
        wh.sql("INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status) VALUES "
               "('C1', '张三', 'B1', '2024-01-01', 'active'), ('C2', '李四', 'B9', '2024-01-01', 'active')")
    finally:
        wh.close()
    assert main(["--json", "dq", "--as-of", "2024-06-30"]) == 1  # customer.home_branch.fk is blocking
    err = json.loads(capsys.readouterr().out)
    assert err["report"]["blocking_failed"] == ["customer.home_branch.fk"]
    statuses = {r["rule_id"]: r["status"] for r in err["report"]["results"]}
    assert statuses["customer.phone.completeness"] == "fail" and statuses["customer.customer_id.unique"] == "pass"
    assert main(["--json", "dq", "--history", "3"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["status"], run["blocking_failed"]) == ("failed", 1)
