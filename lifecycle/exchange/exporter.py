"""The catalog as exchange-format tables: frames read back from the database, and files written.

:func:`catalog_frame` returns a table in exactly the normalized shape the reader produces, plus an
``_id`` column with the row's surrogate key where it has one; the importer uses it to compare
incoming rows with what the catalog holds, the exporter to write files.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.catalog.sql import statement
from lifecycle.errors import UsageError
from lifecycle.exchange.spec import EXTRA_TABLES, TABLES, Table
from lifecycle.progress import SILENT, Progress
from lifecycle.text import guard_formulas
from lifecycle.values import format_timestamps, rows_frame, to_utc

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

EXPORT_FORMATS = ("csv", "parquet")
# Above this many keys a filtered read fetches the whole table and filters in memory.
IN_LIMIT = 20_000
IN_CHUNK = 500

# SELECT of each table in exchange shape; {where} is replaced by an optional key filter.
_QUERIES: dict[str, tuple[str, str]] = {
    # table: (sql, column filtered by key)
    "sites": (
        "SELECT s.id AS _id, s.name, s.tier, s.country, s.cloud, s.status FROM site s {where}",
        "s.name",
    ),
    "endpoints": (
        "SELECT e.id AS _id, e.name, s.name AS site, e.media, e.capacity_bytes "
        "FROM endpoint e JOIN site s ON s.id = e.site_id {where}",
        "e.name",
    ),
    "datasets": (
        "SELECT d.id AS _id, d.did, d.kind, d.data_type, d.bytes, d.files, d.events, "
        "d.created_at, d.expires_at, d.state FROM dataset d {where}",
        "d.did",
    ),
    "replicas": (
        "SELECT r.id AS _id, d.did, e.name AS endpoint, r.state, r.created_at, r.accessed_at "
        "FROM replica r JOIN dataset d ON d.id = r.dataset_id "
        "JOIN endpoint e ON e.id = r.endpoint_id {where}",
        "d.did",
    ),
    "transformations": (
        "SELECT t.id AS _id, t.tag, t.name, t.release, t.image, t.image_digest, t.code_repo, "
        "t.code_commit, t.command, t.platform, t.cpu_seconds_per_event, t.output_ratio "
        "FROM transformation t {where}",
        "t.tag",
    ),
    "productions": (
        "SELECT p.id AS _id, p.name AS id, t.tag AS transformation, p.conditions_tag, "
        "s.name AS site, p.started_at, p.finished_at, p.status FROM production p "
        "JOIN transformation t ON t.id = p.transformation_id "
        "LEFT JOIN site s ON s.id = p.site_id {where}",
        "p.name",
    ),
    "production_io": (
        "SELECT p.name AS production, d.did, i.role FROM production_input i "
        "JOIN production p ON p.id = i.production_id JOIN dataset d ON d.id = i.dataset_id {where} "
        "UNION ALL "
        "SELECT p.name AS production, d.did, 'output' AS role FROM production_output o "
        "JOIN production p ON p.id = o.production_id JOIN dataset d ON d.id = o.dataset_id {where}",
        "p.name",
    ),
    "pins": (
        "SELECT n.id AS _id, d.did, n.reason, n.until, n.actor FROM pin n "
        "JOIN dataset d ON d.id = n.dataset_id {where}",
        "d.did",
    ),
}


def catalog_query(name: str) -> str:
    """The SELECT of table ``name`` of the catalog in exchange shape (with ``_id`` where the
    rows have one), unfiltered: for statements that join it (a sync compares with it)."""
    return _QUERIES[name][0].format(where="")


def catalog_frame(conn: Connection, name: str, keys: pd.Series | None = None) -> pd.DataFrame:
    """Table ``name`` of the catalog in normalized exchange shape, optionally only rows whose
    first key column is in ``keys``."""
    table = TABLES[name]
    sql, key_column = _QUERIES[name]
    if keys is None:
        frame = _fetch(conn, sql.format(where=""))
    else:
        frame = _fetch_matching(conn, sql, key_column, table.key[0], keys)
    frame = _typed(table, frame)
    if name in EXTRA_TABLES:
        frame = _with_extras(conn, name, frame)
    return frame.reset_index(drop=True)


def _fetch_matching(
    conn: Connection, sql: str, sql_column: str, frame_column: str, keys: pd.Series
) -> pd.DataFrame:
    """The rows of ``sql`` (a SELECT with a ``{where}`` slot) whose ``sql_column`` is in ``keys``.

    Up to :data:`IN_LIMIT` keys, the distinct ones are bound :data:`IN_CHUNK` at a time; above,
    the whole table is read once and its ``frame_column`` filtered in memory.
    """
    import pandas as pd

    if len(keys) > IN_LIMIT:
        frame = _fetch(conn, sql.format(where=""))
        return frame[frame[frame_column].isin(keys)]
    unique = list(dict.fromkeys(keys.dropna().tolist()))
    parts = [
        _fetch(
            conn,
            sql.format(where=f"WHERE {sql_column} IN :keys"),
            {"keys": unique[i : i + IN_CHUNK]},
        )
        for i in range(0, len(unique), IN_CHUNK)
    ]
    if not parts:
        return _fetch(conn, sql.format(where="WHERE 1 = 0"))
    return pd.concat(parts, ignore_index=True)


def _fetch(conn: Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
    result = conn.execute(statement(sql, params), params or {})
    return rows_frame(result.keys(), result.fetchall())


def _typed(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for column in table.columns:
        values = frame[column.name]
        if column.type == "int":
            frame[column.name] = values.astype("Int64")
        elif column.type == "float":
            frame[column.name] = pd.to_numeric(values).astype("float64")
        elif column.type == "timestamp":
            frame[column.name] = to_utc(values)
        else:
            frame[column.name] = values.astype("string[pyarrow]")
    if "_id" in frame.columns:
        frame["_id"] = frame["_id"].astype("int64")
    return frame


def _with_extras(conn: Connection, name: str, frame: pd.DataFrame) -> pd.DataFrame:
    extra_table, id_column = EXTRA_TABLES[name]
    if frame.empty:
        return frame
    sql = f"SELECT {id_column} AS _id, key, value FROM {extra_table} {{where}}"
    pairs = _fetch_matching(conn, sql, id_column, "_id", frame["_id"])
    if pairs.empty:
        return frame
    wide = pairs.pivot(index="_id", columns="key", values="value")
    wide = wide[sorted(wide.columns)].astype("string[pyarrow]")
    wide.columns.name = None
    return frame.merge(wide, left_on="_id", right_index=True, how="left")


@dataclass
class ExportResult:
    """What an export wrote: rows per table, and files of the other format it replaced."""

    directory: Path
    counts: dict[str, int] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)


def export_directory(
    conn: Connection,
    directory: Path,
    fmt: str = "csv",
    *,
    excel_safe: bool = False,
    progress: Progress = SILENT,
) -> ExportResult:
    """Write every table of the catalog to ``directory`` as ``<table>.<fmt>``.

    The tables are written to a temporary directory inside ``directory`` first and renamed into
    place only when all are written: a failure (a full disk, say) leaves the old files or none,
    never a half-written one. A symbolic link where a table file goes is refused rather than
    written through. One file per table: a table's file of the other format is removed, and
    named in the result. ``excel_safe`` (CSV only) guards text cells against spreadsheet
    formulas (see :func:`lifecycle.text.guard_formulas`); such files do not round-trip.
    ``progress`` hears of each table: read (counting), then written (its rows done).
    """
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if excel_safe and fmt != "csv":
        raise UsageError("--excel-safe: applies to --format csv only")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    other_fmt = "parquet" if fmt == "csv" else "csv"
    for name in TABLES:
        for path in (directory / f"{name}.{fmt}", directory / f"{name}.{other_fmt}"):
            if path.is_symlink():
                raise UsageError(f"{path}: a symbolic link; refusing to write through it")
            if path.exists() and not path.is_file():
                raise UsageError(f"{path}: exists and is not a regular file")
    directory.mkdir(parents=True, exist_ok=True)
    result = ExportResult(directory)
    staging = Path(tempfile.mkdtemp(prefix=".lifecycle-export-", dir=directory))
    try:
        for name, table in TABLES.items():
            with progress.phase(f"exporting {name}") as phase:
                frame = catalog_frame(conn, name).drop(columns="_id", errors="ignore")
                frame = frame.sort_values(list(table.key), kind="stable").reset_index(drop=True)
                phase.set(0, total=len(frame))
                path = staging / f"{name}.{fmt}"
                if fmt == "csv":
                    _write_csv(table, frame, path, guard_formulas if excel_safe else None)
                else:
                    _write_parquet(table, frame, path)
                result.counts[name] = len(frame)
                phase.set(len(frame))
        for name in TABLES:
            (staging / f"{name}.{fmt}").replace(directory / f"{name}.{fmt}")
            other = directory / f"{name}.{other_fmt}"
            if other.exists():
                other.unlink()
                result.replaced.append(other.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _write_csv(table: Table, frame: pd.DataFrame, path: Path, guard=None) -> None:
    out = frame.copy()
    for column in table.columns:
        if column.type == "timestamp":
            out[column.name] = format_timestamps(out[column.name])
    if guard is not None:
        out = guard(out)
    out.to_csv(path, index=False, na_rep="", lineterminator="\n")


def arrow_schema(table: Table, extras: list[str]):
    """The Parquet schema of ``table`` with its extra columns as text."""
    import pyarrow as pa

    fields = [pa.field(c.name, c.arrow_type()) for c in table.columns]
    fields += [pa.field(name, pa.string()) for name in extras]
    return pa.schema(fields)


def _write_parquet(table: Table, frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    extras = [c for c in frame.columns if c not in table.column_names]
    arrow = pa.Table.from_pandas(
        frame, schema=arrow_schema(table, extras), preserve_index=False
    ).replace_schema_metadata(None)
    pq.write_table(arrow, path, compression="zstd")
