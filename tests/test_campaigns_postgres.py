"""The campaign tables and their writers on the real PostgreSQL server: bulk outbox writes, the sender
against a fake gateway, event dedup (ON CONFLICT), leads with the lost-needs-a-reason constraint."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from test_channels_sms import NOW, FakeGateway, _directory


def test_campaigns_on_postgresql(pg_url: str) -> None:
    from kequn.campaigns import events, leads, service
    from kequn.campaigns import tables as T
    from kequn.campaigns.sender import Sender
    from kequn.campaigns.writer import _bulk
    from kequn.channels.http import sms_gateway
    from kequn.opstore import downgrade, engine_for, migrate

    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    migrate(url)
    engine = engine_for(url)
    service.submit(engine, service.parse_spec({
        "campaign_id": "sms-1", "name": "短信", "audience": {"segment_id": "s"},
        "offer": {"kind": "reward", "code": "coupon", "name": "消费券"},
        "channels": [{"channel": "sms", "template": "{surname_title}，{offer_name}。回T退订"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}}), "maker_a")
    with engine.begin() as conn:
        _bulk(conn, T.outbox, ["send_key", "run_id", "campaign_id", "customer_id", "channel", "transactional",
                               "status", "attempts", "not_before", "created_at"],
              [(f"r|K{i:04d}|sms", "r", "sms-1", f"K{i:04d}", "sms", 0, "pending", 0, NOW, NOW) for i in range(10)])
    with FakeGateway() as gw:
        stats = Sender(engine, {"sms": sms_gateway(gw.url)}, _directory(10), clock=lambda: NOW).run()
    assert stats.sent == 10 and len(gw.held) == 10
    evs = [{"event_id": f"e{i}", "customer_id": "K0001", "touchpoint_id": "TP-APP-001", "channel": "app",
            "ts": NOW} for i in range(5)]
    assert len(events.ingest(engine, evs)) == 5 and events.ingest(engine, evs) == []
    from kequn.campaigns.directory import DictDirectory

    d = DictDirectory({"K1": {"branch_id": "B1", "rm_id": "R1"}}, {"B1": {"rms": ["R1"], "manager": "M1"}})
    with engine.begin() as conn:
        (lead_id,) = leads.create(conn, [{"source": "manual", "source_ref": "x1", "customer_id": "K1",
                                          "product": "insurance"}], d, now=NOW)
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(T.lead.update().where(T.lead.c.id == lead_id).values(status="lost"))
    assert leads.get(engine, lead_id)["rm_id"] == "R1"
    engine.dispose()
    downgrade(url, "0011_model_registry")
    check = engine_for(url)
    assert not sa.inspect(check).has_table("outbox")
    check.dispose()
