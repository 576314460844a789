"""Audit history: every run and its findings are stored; runs are listed and diffed."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.bulk import bulk_load
from lifecycle.catalog.models import AuditRun
from lifecycle.catalog.sql import by_dialect, frame, planner_settings, statement
from lifecycle.errors import UnknownAuditRun, UsageError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def record_run(conn: Connection, run: dict[str, Any], summary: dict[str, Any], table: str) -> int:
    """Store one run and bring the finding intervals up to date from ``table`` (a run's
    findings; indexed on rule and DID here when needed); returns its id.

    Findings still open (``last_run`` null) and found again unchanged are left alone; those of
    the rules this run evaluated that it no longer finds, or finds with another message, are
    closed at the previous run; the rest are inserted as opened by this run. Set-based
    statements, whatever the number of findings: the new ones are inserted, then the open
    findings counted, and only when some are not this run's are they compared with its
    findings to close them. A finding of a rule the run did not evaluate stays open: runs with
    other policies neither resolve nor repeat it.
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
            rule_names=json.dumps(run["rule_names"]),
            rules=summary["rules"],
            findings=summary["findings"],
            errors=counts["error"],
            warnings=counts["warning"],
            infos=counts["info"],
            seconds=run["seconds"],
        )
    )
    run_id = int(result.inserted_primary_key[0])
    same = (
        "{a}.rule = {b}.rule AND {a}.did = {b}.did AND {a}.severity = {b}.severity "
        "AND {a}.message = {b}.message AND {a}.details = {b}.details"
    )
    # With no open finding (the first run, or all resolved) every finding is new: no anti-join.
    # Not only shorter: PostgreSQL plans that anti-join on a VACUUMed, empty history as a
    # nested loop over a sequential scan of audit_finding, which this very insert fills:
    # measured at 1 M datasets (206 k findings), stopped after 9 minutes, against 1.8 s.
    # An empty history (a catalog's first audit) holds no open finding either.
    empty = conn.exec_driver_sql("SELECT 1 FROM audit_finding LIMIT 1").first() is None
    any_open = "SELECT 1 FROM audit_finding WHERE last_run IS NULL LIMIT 1"
    new_only = (
        f"WHERE NOT EXISTS (SELECT 1 FROM audit_finding f WHERE f.last_run IS NULL "
        f"AND f.first_run < :run AND {same.format(a='f', b='t')})"
        if not empty and conn.exec_driver_sql(any_open).first() is not None
        else ""
    )
    if empty and by_dialect(conn, sqlite=False, postgresql=True):
        # PostgreSQL, into an empty history: every finding goes in, and the history's indexes
        # are built once the rows are in, as import builds a table's (bulk_load: one sort per
        # index instead of an index insert per row; undone with the transaction). Measured at
        # 1 M datasets (206 k findings, four pairs alternately): 0.75 s for the rows and
        # 0.5-0.6 s for the indexes, against 1.5-1.9 s inserted along them. SQLite inserts
        # along its indexes as fast as it builds them (0.39-0.40 s against 0.43-0.54 s, two
        # pairs): it keeps them.
        conditions = bulk_load(conn, ["audit_finding"])
    elif new_only:
        # PostgreSQL hashes the open findings for the anti-join (all five columns, 206 k rows
        # at 1 M datasets: ~50 MB); at the default work_mem of 4 MB it spilled in 16 batches,
        # writing and reading 160 MB of temporary files. Measured alone, findings unchanged,
        # three pairs: 0.29-0.30 s with 64 MB against 0.43-0.46 s (nested loops along the
        # (rule, DID) index: 0.44-0.49 s). For this statement only (SQLite: nothing).
        conditions = planner_settings(conn, work_mem="64MB")
    else:
        conditions = nullcontext()
    with conditions:
        conn.execute(
            sa.text(
                "INSERT INTO audit_finding (first_run, rule, policy, did, severity, message, "
                "details) SELECT :run, t.rule, t.policy, t.did, t.severity, t.message, t.details "
                f"FROM {table} t {new_only}"
            ),
            {"run": run_id},
        )
    # Now every finding of this run has an open twin. If the open findings are no more than
    # this run's, none is left to resolve (a run finds a (rule, DID) once, so no open finding
    # is the twin of two): the nightly run whose findings did not change stops here, having
    # counted the index of open findings. Measured at 1 M datasets (206 k findings, SQLite):
    # the resolving pass over every open finding took 0.35-0.65 s of a 0.6-1.2 s history write.
    open_now = conn.exec_driver_sql("SELECT COUNT(*) FROM audit_finding WHERE last_run IS NULL")
    if open_now.scalar() == summary["findings"]:
        return run_id
    # only the rules this run evaluated can resolve findings; others stay as they were;
    # the findings inserted above are this run's own, never resolved
    index_by_rule_and_did(conn, table)
    resolved = {"previous": previous, "rules": run["rule_names"] or [""]}
    conn.execute(
        statement(
            "UPDATE audit_finding SET last_run = :previous WHERE last_run IS NULL "
            "AND rule IN :rules "
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE "
            + same.format(a="t", b="audit_finding")
            + ")",
            resolved,
        ),
        resolved,
    )
    return run_id


def index_by_rule_and_did(conn: Connection, table: str) -> None:
    """An index of the run's findings ``table`` on (rule, DID), unless it has one: for finding
    a (rule, DID) there (resolving, rewriting details)."""
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_rule_did ON {table} (rule, did)")


def _present(alias: str, run: str) -> str:
    """SQL: the finding row ``alias`` was found by run ``run``."""
    return f"{alias}.first_run <= {run} AND ({alias}.last_run IS NULL OR {alias}.last_run >= {run})"


def rules_of(conn: Connection, run: int) -> list[str]:
    """The rules a run evaluated."""
    value = conn.execute(
        sa.text("SELECT rule_names FROM audit_run WHERE id = :id"), {"id": run}
    ).scalar()
    if value is None:
        raise UnknownAuditRun(run)
    return json.loads(value)


def findings_of(conn: Connection, run: int) -> pd.DataFrame:
    """The findings of one run (of the rules it evaluated)."""
    return frame(
        conn,
        f"SELECT f.rule, f.policy, f.did, f.severity, f.message, f.details "
        f"FROM audit_finding f WHERE {_present('f', ':run')} AND f.rule IN :rules "
        f"ORDER BY f.rule, f.did",
        run=run,
        rules=rules_of(conn, run) or [""],
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
    # only rules both runs evaluated can have appeared or been resolved between them
    common = sorted(set(rules_of(conn, run_a)) & set(rules_of(conn, run_b)))
    sql = f"""
        SELECT f.rule, f.did, f.severity, f.message FROM audit_finding f
        WHERE f.rule IN :rules AND {_present("f", ":this")} AND NOT EXISTS (
            SELECT 1 FROM audit_finding g
            WHERE g.rule = f.rule AND g.did = f.did AND {_present("g", ":other")})
        ORDER BY f.rule, f.did
    """
    rules = common or [""]
    appeared = frame(conn, sql, this=run_b, other=run_a, rules=rules)
    resolved = frame(conn, sql, this=run_a, other=run_b, rules=rules)
    return {"from": run_a, "to": run_b, "appeared": appeared, "resolved": resolved}
