"""Journey tracks on the small random bank: stage assignment, funnel, transitions and dwell equal SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from test_segments_bank import AS_OF, PREV, build


@pytest.fixture(scope="module")
def wh(tmp_path_factory: Any) -> Any:
    from kequn.warehouse import connect

    w = connect(f"duckdb:///{tmp_path_factory.mktemp('journeys') / 'wh.duckdb'}")
    build(w)
    yield w
    w.close()


def _expected_stages(w: Any, day: dt.date) -> dict[str, tuple[str, int]]:
    rows = w.con.con.execute(f"""
        WITH p AS (SELECT * FROM tag_snapshot_customer WHERE as_of = DATE '{day}'),
        emp AS (SELECT DISTINCT to_id AS customer_id FROM relationship WHERE kind = 'employer_employee'),
        x AS (SELECT p.*, emp.customer_id IS NOT NULL AS has_emp FROM p LEFT JOIN emp USING (customer_id)),
        s AS (SELECT customer_id,
                CASE WHEN payroll_flag AND products_held >= 3 AND tenure_months >= 12 THEN 4
                     WHEN payroll_flag AND app_active_flag AND products_held >= 2 THEN 3
                     WHEN payroll_flag AND app_active_flag THEN 2
                     WHEN payroll_flag THEN 1 ELSE 0 END AS idx,
                COALESCE(payday_regularity = 'irregular' OR churn_risk >= 0.7, FALSE) AS risk
              FROM x WHERE has_emp OR payroll_flag)
        SELECT customer_id, idx, risk FROM s""").fetchall()
    names = ["onboarded", "first_salary", "app_active", "second_product", "loyal"]
    return {c: ("at_risk" if risk else names[idx], idx) for c, idx, risk in rows}


def test_tracks_validate_against_the_catalogue(wh: Any) -> None:
    from kequn.segments import catalogue, journeys

    cat = catalogue.load(wh)
    tracks = journeys.load_tracks()
    assert {"payroll", "new_citizen", "credit_card"} <= set(tracks)
    journeys.validate(tracks["payroll"], cat)


def test_stage_assignment_and_funnel_equal_sql(wh: Any) -> None:
    from kequn.segments import journeys

    track = journeys.get_track("payroll")
    got = {r["customer_id"]: (r["stage"], r["stage_index"])
           for r in journeys.assign(wh, track, AS_OF).to_pyarrow().to_pylist()}
    expected = _expected_stages(wh, AS_OF)
    assert got == expected
    journeys.run(wh, track, AS_OF)
    f = {r["stage"]: r for r in journeys.funnel(wh, track, AS_OF)}
    for k, s in enumerate(["onboarded", "first_salary", "app_active", "second_product", "loyal"]):
        reached = sum(1 for _, i in expected.values() if i >= k)
        assert f[s]["reached"] == reached
        if k:
            prev = sum(1 for _, i in expected.values() if i >= k - 1)
            assert f[s]["conversion"] == pytest.approx(round(reached / prev, 4))
    assert f["at_risk"]["reached"] == sum(1 for st, _ in expected.values() if st == "at_risk") > 0


def test_transitions_and_dwell(wh: Any) -> None:
    from kequn.segments import journeys

    track = journeys.get_track("payroll")
    first = journeys.run(wh, track, PREV)
    assert first["previous"] is None and first["transitions"] == first["customers"]
    second = journeys.run(wh, track, AS_OF)
    before, after = _expected_stages(wh, PREV), _expected_stages(wh, AS_OF)
    moved = {c for c in set(before) | set(after) if before.get(c, (None,))[0] != after.get(c, (None,))[0]}
    assert second["previous"] == PREV and second["transitions"] == len(moved)
    d = {r["stage"]: r for r in journeys.dwell(wh, track)}
    # every completed stay began on PREV and ended on AS_OF: 30 days
    changed_from = {before[c][0] for c in moved if c in before}
    for stage in changed_from:
        assert d[stage]["median_days"] == (AS_OF - PREV).days
    assert sum(r["completed_stays"] for r in d.values()) == len([c for c in moved if c in before])


def test_touchpoints_mapped_to_stages(wh: Any) -> None:
    from kequn.segments import journeys

    track = journeys.get_track("payroll")
    journeys.run(wh, track, AS_OF)
    rows = {r["stage"]: r for r in journeys.touchpoints(wh, track, AS_OF)}
    assert rows["onboarded"]["maps_to"] == "onboarding" and rows["onboarded"]["touchpoints"] == 1
    expected = wh.con.con.execute(f"""
        SELECT COUNT(*) FROM event e JOIN touchpoint t USING (touchpoint_id)
        JOIN journey_stage_daily d ON d.customer_id = e.customer_id AND d.track_id = 'payroll'
          AND d.as_of = DATE '{AS_OF}' AND d.stage = 'first_salary'
        WHERE t.journey_stage = 'activation' AND e.ts >= TIMESTAMP '{AS_OF}' - INTERVAL 29 DAY""").fetchone()[0]
    assert rows["first_salary"]["events"] == expected
