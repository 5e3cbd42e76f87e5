"""A bad DQ rule file gives one clear error naming the file, the rule id and the field — with every
problem listed in ``details``."""

from __future__ import annotations

import pytest

from kequn.errors import NotFoundError, ValidationError
from kequn.quality import load_rules

GOOD = """\
version: 1
rules:
  - id: customer.phone.completeness
    kind: completeness
    table: customer
    column: phone
    severity: warning
    max_null_rate: 0.05
    description: {zh: 手机号缺失率, en: phone completeness}
"""


def write(tmp_path, text: str):
    p = tmp_path / "my_rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def error_for(tmp_path, text: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        load_rules(write(tmp_path, text))
    return info.value


@pytest.mark.parametrize(("change", "field", "words"), [
    (("column: phone", "column: mobile"), "column", "'mobile' is not in table 'customer'"),
    (("table: customer", "table: customers"), "table", "unknown table 'customers'"),
    (("kind: completeness", "kind: completenes"), "kind", "does not match any of the expected tags"),
    (("severity: warning", "severity: fatal"), "severity", "'blocking' or 'warning'"),
    (("max_null_rate: 0.05", "max_null_rate: 1.5"), "max_null_rate", "less than or equal to 1"),
    (("max_null_rate: 0.05", "max_nul_rate: 0.05"), "max_nul_rate", "Extra inputs are not permitted"),
    (("{zh: 手机号缺失率, en: phone completeness}", "{en: phone completeness}"), "description.zh", "Field required"),
])
def test_each_bad_field_is_named_with_file_and_rule(tmp_path, change, field, words):
    err = error_for(tmp_path, GOOD.replace(*change))
    msg = str(err)
    assert "my_rules.yaml" in msg and "rule 'customer.phone.completeness'" in msg, msg
    assert f"field '{field}'" in msg and words in msg, msg
    assert err.details[0]["field"] == field


def test_cross_field_problems_name_their_field(tmp_path):
    text = """\
rules:
  - {id: a, kind: validity, table: customer, column: phone, severity: warning, min: 1,
     description: {zh: 甲, en: a}}
  - {id: b, kind: validity, table: customer, column: phone, severity: warning, pattern: '[0-9',
     description: {zh: 乙, en: b}}
  - {id: c, kind: freshness, table: customer, column: phone, severity: warning, max_age_days: 1,
     description: {zh: 丙, en: c}}
  - {id: d, kind: validity, table: customer, column: gender, severity: warning, allowed: [M], pattern: 'M',
     description: {zh: 丁, en: d}}
  - {id: e, kind: referential, table: account, column: customer_id, parent_table: customer,
     parent_column: id, severity: blocking, description: {zh: 戊, en: e}}
  - {id: g, kind: validity, table: loan, column: term_months, severity: warning, allowed: ['12'],
     description: {zh: 庚, en: g}}
  - {id: f, kind: distribution_shift, table: programme, column: kind, window_days: 7, severity: warning,
     description: {zh: 己, en: f}}
"""
    err = error_for(tmp_path, text)
    got = {(d["rule"], d["field"]) for d in err.details}
    assert got == {("rule 'a'", "min|max"), ("rule 'b'", "pattern"), ("rule 'c'", "column"),
                   ("rule 'd'", "allowed|min|max|pattern"), ("rule 'e'", "parent_column"),
                   ("rule 'f'", "time_column"), ("rule 'g'", "allowed")}
    assert "(and 6 more problem(s))" in str(err)
    assert all(d["where"].endswith("my_rules.yaml") for d in err.details)


def test_rule_without_id_is_named_by_position(tmp_path):
    err = error_for(tmp_path, GOOD.replace("  - id: customer.phone.completeness\n    kind", "  - kind"))
    assert "rule #1" in str(err) and "field 'id'" in str(err)


def test_duplicate_ids_and_broken_yaml_and_missing_file(tmp_path):
    dup = GOOD + GOOD.split("rules:\n", 1)[1]
    assert "used more than once: customer.phone.completeness" in str(error_for(tmp_path, dup))
    assert "not valid YAML" in str(error_for(tmp_path, "rules: [\n  - {id: a"))
    assert "field 'rules'" in str(error_for(tmp_path, "version: 1\n"))
    with pytest.raises(NotFoundError, match="does not exist"):
        load_rules(tmp_path / "nope.yaml")


def test_a_good_file_loads(tmp_path):
    (rule,) = load_rules(write(tmp_path, GOOD))
    assert (rule.id, rule.max_null_rate, rule.severity) == ("customer.phone.completeness", 0.05, "warning")
