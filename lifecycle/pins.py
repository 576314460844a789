"""Pins: exemptions from expiry, each held by someone, for a reason, until a time or for good.

A pin is identified by (dataset, actor, reason): pinning again with the same reason moves its end.
Pins also come from the exchange format (``pins`` table). Pinning is additive and acts directly;
every pin and unpin is journaled with the dataset it touched. A deleted or lost dataset (by its
state, or because every replica it had is deleted or lost) cannot be pinned: nothing is left to
keep.

Unpinning deletes no data, so it acts directly too (DESIGN invariant 6 asks a preview of what
deletes, expires, moves or marks lost); it says what it changed: the pins removed, and what
expiry would now decide for the dataset (the expiry service's own decision for that dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.models import Pin
from lifecycle.catalog.queries import dataset_id
from lifecycle.catalog.sql import frame
from lifecycle.catalog.store import utcnow
from lifecycle.errors import UsageError
from lifecycle.expiry import expire
from lifecycle.text import count, indexed_text_problem
from lifecycle.values import utc_datetime
from lifecycle.vocabulary import LIVE_STATES

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change
    from lifecycle.policy import PolicySet


def pin(
    conn: Connection, change: Change, did: str, reason: str, until: datetime | None = None
) -> str:
    """Pin ``did`` (by ``change.actor``); returns what was done, for people."""
    if not reason or not reason.strip():
        raise UsageError("--reason: say why the dataset is pinned")
    # a pin is indexed by (dataset, actor, reason): both engines refuse the same over-long text
    for option, text in (("--reason", reason), ("LIFECYCLE_ACTOR (the actor)", change.actor)):
        problem = indexed_text_problem(text)
        if problem is not None:
            raise UsageError(f"{option}: {problem}")
    if until is not None and until <= utcnow():
        raise UsageError(f"--until: {_iso(until)} is in the past; a pin must end later")
    ident = dataset_id(conn, did)
    gone = _gone_state(conn, ident)
    if gone is not None:
        raise UsageError(f"cannot pin {did}: it is {gone} (nothing is left to keep from expiry)")
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


@dataclass
class Unpinned:
    """What ``unpin`` changed: the pins removed, and what expiry would now decide.

    ``decision`` is the expiry service's decision for the dataset as of ``now``: ``delete``
    (``expire --apply`` would delete it now), ``keep`` (with ``why``), ``alive`` (not past its
    end of life), or None when no policies were given to decide with.
    """

    did: str
    removed: list[dict[str, Any]] = field(default_factory=list)  # actor, reason, until, ended
    decision: str | None = None
    why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "removed": [
                {**pin, "until": _iso(pin["until"]) if pin["until"] else None}
                for pin in self.removed
            ],
            "decision": self.decision,
            "why": self.why,
        }

    def lines(self) -> list[str]:
        def described(pin: dict[str, Any]) -> str:
            when = f"until {_iso(pin['until'])}" if pin["until"] else "with no end"
            ended = " (ended)" if pin["ended"] else ""
            return f"the pin by {pin['actor']} {when}{ended}: {pin['reason']}"

        if len(self.removed) == 1:
            out = [f"unpinned {self.did}: removed {described(self.removed[0])}"]
        else:
            out = [f"unpinned {self.did}: removed {count(len(self.removed), 'pin')}"]
            out += [f"  - {described(pin)}" for pin in self.removed]
        if self.decision == "delete":
            out.append(
                f"{self.did} is now eligible for expiry: 'lifecycle expire --apply' would "
                f"delete it ({self.why})"
            )
        elif self.decision == "keep":
            out.append(f"{self.did} is still kept from expiry: {self.why}")
        elif self.decision == "alive":
            out.append(f"{self.did} is not past its end of life: expiry would not delete it now")
        return out


def unpin(
    conn: Connection,
    change: Change,
    did: str,
    reason: str | None = None,
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> Unpinned:
    """Remove the pins of ``did`` (only those with ``reason``, when given) and say what expiry
    would now decide for it under ``policies`` (None: not decided) as of ``now``."""
    now = now or utcnow()
    ident = dataset_id(conn, did)
    table = Pin.__table__
    condition = table.c.dataset_id == ident
    if reason is not None:
        condition &= table.c.reason == reason
    found = conn.execute(
        sa.select(table.c.actor, table.c.reason, table.c.until)
        .where(condition)
        .order_by(table.c.actor, table.c.reason)
    ).all()
    if not found:
        which = f" with reason {reason!r}" if reason is not None else ""
        raise UsageError(f"{did} has no pin{which} (see 'lifecycle pins list')")
    conn.execute(sa.delete(table).where(condition))
    result = Unpinned(did)
    for actor, why, until in found:
        until = utc_datetime(until)
        ended = until is not None and until <= now
        result.removed.append({"actor": actor, "reason": why, "until": until, "ended": ended})
    removed = len(found)
    change.summary = f"unpinned {did} ({count(removed, 'pin')} removed)"
    change.datasets_sql = f"SELECT {int(ident)} AS id"
    if policies is not None:
        decisions = expire(conn, policies, now, only=f"SELECT {int(ident)}").decisions
        if len(decisions):
            result.decision, result.why = decisions.iloc[0][["decision", "reason"]]
        else:
            result.decision = "alive"
    return result


def _gone_state(conn: Connection, ident: int) -> str | None:
    """``deleted`` or ``lost`` when nothing of the dataset is left, else None.

    Gone by its state, or because it had replicas and none still holds data (every one deleted
    or lost: lost if any was lost). A dataset with no replica recorded at all is not gone.
    """

    live = ", ".join(f"'{s}'" for s in LIVE_STATES)
    state, replicas, held, lost = conn.execute(
        sa.text(
            f"""
            SELECT d.state, COUNT(r.id),
                   SUM(CASE WHEN r.state IN ({live}) THEN 1 ELSE 0 END),
                   SUM(CASE WHEN r.state = 'lost' THEN 1 ELSE 0 END)
            FROM dataset d LEFT JOIN replica r ON r.dataset_id = d.id
            WHERE d.id = :d
            GROUP BY d.state
            """
        ),
        {"d": ident},
    ).one()
    if state in ("deleted", "lost"):
        return state
    if replicas and not held:
        return "lost" if lost else "deleted"
    return None


def pins(conn: Connection, now: datetime, did: str | None = None) -> pd.DataFrame:
    """Every pin (or those of ``did``), with whether it is in force at ``now``."""
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
