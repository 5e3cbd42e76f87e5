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


def test_sandbox_redemptions_and_redeemed_conversions_on_postgresql(pg_url: str) -> None:
    """The ledger posting of sandbox redemptions (idempotent, budget-bound) and the reward_redeemed count on
    PostgreSQL, the review's cost from the ledger."""
    import datetime as dt

    from kequn.campaigns import observe, review, service
    from kequn.campaigns import tables as T
    from kequn.opstore import engine_for, migrate
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue
    from kequn.rewards.ledger import Ledger

    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    migrate(url)
    engine = engine_for(url)
    sync_catalogue(engine, load_catalogue())
    spec = service.parse_spec({
        "campaign_id": "pg-coupon", "name": "消费券", "audience": {"segment_id": "s"},
        "offer": {"kind": "reward", "code": "coupon", "name": "便利店券", "reward_id": "COUPON_002", "reward_fen": 500},
        "channels": [{"channel": "app_push", "template": "{offer_name}"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}})
    service.submit(engine, spec, "maker_a")
    Ledger(engine).fund("fund-pg-coupon", "pg-coupon", 1_000)  # two coupons of ¥5
    day = dt.date(2026, 11, 2)
    with engine.begin() as conn:
        conn.execute(T.campaign_run.insert().values(run_id="p1", campaign_id="pg-coupon", version=1, started_at=NOW,
                                                    as_of=day, counts="{}"))
        conn.execute(T.assignment.insert(), [dict(run_id="p1", campaign_id="pg-coupon", customer_id=f"K{i}",
                                                  arm="treatment" if i < 8 else "control", branch_id="B1", eligible=1)
                                             for i in range(10)])
        conn.execute(T.response.insert(), [dict(run_id="p1", campaign_id="pg-coupon", customer_id=f"K{i}",
                                                arm="treatment" if i < 8 else "control", converted=int(i < 3),
                                                redeemed=int(i < 3), amount=0, source="sandbox", observed_at=NOW)
                                           for i in range(10)])
    first = observe.post_sandbox_redemptions(engine, "p1", spec, day)
    assert first == {"redeemed": 3, "posted": 2, "replayed": 0, "refused": {"budget_exhausted": 1},
                     "reward_id": "COUPON_002"}
    again = observe.post_sandbox_redemptions(engine, "p1", spec, day)
    assert again["posted"] == 0 and again["replayed"] == 2  # the refused one was set back to redeemed 0
    got = observe.observe_redeemed(engine, "p1", spec.conversion_kinds()[0], day, spec.window_days)
    assert got == {"observed": 10, "converted": 2}
    res = review.campaign_result(engine, "pg-coupon", ["p1"], spec.model_dump(mode="json"))
    assert res["reward_cost_source"] == "ledger" and res["reward_cost_fen"] == 1_000 and res["redeemed"] == 2
    assert res["conversions"]["reward_redeemed"]["arms"]["treatment"]["conversions"] == 2
    engine.dispose()
