"""`generate(...)`: the whole synthetic bank, month by month, into one folder (+ truth/ + manifest.json)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kequn.domain.datamodel import CHANNELS_TXN, EVENT_CHANNELS, TABLES, TXN_TYPES
from kequn.errors import ValidationError
from kequn.synth import tables as T
from kequn.synth import vocab as V
from kequn.synth.calendar import US_PER_DAY, day_number, is_month_end, window
from kequn.synth.catalogue import OPENABLE, touchpoints
from kequn.synth.corporate import CorporateBook
from kequn.synth.dynamics import CustomerDynamics
from kequn.synth.events import EventCatalogue, month_events
from kequn.synth.flows import MonthFlows
from kequn.synth.links import consents, gov_month, payroll_month, relationships
from kequn.synth.merchants import merchant_month
from kequn.synth.population import (
    enterprise_count,
    make_branches,
    make_customers,
    make_enterprises,
    make_merchants,
    make_staff,
    merchant_count,
)
from kequn.synth.state import Seeds, initial_accounts, merchant_state
from kequn.synth.truth import TruthWriter, campaign_history
from kequn.synth.writer import (
    BackgroundWriter,
    TableSink,
    dates,
    decimal_from_cents,
    file_hash,
    ids,
    take,
    timestamps,
)

DEFAULT_END = dt.date(2026, 10, 31)
CHUNK = 100_000
STREAMED = ("transaction", "event", "balance_monthly", "payroll_batch", "payroll_item", "acquiring_daily", "gov_data")


@dataclass(frozen=True)
class SynthParams:
    customers: int = 20_000
    months: int = 12
    seed: int = 42
    end: dt.date = DEFAULT_END
    fmt: str = "parquet"
    #: this folder holds slice ``shard`` (0-based) of a bank of ``customers`` split into ``shards`` pieces
    shard: int = 0
    shards: int = 1

    def shard_sizes(self) -> list[int]:
        """Customers of each shard (the first ``customers % shards`` shards hold one more)."""
        q, r = divmod(self.customers, self.shards)
        return [q + (1 if k < r else 0) for k in range(self.shards)]

    def check(self, today: dt.date | None = None) -> None:
        problems = []
        if not 50 <= self.customers <= 20_000_000:
            problems.append({"parameter": "customers", "message": "must be between 50 and 20,000,000"})
        if not 1 <= self.shards <= 1000:
            problems.append({"parameter": "shards", "message": "must be between 1 and 1,000"})
        elif not 0 <= self.shard < self.shards:
            problems.append({"parameter": "shard", "message": f"must be between 0 and shards - 1 ({self.shards - 1})"})
        elif self.shards > 1 and self.customers // self.shards < 50:
            problems.append({"parameter": "shards", "message": "every shard needs at least 50 customers"})
        if not 1 <= self.months <= 120:
            problems.append({"parameter": "months", "message": "must be between 1 and 120"})
        if not is_month_end(self.end):
            problems.append({"parameter": "end", "message": f"{self.end} is not the last day of a month"})
        if self.end > (today or dt.date.today()):
            problems.append({"parameter": "end", "message": f"{self.end} lies in the future; data must be in the past"})
        if self.fmt not in ("parquet", "csv"):
            problems.append({"parameter": "format", "message": f"{self.fmt!r} is not parquet or csv"})
        if problems:
            raise ValidationError("invalid synth parameters: " + "; ".join(f"{p['parameter']} {p['message']}" for p in problems),
                                  details=problems)


def generate(out: Path, params: SynthParams, progress: Any = None) -> dict:
    """Write the synthetic bank into ``out``; returns the manifest (also written as manifest.json)."""
    params.check()
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    space = _id_space(params)
    with T.id_space(space):
        return _generate(out, params, space, t0, say)


def _id_space(params: SynthParams) -> T.IdSpace:
    """Global offsets of the shard's parties: the sizes of the shards before it (0 for an unsharded bank)."""
    before = params.shard_sizes()[:params.shard]
    return T.IdSpace(customer=sum(before), enterprise=sum(enterprise_count(n) for n in before),
                     merchant=sum(merchant_count(n) for n in before), shard=params.shard, shards=params.shards)


