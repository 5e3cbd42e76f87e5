"""e+ rewards over HTTP and in the console: catalogue, hot rewards, members (branch-scoped, masked),
redemption with idempotency, reversal, budgets in yuan, blind boxes, draws, allocation — on a real DuckDB
bank and a migrated SQLite ops store (tests/test_api_support.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from test_api_support import FOREIGN, OWN, login, make_app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from kequn.rewards.catalogue import load_catalogue, sync_catalogue
    from kequn.rewards.ledger import Ledger

    app, wh, engine = make_app(tmp_path_factory.mktemp("rewards"))
    specs = load_catalogue()
    sync_catalogue(engine, specs)
    ledger = Ledger(engine)
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    for cid in (OWN, FOREIGN):
        ledger.earn(f"seed-earn-{cid}", cid, 50_000, expires_at=far)
    cheap = min((s for s in specs if s.min_tier == 0 and s.active and (s.stock is None or s.stock > 5)
                 and s.valid_from is None and s.valid_to is None and s.points_price > 0),
                key=lambda s: s.points_price)
    return {"app": app, "engine": engine, "ledger": ledger, "cheap": cheap, "specs": specs}


def _client(world: dict[str, Any], user: str) -> tuple[Any, dict[str, str]]:
    """One logged-in client per user for the module (the login rate limiter counts every login)."""
    from fastapi.testclient import TestClient

    clients = world.setdefault("clients", {})
    if user not in clients:
        client = TestClient(world["app"])
        clients[user] = (client, {"X-CSRF-Token": login(client, user)})
    return clients[user]


def test_catalogue_and_boxes_show_money_in_yuan(world: dict[str, Any]) -> None:
    client, h = _client(world, "rm")
    cat = client.get("/api/rewards/catalogue", headers=h).json()
    assert len(cat) == len(world["specs"])
    by_id = {r["reward_id"]: r for r in cat}
    for s in world["specs"]:
        assert Decimal(by_id[s.reward_id]["cost_yuan"]) == Decimal(s.cost_fen) / 100
    boxes = client.get("/api/rewards/boxes", headers=h).json()
    assert boxes
    for b in boxes:
        weights = [Decimal(str(p["weight"])) for p in b["prizes"]]
        want = sum(w * Decimal(p["cost_yuan"]) for w, p in zip(weights, b["prizes"], strict=True)) / sum(weights)
        assert abs(Decimal(b["expected_cost_yuan"]) - want) <= Decimal("0.01")


def test_redeem_is_idempotent_and_shows_on_member_and_hot(world: dict[str, Any]) -> None:
    client, h = _client(world, "rm")
    cheap = world["cheap"]
    before = client.get(f"/api/rewards/members/{OWN}", headers=h).json()
    body = {"key": f"t-redeem-{OWN}-1", "reward_id": cheap.reward_id}
    first = client.post(f"/api/rewards/members/{OWN}/redeem", json=body, headers=h)
    again = client.post(f"/api/rewards/members/{OWN}/redeem", json=body, headers=h)
    assert first.status_code == 200, first.text
    assert again.json()["replayed"] is True and again.json()["txn_id"] == first.json()["txn_id"]
    after = client.get(f"/api/rewards/members/{OWN}", headers=h).json()
    assert after["balance"] == before["balance"] - cheap.points_price
    assert after["name"] and "*" in after["name"]  # masked
    assert any(r["reward_id"] == cheap.reward_id and r["status"] == "redeemed" for r in after["redemptions"])
    hot = client.get("/api/rewards/hot", headers=h).json()
    assert cheap.reward_id in [r["reward_id"] for r in hot]
    clash = client.post(f"/api/rewards/members/{OWN}/redeem", json={**body, "reward_id": world["specs"][-1].reward_id},
                        headers=h)
    assert clash.status_code == 409


def test_member_routes_are_branch_scoped(world: dict[str, Any]) -> None:
    client, h = _client(world, "rm")  # B100: sees C002 (B110), not C003 (B200)
    assert client.get(f"/api/rewards/members/{FOREIGN}", headers=h).status_code == 404
    r = client.post(f"/api/rewards/members/{FOREIGN}/redeem", headers=h,
                    json={"key": "t-foreign-1", "reward_id": world["cheap"].reward_id})
    assert r.status_code == 404
    assert client.get(f"/rewards/members/{FOREIGN}", headers=h).status_code == 404
    # a foreign member's redemption cannot be reversed through its id either
    res = world["ledger"]
    from kequn.rewards.catalogue import redeem

    rid = redeem(res, "t-foreign-redeem", FOREIGN, world["cheap"].reward_id).details["redemption_id"]
    r = client.post(f"/api/rewards/redemptions/{rid}/reverse", headers=h, json={"key": "t-rev-foreign", "reason": "误操作"})
    assert r.status_code == 404


def test_reverse_restores_points(world: dict[str, Any]) -> None:
    client, h = _client(world, "manager")
    cheap = world["cheap"]
    red = client.post(f"/api/rewards/members/{OWN}/redeem", headers=h,
                      json={"key": "t-redeem-rev-1", "reward_id": cheap.reward_id}).json()
    bal = client.get(f"/api/rewards/members/{OWN}", headers=h).json()["balance"]
    rid = red["details"]["redemption_id"]
    r = client.post(f"/api/rewards/redemptions/{rid}/reverse", headers=h, json={"key": "t-reverse-1", "reason": "客户取消"})
    assert r.status_code == 200, r.text
    m = client.get(f"/api/rewards/members/{OWN}", headers=h).json()
    assert m["balance"] == bal + cheap.points_price
    assert {x["redemption_id"]: x["status"] for x in m["redemptions"]}[rid] == "reversed"
    again = client.post(f"/api/rewards/redemptions/{rid}/reverse", headers=h, json={"key": "t-reverse-2", "reason": "再次"})
    assert again.status_code == 409
    assert world["ledger"].verify() == []


def test_fund_budget_draw_and_allocate(world: dict[str, Any]) -> None:
    mk, hm = _client(world, "marketer")
    r = mk.post("/api/rewards/budgets/SPRING26/fund", headers=hm, json={"key": "t-fund-spring", "amount_yuan": "1234.50"})
    assert r.status_code == 200, r.text
    assert r.json()["balance_yuan"] == "1234.50"
    budgets = {b["campaign_id"]: b for b in mk.get("/api/rewards/budgets", headers=hm).json()}
    assert budgets["SPRING26"]["balance_yuan"] == "1234.50"
    box = mk.get("/api/rewards/boxes", headers=hm).json()[0]
    rm, hr = _client(world, "rm")
    d = rm.post(f"/api/rewards/members/{OWN}/draw", headers=hr,
                json={"key": "t-draw-1", "box_id": box["box_id"], "campaign_id": "SPRING26"})
    assert d.status_code == 200, d.text
    prize = d.json()["prize"]
    assert prize["reward_id"] in {p["reward_id"] for p in box["prizes"]} | {box["fallback"]}
    left = {b["campaign_id"]: b for b in mk.get("/api/rewards/budgets", headers=hm).json()}["SPRING26"]
    assert Decimal(left["balance_yuan"]) == Decimal("1234.50") - Decimal(prize["cost_yuan"])
    # allocation: within budget, at most one reward per customer
    cands = [{"customer_id": c, "reward_id": rw, "uplift": u, "cost_yuan": str(cost)}
             for c, rw, u, cost in (("C1", "A", 30, 10), ("C1", "B", 50, 40), ("C2", "A", 20, 10), ("C3", "A", 1, 10))]
    a = mk.post("/api/rewards/allocate", headers=hm, json={"budget_yuan": "25", "candidates": cands}).json()
    assert Decimal(a["spent_yuan"]) <= 25
    chosen = [c["customer_id"] for c in a["chosen"]]
    assert len(chosen) == len(set(chosen)) and set(chosen) == {"C1", "C2"}


def test_permissions_follow_roles(world: dict[str, Any]) -> None:
    rm, hr = _client(world, "rm")
    assert rm.post("/api/rewards/budgets/X/fund", headers=hr, json={"key": "t-fund-rm-1", "amount_yuan": "1"}).status_code == 403
    mk, hm = _client(world, "marketer")
    r = mk.post(f"/api/rewards/members/{OWN}/redeem", headers=hm, json={"key": "t-marketer-1", "reward_id": "x"})
    assert r.status_code == 403
    admin, ha = _client(world, "admin")
    assert admin.get("/api/rewards/catalogue", headers=ha).status_code == 403
    bad = rm.post(f"/api/rewards/members/{OWN}/redeem", headers=hr, json={"reward_id": world["cheap"].reward_id})
    assert bad.status_code == 422  # the idempotency key is required


def test_pages_render_and_forms_post(world: dict[str, Any]) -> None:
    rm, hr = _client(world, "rm")
    page = rm.get(f"/rewards/members/{OWN}")
    assert page.status_code == 200 and 'id="statement"' in page.text and 'id="redeem"' in page.text
    assert "欧阳**" in page.text and "欧阳娜娜" not in page.text
    assert f'href="/rewards/members/{OWN}"' in rm.get(f"/customers/{OWN}").text
    bal = rm.get(f"/api/rewards/members/{OWN}").json()["balance"]
    r = rm.post(f"/rewards/members/{OWN}/redeem", data={"csrf_token": hr["X-CSRF-Token"], "key": "t-form-redeem-1",
                                                          "reward_id": world["cheap"].reward_id}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert rm.get(f"/api/rewards/members/{OWN}").json()["balance"] == bal - world["cheap"].points_price
    rid = rm.get(f"/api/rewards/members/{OWN}").json()["redemptions"][0]["redemption_id"]
    assert f'action="/rewards/redemptions/{rid}/reverse"' in rm.get(f"/rewards/members/{OWN}").text
    r = rm.post(f"/rewards/redemptions/{rid}/reverse", data={"csrf_token": hr["X-CSRF-Token"], "key": "t-form-reverse-1",
                                                              "reason": "客户退回"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/rewards/members/{OWN}"
    assert rm.get(f"/api/rewards/members/{OWN}").json()["balance"] == bal
    cat = rm.get("/rewards")
    assert cat.status_code == 200 and world["cheap"].reward_id in cat.text and 'href="/rewards"' in cat.text
    assert 'id="box-' in rm.get("/rewards/boxes").text
    assert "rw_" not in rm.get("/rewards/budgets").text  # every label translated
    mk, hm = _client(world, "marketer")
    r = mk.post("/rewards/budgets/fund", data={"csrf_token": hm["X-CSRF-Token"], "key": "t-form-fund-1",
                                              "campaign_id": "FORM26", "amount_yuan": "88.80"}, follow_redirects=False)
    assert r.status_code == 303
    assert "88.80" in mk.get("/rewards/budgets").text
    r = mk.post("/rewards/budgets/fund", data={"csrf_token": hm["X-CSRF-Token"], "key": "t-form-fund-2",
                                              "campaign_id": "FORM26", "amount_yuan": "-5"}, follow_redirects=False)
    assert r.status_code == 422
    # a blind-box draw from the member page, paid by the budget funded above
    box = rm.get("/api/rewards/boxes").json()[0]
    spent = rm.get(f"/api/rewards/members/{OWN}").json()["balance"]
    r = rm.post(f"/rewards/members/{OWN}/draw", data={"csrf_token": hr["X-CSRF-Token"], "key": "t-form-draw-1",
                                                       "box_id": box["box_id"], "campaign_id": "FORM26"},
                follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    assert rm.get(f"/api/rewards/members/{OWN}").json()["balance"] == spent - box["points_price"]
