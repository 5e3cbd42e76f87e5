"""Who a customer is for sending: address, branch, RM, template values — read from the warehouse in one
query per batch. Personal data (name, phone) is used to send and never stored in the outbox or logged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kequn.security.masking import mask_name


def surname_title(name: str | None, gender: str | None) -> str:
    if not name:
        return "您"
    surname = (mask_name(name) or "").rstrip("*")
    return surname + {"M": "先生", "F": "女士"}.get(gender or "", "客户")


class DictDirectory:
    """A directory held in memory (tests, small runs): customers {id: {...}}, branches {id: {...}}."""

    def __init__(self, customers: dict[str, dict[str, Any]], branches: dict[str, dict[str, Any]] | None = None):
        self._c = customers
        self._b = branches or {}

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self._c.get(customer_id, {})

    def customers(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {i: self.customer(i) for i in ids}

    def rms(self, branch_id: str | None) -> list[str]:
        return list(self._b.get(branch_id or "", {}).get("rms", []))

    def manager(self, branch_id: str | None) -> str | None:
        return self._b.get(branch_id or "", {}).get("manager")


class WarehouseDirectory(DictDirectory):
    """Reads the customer, staff and branch tables (staff once; customers per batch)."""

    def __init__(self, wh: Any) -> None:
        self.wh = wh
        s = wh.table("staff").select("staff_id", "branch_id", "role").to_pyarrow().to_pylist()
        b = {r["branch_id"]: r["name"] for r in wh.table("branch").select("branch_id", "name").to_pyarrow().to_pylist()}
        branches: dict[str, dict[str, Any]] = {k: {"name": v, "rms": [], "manager": None} for k, v in b.items()}
        for r in s:
            entry = branches.setdefault(r["branch_id"], {"name": "", "rms": [], "manager": None})
            if r["role"] == "rm":
                entry["rms"].append(r["staff_id"])
            elif r["role"] == "branch_manager":
                entry["manager"] = r["staff_id"]
        super().__init__({}, branches)

    def customers(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        want = [i for i in ids if i not in self._c]
        if want:
            c = self.wh.table("customer")
            from kequn.campaigns.audience import only_ids

            rows = only_ids(c, want).select(
                "customer_id", "name", "gender", "phone", branch_id=c.home_branch_id, rm_id=c.rm_id).to_pyarrow()
            for r in rows.to_pylist():
                r["branch_name"] = self._b.get(r["branch_id"], {}).get("name", "")
                self._c[r["customer_id"]] = r
        return {i: self._c.get(i, {}) for i in ids}

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self.customers([customer_id])[customer_id]
