"""The report's Repair section: the transfers on record, and what repair would do now.

The transfers are counted by state and target site in SQL; the failed ones are listed newest
first (top N). What repair would do is the repair service's own plan, as ``lifecycle repair``
previews it, reduced to counts: new replicas per target site, and the datasets it cannot
repair grouped by reason. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import frame
from lifecycle.repair import plan_repair

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet


@dataclass
class Repair:
    by_state: pd.DataFrame  # state, transfers, bytes: every transfer on record
    open_by_site: pd.DataFrame  # target site, queued, active, bytes: open transfers (top N)
    failed: pd.DataFrame  # did, source, target, attempts, finished_at, error (newest top N)
    plan: dict[str, Any]  # the repair plan's summary (lifecycle repair's counts)
    plan_by_site: list[tuple[str, int, int]]  # target site, new replicas, bytes (top N)
    cannot: list[tuple[str, bool, int, str]]  # rule, lost for good, datasets, an example why


def repair_section(conn: Connection, policies: PolicySet, now: datetime, top: int) -> Repair:
    """The Repair section's numbers as of ``now``: transfers recorded, and the plan
    ``lifecycle repair --policy …`` would preview."""
    by_state = frame(
        conn,
        "SELECT state, COUNT(*) AS transfers, COALESCE(SUM(bytes), 0) AS bytes "
        "FROM transfer GROUP BY state ORDER BY state",
    )
    open_by_site = frame(
        conn,
        f"""
        SELECT s.name AS site,
               SUM(CASE WHEN t.state = 'queued' THEN 1 ELSE 0 END) AS queued,
               SUM(CASE WHEN t.state = 'active' THEN 1 ELSE 0 END) AS active,
               COALESCE(SUM(t.bytes), 0) AS bytes
        FROM transfer t JOIN endpoint e ON e.id = t.target_endpoint_id
        JOIN site s ON s.id = e.site_id
        WHERE t.state IN ('queued', 'active')
        GROUP BY s.name ORDER BY 4 DESC, 1 LIMIT {int(top)}
        """,
    )
    failed = frame(
        conn,
        f"""
        SELECT d.did, se.name AS source, te.name AS target, t.attempts, t.finished_at, t.error
        FROM transfer t JOIN dataset d ON d.id = t.dataset_id
        JOIN endpoint se ON se.id = t.source_endpoint_id
        JOIN endpoint te ON te.id = t.target_endpoint_id
        WHERE t.state = 'failed'
        ORDER BY t.finished_at DESC, t.id DESC LIMIT {int(top)}
        """,
    )
    plan = plan_repair(conn, policies, now)
    per_site: dict[str, list[int]] = {}
    for t in plan.transfers:
        counts = per_site.setdefault(t["target_site"], [0, 0])
        counts[0] += 1
        counts[1] += int(t["bytes"])
    plan_by_site = sorted(
        ((site, n, b) for site, (n, b) in per_site.items()), key=lambda r: (-r[2], r[0])
    )[:top]
    why: dict[tuple[str, bool], tuple[set[str], str]] = {}
    for u in plan.unrepaired:  # the reasons name sizes and counts: grouped by rule instead
        dids, _ = why.setdefault((u["rule"], bool(u["lost_for_good"])), (set(), u["reason"]))
        dids.add(u["did"])
    cannot = sorted(
        ((rule, lost, len(dids), example) for (rule, lost), (dids, example) in why.items()),
        key=lambda r: (-r[2], r[0], r[1]),
    )[:top]
    return Repair(by_state, open_by_site, failed, plan.summary, plan_by_site, cannot)
