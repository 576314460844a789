"""Pins: exemptions from expiry, each held by someone, for a reason, until a time or for good.

A pin is identified by (dataset, actor, reason): pinning again with the same reason moves its end.
Pins also come from the exchange format (``pins`` table). Pinning is additive and acts directly;
every pin and unpin is journaled with the dataset it touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lifecycle.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change


def pin(
    conn: Connection, change: Change, did: str, reason: str, until: datetime | None = None
) -> str:
    """Pin ``did`` (by ``change.actor``); returns what was done, for people."""
    from lifecycle.catalog.models import Pin
    from lifecycle.catalog.queries import dataset_id

    if not reason or not reason.strip():
        raise UsageError("--reason: say why the dataset is pinned")
    if until is not None:
        from lifecycle.catalog.store import utcnow

        if until <= utcnow():
            raise UsageError(f"--until: {_iso(until)} is in the past; a pin must end later")
    ident = dataset_id(conn, did)
    table = Pin.__table__
    existing = conn.execute(
        sa.select(table.c.id, table.c.until).where(
            table.c.dataset_id == ident, table.c.actor == change.actor, table.c.reason == reason
        )
    ).first()
    when = f"until {_iso(until)}" if until else "with no end"
    if existing is not None:
        if existing.until == until:
            return f"{did} is already pinned by {change.actor} {when}: {reason}"
        conn.execute(sa.update(table).where(table.c.id == existing.id).values(until=until))
        summary = f"moved pin of {did} by {change.actor} to {when}: {reason}"
    else:
        conn.execute(
            sa.insert(table).values(
                dataset_id=ident, reason=reason, until=until, actor=change.actor
            )
        )
        summary = f"pinned {did} {when}: {reason}"
    change.summary = summary
    change.reason = reason
    change.datasets_sql = f"SELECT {int(ident)} AS id"
    return summary


def unpin(conn: Connection, change: Change, did: str, reason: str | None = None) -> str:
    """Remove the pins of ``did`` (only those with ``reason``, when given)."""
    from lifecycle.catalog.models import Pin
    from lifecycle.catalog.queries import dataset_id

    ident = dataset_id(conn, did)
    table = Pin.__table__
    condition = table.c.dataset_id == ident
    if reason is not None:
        condition &= table.c.reason == reason
    removed = conn.execute(sa.delete(table).where(condition)).rowcount
    if not removed:
        which = f" with reason {reason!r}" if reason is not None else ""
        raise UsageError(f"{did} has no pin{which} (see 'lifecycle pins list')")
    change.summary = f"unpinned {did} ({removed} pin{'s' if removed != 1 else ''} removed)"
    change.datasets_sql = f"SELECT {int(ident)} AS id"
    return change.summary


def pins(conn: Connection, now: datetime, did: str | None = None) -> pd.DataFrame:
    """Every pin (or those of ``did``), with whether it is in force at ``now``."""
    from lifecycle.catalog.queries import dataset_id, frame

    where = ""
    params = {}
    if did is not None:
        where = "WHERE n.dataset_id = :dataset"
        params["dataset"] = dataset_id(conn, did)
    out = frame(
        conn,
        f"""
        SELECT d.did, n.actor, n.reason, n.until, d.kind, d.data_type, d.state
        FROM pin n JOIN dataset d ON d.id = n.dataset_id
        {where}
        ORDER BY d.did, n.actor, n.reason
        """,
        **params,
    )
    out.insert(4, "in_force", out["until"].isna() | (out["until"] > now))
    return out


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
