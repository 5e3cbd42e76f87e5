"""The tag catalogue: YAML and registry agree both ways, validation names every problem, and the
maker-checker keeps a new or changed tag a draft until a second person approves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kequn.errors import NotFoundError, PermissionDenied, ValidationError
from kequn.tags.approval import approve, load_baseline, statuses, submit
from kequn.tags.catalog import CATALOG_DIR, default_catalog, load_catalog
from kequn.tags.registry import GROUPS, REGISTRY, TRANSACTION_TAGS, public_ids


def test_yaml_and_registry_agree_both_ways():
    cat = default_catalog()
    assert set(cat) - set(public_ids()) == set(), "tags declared in YAML without an expression"
    assert set(public_ids()) - set(cat) == set(), "expressions registered without a YAML declaration"
    for tag_id, spec in cat.items():
        assert REGISTRY[tag_id].entity == spec.entity, tag_id


def test_core_set_size_and_shape():
    cat = default_catalog()
    by_entity = {e: [s for s in cat.values() if s.entity == e] for e in ("customer", "enterprise", "merchant")}
    assert 45 <= len(by_entity["customer"]) <= 55
    assert len(by_entity["enterprise"]) >= 4 and len(by_entity["merchant"]) >= 5
    assert len(TRANSACTION_TAGS) == 12
    assert {s.category for s in cat.values()} >= {"basic", "asset", "behaviour", "product_holding", "preference",
                                                 "value", "risk", "lifecycle", "relationship", "model_score"}
    # every group that has tags is one scan per source
    assert {REGISTRY[i].group for i in public_ids() if REGISTRY[i].group} <= set(GROUPS)


def test_every_shipped_tag_is_in_the_release_baseline():
    assert load_baseline() == {i: s.version for i, s in default_catalog().items()}


def test_validation_lists_every_problem_with_file_entry_and_field(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "tags:\n"
        "- id: Bad-Id\n  name_zh: 坏\n  name_en: Bad\n  entity: customer\n  category: basic\n"
        "  value_type: number\n  definition: a definition long enough\n  owner: me\n  version: 1\n"
        "  source_tables: [customer]\n"
        "- id: ok_id\n  name_zh: 好\n  name_en: Ok\n  entity: planet\n  category: basic\n"
        "  value_type: number\n  definition: a definition long enough\n  owner: me\n  version: 0\n"
        "  source_tables: [no_such_table]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as err:
        load_catalog(tmp_path)
    where = {(d["where"].split(" (")[0], d["field"]) for d in err.value.details}
    assert ("bad.yaml entry 1", "id") in where
    assert {("bad.yaml entry 2", "entity"), ("bad.yaml entry 2", "version"),
            ("bad.yaml entry 2", "source_tables")} <= where


def _changed_catalog(tmp_path: Path) -> dict:
    text = (CATALOG_DIR / "customer.yaml").read_text(encoding="utf-8")
    bumped = text.replace("- id: aum_tier\n", "- id: aum_tier\n", 1)
    head, tail = bumped.split("- id: aum_tier\n", 1)
    tail = tail.replace("  version: 1\n", "  version: 2\n", 1)
    (tmp_path / "customer.yaml").write_text(head + "- id: aum_tier\n" + tail, encoding="utf-8")
    return load_catalog(tmp_path)


@pytest.fixture
def ops_engine(tmp_path):
    from kequn.opstore import engine_for, migrate

    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    return engine_for(url)


def test_changed_tag_stays_draft_until_a_second_person_approves(tmp_path, ops_engine):
    cat = _changed_catalog(tmp_path)
    assert cat["aum_tier"].version == 2
    st = statuses(cat, ops_engine)
    assert st["aum_tier"].status == "draft" and st["aum_tier"].approved_version == 1
    assert st["aum"].status == "approved" and st["aum"].source == "baseline"
    with pytest.raises(NotFoundError):
        approve(ops_engine, cat["aum_tier"], "bob")  # nothing submitted yet
    submit(ops_engine, cat["aum_tier"], "alice")
    with pytest.raises(PermissionDenied):
        approve(ops_engine, cat["aum_tier"], "alice")  # maker ≠ checker
    assert statuses(cat, ops_engine)["aum_tier"].status == "draft"
    approve(ops_engine, cat["aum_tier"], "bob")
    st = statuses(cat, ops_engine)["aum_tier"]
    assert st.status == "approved" and st.source == "ops store"


def test_docs_catalogue_table_is_current():
    from kequn.tags.doc import splice

    doc = (Path(__file__).resolve().parents[1] / "docs" / "tags.md").read_text(encoding="utf-8")
    assert splice(doc) == doc, "docs/tags.md is stale: run python -m kequn.tags.doc --write"
