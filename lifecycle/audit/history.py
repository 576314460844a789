"""Audit history: every run and its findings are stored; runs are listed and diffed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.bulk import insert_frame
from lifecycle.catalog.models import AuditRun
from lifecycle.catalog.queries import frame
from lifecycle.errors import UnknownAuditRun, UsageError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def record_run(
    conn: Connection, run: dict[str, Any], summary: dict[str, Any], findings: pd.DataFrame
) -> int:
    """Store one run and its findings; returns the run's id."""
    counts = summary["by_severity"]
    result = conn.execute(
        sa.insert(AuditRun.__table__).values(
            started_at=run["started_at"],
            as_of=run["as_of"],
            actor=run["actor"],
            policy_hash=run["policy_hash"],
            policies=run["policies"],
            rules=summary["rules"],
            findings=summary["findings"],
            errors=counts["error"],
            warnings=counts["warning"],
            infos=counts["info"],
            seconds=run["seconds"],
        )
    )
    run_id = int(result.inserted_primary_key[0])
    if not findings.empty:
        rows = findings[["rule", "policy", "did", "severity", "message", "details"]].copy()
        rows.insert(0, "run_id", run_id)
        insert_frame(conn, "audit_finding", rows)
    return run_id


def runs(conn: Connection, limit: int | None = 20) -> pd.DataFrame:
    """The most recent audit runs, newest first."""
    return frame(
        conn,
        "SELECT id, started_at, as_of, actor, policies, policy_hash, rules, findings, errors, "
        "warnings, infos, seconds FROM audit_run ORDER BY id DESC"
        + (f" LIMIT {int(limit)}" if limit else ""),
    )


def diff(conn: Connection, run_a: int | None = None, run_b: int | None = None) -> dict[str, Any]:
    """Findings that appeared in ``run_b`` and that were resolved since ``run_a``.

    Without arguments, the last two runs. A finding is identified by (rule, DID).
    """
    if (run_a is None) != (run_b is None):
        raise UsageError("audit diff: give two run ids, or none for the last two runs")
    if run_a is None:
        last = conn.exec_driver_sql("SELECT id FROM audit_run ORDER BY id DESC LIMIT 2").all()
        if len(last) < 2:
            raise UsageError("audit diff: needs two audit runs; run 'lifecycle audit' again")
        run_b, run_a = int(last[0][0]), int(last[1][0])
    for run in (run_a, run_b):
        if (
            conn.execute(sa.text("SELECT 1 FROM audit_run WHERE id = :id"), {"id": run}).first()
            is None
        ):
            raise UnknownAuditRun(run)
    sql = """
        SELECT f.rule, f.did, f.severity, f.message FROM audit_finding f
        WHERE f.run_id = :this AND NOT EXISTS (
            SELECT 1 FROM audit_finding g
            WHERE g.run_id = :other AND g.rule = f.rule AND g.did = f.did)
        ORDER BY f.rule, f.did
    """
    appeared = frame(conn, sql, this=run_b, other=run_a)
    resolved = frame(conn, sql, this=run_a, other=run_b)
    return {"from": run_a, "to": run_b, "appeared": appeared, "resolved": resolved}
