"""The catalog's tables (SQLModel).

Names follow DESIGN.md's vocabulary. Timestamps are aware UTC datetimes (timestamptz on
PostgreSQL). Exchange-format keys (site and endpoint names, DIDs, transformation tags, production
ids) are unique text columns; integer surrogate keys link the tables so the provenance walks join
on small integers.

Provenance edges live in two tables, ``production_input`` (dataset -> production, with a role) and
``production_output`` (production -> dataset). Keeping inputs and outputs apart, each indexed in both
directions, is what keeps recursive lineage and impact queries fast on SQLite (a single edge table
filtered by role made them orders of magnitude slower). ``production_output.dataset_id`` is unique:
a dataset has at most one generating production.
"""

from __future__ import annotations

import types
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# The size limit of indexed text and its check (the reason: lifecycle.text), for the callers
# that validate text before it reaches an indexed column of these tables.


def _big(**kw) -> Column:
    return Column(BigInteger, **kw)


def _extras_table(class_name: str, owner: str, table: str, doc: str) -> type[SQLModel]:
    """A key/value table holding the extra (free-form) columns of ``owner`` rows.

    Endpoint attributes, dataset metadata and transformation parameters have one shape, the
    exchange format's extra columns: one row per (owner id, key), the value as text. The columns,
    their order and the primary key are those the migrations create.
    """
    owner_id = f"{owner}_id"
    namespace = {
        "__module__": __name__,
        "__doc__": doc,
        "__tablename__": table,
        # one b-tree on SQLite, the primary key's (migration 0005)
        "__table_args__": {"sqlite_with_rowid": False},
        "__annotations__": {owner_id: int, "key": str, "value": str},
        owner_id: Field(foreign_key=f"{owner}.id", primary_key=True),
        "key": Field(primary_key=True),
        "value": Field(sa_column=Column(Text, nullable=False)),
    }
    return types.new_class(
        class_name, (SQLModel,), {"table": True}, lambda ns: ns.update(namespace)
    )


class Site(SQLModel, table=True):
    """A computing centre."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    tier: int
    country: str
    cloud: str | None = None
    status: str = "active"


class Endpoint(SQLModel, table=True):
    """One storage area at a site (a Rucio RSE)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    media: str
    capacity_bytes: int | None = Field(default=None, sa_column=_big(nullable=True))


EndpointAttribute = _extras_table(
    "EndpointAttribute",
    "endpoint",
    "endpoint_attribute",
    "A free-form endpoint attribute; booleans are stored as ``true`` / ``false``.",
)


