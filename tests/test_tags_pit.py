"""Point in time: a snapshot as of D does not change when data dated after D arrives; snapshots are
dated, kept, and re-running a computed date is skipped unless forced."""

from __future__ import annotations

import datetime as dt

import pytest

from kequn.tags.approval import approved_ids
from kequn.tags.catalog import default_catalog
from kequn.tags.store import ENTITIES, compute, computed_dates, read_snapshot
from test_tags_golden import GOLDEN, golden_warehouse, load_csv_dir

D = dt.date(2024, 6, 30)


def approved_specs():
    cat = default_catalog()
    return {i: cat[i] for i in approved_ids(cat)}


def snapshot(wh, entity, as_of):
    key = {"customer": "customer_id", "enterprise": "enterprise_id", "merchant": "merchant_id"}[entity]
    return sorted(read_snapshot(wh, entity, as_of).to_pyarrow().to_pylist(), key=lambda r: r[key])


def add_late_data(wh):
    load_csv_dir(wh, GOLDEN / "late")
    # later exports also close things after D
    wh.sql("UPDATE account SET closed_on = DATE '2024-07-15', status = 'closed' WHERE account_id = 'A1'")
    wh.sql("UPDATE customer SET closed_on = DATE '2024-07-31', status = 'closed' WHERE customer_id = 'C3'")
    wh.sql("UPDATE holding SET end_date = DATE '2024-07-05' WHERE holding_id = 'H1'")
    wh.sql("UPDATE merchant SET closed_on = DATE '2024-07-03', status = 'closed' WHERE merchant_id = 'M1'")


@pytest.fixture
def wh(tmp_path):
    w = golden_warehouse(tmp_path)
    yield w
    w.close()


def test_snapshot_as_of_d_does_not_change_when_later_data_arrives(wh):
    specs = approved_specs()
    compute(wh, D, specs)
    before = {e: snapshot(wh, e, D) for e in ENTITIES}
    add_late_data(wh)
    results = compute(wh, D, specs, force=True)
    assert all(not r.skipped for r in results)
    after = {e: snapshot(wh, e, D) for e in ENTITIES}
    for e in ENTITIES:
        assert after[e] == before[e], f"{e} snapshot as of {D} changed after later data was added"
    # the late data is real: a later snapshot sees it
    compute(wh, dt.date(2024, 7, 31), specs)
    later = {r["customer_id"]: r for r in snapshot(wh, "customer", dt.date(2024, 7, 31))}
    assert "C6" in later and later["C2"]["credit_card_holder"] is True
    assert later["C3"]["lifecycle_stage"] == "churned"
    # C2's gov_data consent withdrawn at 07-01 00:00 (K7); C3's medical record received 07-02 (GD7)
    assert later["C2"]["medical_insurance_flag"] is False and later["C3"]["medical_insurance_flag"] is True


def test_recomputing_a_date_is_skipped_unless_forced_and_snapshots_are_kept(wh):
    specs = approved_specs()
    first = compute(wh, D, specs)
    assert [r.rows for r in first] == [4, 3, 2]
    again = compute(wh, D, specs)
    assert all(r.skipped for r in again)
    compute(wh, dt.date(2024, 5, 31), specs)
    assert computed_dates(wh, "customer") == [dt.date(2024, 5, 31), D]
    # profile_customer holds the latest date, not the one computed last
    prof = read_snapshot(wh, "customer").to_pyarrow().to_pylist()
    assert {r["as_of"] for r in prof} == {D} and len(prof) == 4
    # C2 was onboarded 2024-05-15: present as of 05-31 with one month of tenure less
    may = {r["customer_id"]: r for r in snapshot(wh, "customer", dt.date(2024, 5, 31))}
    assert may["C2"]["tenure_months"] == 0 and "C2" in may
    forced = compute(wh, D, specs, force=True)
    assert not forced[0].skipped and len(snapshot(wh, "customer", D)) == 4


def test_drafts_are_not_computed(wh):
    specs = approved_specs()
    del specs["aum_tier"]  # as if aum_tier were a draft
    compute(wh, D, specs, entities=["customer"])
    cols = read_snapshot(wh, "customer", D).columns
    assert "aum_tier" not in cols and "aum" in cols
