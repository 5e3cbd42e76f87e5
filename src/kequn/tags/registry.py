"""The registry: every tag's computation keyed by id (a read-only mapping built from declared tuples)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kequn.tags import business, customer
from kequn.tags.model import AsOf, Group, Tables, TagDef

GROUPS: Mapping[str, Group] = MappingProxyType({g.name: g for g in (*customer.GROUPS, *business.GROUPS)})

REGISTRY: Mapping[str, TagDef] = MappingProxyType({d.id: d for d in (*customer.DEFS, *business.DEFS)})

BASES: Mapping[str, Any] = MappingProxyType({
    "customer": customer.base, "enterprise": business.enterprise_base, "merchant": business.merchant_base,
})

#: the transaction-based customer tags that share one scan (benchmarked against hand-written SQL)
TRANSACTION_TAGS: tuple[str, ...] = (
    "money_in_30d", "money_in_90d", "money_out_30d", "money_out_90d", "txn_count_30d", "txn_count_90d",
    "active_days_30d", "channel_preference", "card_spend_90d", "weekend_spend_share", "night_spend_share",
    "days_since_last_txn",
)


def public_ids(entity: str | None = None) -> tuple[str, ...]:
    return tuple(d.id for d in REGISTRY.values() if d.public and (entity is None or d.entity == entity))


def closure(ids: tuple[str, ...] | list[str]) -> list[TagDef]:
    """The defs needed for ``ids`` (with every dependency), in an order where deps come first."""
    out: dict[str, TagDef] = {}

    def visit(i: str, path: tuple[str, ...]) -> None:
        if i in out:
            return
        if i in path:
            raise RuntimeError(f"tag dependency cycle: {' → '.join((*path, i))}")
        d = REGISTRY[i]
        for dep in d.deps:
            visit(dep, (*path, i))
        out[i] = d

    for i in ids:
        visit(i, ())
    return list(out.values())


__all__ = ["AsOf", "BASES", "GROUPS", "REGISTRY", "TRANSACTION_TAGS", "Tables", "closure", "public_ids"]
