"""Rucio's replication rules in the catalog (table ``replication_rule``, migration 0011).

``rucio sync`` records the rules of a snapshot (:func:`record_rules`): new ones added, changed
ones updated (state, lock counts), and the rules of the datasets of the scopes pulled that Rucio
no longer has removed, each change journaled with its old and new value; set-based, through a
scratch table. ``rucio push --apply`` adds the rules it created with the finding each repairs
(:func:`record_pushed`). ``datasets show`` lists a dataset's rules (:func:`dataset_rules`) and
the audit's findings name the rules covering them (:func:`covering_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.sql import (
    JOURNAL_CHANGE_COLUMNS,
    TIMESTAMP,
    frame,
    rows,
    statement,
    temporary_table,
)
from lifecycle.rucio.mapping import timestamp
from lifecycle.text import count

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

PULLED = "tmp_rucio_rules"
JOURNAL_CHANGE_COLUMNS_NAMES = "entity, entity_id, field, old_value, new_value"
CHANGED = "tmp_rucio_rules_changed"
FIELDS = ("rse_expression", "copies", "state", "account", "source_replica_expression",
          "comment", "created_at", "expires_at", "locks_ok", "locks_replicating",
          "locks_stuck")  # fmt: skip
JOURNALED = ("state", "rse_expression", "copies", "locks_ok", "locks_replicating", "locks_stuck")
SHOWN = "r.rule_id, r.state, r.rse_expression, r.copies, r.locks_ok, r.locks_replicating, " \
        "r.locks_stuck, r.account, r.comment, r.finding, r.created_at, r.seen_at"  # fmt: skip


@dataclass
class RuleChanges:
    """What recording a snapshot's rules did."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unknown: int = 0  # rules on datasets the catalog does not hold

    def line(self) -> str:
        return (
            f"replication rules: {count(self.added, 'new rule')}, {self.changed} changed, "
            f"{self.removed} gone from Rucio"
            + (f", {self.unknown} on datasets not in the catalog" if self.unknown else "")
        )


def _load(conn: Connection, rules: list[dict[str, Any]]) -> None:
    temporary_table(
        conn,
        PULLED,
        "rule_id TEXT PRIMARY KEY, did TEXT NOT NULL, rse_expression TEXT, copies INTEGER, "
        "state TEXT, account TEXT, source_replica_expression TEXT, comment TEXT, "
        "created_at TIMESTAMP WITH TIME ZONE, expires_at TIMESTAMP WITH TIME ZONE, locks_ok INTEGER, "
        "locks_replicating INTEGER, locks_stuck INTEGER, finding TEXT, dataset_id BIGINT",
    )
    if rules:
        conn.execute(
            sa.text(
                f"INSERT INTO {PULLED} (rule_id, did, finding, {', '.join(FIELDS)}) "
                f"VALUES (:rule_id, :did, :finding, {', '.join(':' + f for f in FIELDS)})"
            ).bindparams(
                sa.bindparam("created_at", type_=TIMESTAMP),
                sa.bindparam("expires_at", type_=TIMESTAMP),
            ),
            [
                {
                    **{f: r.get(f) for f in FIELDS},
                    "rule_id": str(r["rule_id"]),
                    "did": r["did"],
                    "finding": r.get("finding"),
                    "copies": int(r.get("copies") or 0),
                    "created_at": timestamp(r.get("created_at")),
                    "expires_at": timestamp(r.get("expires_at")),
                    **{k: int(r.get(k) or 0) for k in JOURNALED[3:]},
                }
                for r in rules
            ],
        )
    conn.exec_driver_sql(
        f"UPDATE {PULLED} SET dataset_id = (SELECT d.id FROM dataset d WHERE d.did = {PULLED}.did)"
    )


