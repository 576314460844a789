"""Transfers: the copies ``repair --apply`` queued, listed, and moved on a simulated grid.

``transfers run --simulate`` advances the simulated grid's clock (table ``transfer_clock``; it
starts at the oldest unfinished transfer's creation) to ``until``, or until every transfer is
done or failed, and moves the data meanwhile:

- **bandwidth** per site: the largest ``bandwidth_gbps`` attribute of its endpoints, else the
  default of its tier (:data:`TIER_GBPS`: 100, 40, 10 and 1 Gb/s for tiers 0 to 3);
- a transfer runs at the smaller of its source site's and its destination site's bandwidth,
  each **shared equally** among the transfers active there; at most :data:`ACTIVE_PER_SITE`
  transfers are active per destination site at once (as FTS limits a link), the others wait
  in id order;
- a **tape** source first stages the data: :data:`STAGING` before bytes flow;
- each attempt **fails** with probability ``failure_rate`` (at a point of its way drawn too);
  a failed attempt is retried after a backoff (:data:`BACKOFF`, doubling each time) and after
  ``attempts`` attempts the transfer is ``failed``: its replica is marked ``deleted`` (nothing
  arrived) and the next ``repair`` plans that violation again, avoiding that destination;
- a transfer that completes makes its replica ``available``.

Draws come from one generator seeded with ``seed``, made in transfer id order, so a run is
deterministic. An attempt still active when the run stops resumes in the next run (its
failure drawn again). The run is one transaction, journaled with every state it changed.

The simulation steps from event to event (a completion, a failure, staging done, a retry due),
at least :data:`MIN_STEP` apart so that many close events share one step; each step is a few
numpy operations over the active transfers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import endpoint_records
from lifecycle.catalog.sql import (
    JOURNAL_CHANGE_COLUMNS,
    frame,
    rows,
    statement,
    temporary_table,
)
from lifecycle.catalog.store import utcnow
from lifecycle.errors import UsageError
from lifecycle.progress import SILENT, Phase, Progress
from lifecycle.text import count, human_bytes, number
from lifecycle.values import envelope, records, utc_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

TIER_GBPS = {0: 100.0, 1: 40.0, 2: 10.0, 3: 1.0}  # a site's bandwidth without an attribute
BANDWIDTH_ATTRIBUTE = "bandwidth_gbps"
ACTIVE_PER_SITE = 20  # transfers active at once per destination site
STAGING = timedelta(hours=2)  # recall from tape before the first byte flows
BACKOFF = timedelta(minutes=30)  # before the first retry; doubles each time
MIN_STEP = 60.0  # seconds: events closer than this share a step
HORIZON = timedelta(days=3650)  # a run without --until stops here at the latest
DEFAULT_ATTEMPTS = 3
STATES = ("queued", "active", "done", "failed")
RESULT = "tmp_transfer_result"
CHANGED = "tmp_transfer_changed"


@dataclass
class TransferRun:
    """What one simulated run did: the clock before and after, and the counts."""

    started: datetime
    ended: datetime
    done: int
    failed: int
    retried: int  # failed attempts that will be retried
    moved_bytes: int
    left: dict[str, int]  # transfers by state after the run
    applied: bool = True  # False: a preview, rolled back (nothing recorded)

    def to_dict(self) -> dict[str, Any]:
        summary = {
            "applied": self.applied,
            "clock_before": self.started,
            "clock_after": self.ended,
            "done": self.done,
            "failed": self.failed,
            "retried": self.retried,
            "moved_bytes": self.moved_bytes,
            "by_state": self.left,
        }
        return envelope("transfers-run", summary)

    def lines(self) -> list[str]:
        return [
            f"simulated grid: {self.started:%Y-%m-%d %H:%M} -> {self.ended:%Y-%m-%d %H:%M} UTC",
            f"{count(self.done, 'transfer')} done, {count(self.failed, 'transfer')} failed for "
            f"good, {count(self.retried, 'failed attempt')} to retry; "
            f"{human_bytes(self.moved_bytes)} moved",
            ("now: " if self.applied else "would leave: ")
            + ", ".join(f"{n} {state}" for state, n in self.left.items()),
        ] + ([] if self.applied else ["dry run: nothing changed (use --apply to record it)"])


def transfers(conn: Connection, state: str | None = None) -> pd.DataFrame:
    """The transfers (of one ``state``, or all), by id: dataset, endpoints, bytes, progress."""
    if state is not None and state not in STATES:
        raise UsageError(f"--state: {state!r} is not one of {', '.join(STATES)}")
    where = "WHERE t.state = :state" if state else ""
    params = {"state": state} if state else {}
    return frame(
        conn,
        f"""
        SELECT t.id, d.did, se.name AS source, te.name AS target, t.bytes, t.state,
               t.attempts, t.moved_bytes, t.created_at, t.started_at, t.finished_at,
               t.not_before, t.error, t.reason
        FROM transfer t JOIN dataset d ON d.id = t.dataset_id
        JOIN endpoint se ON se.id = t.source_endpoint_id
        JOIN endpoint te ON te.id = t.target_endpoint_id
        {where}
        ORDER BY t.id
        """,
        **params,
    )


def listing_document(found: pd.DataFrame) -> dict[str, Any]:
    """The JSON envelope of ``transfers list``: counts by state and bytes, then the transfers."""
    by_state = {s: int((found["state"] == s).sum()) for s in STATES}
    summary = {"transfers": len(found), "bytes": int(found["bytes"].sum()), "by_state": by_state}
    return envelope("transfers", summary, transfers=records(found))


def clock(conn: Connection) -> datetime | None:
    """The simulated grid's present (None before any run and any transfer)."""
    found = rows(conn, "SELECT at FROM transfer_clock WHERE id = 1")
    if found:
        return _aware(found[0]["at"])
    first = rows(
        conn, "SELECT MIN(created_at) AS at FROM transfer WHERE state IN ('queued', 'active')"
    )
    return _aware(first[0]["at"]) if first and first[0]["at"] is not None else None