def _generate(out: Path, params: SynthParams, space: T.IdSpace, t0: float, say: Any) -> dict:
    sharded = params.shards > 1
    months = window(params.end, params.months)
    ws, end_day = months[0].first_day, day_number(params.end)
    bank_seeds = Seeds(params.seed)  # the reference tables (branches, staff) are the whole bank's
    seeds = Seeds(params.seed, (params.shards, params.shard)) if sharded else bank_seeds
    n_cust = params.shard_sizes()[params.shard]
    br = make_branches(bank_seeds("branches"), params.customers)
    st = make_staff(bank_seeds("staff"), br, params.customers, end_day)
    cu = make_customers(seeds("customers"), n_cust, br, st, ws, end_day)
    en = make_enterprises(seeds("enterprises"), cu, br, ws, space.enterprise if sharded else None)
    me = make_merchants(seeds("merchants"), cu, en, ws, end_day, space.merchant)
    acc = initial_accounts(seeds("accounts"), cu, ws)
    dyn = CustomerDynamics(cu, en, acc, seeds)
    mst = merchant_state(me, ws)
    tps = touchpoints()
    cat = EventCatalogue(tps)
    consent_cols, cs = consents(seeds("consent"), cu, ws, end_day)
    corp = CorporateBook(seeds("corporate"), en)
    say(f"parties ready: {cu.n:,} customers, {en.n:,} enterprises, {me.n:,} merchants ({time.perf_counter() - t0:.1f}s)")
    bg = BackgroundWriter()
    sinks = {name: TableSink(out, name, params.fmt, background=bg) for name in STREAMED}
    truth = TruthWriter(out / "truth")
    cp_dict = np.concatenate([V.COUNTERPARTIES, en.names, me.names])
    counters = {"txn": space.start(12), "event": space.start(12), "session": space.start(11), "gov": space.start(11)}
    for m in months:
        plan = dyn.step(m)
        acq, mtruth = merchant_month(seeds("merchant-month", m.index), me, mst, m)
        _write_acquiring(sinks["acquiring_daily"], acq)
        truth.merchant_month(m, mtruth)
        merchant_open = mtruth["alive"]
        batches, items = payroll_month(plan, cu, en)
        sinks["payroll_batch"].write(batches)
        sinks["payroll_item"].write(items)
        flows = MonthFlows(plan, cu, me, acc, merchant_open, en.n)
        value = np.zeros(cu.n, np.int64)
        for ci, lo in enumerate(range(0, cu.n, CHUNK)):
            hi = min(cu.n, lo + CHUNK)
            txn, rows, value[lo:hi] = flows.chunk(seeds("flows", m.index, ci), lo, hi)
            counters["txn"] = _write_txn(sinks["transaction"], txn, m, counters["txn"], cp_dict)
            sinks["balance_monthly"].write(T.balance_columns(rows, m.last_day))
            ev, used = month_events(seeds("events", m.index, ci), plan, cu, cat, lo, hi, counters["session"])
            counters["session"] += used
            counters["event"] = _write_events(sinks["event"], ev, m, counters["event"], tps)
        ctx, cbal = corp.month(seeds("corporate-month", m.index), m, plan, cu, counters["txn"])
        sinks["transaction"].write(ctx)
        sinks["balance_monthly"].write(cbal)
        counters["txn"] += len(ctx["txn_id"])
        gov = gov_month(seeds("gov", m.index), m, cu, en, cs, dyn.phase, end_day, counters["gov"])
        counters["gov"] += len(gov["record_id"])
        sinks["gov_data"].write(gov)
        truth.customer_month(m, plan, acc, value)
        say(f"{m.label}: {sinks['transaction'].rows:,} transactions, {sinks['event'].rows:,} events so far "
            f"({time.perf_counter() - t0:.1f}s)")
    bg.close()
    for s in sinks.values():
        s.close()
    counts = {name: s.rows for name, s in sinks.items()}
    rng = seeds("static")
    truth_customers = truth.customers(cu, acc, dyn, months)
    static = {
        "branch": T.branch_table(br), "staff": T.staff_table(st, br), "customer": T.customer_table(cu, br, st, dyn.phase),
        "enterprise": T.enterprise_table(en, br), "merchant": T.merchant_table(me, br, mst.phase),
        "programme": T.programme_table(), "product": T.product_table(), "touchpoint": T.touchpoint_table(tps),
        "account": T.account_tables(cu, br, acc, en, dyn.sleeper, dyn.written_off),
        "loan": T.loan_table(acc, dyn.written_off, end_day), "card": T.card_table(rng, acc, end_day),
        "holding": T.holding_table(acc, dyn.phase), "consent": consent_cols,
        "relationship": relationships(rng, cu, en, me, acc, dyn.first_salary, dyn.last_salary, dyn.phase, mst.phase,
                                      cs, ws, end_day),
        "contact_history": campaign_history(seeds("campaigns"), out / "truth", truth_customers, cu, cs, months, params.seed),
    }
    for name, cols in static.items():
        sink = TableSink(out, name, params.fmt)
        sink.write(cols)
        sink.close()
        counts[name] = sink.rows
    truth.merchants(me, mst)
    truth.close()
    _check_blocks(space, counters, counts)
    return _manifest(out, params, counts, months, time.perf_counter() - t0)


