"""Storage dumps: what one endpoint's storage holds, as a site lists it (Rucio's storage dumps).

A dump is one CSV or Parquet file for one endpoint, one row per dataset found there: ``did``
(``scope:name``, or an ATLAS-style name as in the exchange format), ``files`` and ``bytes``
(integers ≥ 0, what the storage holds of it), optionally ``checksum``; other columns are read and
ignored. Bad rows are refused as exchange-format rows are (:class:`~lifecycle.errors.ImportRowError`:
file, row, column), with the same validation helpers; a DID listed twice with other content too.

The dump's **time** (when the site listed its storage) is, in order: the time given by the caller
(``--dump-time``); the Parquet file's schema metadata ``dump_time`` (ISO 8601, what ``lifecycle
generate --dumps`` writes); a date in the file name (``..._2026-01-10.csv`` or ``dump_20260110``:
Rucio's dumps are dated by day), read as 00:00 UTC that day. None of them: a usage error asking
for ``--dump-time``.

Not an exchange table (nothing imports it into the catalog): this module only reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.errors import ImportRowError, UsageError
from lifecycle.exchange.reader import HEADER, read_table
from lifecycle.exchange.spec import DID_LENGTH, Column, Table

if TYPE_CHECKING:
    import pandas as pd

DUMP_TIME_KEY = "dump_time"  # the Parquet schema metadata key holding the dump's time
DUMP = Table(
    "dump",
    (
        Column("did", "did", required=True, max_length=DID_LENGTH, indexed=True),
        Column("files", "int", required=True, nonnegative=True),
        Column("bytes", "int", required=True, nonnegative=True),
        Column("checksum"),
    ),
    key=("did",),
    extras="ignored",
)
# a date in a file name: 2026-01-10 or 20260110, not inside a longer run of digits
_NAME_DATE = re.compile(r"(?<![0-9])([0-9]{4})-?([0-9]{2})-?([0-9]{2})(?![0-9])")


@dataclass(frozen=True)
class StorageDump:
    """A dump read and checked: its rows (``did``, ``files``, ``bytes``, ``checksum``), its time,
    and where that time came from (``given``, ``metadata``, ``file name``)."""

    path: Path
    frame: pd.DataFrame
    time: datetime
    time_source: str

    @property
    def file(self) -> str:
        return self.path.name


def read_dump(path: Path, dump_time: datetime | None = None) -> StorageDump:
    """Read and check the dump at ``path``; its time is ``dump_time`` when given (see the module
    docstring for where it comes from otherwise)."""
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise UsageError(f"{path}: a storage dump is a .csv or .parquet file")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    source = "given"
    if dump_time is None:
        dump_time, source = _dump_time(path)
    source_rows = read_table(DUMP, path)
    frame = source_rows.frame[list(DUMP.column_names)].reset_index(drop=True)
    return StorageDump(path, frame, dump_time.astimezone(UTC), source)


def _dump_time(path: Path) -> tuple[datetime, str]:
    if path.suffix == ".parquet":
        found = _metadata_time(path)
        if found is not None:
            return found, "metadata"
    match = _NAME_DATE.search(path.name)
    if match:
        year, month, day = (int(g) for g in match.groups())
        try:
            return datetime(year, month, day, tzinfo=UTC), "file name"
        except ValueError:
            pass
    raise UsageError(
        f"{path.name}: no dump time (no '{DUMP_TIME_KEY}' in its Parquet metadata, no date in "
        "its name); give --dump-time (ISO 8601)"
    )


def _metadata_time(path: Path) -> datetime | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).schema_arrow.metadata or {}
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRowError(path.name, HEADER, "*", f"cannot read file: {reason}") from exc
    raw = metadata.get(DUMP_TIME_KEY.encode())
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace").strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ImportRowError(
            path.name, HEADER, DUMP_TIME_KEY, f"unparseable dump time {text!r} (use ISO 8601)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def write_dump(path: Path, frame: pd.DataFrame, time: datetime) -> None:
    """Write ``frame`` (``did``, ``files``, ``bytes``, optional ``checksum``) as a Parquet dump
    carrying ``time`` in its schema metadata (written aside, then renamed into place)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [c.name for c in DUMP.columns if c.name in frame.columns]
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    stamp = time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    table = table.replace_schema_metadata({DUMP_TIME_KEY: stamp})
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial, compression="zstd")
    os.replace(partial, path)