def _aware(value: Any) -> datetime:
    out = utc_datetime(value)
    assert out is not None
    return out


def run_transfers(
    conn: Connection,
    change: Change,
    *,
    until: datetime | None = None,
    hours: float | None = None,
    failure_rate: float = 0.0,
    seed: int = 0,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: Progress = SILENT,
) -> TransferRun:
    """Advance the simulated grid (see the module docstring); one journaled change.
    ``progress`` hears of the simulated hours advanced (of the hours asked for, if given)."""
    import numpy as np

    if not 0 <= failure_rate <= 1:
        raise UsageError("--failure-rate: a probability from 0 to 1")
    if attempts < 1:
        raise UsageError("--attempts: at least 1")
    if hours is not None and hours < 0:
        raise UsageError("--hours: 0 or more")
    start = clock(conn)
    work = _pending(conn)
    if start is None:  # nothing ever queued
        start = utcnow()
    end = start + (HORIZON if until is None and hours is None else timedelta(hours=hours or 0))
    if until is not None:
        if until < start:
            raise UsageError(
                f"--until: before the simulated grid's present ({start:%Y-%m-%d %H:%M})"
            )
        end = until
    sim = _Simulation(conn, work, start, failure_rate, seed, attempts, np)
    horizon = (end - start).total_seconds()
    bounded = until is not None or hours is not None
    with progress.phase(
        "transfers: simulated hours", math.ceil(horizon / 3600) if bounded else None
    ) as phase:
        sim.run(horizon, phase)
    ended = end if until is not None or hours is not None else start + timedelta(seconds=sim.now)
    result = sim.results(start)
    _store(conn, change, result, ended)
    counted = {
        r["state"]: int(r["n"])
        for r in rows(conn, "SELECT state, COUNT(*) AS n FROM transfer GROUP BY state")
    }
    left = {s: counted.get(s, 0) for s in STATES}
    run = TransferRun(
        start, ended, sim.done_count, sim.failed_count, sim.retried, int(sim.moved_total), left
    )
    change.summary = (
        f"transfers run --simulate: {start:%Y-%m-%d %H:%M} -> {ended:%Y-%m-%d %H:%M}: "
        f"{count(run.done, 'transfer')} done, {number(run.failed)} failed, "
        f"{number(run.retried)} attempts to retry"
    )
    return run