class Dataset(SQLModel, table=True):
    """The unit of data management, identified by its DID ``scope:name``."""

    __table_args__ = (
        Index("ix_dataset_kind_data_type", "kind", "data_type"),
        Index("ix_dataset_data_type", "data_type"),
        Index("ix_dataset_scope", "scope"),
        # a named unique index, not a table constraint: a bulk load builds it after the rows
        # are in (catalog.bulk.bulk_load; migration 0006 says what it saves)
        Index("ix_dataset_did", "did", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    did: str
    scope: str
    name: str
    kind: str
    data_type: str | None = None
    bytes: int = Field(sa_column=_big(nullable=False))
    files: int = Field(sa_column=_big(nullable=False))
    events: int | None = Field(default=None, sa_column=_big(nullable=True))
    created_at: datetime
    expires_at: datetime | None = None
    state: str = "closed"


DatasetMetadata = _extras_table(
    "DatasetMetadata", "dataset", "dataset_metadata", "A free-form metadata value of a dataset."
)


class Replica(SQLModel, table=True):
    """One copy of a dataset on one endpoint."""

    __table_args__ = (
        UniqueConstraint("dataset_id", "endpoint_id", name="uq_replica_dataset_endpoint"),
        Index("ix_replica_endpoint_state", "endpoint_id", "state"),
        # "has an available replica", asked of most datasets by the reproducibility service and
        # the audit: answered by this small index alone (migration 0007)
        Index(
            "ix_replica_available",
            "dataset_id",
            sqlite_where=text("state = 'available'"),
            postgresql_where=text("state = 'available'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id")
    endpoint_id: int = Field(foreign_key="endpoint.id")
    state: str = "available"
    created_at: datetime
    accessed_at: datetime | None = None


class Transformation(SQLModel, table=True):
    """A versioned, immutable recipe identified by its configuration tag."""

    id: int | None = Field(default=None, primary_key=True)
    tag: str = Field(unique=True)
    name: str
    release: str
    image: str | None = None
    image_digest: str | None = None
    code_repo: str | None = None
    code_commit: str | None = None
    command: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    platform: str | None = None
    cpu_seconds_per_event: float | None = None
    output_ratio: float | None = None


TransformationParameter = _extras_table(
    "TransformationParameter",
    "transformation",
    "transformation_parameter",
    "A free-form parameter of a transformation.",
)


class Production(SQLModel, table=True):
    """One execution of a transformation; ``name`` is its exchange-format id (``task-37222296``)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    transformation_id: int = Field(foreign_key="transformation.id", index=True)
    conditions_tag: str | None = None
    site_id: int | None = Field(default=None, foreign_key="site.id")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "done"


class ProductionInput(SQLModel, table=True):
    """Edge dataset -> production: the dataset was used with a role (input, calibration, config)."""

    __tablename__ = "production_input"
    __table_args__ = (Index("ix_production_input_dataset", "dataset_id", "production_id"),)

    production_id: int = Field(foreign_key="production.id", primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True)
    role: str


class ProductionOutput(SQLModel, table=True):
    """Edge production -> dataset: the dataset was generated by the production."""

    __tablename__ = "production_output"
    __table_args__ = (Index("ix_production_output_production", "production_id", "dataset_id"),)

    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True)
    production_id: int = Field(foreign_key="production.id")


class Pin(SQLModel, table=True):
    """An exemption from expiry, identified by (dataset, actor, reason)."""

    __table_args__ = (
        UniqueConstraint("dataset_id", "actor", "reason", name="uq_pin_dataset_actor_reason"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    until: datetime | None = None
    actor: str


class Journal(SQLModel, table=True):
    """One entry per change to the catalog: who, when, which command, what changed."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str
    command: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class JournalDataset(SQLModel, table=True):
    """Link from a journal entry to a dataset the change touched (``journal --did``)."""

    __tablename__ = "journal_dataset"
    __table_args__ = (Index("ix_journal_dataset_dataset", "dataset_id", "journal_id"),)

    journal_id: int = Field(foreign_key="journal.id", primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True)


class JournalChange(SQLModel, table=True):
    """One changed value of one catalog row, old and new, under a journal entry.

    ``entity`` is the catalog table (``replica``, ``dataset``, ``site``, ``endpoint``,
    ``endpoint_attribute``, ``production``, ``pin``), ``entity_id`` the row's id (the endpoint's
    for an attribute), ``field`` the column or attribute key. Values are text, null for null; the
    time of the change is the entry's ``at``. The storage-consistency check reads a replica's
    state at a past time from these rows.
    """

    __tablename__ = "journal_change"
    __table_args__ = (
        Index("ix_journal_change_entity", "entity", "entity_id", "journal_id"),
        Index("ix_journal_change_journal", "journal_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journal_id: int = Field(foreign_key="journal.id")
    entity: str
    entity_id: int
    field: str
    old_value: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    new_value: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AuditRun(SQLModel, table=True):
    """One evaluation of the loaded policies over the whole catalog, kept as history."""

    __tablename__ = "audit_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(index=True)
    as_of: datetime  # the "now" the rules were judged at (``--now``)
    actor: str
    policy_hash: str
    policies: str = Field(sa_column=Column(Text, nullable=False))  # names, comma-separated
    rule_names: str = Field(sa_column=Column(Text, nullable=False))  # the rules it evaluated, JSON
    rules: int
    findings: int
    errors: int
    warnings: int
    infos: int
    seconds: float


class AuditFinding(SQLModel, table=True):
    """A dataset breaking a rule, over the consecutive audit runs that found it.

    History is kept as intervals: a finding is written when it appears (``first_run``) and closed
    when a later run no longer finds it (``last_run``, the last run that did; null while still
    found). A nightly run that finds what the previous one found writes nothing, so the history
    grows with changes, not with runs. A changed message closes the old row and opens a new one.
    """

    __tablename__ = "audit_finding"
    __table_args__ = (
        Index("ix_audit_finding_rule_did", "rule", "did"),
        Index("ix_audit_finding_open", "last_run"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # the run that first found it and the last that did: audit_run ids, not declared as foreign
    # keys (migration 0012: PostgreSQL checked them a query per row; the audit writes them)
    first_run: int = Field(index=True)
    last_run: int | None = Field(default=None)
    rule: str
    policy: str
    did: str
    severity: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    details: str = Field(sa_column=Column(Text, nullable=False))  # JSON


class Plan(SQLModel, table=True):
    """A saved reprocessing plan: what to rebuild from which inputs, with what software."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime
    actor: str
    selection: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the selector
    chain: str  # transformation tags in order, comma-separated
    conditions_tag: str | None = None
    inputs: int
    steps: int
    events: int = Field(sa_column=_big(nullable=False))
    cpu_hours: float
    bytes_staged: int = Field(sa_column=_big(nullable=False))
    bytes_written: int = Field(sa_column=_big(nullable=False))
    blockers: int
    applied_at: datetime | None = None
    applied_by: str | None = None


class PlanStep(SQLModel, table=True):
    """One production of a plan; ``output_did`` is the dataset it will create."""

    __tablename__ = "plan_step"

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    seq: int = Field(primary_key=True)
    production: str
    transformation: str
    conditions_tag: str | None = None
    site: str | None = None
    output_did: str
    output_data_type: str
    output_bytes: int = Field(sa_column=_big(nullable=False))
    output_events: int | None = Field(default=None, sa_column=_big(nullable=True))
    cpu_hours: float
    placement: str = Field(sa_column=Column(Text, nullable=False))  # endpoints, comma-separated


class PlanStepInput(SQLModel, table=True):
    """An input of a plan step: an existing dataset or the output of an earlier step."""

    __tablename__ = "plan_step_input"

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    seq: int = Field(primary_key=True)
    did: str = Field(primary_key=True)
    role: str


class PlanInput(SQLModel, table=True):
    """An existing dataset a plan reads: protected from expiry until the plan is applied."""

    __tablename__ = "plan_input"
    __table_args__ = (Index("ix_plan_input_dataset", "dataset_id"),)

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", primary_key=True)


class PlanNote(SQLModel, table=True):
    """A blocker of a plan (it cannot be applied), a dataset it supersedes, or tape to stage."""

    __tablename__ = "plan_note"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    kind: str  # blocker | supersedes | staging
    subject: str  # a DID, a transformation tag, or an endpoint
    detail: str = Field(sa_column=Column(Text, nullable=False))
    bytes: int | None = Field(default=None, sa_column=_big(nullable=True))


class DarkData(SQLModel, table=True):
    """A file a storage dump of an endpoint lists and the catalog holds no replica of there.

    Kept in quarantine, never deleted by lifecycle: ``first_seen`` and ``last_seen`` are the times
    of the dumps that listed it first and last, ``confirmed_at`` the time of the dump that
    confirmed it (dark in two dumps at least ``--confirm-after`` days apart; null while only
    quarantined). An entry no longer dark leaves the table (migration 0009).
    """

    __tablename__ = "dark_data"
    __table_args__ = (UniqueConstraint("endpoint_id", "did", name="uq_dark_data_endpoint_did"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="endpoint.id")
    did: str
    files: int = Field(sa_column=_big(nullable=False))
    bytes: int = Field(sa_column=_big(nullable=False))
    checksum: str | None = None
    first_seen: datetime
    last_seen: datetime
    confirmed_at: datetime | None = None


class Transfer(SQLModel, table=True):
    """One copy ``repair --apply`` recorded: from a source endpoint to the destination of a
    ``copying`` replica (migration 0010). ``state``: queued, active, done, failed; the times
    but ``created_at`` are the simulated grid's (``transfer_clock``)."""

    __table_args__ = (
        Index("ix_transfer_state", "state"),
        Index("ix_transfer_replica", "replica_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id")
    replica_id: int = Field(foreign_key="replica.id")
    source_endpoint_id: int = Field(foreign_key="endpoint.id")
    target_endpoint_id: int = Field(foreign_key="endpoint.id")
    bytes: int = Field(sa_column=_big(nullable=False))
    state: str = "queued"
    created_at: datetime
    attempts: int = 0
    not_before: datetime | None = None  # no attempt before (backoff after a failure)
    started_at: datetime | None = None  # of the current attempt
    finished_at: datetime | None = None
    moved_bytes: int = Field(default=0, sa_column=_big(nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TransferClock(SQLModel, table=True):
    """The simulated grid's present: one row (id 1), moved on by ``transfers run``."""

    __tablename__ = "transfer_clock"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime


class ReplicationRule(SQLModel, table=True):
    """A Rucio replication rule on a dataset, as information (migration 0011): recorded by
    ``rucio sync`` from the snapshot's ``rules.jsonl`` and by ``rucio push --apply`` (then with
    the ``finding`` it repairs: ``policy rule`` names). ``state`` is Rucio's word (``OK``,
    ``REPLICATING``, ``STUCK``…); ``seen_at`` when lifecycle last saw it so."""

    __tablename__ = "replication_rule"
    __table_args__ = (
        Index("ix_replication_rule_rule_id", "rule_id", unique=True),
        Index("ix_replication_rule_dataset", "dataset_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str
    dataset_id: int = Field(foreign_key="dataset.id")
    rse_expression: str = Field(sa_column=Column(Text, nullable=False))
    copies: int
    state: str
    account: str | None = None
    source_replica_expression: str | None = Field(default=None, sa_column=Column(Text))
    comment: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = None
    expires_at: datetime | None = None
    locks_ok: int = 0
    locks_replicating: int = 0
    locks_stuck: int = 0
    finding: str | None = Field(default=None, sa_column=Column(Text))
    seen_at: datetime
