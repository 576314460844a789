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
    """Store one run and bring the finding intervals up to date; returns the run's id.

    Findings still open (``last_run`` null) and found again unchanged are left alone; those no
    longer found, or found with another message, are closed at the previous run; the rest are
    inserted as opened by this run.
    """
    counts = summary["by_severity"]
    previous = conn.exec_driver_sql("SELECT MAX(id) FROM audit_run").scalar()
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
    current = findings[["rule", "policy", "did", "severity", "message", "details"]].copy()
    current["fingerprint"] = fingerprints(current)
    still_open = frame(conn, "SELECT id, fingerprint FROM audit_finding WHERE last_run IS NULL")
    open_prints = still_open["fingerprint"].astype("int64")
    unchanged = current["fingerprint"].isin(open_prints)
    to_close = still_open.loc[~open_prints.isin(current["fingerprint"]), "id"]
    _close(conn, [int(i) for i in to_close], previous)
    to_open = current[~unchanged]
    if not to_open.empty:
        rows = to_open.copy()
        rows.insert(0, "first_run", run_id)
        insert_frame(conn, "audit_finding", rows)
    return run_id


def fingerprints(findings: pd.DataFrame) -> pd.Series:
    """A 64-bit hash per finding of everything that identifies and explains it.

    Comparing a run with the open findings then reads two integers per finding instead of the
    texts; two different findings share a fingerprint with odds of about n**2 / 2**64.
    """
    import pandas as pd

    columns = findings[["rule", "did", "severity", "message", "details"]].astype(str)
    hashed = pd.util.hash_pandas_object(columns, index=False).to_numpy(dtype="uint64")
    return pd.Series(hashed.view("int64"), index=findings.index)


def _close(conn: Connection, ids: list[int], last_run: int | None) -> None:
    statement = sa.text("UPDATE audit_finding SET last_run = :last WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    for start in range(0, len(ids), 500):
        conn.execute(statement, {"last": last_run, "ids": ids[start : start + 500]})


def _present(alias: str, run: str) -> str:
    """SQL: the finding row ``alias`` was found by run ``run``."""
    return f"{alias}.first_run <= {run} AND ({alias}.last_run IS NULL OR {alias}.last_run >= {run})"


def findings_of(conn: Connection, run: int) -> pd.DataFrame:
    """The findings of one run."""
    return frame(
        conn,
        f"SELECT f.rule, f.policy, f.did, f.severity, f.message, f.details "
        f"FROM audit_finding f WHERE {_present('f', ':run')} ORDER BY f.rule, f.did",
        run=run,
    )


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
    sql = f"""
        SELECT f.rule, f.did, f.severity, f.message FROM audit_finding f
        WHERE {_present("f", ":this")} AND NOT EXISTS (
            SELECT 1 FROM audit_finding g
            WHERE g.rule = f.rule AND g.did = f.did AND {_present("g", ":other")})
        ORDER BY f.rule, f.did
    """
    appeared = frame(conn, sql, this=run_b, other=run_a)
    resolved = frame(conn, sql, this=run_a, other=run_b)
    return {"from": run_a, "to": run_b, "appeared": appeared, "resolved": resolved}