def _pending(conn: Connection) -> list[dict[str, Any]]:
    """The transfers still to move, by id, with what the simulation needs of their sites."""
    sites = _site_bandwidth(conn)
    found = rows(
        conn,
        """
        SELECT t.id, t.replica_id, t.bytes, t.state, t.attempts, t.moved_bytes, t.not_before,
               t.started_at, se.media AS source_media, ss.name AS source_site,
               ts.name AS target_site
        FROM transfer t
        JOIN endpoint se ON se.id = t.source_endpoint_id JOIN site ss ON ss.id = se.site_id
        JOIN endpoint te ON te.id = t.target_endpoint_id JOIN site ts ON ts.id = te.site_id
        WHERE t.state IN ('queued', 'active')
        ORDER BY t.id
        """,
    )
    for row in found:
        row["source_bw"] = sites[row["source_site"]]
        row["target_bw"] = sites[row["target_site"]]
    return found


def _site_bandwidth(conn: Connection) -> dict[str, float]:
    """Bytes per second of every site (see the module docstring)."""
    out: dict[str, float] = {}
    for e in endpoint_records(conn):
        gbps = TIER_GBPS.get(int(e.get("tier", 3)), 1.0)
        value = e.get(BANDWIDTH_ATTRIBUTE)
        try:
            own = float(value) if value is not None else None
        except ValueError:
            own = None
        if own is not None and own > 0:
            gbps = own if e["site"] not in out else max(own, out[e["site"]] * 8 / 1e9)
        elif e["site"] in out:
            continue
        out[e["site"]] = gbps * 1e9 / 8
    return out


