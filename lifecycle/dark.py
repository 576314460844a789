"""Dark data in quarantine: files a storage dump lists that the catalog does not know there.

A storage-consistency check (:mod:`lifecycle.consistency`) finds an endpoint's dark entries;
with ``--apply`` they are recorded here (table ``dark_data``), never deleted from storage:

- a DID dark for the first time enters **quarantine** (``first_seen`` = ``last_seen`` = the
  dump's time);
- dark again in a later dump: ``last_seen`` moves on, and once that dump is at least
  ``confirm_after`` after ``first_seen`` (dark in two dumps that far apart) the entry is
  **confirmed** (``confirmed_at`` = that dump's time): reported for deletion by the site;
- no longer dark (absent from the dump, or the catalog now holds a replica there): it leaves
  the table.

Each of these is journaled as a change of the entry's ``status`` (entity ``dark_data``): null
to ``quarantined``, ``quarantined`` to ``confirmed``, and either to null when it leaves.
Dumps of one endpoint are recorded oldest first: an older dump than one already recorded is a
usage error (its entries would move ``last_seen`` back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lifecycle.catalog.sql import (
    JOURNAL_CHANGE_COLUMNS,
    execute_named,
    frame,
    rows,
    temporary_table,
)
from lifecycle.errors import UsageError
from lifecycle.values import to_utc, utc_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

STATUSES = ("quarantined", "confirmed")
CHANGED = "tmp_dark_changes"  # the statuses changed, old and new, for the journal
# an entry's status, from its columns (alias q)
STATUS_SQL = "CASE WHEN q.confirmed_at IS NULL THEN 'quarantined' ELSE 'confirmed' END"
_TIMES = ("first_seen", "last_seen", "confirmed_at")


def status_after(dark: str) -> str:
    """SQL of ``did, quarantine, first_seen`` for the dark entries of the table ``dark`` (alias
    ``x``): what recording the dump of ``time`` would make of each (``new``, ``quarantined``,
    ``confirmed``), with the time it was first seen. Binds ``:endpoint``, ``:time`` and
    ``:confirm_before`` (see :func:`params`)."""
    return f"""
        SELECT x.did,
               CASE WHEN q.id IS NULL THEN 'new'
                    WHEN q.confirmed_at IS NOT NULL THEN 'confirmed'
                    WHEN q.first_seen <= :confirm_before AND q.first_seen < :time
                         THEN 'confirmed'
                    ELSE 'quarantined' END AS quarantine,
               COALESCE(q.first_seen, :time) AS first_seen
        FROM {dark} x
        LEFT JOIN dark_data q ON q.endpoint_id = :endpoint AND q.did = x.did
        """


def params(endpoint_id: int, time: datetime, confirm_after: timedelta) -> dict:
    """The parameters of :func:`status_after` and :func:`record`'s statements."""
    return {"endpoint": endpoint_id, "time": time, "confirm_before": time - confirm_after}


