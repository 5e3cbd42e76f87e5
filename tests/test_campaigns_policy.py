"""The contact policy: the pure reference, the vectorised Ibis path, and property tests that no contact
ever breaks consent, opt-out, no-personalisation, quiet hours or caps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kequn.domain.campaigns import (
    ContactFacts,
    ContactRequest,
    PolicyConfig,
    arm_of,
    choose,
    decide,
    in_quiet_hours,
    next_allowed,
    sms_segments,
    template_problems,
)

CFG = PolicyConfig()
DAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
NIGHT = dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC)  # 22:30 in Shanghai


def _req(channel: str = "sms", at: dt.datetime = DAY, **kw: Any) -> ContactRequest:
    return ContactRequest("c1", "K1", channel, at, **kw)


def test_sms_needs_its_own_opt_in_but_push_accepts_any() -> None:
    any_only = ContactFacts("K1", consent={"any": True})
    assert decide(_req("sms"), any_only, CFG).reason == "no_consent"
    assert decide(_req("call"), any_only, CFG).reason == "no_consent"
    assert decide(_req("app_push"), any_only, CFG).allowed
    assert decide(_req("app_push"), ContactFacts("K1"), CFG).reason == "no_consent"  # none = no marketing
    withdrawn = ContactFacts("K1", consent={"app_push": False, "any": True})
    assert decide(_req("app_push"), withdrawn, CFG).reason == "no_consent"  # the channel's own refusal wins


def test_rules_in_order_and_transactional_exempt() -> None:
    f = ContactFacts("K1", consent={"sms": True}, opted_out=frozenset({"sms"}), no_personalisation=True,
                     recent={"sms": 9})
    assert decide(_req(), f, CFG).reason == "opted_out"
    assert decide(_req(), ContactFacts("K1", consent={"sms": True}, no_personalisation=True), CFG).reason == \
        "no_personalisation"
    assert decide(_req(personalised=False), ContactFacts("K1", consent={"sms": True}, no_personalisation=True),
                  CFG).allowed
    assert decide(_req(), ContactFacts("K1", consent={"sms": True}, recent={"sms": 2}), CFG).reason == "frequency_cap"
    assert decide(_req(at=NIGHT), ContactFacts("K1", consent={"sms": True}), CFG).reason == "quiet_hours"
    v = decide(_req(at=NIGHT, transactional=True), f, CFG)
    assert v.allowed and v.transactional


def test_quiet_hours_wrap_midnight_and_defer_to_8am() -> None:
    assert in_quiet_hours(NIGHT, CFG) and not in_quiet_hours(DAY, CFG)
    nxt = next_allowed(NIGHT, CFG)
    assert nxt == dt.datetime(2026, 11, 3, 0, 0, tzinfo=dt.UTC)  # 08:00 Shanghai next morning
    assert not in_quiet_hours(nxt, CFG) and next_allowed(DAY, CFG) == DAY


def test_templates_checked_for_opt_out_text_length_and_variables() -> None:
    assert template_problems("sms", "您好{surname_title}，回T退订") == []
    assert any("回T退订" in p for p in template_problems("sms", "您好"))
    assert any("unknown template variable" in p for p in template_problems("app_push", "{balance}"))
    assert any("too long" in p for p in template_problems("sms", "字" * 200 + "回T退订"))
    assert sms_segments("字" * 70) == 1 and sms_segments("字" * 71) == 2


def test_arms_are_sticky_and_the_holdout_is_bank_wide() -> None:
    arms = [arm_of(f"K{i}", "camp-a", 0.2, 0.05) for i in range(4000)]
    assert arms == [arm_of(f"K{i}", "camp-a", 0.2, 0.05) for i in range(4000)]
    assert 0.03 < arms.count("holdout") / 4000 < 0.07
    assert 0.15 < arms.count("control") / 4000 < 0.25
    held = {i for i, a in enumerate(arms) if a == "holdout"}
    assert held == {i for i in range(4000) if arm_of(f"K{i}", "camp-b", 0.5, 0.05) == "holdout"}


# ----------------------------------------------------------------- vectorised path vs the reference
CHS = ("sms", "app_push", "wechat_work", "call", "email")
consent_state = st.sampled_from([None, True, False])
customer = st.fixed_dictionaries({
    "consent": st.fixed_dictionaries({ch: consent_state for ch in (*CHS, "any")}),
    "no_pers": st.booleans(),
    "opted": st.lists(st.sampled_from((*CHS, "any")), max_size=2, unique=True),
    "recent": st.fixed_dictionaries({ch: st.integers(0, 3) for ch in CHS}),
})


@pytest.fixture(scope="module")
def stores(tmp_path_factory: Any) -> Any:
    from kequn.opstore import engine_for, migrate
    from kequn.warehouse import connect
    from kequn.warehouse.schema import create_tables

    root = tmp_path_factory.mktemp("policy")
    wh = connect(f"duckdb:///{root / 'wh.duckdb'}")
    create_tables(wh)
    url = f"sqlite:///{root / 'ops.sqlite'}"
    migrate(url)
    return wh, engine_for(url)


def _load(wh: Any, engine: Any, customers: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import sqlalchemy as sa

    from kequn.campaigns import tables as T

    con = wh.con.con
    con.execute("DELETE FROM consent")
    con.execute("DELETE FROM customer")
    ids = [f"K{i:04d}" for i in range(len(customers))]
    con.register("cust_in", pa.table({"customer_id": ids}))
    con.execute("INSERT INTO customer (customer_id, name, home_branch_id, onboarded_on, status) "
                "SELECT customer_id, '张三', 'B0101', DATE '2020-01-01', 'active' FROM cust_in")
    rows = []
    for cid, c in zip(ids, customers, strict=True):
        for ch, state in c["consent"].items():
            if state is not None:  # an older opposite record first: the latest one must win
                rows += [(f"{cid}-{ch}-0", cid, "marketing", ch, "withdrawn" if state else "granted", "2024-01-01 09:00:00"),
                         (f"{cid}-{ch}-1", cid, "marketing", ch, "granted" if state else "withdrawn", "2025-01-01 09:00:00")]
        rows.append((f"{cid}-p", cid, "personalisation", "any", "withdrawn" if c["no_pers"] else "granted",
                     "2025-01-01 09:00:00"))
    con.executemany("INSERT INTO consent VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), 'app')", rows)
    with engine.begin() as conn:
        conn.execute(T.opt_out.delete())
        conn.execute(T.outbox.delete())
        conn.execute(T.campaign.delete())
        for cid, c in zip(ids, customers, strict=True):
            for ch in c["opted"]:
                conn.execute(T.opt_out.insert().values(customer_id=cid, channel=ch, source="sms_reply", at=DAY))
            for ch, n in c["recent"].items():
                for k in range(n):
                    conn.execute(T.outbox.insert().values(
                        send_key=f"old|{cid}|{ch}|{k}", run_id="old", campaign_id="older", customer_id=cid, channel=ch,
                        transactional=0, status="sent", attempts=1, not_before=DAY, created_at=DAY - dt.timedelta(days=1)))
        assert conn.execute(sa.select(sa.func.count()).select_from(T.opt_out)).scalar_one() == sum(
            len(c["opted"]) for c in customers)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customers=st.lists(customer, min_size=1, max_size=12),
       channels=st.lists(st.sampled_from(CHS), min_size=1, max_size=3, unique=True),
       personalised=st.booleans())
def test_vectorised_policy_equals_the_reference_and_never_breaks_a_rule(stores: Any, customers: list[dict[str, Any]],
                                                                        channels: list[str], personalised: bool) -> None:
    from kequn.campaigns import policy, service

    wh, engine = stores
    _load(wh, engine, customers)
    spec = service.parse_spec({
        "campaign_id": "prop", "name": "p", "personalised": personalised, "audience": {"segment_id": "x"},
        "offer": {"kind": "reward", "code": "coupon", "name": "券"}, "control_share": 0.0, "holdout_share": 0.0,
        "channels": [{"channel": ch, "template": "回T退订"} for ch in channels],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}})
    c = wh.table("customer")
    audience = c.select("customer_id", branch_id=c.home_branch_id)
    got = {r["customer_id"]: (r["channel"], r["reason"])
           for r in policy.plan(wh, engine, spec, audience, now=DAY, cfg=CFG).to_pyarrow().to_pylist()}
    for i, cust in enumerate(customers):
        cid = f"K{i:04d}"
        facts = ContactFacts(cid, consent={k: v for k, v in cust["consent"].items() if v is not None},
                             opted_out=frozenset(cust["opted"]), no_personalisation=cust["no_pers"],
                             recent=cust["recent"])
        assert got[cid] == choose("prop", cid, channels, DAY, facts, CFG, personalised=personalised), cid
        ch, _reason = got[cid]
        if ch is not None:  # an allowed contact breaks nothing
            own = cust["consent"][ch]
            assert own is True or (own is None and ch not in ("sms", "call") and cust["consent"]["any"] is True)
            assert ch not in cust["opted"] and "any" not in cust["opted"]
            assert cust["recent"][ch] < CFG.caps[ch]
            assert not (personalised and cust["no_pers"])


class _Recorder:
    """A channel that records the moment of every send (and holds keys, like an idempotent provider)."""

    name = "app_push"

    def __init__(self, clock: Any) -> None:
        from kequn.channels.base import Capabilities

        self.capabilities = Capabilities(lookup=True, idempotent=True)
        self.clock = clock
        self.log: list[tuple[str, dt.datetime]] = []

    def send(self, messages: list[Any]) -> list[Any]:
        from kequn.channels.base import SendResult

        self.log += [(m.send_key, self.clock()) for m in messages]
        return [SendResult(m.send_key, True, provider_id=m.send_key) for m in messages]

    def lookup(self, send_key: str) -> Any:
        return None

    def receipts(self) -> list[Any]:
        return []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes=st.lists(st.integers(0, 3 * 24 * 60), min_size=1, max_size=8),
       transactional=st.booleans())
def test_sender_never_contacts_in_quiet_hours(stores: Any, minutes: list[int], transactional: bool) -> None:
    """Whatever the moments the send job runs at, a marketing contact is made only outside 21:00–08:00
    local time, and each exactly once; a transactional one may go at any time."""
    from kequn.campaigns import service
    from kequn.campaigns import tables as T
    from kequn.campaigns.directory import DictDirectory
    from kequn.campaigns.sender import Sender

    _wh, engine = stores
    with engine.begin() as conn:
        for t in (T.outbox, T.campaign, T.opt_out, T.send_attempt):
            conn.execute(t.delete())
    spec = service.parse_spec({
        "campaign_id": "quiet", "name": "q", "transactional": transactional, "audience": {"segment_id": "x"},
        "offer": {"kind": "reward", "code": "coupon", "name": "券"},
        "channels": [{"channel": "app_push", "template": "{offer_name}"}],
        "schedule": {"kind": "one_off", "at": "2026-11-02T10:00:00+08:00"}})
    start = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)  # 20:00 Shanghai
    with engine.begin() as conn:
        conn.execute(T.campaign.insert().values(campaign_id="quiet", version=1, name="q", spec=spec.model_dump_json(),
                                                status="live", priority=0, created_by="m", created_at=start))
        conn.execute(T.outbox.insert(), [dict(send_key=f"q|K{i}", run_id="q", campaign_id="quiet", customer_id=f"K{i}",
                                              channel="app_push", transactional=int(transactional), status="pending",
                                              attempts=0, not_before=start, created_at=start) for i in range(3)])
    now = [start]
    rec = _Recorder(lambda: now[0])
    sender = Sender(engine, {"app_push": rec}, DictDirectory({}), clock=lambda: now[0])
    for m in [*sorted(minutes), 4 * 24 * 60 - 6 * 60]:  # the last run is at 14:00 local: everything due goes
        now[0] = start + dt.timedelta(minutes=m)
        sender.run()
    keys = [k for k, _ in rec.log]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 3
    if not transactional:
        assert not any(in_quiet_hours(at, CFG) for _, at in rec.log)