class _Simulation:
    """The event-stepped simulation over arrays (seconds since the run's start)."""

    def __init__(self, conn, work, start, failure_rate, seed, attempts, np) -> None:
        self.np = np
        n = len(work)
        self.work = work
        self.start = start
        self.rng = np.random.default_rng(seed)
        self.rate = failure_rate
        self.max_attempts = attempts
        self.now = 0.0
        sites = sorted({w["source_site"] for w in work} | {w["target_site"] for w in work})
        index = {s: i for i, s in enumerate(sites)}
        self.src = np.array([index[w["source_site"]] for w in work], dtype=np.int64)
        self.dst = np.array([index[w["target_site"]] for w in work], dtype=np.int64)
        bw = {w["source_site"]: w["source_bw"] for w in work}
        bw |= {w["target_site"]: w["target_bw"] for w in work}
        self.bandwidth = np.array([bw[s] for s in sites], dtype=float) if sites else np.zeros(0)
        self.size = np.array([float(w["bytes"]) for w in work])
        self.moved = np.array([float(w["moved_bytes"] or 0) for w in work])
        self.tape = np.array([w["source_media"] == "tape" for w in work], dtype=bool)
        self.attempts = np.array([int(w["attempts"]) for w in work], dtype=np.int64)
        # 0 queued, 1 active, 2 done, 3 failed
        self.state = np.array([1 if w["state"] == "active" else 0 for w in work], dtype=np.int64)
        self.ready = np.array([self._seconds(w["not_before"]) for w in work])  # may start at
        self.begun = np.array([self._seconds(w["started_at"]) for w in work])  # attempt start
        self.fail_at = np.full(n, np.inf)  # bytes at which the current attempt fails
        self.finished = np.full(n, np.nan)
        self.done_count = self.failed_count = self.retried = 0
        self.moved_total = 0.0
        self.staging = STAGING.total_seconds()
        active = np.flatnonzero(self.state == 1)
        self._draw(active)

    def _seconds(self, value) -> float:
        """A stored simulated time as seconds since the run's start (None: the start)."""
        if value is None:
            return 0.0
        return max((_aware(value) - self.start).total_seconds(), 0.0)

    def _draw(self, started) -> None:
        """Each attempt starting: fails with the failure rate, at a point drawn on its way."""
        if not len(started):
            return
        fails = self.rng.random(len(started)) < self.rate
        point = self.rng.random(len(started))
        self.fail_at[started] = self.np.where(fails, point * self.size[started], self.np.inf)

    def _admit(self) -> None:
        """Start queued transfers that are due, by id, up to the cap per destination site."""
        np = self.np
        active = self.state == 1
        per_site = np.bincount(self.dst[active], minlength=len(self.bandwidth))
        due = np.flatnonzero((self.state == 0) & (self.ready <= self.now + 1e-9))
        if not len(due):
            return
        room = ACTIVE_PER_SITE - per_site
        # rank of each due transfer among the due ones of its destination site (id order)
        order = np.argsort(self.dst[due], kind="stable")
        sites = self.dst[due][order]
        first = np.searchsorted(sites, sites, side="left")
        rank = np.empty(len(due), dtype=np.int64)
        rank[order] = np.arange(len(due)) - first
        start = due[rank < room[self.dst[due]]]
        self.state[start] = 1
        self.begun[start] = self.now
        self.moved[start] = 0.0
        self.attempts[start] += 1
        self._draw(start)

    def run(self, horizon: float, phase: Phase | None = None) -> None:
        """Step until ``horizon`` seconds, or until every transfer is done or failed;
        ``phase`` hears of each simulated hour (not of each step: there may be many an hour)."""
        np = self.np
        if not len(self.size):
            return
        hour = 0
        while self.now < horizon:
            if phase is not None and int(self.now // 3600) > hour:
                hour = int(self.now // 3600)
                phase.set(hour)
            self._admit()
            active = np.flatnonzero(self.state == 1)
            queued = self.state == 0
            if not len(active):
                if not queued.any():
                    return
                self.now = min(max(self.ready[queued].min(), self.now + MIN_STEP), horizon)
                continue
            staged = (~self.tape[active]) | (self.now >= self.begun[active] + self.staging - 1e-9)
            flowing = active[staged]
            rate = np.zeros(len(active))
            if len(flowing):
                n_src = np.bincount(self.src[flowing], minlength=len(self.bandwidth))
                n_dst = np.bincount(self.dst[flowing], minlength=len(self.bandwidth))
                rate[staged] = np.minimum(
                    self.bandwidth[self.src[flowing]] / n_src[self.src[flowing]],
                    self.bandwidth[self.dst[flowing]] / n_dst[self.dst[flowing]],
                )
            goal = np.minimum(self.size[active], self.fail_at[active])
            with np.errstate(divide="ignore", invalid="ignore"):
                until_event = np.where(rate > 0, (goal - self.moved[active]) / rate, np.inf)
            staging_left = np.where(staged, np.inf, self.begun[active] + self.staging - self.now)
            candidates = [until_event.min(), staging_left.min(), horizon - self.now]
            if queued.any():
                later = self.ready[queued]
                later = later[later > self.now]
                if len(later):
                    candidates.append(later.min() - self.now)
            step = max(min(candidates), MIN_STEP) if min(candidates) > 0 else MIN_STEP
            step = min(step, horizon - self.now)
            progress = np.minimum(rate * step, goal - self.moved[active])
            self.moved[active] += progress
            self.moved_total += float(progress.sum())
            self.now += step
            reached = self.moved[active] >= goal - 0.5
            ended = active[reached]
            failed = ended[self.fail_at[ended] < self.size[ended]]
            completed = ended[self.fail_at[ended] >= self.size[ended]]
            self.state[completed] = 2
            self.finished[completed] = self.now
            self.done_count += len(completed)
            give_up = failed[self.attempts[failed] >= self.max_attempts]
            retry = failed[self.attempts[failed] < self.max_attempts]
            self.state[give_up] = 3
            self.finished[give_up] = self.now
            self.failed_count += len(give_up)
            self.retried += len(retry)
            self.state[retry] = 0
            backoff = BACKOFF.total_seconds() * 2.0 ** (self.attempts[retry] - 1)
            self.ready[retry] = self.now + backoff
            self.moved[retry] = 0.0
            self.fail_at[ended] = np.inf

    def results(self, start: datetime) -> list[dict[str, Any]]:
        """The new values of every transfer the run touched."""
        out = []
        names = {0: "queued", 1: "active", 2: "done", 3: "failed"}

        def at(seconds: float) -> datetime | None:
            if seconds != seconds:  # nan
                return None
            return start + timedelta(seconds=float(seconds))

        for i, w in enumerate(self.work):
            state = names[int(self.state[i])]
            out.append(
                {
                    "id": int(w["id"]),
                    "replica_id": int(w["replica_id"]),
                    "old_state": w["state"],
                    "state": state,
                    "attempts": int(self.attempts[i]),
                    "moved_bytes": int(self.moved[i]) if state != "done" else int(self.size[i]),
                    "not_before": at(self.ready[i])
                    if state == "queued" and self.ready[i] > 0
                    else None,
                    "started_at": at(self.begun[i]) if int(self.attempts[i]) else None,
                    "finished_at": at(self.finished[i]),
                    "error": f"failed {self.attempts[i]} attempts (simulated)"
                    if state == "failed"
                    else (
                        "last attempt failed (simulated); retrying"
                        if state == "queued" and int(self.attempts[i])
                        else None
                    ),
                }
            )
        return out


def _store(conn: Connection, change: Change, result: list[dict[str, Any]], ended: datetime) -> None:
    """Write the run's results set-based: transfers, their replicas, the clock, the journal."""
    temporary_table(
        conn,
        RESULT,
        "id BIGINT PRIMARY KEY, replica_id BIGINT, old_state TEXT, state TEXT, attempts INTEGER, "
        "moved_bytes BIGINT, not_before TIMESTAMP WITH TIME ZONE, "
        "started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE, error TEXT",
    )
    temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)
    if result:
        conn.execute(
            statement(
                f"INSERT INTO {RESULT} VALUES (:id, :replica_id, :old_state, :state, :attempts, "
                ":moved_bytes, :not_before, :started_at, :finished_at, :error)",
                {"not_before": ended, "started_at": ended, "finished_at": ended},
            ),
            result,
        )
    columns = (
        "state",
        "attempts",
        "moved_bytes",
        "not_before",
        "started_at",
        "finished_at",
        "error",
    )
    assignments = ", ".join(
        f"{c} = (SELECT x.{c} FROM {RESULT} x WHERE x.id = transfer.id)" for c in columns
    )
    conn.exec_driver_sql(
        f"INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value) "
        f"SELECT 'transfer', x.id, 'state', x.old_state, x.state FROM {RESULT} x "
        "WHERE x.state <> x.old_state"
    )
    conn.exec_driver_sql(
        f"INSERT INTO {CHANGED} (entity, entity_id, field, old_value, new_value) "
        f"SELECT 'replica', x.replica_id, 'state', r.state, "
        f"CASE x.state WHEN 'done' THEN 'available' ELSE 'deleted' END "
        f"FROM {RESULT} x JOIN replica r ON r.id = x.replica_id "
        "WHERE x.state IN ('done', 'failed') AND r.state = 'copying'"
    )
    conn.exec_driver_sql(f"UPDATE transfer SET {assignments} WHERE id IN (SELECT id FROM {RESULT})")
    conn.exec_driver_sql(
        f"UPDATE replica SET state = (SELECT c.new_value FROM {CHANGED} c "
        "WHERE c.entity = 'replica' AND c.entity_id = replica.id) "
        f"WHERE id IN (SELECT c.entity_id FROM {CHANGED} c WHERE c.entity = 'replica')"
    )
    params = {"at": ended}
    updated = conn.execute(
        statement("UPDATE transfer_clock SET at = :at WHERE id = 1", params), params
    ).rowcount
    if not updated:
        conn.execute(
            statement("INSERT INTO transfer_clock (id, at) VALUES (1, :at)", params), params
        )
    change.datasets_sql = (
        f"SELECT t.dataset_id AS id FROM transfer t WHERE t.id IN "
        f"(SELECT c.entity_id FROM {CHANGED} c WHERE c.entity = 'transfer')"
    )
    change.changes_sql.append(
        f"SELECT entity, entity_id, field, old_value, new_value FROM {CHANGED}"
    )
    change.drop_after = (RESULT, CHANGED)
