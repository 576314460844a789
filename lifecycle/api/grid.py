"""The facade's operations on a living grid: sync with the grid's snapshots, storage
consistency and dark data, repair and the simulated transfers.

:class:`GridOperations` is a part of :class:`lifecycle.api.Catalog` (its base class), kept in a
module of its own so the facade stays readable; it uses the catalog's ``read`` and ``atomic``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from lifecycle.catalog.store import utcnow
from lifecycle.consistency import ConsistencyReport, check_consistency
from lifecycle.dark import dark_data
from lifecycle.errors import CatalogError, UsageError
from lifecycle.exchange.dump import read_dump
from lifecycle.exchange.reader import find_tables
from lifecycle.exchange.sync import pause_before_commit, sync_directory
from lifecycle.exchange.sync_report import Completeness, Loss, SyncOptions, SyncReport
from lifecycle.policy import PolicySet, Selector
from lifecycle.progress import Progress
from lifecycle.simulate import (
    simulate_gone,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from typing import Any

    import pandas as pd
    from sqlalchemy.engine import Connection

from lifecycle.api.documents import Policies, policy_set
from lifecycle.errors import RepairChanged
from lifecycle.repair import RepairPlan, plan_repair, repair_hints
from lifecycle.repair.apply import apply_repair
from lifecycle.rucio.rules import covering_rules
from lifecycle.transfers import TransferRun, run_transfers, transfers

NOW_IS_FOR_PREVIEWS = "--now is for previews; --apply acts as of the present: drop --now"


class GridOperations:
    """Sync, consistency, dark data, repair and transfers (see :class:`lifecycle.api.Catalog`)."""

    progress: Progress  # where long operations report their phases (the facade's)

    # -- storage consistency ------------------------------------------------------------------
    def consistency(
        self,
        endpoint: str,
        dump: str | Path,
        *,
        dump_time: datetime | None = None,
        window_days: float = 1.0,
        max_change: float = 10.0,
        force: bool = False,
        confirm_after_days: float = 7.0,
        policies: PolicySet | None = None,
        reason: str | None = None,
        apply: bool = False,
    ) -> ConsistencyReport:
        """Compare the storage dump ``dump`` of ``endpoint`` with the catalog before and after
        the dump's time (``dump_time``, else the time the file carries); with ``apply``, mark
        the lost replicas lost and record the dark entries in quarantine. See
        :mod:`lifecycle.consistency` (``window_days``, ``max_change`` percent, ``force``) and
        :mod:`lifecycle.dark` (``confirm_after_days``); ``policies``: the replication rules
        whose new violations the loss of the lost replicas would create."""
        if not window_days > 0:
            raise UsageError("--window: must be more than 0 days")
        if not 0 <= max_change <= 100:
            raise UsageError("--max-change: a percentage from 0 to 100")
        if not confirm_after_days >= 0:
            raise UsageError("--confirm-after: must be 0 days or more")
        with self.progress.phase("reading the dump"):  # a bad one is reported before the lock
            found = read_dump(Path(dump), dump_time)
        options = dict(
            window=timedelta(days=window_days),
            max_change=max_change,
            force=force,
            confirm_after=timedelta(days=confirm_after_days),
            policies=policies,
            progress=self.progress,
        )
        if not apply:
            with self.read() as conn:
                return check_consistency(conn, endpoint, found, **options)
        command = "consistency --apply" + (" --force" if force else "")
        with self.atomic(command, reason) as (conn, change):
            return check_consistency(conn, endpoint, found, **options, change=change)

    def dark_data(self, endpoint: str | None = None, status: str | None = None) -> pd.DataFrame:
        """The dark data in quarantine (of ``endpoint``; with ``status`` ``quarantined`` or
        ``confirmed``: reported for deletion), by endpoint and DID."""
        with self.read() as conn:
            return dark_data(conn, endpoint, status)

    # -- following the grid -------------------------------------------------------------------
    def sync(
        self,
        directory: str | Path,
        complete: Sequence[str] = (),
        max_change: float = SyncOptions.max_change,
        *,
        force: bool = False,
        as_of: datetime | None = None,
        apply: bool = False,
        reason: str | None = None,
        command: str = "sync",
        also: Callable[[Connection, Any], None] | None = None,
    ) -> SyncReport:
        """Merge a snapshot of the grid (an exchange-format directory) into the catalog.

        New rows are added as import adds them; mutable fields are updated, each change
        journaled with its old and new value; a change of history is refused. ``complete``:
        ``replicas:EXPR`` / ``datasets:GLOB`` declare the snapshot complete there, so what it
        lacks is marked deleted (absent from the snapshot of ``as_of``, by default its newest
        time). ``max_change``: per cent of an endpoint's replicas that may change state or
        disappear (``force`` goes past it, and the journal says so). Without ``apply`` nothing
        is written: the same run is rolled back. ``also(conn, change)``: more work of the same
        change, done in its transaction when applied (``rucio sync`` records Rucio's rules so:
        one transaction, one journal entry, named ``command``). See :mod:`lifecycle.exchange.sync`.
        """
        options = SyncOptions(
            tuple(Completeness.parse(c) for c in complete), float(max_change), force, as_of
        )
        if not 0 <= options.max_change <= 100:
            raise UsageError(f"--max-change: {max_change!r} is not a percentage from 0 to 100")
        find_tables(Path(directory))  # a wrong directory is reported before taking the lock

        def on_loss(conn: Connection, gone: str) -> Loss:
            found = simulate_gone(conn, gone)
            return Loss(found.lost, len(found.recoverable))

        command = f"{command} --apply" if apply else command
        try:
            with self.atomic(command, reason, bulk=True) as (conn, change):
                report = sync_directory(conn, Path(directory), options, on_loss, self.progress)
                if not apply:
                    raise _Preview(report)
                report.applied = True
                change.summary = report.summary_line()
                change.changes_sql.append("SELECT * FROM tmp_sync_changed")
                change.drop_after = ("tmp_sync_changed",)
                if also is not None:
                    also(conn, change)
                pause_before_commit()
        except _Preview as preview:  # rolled back: the catalog is as it was
            return preview.report
        except DBAPIError as exc:  # a value the database refuses that validation let through
            if getattr(exc, "connection_invalidated", False):
                raise
            text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CatalogError(f"{directory}: the database refused the sync: {text}") from exc
        return report

    # -- repair ---------------------------------------------------------------------------------
    def repair(
        self,
        policies: Policies = None,
        now: datetime | None = None,
        *,
        select: Selector | Sequence[str] | None = None,
        drain_sites: Sequence[str] = (),
        drain_endpoints: str | None = None,
        max_per_site: int | None = None,
        seed: int = 0,
        apply: bool = False,
        expect: str | None = None,
    ) -> RepairPlan:
        """The plan restoring every replication and preservation rule of ``policies`` (judged
        at ``now``), for the datasets ``select`` chooses (``KEY=VALUE`` texts or a
        :class:`Selector`; default: all); ``drain_sites`` / ``drain_endpoints`` (an endpoint
        expression): storage to empty, every rule still holding after. See
        :mod:`lifecycle.repair`.

        With ``apply``, the plan is made again under the write lock and recorded (replicas
        ``copying``, transfers ``queued``; journaled), as of the present; with ``expect`` (the
        digest a preview showed) it is recorded only if it is the plan previewed.
        """
        if apply and now is not None:
            raise UsageError(NOW_IS_FOR_PREVIEWS)
        if expect is not None and not apply:
            raise UsageError("--expect: checks the plan --apply records; give --apply too")
        if max_per_site is not None and max_per_site < 0:
            raise UsageError("--max-per-site: must be a number of bytes, 0 or more")
        chosen = select if isinstance(select, Selector) or select is None else (
            Selector.parse(list(select))
        )  # fmt: skip
        options = {"chosen": chosen, "drain_sites": tuple(drain_sites),
                   "drain_endpoints": drain_endpoints, "max_per_site": max_per_site,
                   "seed": seed, "progress": self.progress}  # fmt: skip
        policies = policy_set(policies)
        if not apply:
            with self.read() as conn:
                return plan_repair(conn, policies, now or utcnow(), **options)
        with self.atomic("repair --apply") as (conn, change):
            at = utcnow()
            plan = plan_repair(conn, policies, at, **options)
            if expect is not None and plan.digest != expect:
                raise RepairChanged(expect, plan.digest)
            plan.transfer_ids = apply_repair(conn, change, plan, at)
            plan.applied = True
            return plan

    def repair_hints(
        self, policies: Policies, now: datetime | None, dids: Sequence[str]
    ) -> dict[tuple[str, str], str]:
        """For the audit's findings: what :meth:`repair` would do for each (DID, rule) of the
        datasets ``dids`` (planned for those datasets alone, exactly as named)."""
        with self.read() as conn:
            plan = plan_repair(conn, policy_set(policies), now or utcnow(), dids=list(dids))
            covered = covering_rules(conn, list(dids))
        hints = repair_hints(plan)
        for key, text in hints.items():  # a Rucio rule on the dataset comes first
            if key[0] in covered:
                hints[key] = f"{covered[key[0]]}; {text}"
        return hints

    # -- transfers (the simulated grid) ---------------------------------------------------------
    def transfers(self, state: str | None = None) -> pd.DataFrame:
        """The transfers ``repair --apply`` recorded (of one ``state``, or all), by id."""
        with self.read() as conn:
            return transfers(conn, state)

    def run_transfers(
        self,
        *,
        until: datetime | None = None,
        hours: float | None = None,
        failure_rate: float = 0.0,
        seed: int = 0,
        attempts: int = 3,
        apply: bool = False,
    ) -> TransferRun:
        """Move the queued transfers on the simulated grid until ``until`` (or for ``hours``;
        neither: until every one is done or failed). See :mod:`lifecycle.transfers`.

        A preview by default (DESIGN.md invariant 6: moving data acts only with ``apply``):
        the same run, rolled back; with ``apply`` it is recorded and journaled."""
        if until is not None and hours is not None:
            raise UsageError("--until and --hours: give one of them")
        options = dict(
            until=until,
            hours=hours,
            failure_rate=failure_rate,
            seed=seed,
            attempts=attempts,
            progress=self.progress,
        )
        try:
            with self.atomic("transfers run --simulate --apply") as (conn, change):
                report = run_transfers(conn, change, **options)
                if not apply:
                    raise _Preview(report)
        except _Preview as preview:  # rolled back: the catalog is as it was
            preview.report.applied = False
            return preview.report
        return report


class _Preview(Exception):  # noqa: N818 (not an error: how a preview leaves its transaction)
    """Raised inside a preview's transaction (sync, transfers run) to roll it back, carrying
    what it would do."""

    def __init__(self, report: SyncReport | TransferRun) -> None:
        super().__init__("preview")
        self.report = report
