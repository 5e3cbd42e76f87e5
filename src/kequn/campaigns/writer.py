"""Write a planned run into the ops store in bulk: assignments, suppressed contacts, the outbox, and the
arbitration losers among other campaigns' pending contacts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from kequn.campaigns import tables as T
from kequn.campaigns.policy import rank
from kequn.domain.campaigns import CampaignSpec
from kequn.opstore import audit

CHUNK = 50_000


def _chunks(rows: list[Any], n: int = CHUNK) -> Any:
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def _bulk(conn: Any, table: sa.Table, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert tuples fast: the driver's executemany on one prepared statement."""
    if not rows:
        return
    stmt = table.insert().compile(dialect=conn.dialect, column_keys=columns)
    if conn.dialect.name == "sqlite":  # store datetimes exactly as SQLAlchemy's SQLite DateTime does (UTC)
        idx = [i for i, v in enumerate(rows[0]) if isinstance(v, dt.datetime)]
        if idx:
            fmt = {v: sqlite_ts(v) for i in idx for v in {r[i] for r in rows}}
            rows = [tuple(fmt[v] if i in idx else v for i, v in enumerate(r)) for r in rows]
    for part in _chunks(rows):
        conn.exec_driver_sql(str(stmt), [dict(zip(columns, r, strict=True)) for r in part]
                             if conn.dialect.paramstyle in ("named", "pyformat") else part)


def sqlite_ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def write_run(engine: Any, spec: CampaignSpec, version: int, run_id: str, planned: Any, *,
              now: dt.datetime, not_before: dt.datetime, as_of: dt.date, actor: str) -> dict[str, Any]:
    tbl = planned.to_pyarrow()
    cust = tbl.column("customer_id").to_pylist()
    branch = tbl.column("branch_id").to_pylist()
    arm = tbl.column("arm").to_pylist()
    channel = tbl.column("channel").to_pylist()
    reason = tbl.column("reason").to_pylist()
    cid = spec.campaign_id
    tx = int(spec.transactional)
    if engine.dialect.name == "sqlite":  # formatted once here, not per row in _bulk
        now_v: Any = sqlite_ts(now)
        nb_v: Any = sqlite_ts(not_before)
    else:
        now_v, nb_v = now, not_before
    assign = [(run_id, cid, c, a, b, int(r is None)) for c, a, b, r in zip(cust, arm, branch, reason, strict=True)]
    supp = [(run_id, cid, c, spec.channels[0].channel, r, now_v)
            for c, a, r in zip(cust, arm, reason, strict=True) if a == "treatment" and r is not None]
    send = [(f"{run_id}|{c}|{ch}", run_id, cid, c, ch, tx, "pending", 0, nb_v, now_v)
            for c, a, ch, r in zip(cust, arm, channel, reason, strict=True) if a == "treatment" and r is None]
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB of page cache for the bulk insert
        conn.execute(T.campaign_run.insert().values(run_id=run_id, campaign_id=cid, version=version,
                                                    started_at=now, as_of=as_of, counts="{}"))
        _bulk(conn, T.assignment, ["run_id", "campaign_id", "customer_id", "arm", "branch_id", "eligible"], assign)
        _bulk(conn, T.suppression, ["run_id", "campaign_id", "customer_id", "channel", "reason", "at"], supp)
        _bulk(conn, T.outbox, ["send_key", "run_id", "campaign_id", "customer_id", "channel", "transactional",
                               "status", "attempts", "not_before", "created_at"], send)
        bumped = _arbitrate(conn, spec, {s[3] for s in send}, now)
        conn.execute(T.campaign.update().where(T.campaign.c.campaign_id == cid)
                     .values(status="live", launched_at=now))
    counts: dict[str, Any] = {"audience": len(cust), "arms": _count(arm), "queued": len(send),
                              "suppressed": _count([s[4] for s in supp]), "bumped_from_other_campaigns": bumped}
    audit.record(engine, actor, "campaign.launch", f"campaign:{cid}@v{version}",
                 details={"run_id": run_id, **{k: v for k, v in counts.items() if k != "seconds"}})
    return counts


def _count(values: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _arbitrate(conn: Any, spec: CampaignSpec, winners: set[str], now: dt.datetime) -> int:
    """Other campaigns' pending contacts for customers this campaign won (it outranks them): suppressed
    with reason arbitration_lost."""
    if not winners:
        return 0
    specs = {r.campaign_id: json.loads(r.spec) for r in conn.execute(
        sa.select(T.campaign.c.campaign_id, T.campaign.c.spec).where(T.campaign.c.campaign_id != spec.campaign_id))}
    mine = rank(spec)
    weaker = [c for c, s in specs.items()
              if s.get("priority", 0) * 10**12 + s.get("offer", {}).get("expected_value_fen", 0) < mine]
    if not weaker:
        return 0
    rows = conn.execute(sa.select(T.outbox.c.id, T.outbox.c.run_id, T.outbox.c.campaign_id, T.outbox.c.customer_id,
                                  T.outbox.c.channel)
                        .where(T.outbox.c.status == "pending", T.outbox.c.campaign_id.in_(weaker))).all()
    lost = [r for r in rows if r.customer_id in winners]
    for part in _chunks(lost, 900):
        conn.execute(T.outbox.update().where(T.outbox.c.id.in_([r.id for r in part])).values(status="suppressed"))
    _bulk(conn, T.suppression, ["run_id", "campaign_id", "customer_id", "channel", "reason", "at"],
          [(r.run_id, r.campaign_id, r.customer_id, r.channel, "arbitration_lost", now) for r in lost])
    return len(lost)
