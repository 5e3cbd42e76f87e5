"""docs/console.md cannot drift: its permission table and route-rule table match the code."""

from __future__ import annotations

import re
from pathlib import Path

from kequn.api.rules import RULES
from kequn.security.roles import PERMISSIONS, ROLE_PERMISSIONS

DOC = Path(__file__).resolve().parents[1] / "docs" / "console.md"


def test_permission_table_matches_roles():
    text = DOC.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| permission |"))
    roles = re.findall(r"`([a-z_]+)`", header)
    assert roles == list(ROLE_PERMISSIONS)
    documented = {}
    for line in text.splitlines():
        m = re.match(r"\| `([a-z_.]+)` [^|]*\|(.*)\|$", line)
        if m and m.group(1) in PERMISSIONS:
            cells = [c.strip() for c in m.group(2).split("|")]
            documented[m.group(1)] = {r for r, c in zip(roles, cells, strict=True) if c == "✓"}
    assert set(documented) == set(PERMISSIONS)
    for perm, holders in documented.items():
        assert holders == {r for r, ps in ROLE_PERMISSIONS.items() if perm in ps}, perm


def test_every_route_rule_is_documented():
    text = DOC.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| (GET|POST|PUT|DELETE) \| `([^`]+)` \| `([^`]+)` \|", text, re.M))
    assert rows == {(m, p, r.permission) for (m, p), r in RULES.items()}
