"""``Catalog``: the one object that owns a catalog database and offers its operations.

Notebooks use it directly (``from lifecycle import Catalog``); the CLI is a thin shell over it
and reaches the rest of lifecycle only through this package: the ``Catalog`` methods (those for
the living grid, sync, consistency, repair and transfers, in :mod:`lifecycle.api.grid`), and
functions for what needs no catalog (policy documents, the synthetic generator: re-exported from
:mod:`lifecycle.api.documents`; the schema revision this code expects). Listings come back as
pandas DataFrames.

Methods that judge datasets by policy (``audit``, ``expire``) take a :class:`PolicySet`, paths
of policy documents, or nothing: then the policies the CLI would read (``LIFECYCLE_POLICY``,
else ``./policies``; see :func:`lifecycle.policy.policy_paths`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from lifecycle.accounting import Usage, usage
from lifecycle.audit import AuditReport, Show, run_audit
from lifecycle.audit.changes import changes
from lifecycle.audit.grouping import CAUSE_COLUMNS, Cause, group_keys
from lifecycle.audit.history import diff, runs
from lifecycle.catalog import queries
from lifecycle.catalog.migrations import HEAD
from lifecycle.catalog.queries import DatasetDetails, Overview
from lifecycle.catalog.snapshots import read_snapshot
from lifecycle.catalog.store import Change, Store, resolve_url, utcnow
from lifecycle.consistency import ConsistencyReport
from lifecycle.deletion import DeletionReport, LossOfReplica, delete_replica, mark_lost
from lifecycle.durability import DurabilityReport, dataset_durability, load_model
from lifecycle.durability.decade import Decade
from lifecycle.errors import CatalogError, InvalidModel, UsageError
from lifecycle.exchange.exporter import ExportResult, export_directory
from lifecycle.exchange.importer import ImportResult, import_directory
from lifecycle.exchange.reader import find_tables
from lifecycle.exchange.sync import pause_before_commit
from lifecycle.exchange.sync_report import SyncReport
from lifecycle.expiry import ExpiryReport, expire
from lifecycle.expressions import select
from lifecycle.inventory import (
    ProductionDetails,
    TransformationDetails,
    TransformationListing,
    production_details,
    transformation_details,
    transformations,
)
from lifecycle.pins import Unpinned, pin, pins, unpin
from lifecycle.planning import (
    ChainLink,
    PlanDeletion,
    ReprocessingPlan,
    apply_plan,
    delete_plan,
    load_plan,
    plan_reprocess,
    plans,
    save_plan,
)
from lifecycle.policy import PolicySet, Selector, load_policies, optional_policies
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance import WhatIf, reproducibility
from lifecycle.provenance import what_if as scenario
from lifecycle.provenance.graph import MAX_NODES, ProvenanceGraph, impact, lineage
from lifecycle.provenance.recipe import Recipe, recipe
from lifecycle.provenance.runs import Runs, production_runs
from lifecycle.repair import RepairPlan
from lifecycle.report import CONNECTIONS, PageReport, build, read_decade
from lifecycle.simulate import (
    NOTHING_TO_LOSE,
    LossReport,
    LossScenario,
    simulate_loss,
)
from lifecycle.status import DatasetStatus, dataset_status
from lifecycle.suggest import record_suggestions, suggest_parents
from lifecycle.tradeoff import Costs, TradeoffReport, tradeoff_report
from lifecycle.transfers import TransferRun
from lifecycle.transfers import listing_document as transfers_document

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    import pandas as pd
    from sqlalchemy.engine import Connection

from lifecycle.api.documents import (
    Policies,
    finding_causes,
    finding_groups,
    generate,
    generate_dumps,
    optional_policy_set,
    policy_rules,
    policy_set,
    rucio_lines,
)
from lifecycle.api.durability import DurabilityOperations
from lifecycle.api.grid import NOW_IS_FOR_PREVIEWS, GridOperations
from lifecycle.api.rucio import (
    KindRules,
    Mapping,
    PullOptions,
    PullResult,
    PushResult,
    RucioOperations,
    RucioSettings,
    RucioSync,
    rucio_pull,
)

# DESIGN.md invariant 6: a hypothetical time is for previews, never for actions
SCHEMA_HEAD = HEAD  # the schema revision this code expects
REPROCESS_SELECT = {"kind": ("raw",)}  # what a reprocessing plan selects unless told otherwise

__all__ = [  # the facade, what needs no catalog, and the types of the results
    "SCHEMA_HEAD",
    "AuditReport",
    "CAUSE_COLUMNS",
    "Cause",
    "Catalog",
    "ConsistencyReport",
    "DatasetDetails",
    "DatasetStatus",
    "Decade",
    "DeletionReport",
    "DurabilityReport",
    "ExpiryReport",
    "LossOfReplica",
    "LossReport",
    "PageReport",
    "Overview",
    "PolicySet",
    "RepairPlan",
    "ProductionDetails",
    "ReprocessingPlan",
    "Selector",
    "SyncReport",
    "TradeoffReport",
    "TransferRun",
    "TransformationDetails",
    "TransformationListing",
    "Usage",
    "WhatIf",
    "finding_causes",
    "finding_groups",
    "group_keys",
    "generate",
    "generate_dumps",
    "load_policies",
    "optional_policies",
    "policy_rules",
    "policy_set",
    "rucio_lines",
    "transfers_document",
    # the Rucio bridge (lifecycle.api.rucio)
    "KindRules",
    "Mapping",
    "PullOptions",
    "PullResult",
    "PushResult",
    "RucioSettings",
    "RucioSync",
    "rucio_pull",
]


class Catalog(GridOperations, RucioOperations, DurabilityOperations):
    """A lifecycle catalog on SQLite or PostgreSQL.

    ``db`` is an SQLAlchemy URL or a path to an SQLite file; by default ``LIFECYCLE_DB``, else
    ``./lifecycle.db``. The schema is created or upgraded on first use.
    """

    def __init__(
        self, db: str | Path | None = None, *, migrate: bool = True, progress: Progress = SILENT
    ) -> None:
        self.url = resolve_url(db)
        self.store = Store(self.url, migrate=migrate)
        self.progress = progress  # where long operations report their phases (default: nowhere)
        self.committed = 0  # transactions of this object that committed (a Ctrl-C's message)

    def __repr__(self) -> str:
        return f"Catalog({self.store.display_url()!r})"

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections (``with Catalog(...) as cat:`` does it)."""
        self.store.dispose()

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def atomic(
        self, command: str, reason: str | None = None, *, create: bool = False, bulk: bool = False
    ) -> Iterator[tuple[Connection, Change]]:
        """One transaction under the write lock; set ``change.summary`` to journal it."""
        with self.store.atomic(command, reason, create=create, bulk=bulk) as pair:
            yield pair
        self.committed += 1

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection, for the queries of :mod:`lifecycle.catalog.queries`."""
        with self.store.read() as conn:
            yield conn

    # -- schema ---------------------------------------------------------------------------------
    def init(self) -> tuple[str | None, str]:
        """Create (or upgrade) the schema; returns the revisions before and after."""
        before = self.store.revision()
        self.store.ensure_schema()
        return before, self.store.revision() or ""

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the schema to :data:`SCHEMA_HEAD`; returns the revisions before and after."""
        return self.store.upgrade()

    def revision(self) -> str | None:
        """The catalog's schema revision (None: no lifecycle schema yet)."""
        return self.store.revision()

    # -- exchange format -----------------------------------------------------------------------
    def import_directory(self, directory: str | Path) -> ImportResult:
        """Import an exchange-format directory, all or nothing (FORMAT.md)."""

        find_tables(Path(directory))  # a wrong directory is reported before taking the lock
        try:
            with self.atomic(f"import {directory}", create=True, bulk=True) as (conn, change):
                result = import_directory(conn, Path(directory), self.progress)
                if result.changed:
                    change.summary = result.summary()
                pause_before_commit()
        except DBAPIError as exc:  # a value the database refuses that validation let through
            if getattr(exc, "connection_invalidated", False):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise CatalogError(f"{directory}: the database refused the import: {reason}") from exc
        return result

    def export_directory(
        self, directory: str | Path, fmt: str = "csv", *, excel_safe: bool = False
    ) -> ExportResult:
        """Write the whole catalog as an exchange-format directory (atomically, file by file)."""

        with self.read() as conn:
            return export_directory(
                conn, Path(directory), fmt, excel_safe=excel_safe, progress=self.progress
            )

    # -- listings ---------------------------------------------------------------------------------
    def sites(self) -> pd.DataFrame:
        """Sites with their tier, country, cloud, status and endpoints (tape, disk)."""
        with self.read() as conn:
            return queries.sites(conn)

    def endpoints(
        self, site: str | None = None, media: str | None = None, expression: str | None = None
    ) -> pd.DataFrame:
        """Endpoints with their attributes; ``expression`` is a Rucio-style endpoint expression
        (an error if it matches no endpoint)."""

        with self.read() as conn:
            frame = queries.endpoints(conn, site=site, media=media)
            if expression is None:
                return frame
            names = set(select(expression, queries.endpoint_records(conn)))
        return frame[frame["name"].isin(names)].reset_index(drop=True)

    def datasets(self, **filters) -> pd.DataFrame:
        """Datasets filtered by ``kind``, ``data_type`` (globs), ``scope``, ``name`` (glob),
        ``site``; at most ``limit`` rows (None: all)."""
        with self.read() as conn:
            return queries.datasets(conn, **filters)

    def dataset_chunks(self, **filters) -> Iterator[pd.DataFrame]:
        """:meth:`datasets` a frame at a time, read as they are consumed (the catalog stays open
        until the last one): for listings of any length. The filters are checked first."""
        with self.read() as conn:
            yield from queries.dataset_chunks(conn, **filters)

    def count_datasets(self) -> int:
        """How many datasets the catalog holds (deleted ones included)."""
        with self.read() as conn:
            return queries.count_datasets(conn)

    def dataset(self, did: str) -> DatasetDetails:
        """One dataset in full: fields, metadata, replicas, producer, consumers and pins
        (``did`` as ``scope:name``, or an ATLAS name whose scope it implies)."""
        with self.read() as conn:
            return queries.dataset_details(conn, did)

    def dataset_status(
        self, did: str, policies: Policies = None, now: datetime | None = None
    ) -> DatasetStatus:
        """One dataset in full and its status: every rule of ``policies`` (None: the default
        ones, if any) that selects it and its verdict, its end of life and why, whether it can
        be rebuilt, the saved plans that read it. Reads only."""
        found = optional_policy_set(policies)
        with self.read() as conn:
            status = dataset_status(conn, did, found, now or utcnow())
            try:  # the default failure model (lifecycle durability); a bad one is left out
                model = load_model()
            except InvalidModel:
                return status
            status.durability = dataset_durability(
                conn, model, status.details.dataset["did"], status.reproducible
            )
            return status

    def replicas(self, did: str) -> pd.DataFrame:
        """The replicas of ``did``: endpoint, site, media, state and times."""
        with self.read() as conn:
            return queries.replicas(conn, did)

    def overview(self) -> Overview:
        """The catalog at a glance: sites by tier, datasets by kind and data type, replicas by
        media and state."""
        with self.read() as conn:
            return queries.overview(conn)

    # -- transformations, productions, storage accounting --------------------------------------
    def transformations(
        self,
        *,
        tag: list[str] | None = None,
        name: str | None = None,
        release: str | None = None,
        data_type: list[str] | None = None,
        missing_digest: bool = False,
    ) -> TransformationListing:
        """Transformations by tag with their release, whether they record an image digest, how
        many productions and outputs used them and when last; filtered by ``tag`` (globs),
        ``name`` and ``release`` (a glob each), ``data_type`` (globs of the data types they
        produced) and ``missing_digest`` (only those without an image digest)."""
        with self.read() as conn:
            return transformations(
                conn,
                tag=tag,
                name=name,
                release=release,
                data_type=data_type,
                missing_digest=missing_digest,
            )

    def transformation(self, tag: str) -> TransformationDetails:
        """One transformation in full: fields, parameters, the productions that ran it and
        what they produced (:class:`~lifecycle.errors.UnknownTransformation` if none)."""
        with self.read() as conn:
            return transformation_details(conn, tag)

    def production(self, production: str) -> ProductionDetails:
        """One production (its exchange-format id) in full: transformation, status, site,
        times, inputs and outputs (:class:`~lifecycle.errors.UnknownProduction` if none)."""
        with self.read() as conn:
            return production_details(conn, production)

    def usage(
        self,
        by: str = "endpoint",
        *,
        site: list[str] | None = None,
        media: str | None = None,
        expression: str | None = None,
    ) -> Usage:
        """Used bytes (available replicas), capacity and free bytes per ``by`` (endpoint, site,
        tier, country or cloud) and media, with the share of each kind and data type; of the
        endpoints at ``site``, of ``media``, or selected by an endpoint ``expression``."""
        with self.read() as conn:
            return usage(conn, by, site=site, media=media, expression=expression)

    # -- audit ---------------------------------------------------------------------------------
    def audit(
        self,
        policies: Policies = None,
        now: datetime | None = None,
        *,
        with_findings: bool = True,
        record: bool = True,
        show: Show | None = None,
    ) -> AuditReport:
        """Evaluate every rule of ``policies`` and record the run in the audit history.

        ``policies``: a :class:`PolicySet`, policy paths, or None for the default policies (as
        the CLI: ``LIFECYCLE_POLICY``, else ``./policies``).

        With ``now``, the audit is judged as of that time and is a preview: nothing is recorded
        (no audit run, no journal entry), so a what-if at another time never opens or resolves
        findings in the history cron compares. Without ``record``, or on a read-only catalog, the
        run is not kept either (``report.run["id"]`` is None) and only reads the catalog.
        ``with_findings=False`` returns only the counts (what ``--quiet`` prints). ``show``
        gets the report and its findings a chunk of rows at a time, read from the database
        before the run ends (to write findings of any number as they come; see
        :func:`lifecycle.audit.run_audit`); the report returned then has no findings.
        """

        policies = policy_set(policies)
        options = {"with_findings": with_findings, "show": show, "progress": self.progress}
        if now is None and record and not self.store.read_only:
            with self.atomic("audit") as (conn, change):
                return run_audit(conn, change, policies, utcnow(), **options)
        with self.read() as conn:
            return run_audit(
                conn, None, policies, now or utcnow(), preview=now is not None, **options
            )

    def audit_history(self, limit: int | None = 20) -> pd.DataFrame:
        """Past audit runs, newest first: the last ``limit`` (None: all), with their counts."""
        with self.read() as conn:
            return runs(conn, limit)

    def audit_diff(self, run_a: int | None = None, run_b: int | None = None) -> dict:
        """Findings that appeared and were resolved between two runs (default: the last two)."""

        with self.read() as conn:
            return diff(conn, run_a, run_b)

    def audit_changes(self, run: int) -> dict:
        """How many findings appeared and were resolved between the run before ``run`` and
        ``run`` (``{"previous", "appeared", "resolved"}``; counted as :meth:`audit_diff` lists
        them, without pandas: cron's ``audit --quiet`` and ``--fail-on new``)."""
        with self.read() as conn:
            return changes(conn, run)

    # -- provenance ----------------------------------------------------------------------------
    def reproducibility(
        self, what_if: WhatIf | None = None, *, irreproducible_only: bool = False
    ) -> pd.DataFrame:
        """Every dataset (or only the irreproducible ones): reproducible or not, and why not.

        ``what_if`` answers on the catalog as it would be without some replicas (of datasets,
        on endpoints, at sites), without changing it.
        """

        with self.read() as conn, scenario(conn, what_if) as gone:
            return reproducibility(conn, gone, irreproducible_only=irreproducible_only)

    def lineage(
        self, did: str, depth: int | None = None, max_nodes: int | None = None
    ) -> ProvenanceGraph:
        """What ``did`` was made from, up to its raw and calibration roots."""

        with self.read() as conn:
            return lineage(conn, did, depth, max_nodes or MAX_NODES)

    def impact(
        self, did: str, depth: int | None = None, max_nodes: int | None = None
    ) -> ProvenanceGraph:
        """Everything that depends on ``did``, directly or not."""

        with self.read() as conn:
            return impact(conn, did, depth, max_nodes or MAX_NODES)

    @contextmanager
    def lineage_runs(self, experiment: str) -> Iterator[Runs]:
        """Every production of the catalog as a run with its inputs and outputs, read as they
        are iterated (while the block lasts): the whole catalog's lineage, for export."""

        with self.read() as conn:
            yield Runs(experiment, production_runs(conn))

    def recipe(self, did: str, what_if: WhatIf | None = None) -> Recipe:
        """The ordered productions that rebuild ``did`` from what is available now."""

        with self.read() as conn, scenario(conn, what_if) as gone:
            return recipe(conn, did, gone)

    # -- expiry, pins, deletion -------------------------------------------------------------
    def expire(
        self, policies: Policies = None, now: datetime | None = None, *, apply: bool = False
    ) -> ExpiryReport:
        """Decide for every dataset past its end of life; delete the regenerable with ``apply``.

        ``policies`` give the lifetimes (None: the default policies, as for :meth:`audit`).

        ``now`` previews the decisions as of another time; with ``apply`` it is refused
        (DESIGN.md invariant 6: actions happen as of the present, which the journal records).
        """

        if apply and now is not None:
            raise UsageError(NOW_IS_FOR_PREVIEWS)
        policies = policy_set(policies)
        now = now or utcnow()
        if not apply:
            with self.read() as conn:
                return expire(conn, policies, now, progress=self.progress)
        with self.atomic("expire --apply") as (conn, change):
            return expire(conn, policies, now, change=change, progress=self.progress)

    def pin(self, did: str, reason: str, until: datetime | None = None) -> str:
        """Exempt ``did`` from expiry (until ``until``, else for good), saying why; journaled.
        Returns the message that says what was pinned."""
        with self.atomic("pin", reason) as (conn, change):
            return pin(conn, change, did, reason, until)

    def unpin(
        self,
        did: str,
        reason: str | None = None,
        policies: PolicySet | None = None,
        now: datetime | None = None,
    ) -> Unpinned:
        """Remove the pins of ``did`` (those with ``reason``, when given); the result also says
        what expiry under ``policies`` would now decide for it (as of ``now``)."""

        with self.atomic("unpin", reason) as (conn, change):
            return unpin(conn, change, did, reason, policies, now)

    def pins(self, did: str | None = None, now: datetime | None = None) -> pd.DataFrame:
        """Every pin (or those of ``did``): by whom, why, until when, and whether it is in
        force at ``now`` (default: the present)."""
        with self.read() as conn:
            return pins(conn, now or utcnow(), did)

    def delete_replica(
        self,
        did: str,
        endpoint: str,
        reason: str,
        policies: PolicySet | None,
        *,
        force: bool = False,
        apply: bool = False,
    ) -> DeletionReport:
        """Check the guards for deleting one replica; delete it with ``apply`` if they allow."""

        if not reason or not reason.strip():
            raise UsageError("--reason: say why the replica is deleted")
        if not apply:
            with self.read() as conn:
                return delete_replica(conn, did, endpoint, policies, force=force)
        command = "replicas delete --apply" + (" --force" if force else "")
        with self.atomic(command, reason) as (conn, change):
            return delete_replica(conn, did, endpoint, policies, force=force, change=change)

    def mark_lost(
        self,
        did: str,
        endpoint: str,
        reason: str,
        policies: PolicySet | None = None,
        now: datetime | None = None,
        *,
        apply: bool = False,
    ) -> LossOfReplica:
        """What losing the replica of ``did`` at ``endpoint`` means; record it with ``apply``.

        ``policies``: the replication rules checked for new violations (judged at ``now``, a
        preview's hypothetical time; with ``apply`` it is refused: losses are recorded as of the
        present).
        """

        if not reason or not reason.strip():
            raise UsageError("--reason: say what happened to the replica")
        if apply and now is not None:
            raise UsageError(NOW_IS_FOR_PREVIEWS)
        if not apply:
            with self.read() as conn:
                return mark_lost(conn, did, endpoint, policies, now)
        with self.atomic("replicas mark-lost --apply", reason) as (conn, change):
            return mark_lost(conn, did, endpoint, policies, now, change=change)

    # -- reprocessing plans -----------------------------------------------------------------
    def plan_reprocess(
        self,
        selector: Selector | Sequence[str],
        chain: str,
        conditions_tag: str | None = None,
        name: str | None = None,
        policies: PolicySet | None = None,
        *,
        save: bool = True,
    ) -> ReprocessingPlan:
        """Plan the reprocessing of the selected datasets with ``chain`` (and save it).

        ``selector``: a :class:`Selector`, or ``KEY=VALUE[,VALUE…]`` texts (``--select``) that
        select raw data unless they name a kind.
        """
        if not isinstance(selector, Selector):
            selector = Selector.parse(list(selector), **REPROCESS_SELECT)

        if conditions_tag is not None and not conditions_tag.strip():
            raise UsageError("--conditions: blank; give a conditions tag or leave the option out")
        links = ChainLink.parse_chain(chain)
        args = (selector, links, conditions_tag, name, policies)
        if not save:
            with self.read() as conn:
                return plan_reprocess(conn, *args, progress=self.progress)
        with self.atomic("plan reprocess") as (conn, change):
            plan = plan_reprocess(conn, *args, progress=self.progress)
            with self.progress.phase("saving the plan"):
                save_plan(conn, change, plan)
            return plan

    def plans(self) -> pd.DataFrame:
        """The saved reprocessing plans, one row each: name, who made it when, chain, size
        (inputs, steps, events, CPU hours, bytes), blockers, and when it was applied."""
        with self.read() as conn:
            return plans(conn)

    def plan(self, plan_id: int) -> ReprocessingPlan:
        """One saved reprocessing plan with its steps and blockers."""
        with self.read() as conn:
            return load_plan(conn, plan_id)

    def delete_plan(
        self, plan_id: int, policies: PolicySet | None = None, now: datetime | None = None
    ) -> PlanDeletion:
        """Forget a saved plan; the result says which inputs it no longer protects from expiry
        and, with ``policies``, which of them expiry would now delete (as of ``now``)."""

        with self.atomic(f"plan delete {plan_id}") as (conn, change):
            return delete_plan(conn, change, plan_id, policies, now)

    def apply_plan(self, plan_id: int) -> dict[str, int]:
        """Register the plan's productions, datasets and replicas (a simulated campaign), as of
        the present: actions never happen at a hypothetical time (DESIGN.md invariant 6)."""

        with self.atomic(f"plan apply {plan_id}") as (conn, change):
            return apply_plan(conn, change, plan_id, utcnow(), self.progress)

    def journal(
        self, limit: int | None = 50, since: datetime | None = None, did: str | None = None
    ) -> pd.DataFrame:
        """What changed, who did it and why: newest first, optionally since a time or for a DID."""
        with self.read() as conn:
            return queries.journal(conn, limit, since, did)

    def journal_changes(self, entry: int) -> pd.DataFrame:
        """The values journal entry ``entry`` changed, old and new (``entity``, ``row_key``,
        ``field``, ``old_value``, ``new_value``), in the order they were made."""
        with self.read() as conn:
            return queries.journal_changes(conn, entry)

    def suggest_parents(self, apply: bool = False, reason: str | None = None) -> pd.DataFrame:
        """Probable parents of the datasets without a recorded producer, from their names.

        A preview by default; ``apply=True`` records the applicable suggestions as productions
        in one journaled transaction (``lifecycle.suggest``).
        """

        if not apply:
            with self.read() as conn:
                return suggest_parents(conn)
        with self.atomic("provenance suggest --apply", reason) as (conn, change):
            return record_suggestions(conn, change)

    def tradeoff(
        self,
        storage_cost: float | None = None,
        cpu_cost: float | None = None,
        *,
        tape_cost: float | None = None,
        accesses_per_year: float | None = None,
    ) -> pd.DataFrame:
        """Per data type of derived data, a year of storage against regenerating it on demand.

        Prices not given take the documented defaults of ``lifecycle.tradeoff.Costs``.
        """
        prices = {"tape_cost": tape_cost, "accesses_per_year": accesses_per_year}
        return self.tradeoff_report(
            storage_cost=storage_cost, cpu_cost=cpu_cost, **prices
        ).data_types

    def tradeoff_report(self, **prices: float | None) -> TradeoffReport:
        """:meth:`tradeoff` with the prices used, the data types cheaper to delete and
        regenerate, and what that would save a year. ``prices``: ``storage_cost``,
        ``tape_cost``, ``cpu_cost``, ``accesses_per_year`` (None: the default)."""
        costs = Costs.with_overrides(**prices)
        with self.read() as conn:
            return tradeoff_report(conn, costs)

    def simulate_loss(
        self,
        sites: tuple[str, ...] | list[str] = (),
        endpoints: str | None = None,
        countries: tuple[str, ...] | list[str] = (),
        policies: PolicySet | None = None,
        now: datetime | None = None,
    ) -> LossReport:
        """What losing the storage of ``sites``, ``endpoints`` (an endpoint expression) and
        ``countries``, all together, would do; the catalog is not changed.

        ``policies``: the replication rules whose new violations are reported (judged at
        ``now``, by default the current time). See :mod:`lifecycle.simulate`.
        """

        scenario = LossScenario(tuple(sites), endpoints, tuple(countries))
        if not scenario:
            raise UsageError(NOTHING_TO_LOSE)
        with self.read() as conn:
            return simulate_loss(conn, scenario, policies, now)

    # -- the report ------------------------------------------------------------------------------
    def report(
        self,
        policies: Policies = None,
        now: datetime | None = None,
        *,
        lineage: Sequence[str] = (),
        clock: Callable[[], float] | None = None,
        decade: str | Path | None = None,
    ) -> PageReport:
        """The self-contained HTML report of the catalog as of ``now`` (default: the present):
        overview, compliance (the audit now, not recorded, and the stored history), storage,
        preservation, lifetime, risk, and the lineage of the DIDs in ``lineage``. Reads only,
        its parts side by side on a connection a core, all on one snapshot (see
        :func:`~lifecycle.catalog.snapshots.read_snapshot`). ``clock`` (``time.perf_counter``)
        times each part into ``report.data.timings``. ``decade``: a run saved by ``simulate years
        --format json -o FILE``, drawn in the Durability section (checked before any work)."""
        policies = policy_set(policies)
        saved = None if decade is None else read_decade(decade)
        # its parts side by side on a connection a core, all reading one snapshot (and an
        # Arrow reader of it, for the counts of every replica)
        with read_snapshot(self.store, CONNECTIONS, arrow=True) as snapshot:
            conn, *others = snapshot.conns
            return build(
                conn, policies, now or utcnow(), self.store.display_url(), tuple(lineage), clock,
                others, self.progress, saved, snapshot.arrow,
            )  # fmt: skip
