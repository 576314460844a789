"""The tables and columns of exchange format version 1, as data the reader and writer share."""

from __future__ import annotations

from dataclasses import dataclass, field

# Indexed text holds at most INDEXED_TEXT_BYTES of UTF-8 (the limit and its reason: lifecycle.text).
from lifecycle.vocabulary import (
    DATASET_STATES,
    KINDS,
    MEDIA,
    PRODUCTION_STATUSES,
    REPLICA_STATES,
    ROLES,
    SITE_STATUSES,
)

FORMAT_VERSION = 1
# Rucio allows a 25-character scope and a 255-character name.
KEY_LENGTH = 255
DID_LENGTH = 300


@dataclass(frozen=True)
class Column:
    """One column of an exchange table.

    ``type`` is one of text, int, float, timestamp, enum, did. ``references`` names the table whose
    key the column refers to.
    """

    name: str
    type: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None
    nonnegative: bool = False
    maximum: int | None = None
    max_length: int | None = None
    references: str | None = None
    indexed: bool = False  # at most INDEXED_TEXT_BYTES of UTF-8

    @property
    def optional(self) -> bool:
        """Whether a value may be empty (FORMAT.md's "optional"): not required, no default."""
        return not self.required and self.default is None

    def arrow_type(self):
        """The Arrow type of the column in Parquet: int64, float64, UTC microseconds, or text."""
        import pyarrow as pa

        if self.type == "int":
            return pa.int64()
        if self.type == "float":
            return pa.float64()
        if self.type == "timestamp":
            return pa.timestamp("us", tz="UTC")
        return pa.string()


@dataclass(frozen=True)
class Table:
    """One exchange table: its columns, its key, and where unlisted columns go (if anywhere)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    extras: str | None = None  # attributes / metadata / parameters
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "sites",
            (
                Column("name", required=True, max_length=KEY_LENGTH, indexed=True),
                Column("tier", "int", required=True, nonnegative=True, maximum=3),
                Column("country", required=True),
                Column("cloud"),
                Column("status", "enum", choices=SITE_STATUSES, default="active"),
            ),
            key=("name",),
        ),
        Table(
            "endpoints",
            (
                Column("name", required=True, max_length=KEY_LENGTH, indexed=True),
                Column("site", required=True, references="sites"),
                Column("media", "enum", required=True, choices=MEDIA),
                Column("capacity_bytes", "int", nonnegative=True),
            ),
            key=("name",),
            extras="attributes",
        ),
        Table(
            "datasets",
            (
                Column("did", "did", required=True, max_length=DID_LENGTH, indexed=True),
                Column("kind", "enum", required=True, choices=KINDS),
                Column("data_type", indexed=True),
                Column("bytes", "int", required=True, nonnegative=True),
                Column("files", "int", required=True, nonnegative=True),
                Column("events", "int", nonnegative=True),
                Column("created_at", "timestamp", required=True),
                Column("expires_at", "timestamp"),
                Column("state", "enum", choices=DATASET_STATES, default="closed"),
            ),
            key=("did",),
            extras="metadata",
        ),
        Table(
            "replicas",
            (
                Column("did", "did", required=True, references="datasets"),
                Column("endpoint", required=True, references="endpoints"),
                Column("state", "enum", choices=REPLICA_STATES, default="available"),
                Column("created_at", "timestamp", required=True),
                Column("accessed_at", "timestamp"),
            ),
            key=("did", "endpoint"),
        ),
        Table(
            "transformations",
            (
                Column("tag", required=True, max_length=KEY_LENGTH, indexed=True),
                Column("name", required=True),
                Column("release", required=True),
                Column("image"),
                Column("image_digest"),
                Column("code_repo"),
                Column("code_commit"),
                Column("command"),
                Column("platform"),
                Column("cpu_seconds_per_event", "float", nonnegative=True),
                Column("output_ratio", "float", nonnegative=True),
            ),
            key=("tag",),
            extras="parameters",
        ),
        Table(
            "productions",
            (
                Column("id", required=True, max_length=KEY_LENGTH, indexed=True),
                Column("transformation", required=True, references="transformations"),
                Column("conditions_tag"),
                Column("site", references="sites"),
                Column("started_at", "timestamp"),
                Column("finished_at", "timestamp"),
                Column("status", "enum", choices=PRODUCTION_STATUSES, default="done"),
            ),
            key=("id",),
        ),
        Table(
            "production_io",
            (
                Column("production", required=True, references="productions"),
                Column("did", "did", required=True, references="datasets"),
                Column("role", "enum", required=True, choices=ROLES),
            ),
            key=("production", "did"),
        ),
        Table(
            "pins",
            (
                Column("did", "did", required=True, references="datasets"),
                Column("reason", required=True, indexed=True),
                Column("until", "timestamp"),
                Column("actor", required=True, indexed=True),
            ),
            key=("did", "actor", "reason"),
        ),
    )
}

# Where the catalog keeps each table's extra columns (FORMAT.md): exchange table -> (key/value
# table, its id column). The importer writes them there, the exporter reads them back.
EXTRA_TABLES: dict[str, tuple[str, str]] = {
    "endpoints": ("endpoint_attribute", "endpoint_id"),
    "datasets": ("dataset_metadata", "dataset_id"),
    "transformations": ("transformation_parameter", "transformation_id"),
}