def _check_blocks(space: T.IdSpace, counters: dict, counts: dict) -> None:
    """A shard's running numbers must stay inside its block, or ids would collide with the next shard's."""
    used = {"txn": (counters["txn"] - space.start(12), 12), "event": (counters["event"] - space.start(12), 12),
            "session": (counters["session"] - space.start(11), 11), "gov": (counters["gov"] - space.start(11), 11),
            "consent": (counts["consent"], 10), "contact_history": (counts["contact_history"], 10)}
    over = [f"{k} ({n:,} > {space.block(w) - 1:,})" for k, (n, w) in used.items() if n >= space.block(w)]
    if over:
        raise ValidationError(f"shard {space.shard} of {space.shards} has too many rows for its id block: "
                              + ", ".join(over) + "; use fewer shards")


def _clear_previous(out: Path) -> None:
    """Remove the files an earlier run wrote here (either format), so the folder holds one file per table."""
    for t in TABLES:
        for ext in ("parquet", "csv"):
            (out / f"{t.name}.{ext}").unlink(missing_ok=True)
    for p in (out / "truth").glob("*.parquet"):
        p.unlink()
    (out / "manifest.json").unlink(missing_ok=True)


def _write_acquiring(sink: TableSink, a: dict) -> None:
    sink.write({"merchant_id": T.merch_ids(a["merchant"]), "date": dates(a["day"]), "txn_count": a["count"],
                "amount": decimal_from_cents(a["cents"]), "refund_count": a["refund_count"],
                "refund_amount": decimal_from_cents(a["refund_cents"])})


def _write_txn(sink: TableSink, t: dict, m: Any, start: int, cp_dict: np.ndarray) -> int:
    n = len(t["cust"])
    if n == 0:
        return start
    order = np.argsort((t["cust"] << 27) + t["day"] * 86_400 + t["sec"], kind="stable")
    t = {k: v[order] for k, v in t.items()}
    ts = (m.first_day + t["day"]) * US_PER_DAY + t["sec"] * 1_000_000
    mer = t["mer"]
    sink.write({
        "txn_id": ids("T", start + np.arange(n) + 1, 12), "account_id": T.acct_ids(t["cust"], t["slot"]),
        "customer_id": T.cust_ids(t["cust"]), "ts": timestamps(ts), "amount": decimal_from_cents(t["cents"]),
        "channel": take(CHANNELS_TXN, t["ch"]), "txn_type": take(TXN_TYPES, t["ty"]),
        "counterparty": take(cp_dict, t["cp"]), "merchant_id": T._opt(T.merch_ids, mer),
        "mcc": take(V.MCC_CODES, t["mcc"]),
    })
    return start + n


def _write_events(sink: TableSink, e: dict, m: Any, start: int, tps: list) -> int:
    n = len(e["cust"])
    if n == 0:
        return start
    order = np.argsort((e["cust"] << 27) + e["day"] * 86_400 + e["sec"], kind="stable")
    e = {k: v[order] for k, v in e.items()}
    ts = (m.first_day + e["day"]) * US_PER_DAY + e["sec"] * 1_000_000
    sess = e["session"]
    sink.write({
        "event_id": ids("V", start + np.arange(n) + 1, 12), "customer_id": T.cust_ids(e["cust"]), "ts": timestamps(ts),
        "touchpoint_id": take([t.touchpoint_id for t in tps], e["tp"]), "channel": take(EVENT_CHANNELS, e["ch"]),
        "session_id": T._opt(lambda i: ids("S", i + 1, 11), sess),
    })
    return start + n


def _manifest(out: Path, params: SynthParams, counts: dict, months: list, seconds: float) -> dict:
    files = sorted([p for p in out.glob(f"*.{params.fmt}")] + list((out / "truth").glob("*.parquet")))
    canonical = {t.name for t in TABLES}
    missing = canonical - set(counts)
    if missing:  # pragma: no cover - every canonical table is written above
        raise RuntimeError(f"tables not generated: {sorted(missing)}")
    manifest = {
        "generator": "kequn.synth", "seed": params.seed,
        "parameters": {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(params).items()
                       if params.shards > 1 or k not in ("shard", "shards")},
        "window": {"first_month": months[0].label, "last_month": months[-1].label,
                   "start": months[0].month_end.replace(day=1).isoformat(), "end": params.end.isoformat()},
        "row_counts": dict(sorted(counts.items())),
        "files": {str(p.relative_to(out)): file_hash(p) for p in files},
        "openable_products": list(OPENABLE),
    }
    if params.shards > 1:
        sp = _id_space(params)
        manifest["shard"] = {"index": params.shard, "of": params.shards, "customers": params.shard_sizes()[params.shard],
                             "first_customer": sp.customer + 1, "first_enterprise": sp.enterprise + 1,
                             "first_merchant": sp.merchant + 1,
                             "reference_tables": ["branch", "staff", "product", "programme", "touchpoint"]}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    manifest["elapsed_seconds"] = round(seconds, 1)
    return manifest
