"""Segment list sizes: the latest stored snapshot (size + day) is read, and a rule is evaluated live only
for segments without one (or for all, on demand) — in the service, the API and the console page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from test_segments_bank import AS_OF, PREV, build


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from kequn.api import create_app
    from kequn.opstore import engine_for, migrate
    from kequn.segments import definitions, service
    from kequn.warehouse import connect
    from test_api_support import add_users, login, settings

    tmp = tmp_path_factory.mktemp("sizes")
    wh = connect(f"duckdb:///{tmp / 'wh.duckdb'}")
    build(wh)
    std = definitions.load_shipped()
    service.snapshot(wh, std["payroll"], PREV)  # stored on PREV only
    service.snapshot(wh, std["new_citizens"], AS_OF)
    engine = engine_for(f"sqlite:///{tmp / 'ops.sqlite'}")
    migrate(engine)
    add_users(engine)
    client = TestClient(create_app(settings(), warehouse=wh, opstore=engine))
    login(client, "analyst")
    return {"wh": wh, "std": std, "client": client}


def _stored(wh: Any, seg: str, day: dt.date) -> int:
    return wh.con.con.execute(f"SELECT count(*) FROM segment_membership WHERE segment_id = '{seg}' "
                              f"AND as_of = DATE '{day}'").fetchone()[0]


def _snap_only_marker(wh: Any, seg: str, day: dt.date, size: int) -> None:
    """Overwrite a stored size with an impossible value: only a read of the snapshot can return it."""
    wh.con.con.execute(f"UPDATE segment_snapshot SET size = {size} WHERE segment_id = '{seg}' AND as_of = DATE '{day}'")


def test_service_reads_snapshots_and_computes_only_the_rest(world: dict[str, Any]) -> None:
    from kequn.segments import service

    wh, std = world["wh"], world["std"]
    segs = [std["payroll"], std["new_citizens"], std["card_loan_cross"], std["dormant"]]
    got = service.sizes(wh, segs, AS_OF)
    # payroll: the PREV snapshot (the latest on or before AS_OF), with its day — not today's live size
    assert got["payroll"] == {"size": _stored(wh, "payroll", PREV), "as_of": PREV, "source": "snapshot"}
    assert got["new_citizens"] == {"size": _stored(wh, "new_citizens", AS_OF), "as_of": AS_OF, "source": "snapshot"}
    live = wh.con.con.execute(f"SELECT count(*) FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF}' "
                              "AND credit_card_holder AND loan_holder").fetchone()[0]
    assert got["card_loan_cross"] == {"size": live, "as_of": AS_OF, "source": "live"}
    assert got["dormant"]["size"] is None and "not been computed" in got["dormant"]["error"]
    stored_only = service.sizes(wh, segs, AS_OF, "stored")
    assert stored_only["card_loan_cross"] == {"size": None, "as_of": None, "source": None}
    assert stored_only["payroll"] == got["payroll"]
    # before the first snapshot there is nothing stored
    assert service.sizes(wh, [std["payroll"]], PREV - dt.timedelta(days=1), "stored")["payroll"]["source"] is None
    everything = service.sizes(wh, segs[:3], AS_OF, "live")
    assert {k: v["source"] for k, v in everything.items()} == dict.fromkeys(("payroll", "new_citizens",
                                                                            "card_loan_cross"), "live")
    assert everything["payroll"]["size"] == service.size(wh, std["payroll"], AS_OF)


def test_a_snapshot_of_another_version_is_not_used(world: dict[str, Any]) -> None:
    from kequn.segments import service

    wh, std = world["wh"], world["std"]
    newer = std["new_citizens"].model_copy(update={"version": std["new_citizens"].version + 1})
    assert service.sizes(wh, [newer], AS_OF)["new_citizens"]["source"] == "live"


def test_page_and_api_read_the_snapshot_and_compute_live_on_demand(world: dict[str, Any]) -> None:
    wh = world["wh"]
    _snap_only_marker(wh, "new_citizens", AS_OF, 987654)
    try:
        _page_and_api(world)
    finally:  # the other tests (in any order) see the true stored size again
        _snap_only_marker(wh, "new_citizens", AS_OF, _stored(wh, "new_citizens", AS_OF))


def _page_and_api(world: dict[str, Any]) -> None:
    wh, c = world["wh"], world["client"]
    page = c.get(f"/segments?as_of={AS_OF}").text
    row = re.search(r'href="/segments/new_citizens">new_citizens</a>.*?<td class="num">(\d+)</td>\s*'
                    r'<td class="size-source" data-source="(\w+)">', page, re.S)
    assert row and (int(row.group(1)), row.group(2)) == (987654, "snapshot")
    assert 'data-source="live"' in page  # the unsnapshotted ones
    live_page = c.get(f"/segments?as_of={AS_OF}&live=true").text
    row = re.search(r'href="/segments/new_citizens">new_citizens</a>.*?<td class="num">(\d+)</td>', live_page, re.S)
    truth = wh.con.con.execute(f"SELECT count(*) FROM tag_snapshot_customer WHERE as_of = DATE '{AS_OF}' "
                               "AND new_citizen_flag").fetchone()[0]
    assert int(row.group(1)) == truth != 987654
    api = {s["id"]: s for s in c.get("/api/segments", params={"as_of": str(AS_OF)}).json()}
    assert (api["new_citizens"]["size"], api["new_citizens"]["size_source"]) == (987654, "snapshot")
    assert api["new_citizens"]["size_as_of"] == str(AS_OF)
    assert api["sme"]["size"] is None and api["sme"]["size_source"] is None  # stored only: nothing computed
    missing = {s["id"]: s for s in c.get("/api/segments", params={"as_of": str(AS_OF), "sizes": "missing"}).json()}
    sme = wh.con.con.execute("SELECT count(*) FROM enterprise WHERE size IN ('micro','small','medium')").fetchone()[0]
    assert (missing["sme"]["size"], missing["sme"]["size_source"]) == (sme, "live")
    assert c.get("/api/segments", params={"sizes": "bogus"}).status_code in (400, 422)
