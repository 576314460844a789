"""Recording a repair plan: each transfer becomes a ``copying`` replica and a queued transfer.

Set-based, in the caller's transaction (under the write lock): the plan's transfers go into a
temporary table (one batched insert), resolved to ids by joins; a destination holding a lost or
deleted replica row of the dataset gets that row back as ``copying`` (one replica per dataset
and endpoint), the others get a new row; then one ``transfer`` row each. The journal entry
links every dataset and records each replica's state change and each transfer's state, old and
new (table ``journal_change``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lifecycle.catalog.sql import JOURNAL_CHANGE_COLUMNS, analyze, statement, temporary_table
from lifecycle.text import count, human_bytes

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change
    from lifecycle.repair.plan import RepairPlan

PLANNED = "tmp_repair_planned"  # the plan's transfers, resolved to ids
CHANGED = "tmp_repair_changed"  # the values changed, for the journal


def apply_repair(conn: Connection, change: Change, plan: RepairPlan, now: datetime) -> list[int]:
    """Record ``plan``'s transfers (see the module); returns the new transfers' ids."""
    if not plan.transfers:
        return []
    temporary_table(
        conn,
        PLANNED,
        "seq INTEGER PRIMARY KEY, did TEXT NOT NULL, source TEXT NOT NULL, "
        "target TEXT NOT NULL, bytes BIGINT NOT NULL, reason TEXT NOT NULL, "
        "dataset_id BIGINT, source_id BIGINT, target_id BIGINT, replica_id BIGINT",
    )
    conn.execute(
        statement(
            f"INSERT INTO {PLANNED} (seq, did, source, target, bytes, reason) "
            "VALUES (:seq, :did, :source, :target, :bytes, :reason)"
        ),
        [
            {k: t[k] for k in ("did", "source", "target", "bytes", "reason")} | {"seq": i}
            for i, t in enumerate(plan.transfers)
        ],
    )
    conn.exec_driver_sql(
        f"""
        UPDATE {PLANNED} SET
            dataset_id = (SELECT d.id FROM dataset d WHERE d.did = {PLANNED}.did),
            source_id = (SELECT e.id FROM endpoint e WHERE e.name = {PLANNED}.source),
            target_id = (SELECT e.id FROM endpoint e WHERE e.name = {PLANNED}.target)
        """
    )
    analyze(conn, PLANNED)
    temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)
    params = {"now": now}
    # a lost or deleted replica row at the destination comes back as the copy being made
    conn.exec_driver_sql(
        f"""
        INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value)
        SELECT 'replica', r.id, 'state', r.state, 'copying'
        FROM {PLANNED} p JOIN replica r
             ON r.dataset_id = p.dataset_id AND r.endpoint_id = p.target_id
        """
    )
    conn.execute(
        statement(
            f"""
            UPDATE replica SET state = 'copying', created_at = :now, accessed_at = NULL
            WHERE id IN (SELECT c.entity_id FROM {CHANGED} c)
            """,
            params,
        ),
        params,
    )
    conn.execute(
        statement(
            f"""
            INSERT INTO replica (dataset_id, endpoint_id, state, created_at)
            SELECT p.dataset_id, p.target_id, 'copying', :now FROM {PLANNED} p
            WHERE NOT EXISTS (SELECT 1 FROM replica r
                              WHERE r.dataset_id = p.dataset_id AND r.endpoint_id = p.target_id)
            ORDER BY p.seq
            """,
            params,
        ),
        params,
    )
    conn.exec_driver_sql(
        f"""
        UPDATE {PLANNED} SET replica_id = (
            SELECT r.id FROM replica r
            WHERE r.dataset_id = {PLANNED}.dataset_id AND r.endpoint_id = {PLANNED}.target_id)
        """
    )
    conn.exec_driver_sql(
        f"""
        INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value)
        SELECT 'replica', p.replica_id, 'state', NULL, 'copying' FROM {PLANNED} p
        WHERE p.replica_id NOT IN (SELECT c.entity_id FROM {CHANGED} c)
        """
    )
    first = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM transfer").scalar()) + 1
    conn.execute(
        statement(
            f"""
            INSERT INTO transfer (id, dataset_id, replica_id, source_endpoint_id,
                                  target_endpoint_id, bytes, state, created_at, attempts,
                                  moved_bytes, reason)
            SELECT :first + p.seq, p.dataset_id, p.replica_id, p.source_id, p.target_id,
                   p.bytes, 'queued', :now, 0, 0, p.reason
            FROM {PLANNED} p ORDER BY p.seq
            """,
            {**params, "first": first},
        ),
        {**params, "first": first},
    )
    conn.execute(
        statement(
            f"""
            INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value)
            SELECT 'transfer', :first + p.seq, 'state', NULL, 'queued' FROM {PLANNED} p
            """
        ),
        {"first": first},
    )
    size = sum(int(t["bytes"]) for t in plan.transfers)
    change.summary = (
        f"repair: {count(len(plan.transfers), 'new replica')} copying "
        f"({human_bytes(size)}), {count(len(plan.transfers), 'transfer')} queued (plan "
        f"{plan.digest})" + (f", draining {', '.join(plan.drain)}" if plan.drain else "")
    )
    change.datasets_sql = f"SELECT dataset_id AS id FROM {PLANNED}"
    change.changes_sql.append(f"SELECT {_columns()} FROM {CHANGED}")
    change.drop_after = (PLANNED, CHANGED)
    return list(range(first, first + len(plan.transfers)))


def _columns() -> str:
    return "entity, entity_id, field, old_value, new_value"
