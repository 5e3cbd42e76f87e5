"""The enterprise panorama (全景图) draws the B→C graph and the G→B→C chain as SVG: its nodes, edges and
node attributes equal independent SQL on the small random bank of tests/test_segments_bank.py; names are
masked; a branch-bound user sees only their branches' employees; big enterprises are capped ("+M").

Half of the bank's customers are moved to a second branch B2 so the branch scope has something to hide."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from test_api_support import PASSWORD, add_users, login, settings
from test_segments_bank import AS_OF, _insert, build

FIRST = AS_OF - dt.timedelta(days=30)  # "on payroll" = paid in the 31 days ending on the day
SNAP = f"(SELECT * FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF}')"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from kequn.api import create_app
    from kequn.opstore import engine_for, migrate
    from kequn.services import users
    from kequn.warehouse import connect

    tmp = tmp_path_factory.mktemp("pano")
    wh = connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    build(wh)
    _insert(wh, "branch", [{"branch_id": "B2", "name": "株洲分行", "level": "branch", "city": "株洲"}])
    wh.con.con.execute("UPDATE customer SET home_branch_id = 'B2' WHERE CAST(substr(customer_id, 2) AS INT) % 2 = 1")
    engine = engine_for(f"sqlite:///{tmp / 'ops.sqlite'}")
    migrate(engine)
    add_users(engine)
    users.create_user(engine, "analyst_b2", "hq_analyst", password=PASSWORD, branch_id="B2", actor="test")
    app = create_app(settings(), warehouse=wh, opstore=engine)
    clients = {}
    for name in ("analyst", "analyst_b2"):
        c = TestClient(app)
        login(c, name)
        clients[name] = c
    return {"wh": wh, "clients": clients}


def _sql(wh: Any, query: str) -> list[tuple[Any, ...]]:
    return wh.con.con.execute(query).fetchall()


def _employees(wh: Any, enterprise: str, branch: str | None = None) -> dict[str, dict[str, Any]]:
    """Independent SQL: employees on payroll, product categories held, app activity, AUM and tier."""
    rows = _sql(wh, f"""
        WITH emp AS (SELECT DISTINCT i.customer_id FROM payroll_item i JOIN payroll_batch b USING (batch_id)
                     WHERE b.enterprise_id = '{enterprise}' AND b.pay_date BETWEEN DATE '{FIRST}' AND DATE '{AS_OF}'),
        held AS (SELECT customer_id, product_id FROM account WHERE opened_on <= DATE '{AS_OF}'
                   AND (closed_on IS NULL OR closed_on > DATE '{AS_OF}') AND status <> 'closed'
                 UNION SELECT customer_id, product_id FROM holding WHERE start_date <= DATE '{AS_OF}'
                   AND (end_date IS NULL OR end_date >= DATE '{AS_OF}')),
        cats AS (SELECT h.customer_id, count(DISTINCT p.category) AS n FROM held h JOIN product p USING (product_id)
                 GROUP BY h.customer_id),
        app AS (SELECT DISTINCT customer_id FROM event WHERE channel = 'app'
                AND ts >= TIMESTAMP '{AS_OF - dt.timedelta(days=29)} 00:00:00'
                AND ts < TIMESTAMP '{AS_OF + dt.timedelta(days=1)} 00:00:00')
        SELECT e.customer_id, c.home_branch_id, coalesce(cats.n, 0), app.customer_id IS NOT NULL, s.aum, s.aum_tier
        FROM emp e JOIN customer c USING (customer_id) LEFT JOIN cats USING (customer_id)
        LEFT JOIN app USING (customer_id) LEFT JOIN {SNAP} s USING (customer_id)""")
    return {r[0]: {"branch": r[1], "products": r[2], "app": int(r[3]), "aum": r[4], "tier": r[5] or ""}
            for r in rows if branch is None or r[1] == branch}


def _svg(page: str, element_id: str) -> str:
    m = re.search(rf'<svg id="{element_id}".*?</svg>', page, re.S)
    assert m, f"no <svg id={element_id}> on the page"
    return m.group(0)


def _nodes(svg: str, kind: str) -> list[dict[str, str]]:
    out = []
    for attrs in re.findall(rf'<g class="node" data-kind="{kind}" ([^>]*)>', svg):
        out.append(dict(re.findall(r'([a-z-]+)="([^"]*)"', attrs)))
    return out


def _edges(svg: str) -> list[tuple[str, str]]:
    return re.findall(r'<line class="edge" data-from="([^"]*)" data-to="([^"]*)"', svg)


def test_graph_draws_every_employee_with_sql_attributes(world: dict[str, Any]) -> None:
    wh, c = world["wh"], world["clients"]["analyst"]
    page = c.get(f"/panorama/E0?as_of={AS_OF}")
    assert page.status_code == 200 and "<script>" not in page.text
    svg = _svg(page.text, "pano-graph")
    want = _employees(wh, "E0")
    assert len(want) > 5
    centre = _nodes(svg, "enterprise")
    assert [n["data-id"] for n in centre] == ["E0"]
    drawn = {n["data-id"]: n for n in _nodes(svg, "employee")}
    assert set(drawn) == set(want)  # fewer than the cap: everyone, nobody else
    assert not _nodes(svg, "more")
    assert sorted(_edges(svg)) == sorted(("E0", cid) for cid in want)
    for cid, n in drawn.items():
        assert (int(n["data-products"]), int(n["data-app"]), n["data-tier"]) == \
            (want[cid]["products"], want[cid]["app"], want[cid]["tier"]), cid
    assert re.search(rf'id="graph-drawn">{len(want)}<', page.text)
    # the table is kept: one row per employee
    assert len(re.findall(r"<td>E0</td><td>→</td>", page.text)) == len(want)
    for full in ("张三", "李四", "欧阳娜娜"):
        assert full not in page.text  # names (also the SVG labels and tooltips) are masked


def test_big_enterprise_is_capped_with_the_largest_aum_first(world: dict[str, Any], monkeypatch: Any) -> None:
    from kequn.web import graphsvg

    wh, c = world["wh"], world["clients"]["analyst"]
    monkeypatch.setattr(graphsvg, "MAX_EMPLOYEE_NODES", 5)
    want = _employees(wh, "E0")
    svg = _svg(c.get(f"/panorama/E0?as_of={AS_OF}").text, "pano-graph")
    top = sorted(want, key=lambda k: (-(want[k]["aum"] if want[k]["aum"] is not None else -1), k))[:5]
    assert [n["data-id"] for n in _nodes(svg, "employee")] == top
    more = _nodes(svg, "more")
    assert len(more) == 1 and int(more[0]["data-count"]) == len(want) - 5
    assert len(_edges(svg)) == 5 + 1


def test_branch_user_sees_only_their_branch(world: dict[str, Any]) -> None:
    wh, c = world["wh"], world["clients"]["analyst_b2"]
    page = c.get(f"/panorama/E0?as_of={AS_OF}")
    assert page.status_code == 200
    everyone, mine = _employees(wh, "E0"), _employees(wh, "E0", branch="B2")
    assert 0 < len(mine) < len(everyone)
    svg = _svg(page.text, "pano-graph")
    assert {n["data-id"] for n in _nodes(svg, "employee")} == set(mine)
    assert len(re.findall(r"<td>E0</td><td>→</td>", page.text)) == len(mine)
    assert re.search(rf'id="graph-outside">{len(everyone) - len(mine)}<', page.text)
    for cid in set(everyone) - set(mine):
        assert f">{cid}<" not in page.text and f'"{cid}"' not in page.text


def test_chain_view_equals_programme_membership_sql(world: dict[str, Any]) -> None:
    wh, c = world["wh"], world["clients"]["analyst"]
    svg = _svg(c.get(f"/panorama/E0?as_of={AS_OF}").text, "chain-graph")
    members = [r[0] for r in _sql(wh, f"""SELECT to_id FROM relationship WHERE kind = 'programme_member'
        AND from_type = 'programme' AND from_id = 'G1' AND to_type = 'enterprise' AND valid_from <= DATE '{AS_OF}'
        AND (valid_to IS NULL OR valid_to >= DATE '{AS_OF}') ORDER BY 1""")]
    assert members == ["E0", "E1", "E3"]
    assert [n["data-programme"] for n in _nodes(svg, "programme")] == ["G1"]
    assert sorted(n["data-enterprise"] for n in _nodes(svg, "enterprise")) == members
    counts = {eid: len(_employees(wh, eid)) for eid in members}
    got = {n["data-id"].split(":")[-1]: int(n["data-count"]) for n in _nodes(svg, "employees")}
    assert got == counts and sum(counts.values()) > 0
    edges = _edges(svg)
    assert sorted(edges) == sorted([("G:G1", f"B:G1:{e}") for e in members] + [(f"B:G1:{e}", f"C:G1:{e}")
                                                                              for e in members])
    # an enterprise outside every programme says so
    assert 'id="chain-none"' in c.get(f"/panorama/E2?as_of={AS_OF}").text