def record_rules(
    conn: Connection, change: Change, rules: list[dict[str, Any]], scopes: list[str], now: datetime
) -> RuleChanges:
    """Make the catalog's rules of the datasets of ``scopes`` those of ``rules`` (see the
    module), in the caller's transaction; journaled through ``change``."""
    _load(conn, rules)
    temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)
    result = RuleChanges()
    result.unknown = int(
        conn.exec_driver_sql(f"SELECT COUNT(*) FROM {PULLED} WHERE dataset_id IS NULL").scalar()
    )
    for name in JOURNALED:
        conn.exec_driver_sql(
            f"""
            INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value)
            SELECT 'replication_rule', r.id, '{name}', CAST(r.{name} AS TEXT),
                   CAST(p.{name} AS TEXT)
            FROM replication_rule r JOIN {PULLED} p ON p.rule_id = r.rule_id
            WHERE r.{name} <> p.{name}
            """
        )
    result.changed = int(
        conn.exec_driver_sql(f"SELECT COUNT(DISTINCT entity_id) FROM {CHANGED}").scalar()
    )
    params = {"now": now}
    assignments = ", ".join(
        f"{f} = (SELECT p.{f} FROM {PULLED} p WHERE p.rule_id = replication_rule.rule_id)"
        for f in FIELDS
    )
    conn.execute(
        statement(
            f"UPDATE replication_rule SET {assignments}, seen_at = :now "
            f"WHERE rule_id IN (SELECT rule_id FROM {PULLED})",
            params,
        ),
        params,
    )
    scoped = {f"scope{i}": s for i, s in enumerate(scopes)}
    in_scopes = ", ".join(":" + k for k in scoped) or "NULL"
    gone = (
        f"SELECT r.id FROM replication_rule r JOIN dataset d ON d.id = r.dataset_id "
        f"WHERE d.scope IN ({in_scopes}) AND r.rule_id NOT IN (SELECT rule_id FROM {PULLED})"
    )
    conn.execute(
        statement(
            f"INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value) "
            f"SELECT 'replication_rule', r.id, 'rule_id', r.rule_id, NULL "
            f"FROM replication_rule r WHERE r.id IN ({gone})"
        ),
        scoped,
    )
    result.removed = conn.execute(
        statement(f"DELETE FROM replication_rule WHERE id IN ({gone})"), scoped
    ).rowcount
    result.added = _insert_new(conn, now)
    if result.added or result.changed or result.removed:
        change.summary = result.line()
    change.changes_sql.append(f"SELECT {JOURNAL_CHANGE_COLUMNS_NAMES} FROM {CHANGED}")
    change.drop_after = (PULLED, CHANGED)
    return result


def _insert_new(conn: Connection, now: datetime) -> int:
    """Insert the rules not yet in the catalog (on datasets it holds); journal each new rule id
    (and the finding it repairs, when known); returns how many."""
    first = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM replication_rule").scalar())
    params = {"now": now}
    added = conn.execute(
        statement(
            f"""
            INSERT INTO replication_rule (rule_id, dataset_id, finding, seen_at,
                                          {", ".join(FIELDS)})
            SELECT p.rule_id, p.dataset_id, p.finding, :now, {", ".join("p." + f for f in FIELDS)}
            FROM {PULLED} p
            WHERE p.dataset_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM replication_rule r WHERE r.rule_id = p.rule_id)
            ORDER BY p.rule_id
            """,
            params,
        ),
        params,
    ).rowcount
    for name in ("rule_id", "finding"):
        conn.exec_driver_sql(
            f"""
            INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value)
            SELECT 'replication_rule', r.id, '{name}', NULL, r.{name}
            FROM replication_rule r WHERE r.id > {first} AND r.{name} IS NOT NULL
            """
        )
    return added


def record_pushed(
    conn: Connection, change: Change, created: list[dict[str, Any]], now: datetime
) -> int:
    """Add the rules ``rucio push --apply`` created (each with ``finding``: what it repairs),
    journaled: each new rule id next to its finding. Returns how many were recorded."""
    _load(conn, created)
    temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)
    added = _insert_new(conn, now)
    change.changes_sql.append(f"SELECT {JOURNAL_CHANGE_COLUMNS_NAMES} FROM {CHANGED}")
    change.datasets_sql = f"SELECT dataset_id AS id FROM {PULLED} WHERE dataset_id IS NOT NULL"
    change.drop_after = (PULLED, CHANGED)
    return added


def dataset_rules(conn: Connection, did: str) -> pd.DataFrame:
    """The rules on ``did``, by rule id."""
    return frame(
        conn,
        f"SELECT {SHOWN} FROM replication_rule r JOIN dataset d ON d.id = r.dataset_id "
        "WHERE d.did = :did ORDER BY r.rule_id",
        did=did,
    )


def covering_rules(conn: Connection, dids: list[str]) -> dict[str, str]:
    """For the audit's findings: per DID, the rules on it in a few words
    (``covered by rule abc123 (REPLICATING)``)."""
    if not dids:
        return {}
    found = rows(
        conn,
        "SELECT d.did, r.rule_id, r.state FROM replication_rule r "
        "JOIN dataset d ON d.id = r.dataset_id WHERE d.did IN :dids ORDER BY d.did, r.rule_id",
        dids=list(dids),
    )
    out: dict[str, list[str]] = {}
    for row in found:
        out.setdefault(row["did"], []).append(f"rule {row['rule_id']} ({row['state']})")
    return {did: "covered by " + ", ".join(rules) for did, rules in out.items()}
