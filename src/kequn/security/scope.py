"""Branch scoping (COMPLIANCE.md rule 9): a branch user sees only customers of their branch and its
sub-branches, following ``branch.parent_id``. Pure functions over the branch rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BranchScope:
    """``branches`` = the branch ids visible; ``None`` = the whole bank."""

    branches: frozenset[str] | None

    @property
    def whole_bank(self) -> bool:
        return self.branches is None

    def allows(self, branch_id: str | None) -> bool:
        return self.branches is None or (branch_id is not None and branch_id in self.branches)


WHOLE_BANK = BranchScope(None)


def children_map(rows: Iterable[Mapping[str, str | None]]) -> dict[str, list[str]]:
    """parent_id -> child branch ids, from rows with ``branch_id`` and ``parent_id``."""
    out: dict[str, list[str]] = {}
    for r in rows:
        if r.get("parent_id"):
            out.setdefault(str(r["parent_id"]), []).append(str(r["branch_id"]))
    return out


def subtree(children: Mapping[str, list[str]], root: str) -> frozenset[str]:
    """``root`` and every branch below it (cycles in bad data cannot loop forever)."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        b = stack.pop()
        if b in seen:
            continue
        seen.add(b)
        stack.extend(children.get(b, ()))
    return frozenset(seen)


def scope_for(branch_id: str | None, children: Mapping[str, list[str]]) -> BranchScope:
    """The scope of a user bound to ``branch_id`` (``None`` = head office, whole bank)."""
    return WHOLE_BANK if branch_id is None else BranchScope(subtree(children, branch_id))