def record(
    conn: Connection,
    change: Change,
    dark: str,
    endpoint_id: int,
    time: datetime,
    confirm_after: timedelta,
) -> dict[str, int]:
    """Record the dark entries of one endpoint's dump of ``time``, held in the temporary table
    ``dark`` (``did``, ``files``, ``bytes``, ``checksum``); see the module docstring. Returns
    how many entries are ``new``, newly ``confirmed``, ``kept`` (dark again, status unchanged)
    and ``released`` (no longer dark)."""
    bound = params(endpoint_id, time, confirm_after)
    latest = rows(conn, "SELECT MAX(last_seen) AS at FROM dark_data WHERE endpoint_id = :e",
                  e=endpoint_id)[0]["at"]  # fmt: skip
    latest = utc_datetime(latest)
    if latest is not None and time < latest:
        raise UsageError(
            f"a dump of this endpoint of {latest.isoformat().replace('+00:00', 'Z')} is already "
            "recorded; record dumps oldest first"
        )
    temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)

    def run(sql: str) -> int:
        return execute_named(conn, sql, bound).rowcount

    mine = "q.endpoint_id = :endpoint"
    # no longer dark: leaves quarantine
    run(f"INSERT INTO {CHANGED} SELECT 'dark_data', q.id, 'status', {STATUS_SQL}, NULL "
        f"FROM dark_data q WHERE {mine} AND q.did NOT IN (SELECT did FROM {dark})")  # fmt: skip
    released = run(
        f"DELETE FROM dark_data WHERE endpoint_id = :endpoint "
        f"AND did NOT IN (SELECT did FROM {dark})"
    )
    # dark again, far enough from the first time: confirmed
    confirming = (
        f"{mine} AND q.confirmed_at IS NULL AND q.first_seen <= :confirm_before "
        f"AND q.first_seen < :time AND q.did IN (SELECT did FROM {dark})"
    )
    run(f"INSERT INTO {CHANGED} SELECT 'dark_data', q.id, 'status', 'quarantined', 'confirmed' "
        f"FROM dark_data q WHERE {confirming}")  # fmt: skip
    confirmed = run(
        f"UPDATE dark_data SET confirmed_at = :time WHERE id IN "
        f"(SELECT q.id FROM dark_data q WHERE {confirming})"
    )
    # every entry still dark: what the storage holds now, and when it was last seen
    seen = run(
        f"""
        UPDATE dark_data SET
            files = (SELECT x.files FROM {dark} x WHERE x.did = dark_data.did),
            bytes = (SELECT x.bytes FROM {dark} x WHERE x.did = dark_data.did),
            checksum = (SELECT x.checksum FROM {dark} x WHERE x.did = dark_data.did),
            last_seen = :time
        WHERE endpoint_id = :endpoint AND did IN (SELECT did FROM {dark})
        """
    )
    before = rows(conn, "SELECT COALESCE(MAX(id), 0) AS id FROM dark_data")[0]["id"]
    new = run(
        f"INSERT INTO dark_data (endpoint_id, did, files, bytes, checksum, first_seen, last_seen) "
        f"SELECT :endpoint, x.did, x.files, x.bytes, x.checksum, :time, :time FROM {dark} x "
        f"WHERE NOT EXISTS (SELECT 1 FROM dark_data q WHERE {mine} AND q.did = x.did)"
    )
    execute_named(
        conn,
        f"INSERT INTO {CHANGED} SELECT 'dark_data', q.id, 'status', NULL, 'quarantined' "
        f"FROM dark_data q WHERE {mine} AND q.id > :before",
        {**bound, "before": int(before)},
    )
    change.changes_sql.append(f"SELECT * FROM {CHANGED}")
    change.drop_after = (*change.drop_after, CHANGED)
    return {
        "new": int(new),
        "confirmed": int(confirmed),
        "kept": int(seen) - int(confirmed),
        "released": int(released),
    }


def dark_data(
    conn: Connection, endpoint: str | None = None, status: str | None = None
) -> pd.DataFrame:
    """The dark data in quarantine, by endpoint and DID: ``endpoint``, ``did``, ``files``,
    ``bytes``, ``checksum``, ``status`` (``quarantined`` or ``confirmed``: reported for
    deletion), ``first_seen``, ``last_seen``, ``confirmed_at`` (dump times)."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
    where, bound = [], {}
    if endpoint is not None:
        if not rows(conn, "SELECT 1 AS known FROM endpoint WHERE name = :n", n=endpoint):
            raise UsageError(f"unknown endpoint {endpoint!r} (see 'lifecycle endpoints list')")
        where.append("e.name = :endpoint")
        bound["endpoint"] = endpoint
    if status is not None:
        where.append(f"{STATUS_SQL} = :status")
        bound["status"] = status
    found = frame(
        conn,
        f"""
        SELECT e.name AS endpoint, q.did, q.files, q.bytes, q.checksum, {STATUS_SQL} AS status,
               q.first_seen, q.last_seen, q.confirmed_at
        FROM dark_data q JOIN endpoint e ON e.id = q.endpoint_id
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY e.name, q.did
        """,
        **bound,
    )
    for column in _TIMES:
        found[column] = to_utc(found[column]) if len(found) else found[column]
    return found
