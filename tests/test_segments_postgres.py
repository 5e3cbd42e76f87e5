"""The same segment, journey and panorama expressions on PostgreSQL give the DuckDB answers."""

from __future__ import annotations

from typing import Any

import pytest

from test_segments_bank import AS_OF, build

pytestmark = pytest.mark.postgres


def _run_all(wh: Any) -> dict[str, Any]:
    from kequn.graph import headcount_fell, panorama
    from kequn.segments import definitions, journeys, service
    from kequn.segments.definitions import SegmentDef

    std = definitions.load_shipped()
    rich = SegmentDef(id="x", name_zh="x", name_en="x",
                      rule='payroll_flag and aum_tier >= "gold" and employer.industry != "教育"')
    track = journeys.get_track("payroll")
    journeys.run(wh, track, AS_OF)
    pano = panorama(wh, AS_OF).to_pyarrow().to_pylist()
    return {
        "sizes": {k: service.size(wh, std[k], AS_OF) for k in ("payroll", "sme", "medical_insurance")},
        "rich": sorted(service.evaluate(wh, rich, AS_OF).to_pyarrow().column("entity_id").to_pylist()),
        "snapshot": service.snapshot_many(wh, [std["payroll"], std["new_citizens"]], AS_OF),
        "funnel": journeys.funnel(wh, track, AS_OF),
        "panorama": sorted((r["enterprise_id"], r["employees"], r["penetration_credit_card"]) for r in pano),
        "fell": sorted(r["enterprise_id"] for r in headcount_fell(wh, AS_OF).to_pyarrow().to_pylist()),
    }


def test_postgres_equals_duckdb(pg_url: str, tmp_path: Any) -> None:
    from kequn.warehouse import connect

    duck = connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    pg = connect(pg_url)
    build(duck)
    build(pg)
    expected, got = _run_all(duck), _run_all(pg)
    assert expected["sizes"]["payroll"] > 0 and expected["rich"]
    assert got == expected
    duck.close()
    pg.close()
