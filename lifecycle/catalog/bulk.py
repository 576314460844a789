"""Set-based bulk writes: inserts (``executemany`` on SQLite, ``COPY`` on PostgreSQL) and the ids
of the rows they write.

Rows come in as a pandas DataFrame whose columns are already in the table's types (strings,
nullable integers, floats, UTC timestamps). They go to the driver straight from Arrow buffers, in
chunks, without building one ORM object (or one dict) per row.

Writers that number their rows themselves (import, applying a plan, recording suggestions) take
the ids from :func:`new_ids`, the one allocator: blocks after the table's largest id, and
PostgreSQL's id sequences moved past them once the rows are in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lifecycle.catalog.sql import by_dialect, statement

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

CHUNK_ROWS = 100_000
# How SQLAlchemy's DateTime stores a timestamp in SQLite; raw inserts must match it exactly.
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def insert_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Insert every row of ``frame`` (columns named as the table's) into ``table``; ``advance``
    hears how many rows each block inserted (a progress display's, at most 1 call per block)."""
    if frame.empty:
        return 0
    import pyarrow as pa

    # COPY is PostgreSQL's fast path (no statement per row); SQLite has none, and executemany
    # of one prepared INSERT is its fastest (both measured in benchmarks/bench_import.py)
    write = by_dialect(conn, sqlite=_executemany, postgresql=_copy)
    for start in range(0, len(frame), CHUNK_ROWS):  # Arrow copies one chunk at a time
        part = frame.iloc[start : start + CHUNK_ROWS]
        write(conn, table, pa.Table.from_pandas(part, preserve_index=False))
        if advance is not None:
            advance(len(part))
    return len(frame)


def _executemany(conn: Connection, table: str, arrow) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = arrow.column_names
    for i, col in enumerate(arrow.columns):
        if pa.types.is_timestamp(col.type):
            # Arrow's cast of a zoneless microsecond timestamp to text is SQLITE_TIMESTAMP with
            # SS.ffffff, exactly as SQLAlchemy stores it, and ten times faster than strftime
            # (measured: 0.3 s against 3.6 s for 2 M values, one in eight seconds of a 1 M import)
            utc = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
            arrow = arrow.set_column(i, columns[i], pc.cast(utc, pa.string()))
    sql = (
        f'INSERT INTO "{table}" ({", ".join(f"{c}" for c in columns)}) '
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    cursor = conn.connection.driver_connection.cursor()
    try:
        for batch in arrow.to_batches(max_chunksize=CHUNK_ROWS):
            cursor.executemany(sql, zip(*(c.to_pylist() for c in batch.columns), strict=True))
    finally:
        cursor.close()


def _copy(conn: Connection, table: str, arrow) -> None:
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, batch_size=CHUNK_ROWS)
    freeze = ", FREEZE" if table in conn.info.get(_FROZEN, ()) else ""
    sql = f'COPY "{table}" ({", ".join(arrow.column_names)}) FROM STDIN WITH (FORMAT csv{freeze})'
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            for batch in arrow.to_batches(max_chunksize=CHUNK_ROWS):
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, options)
                copy.write(buf.getvalue())
    finally:
        cursor.close()


class IdBlocks:
    """Blocks of new ids, table by table, for rows a bulk writer numbers itself.

    A block starts after the table's largest id (or after the last block given out for it in
    this transaction). The caller holds the catalog's write lock, so no one else takes them.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._next: dict[str, int] = {}

    def take(self, table: str, count: int) -> range:
        """``count`` new ids for ``table``."""
        first = self._next.get(table)
        if first is None:
            first = int(
                self.conn.exec_driver_sql(
                    f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"'
                ).scalar()
            )
        if count:
            self._next[table] = first + count
        return range(first, first + count)

    def sync_sequences(self) -> None:
        """Move the id sequences of the tables given ids past their largest id (PostgreSQL: an
        insert without an id, through the ORM, takes the sequence's next value; SQLite takes
        the largest rowid plus one by itself)."""
        command = by_dialect(
            self.conn,
            sqlite=None,
            postgresql="SELECT setval(pg_get_serial_sequence('{0}', 'id'), "
            '(SELECT COALESCE(MAX(id), 0) + 1 FROM "{0}"), false)',
        )
        if command is not None:
            for table in self._next:
                self.conn.exec_driver_sql(command.format(table))


@contextmanager
def new_ids(conn: Connection) -> Iterator[IdBlocks]:
    """The id allocator of one bulk write: take blocks, insert the rows; when the block ends
    without error, the sequences are brought past the new rows (on an error the caller's
    transaction rolls back and nothing needs moving)."""
    blocks = IdBlocks(conn)
    yield blocks
    blocks.sync_sequences()


# Pages SQLite may cache during a bulk load (negative: KiB), against its default of 2 MB: the
# unique index of dataset DIDs takes its inserts in random order, and with the default cache
# every one of them rereads pages from the operating system (measured at 1 M datasets).
BULK_CACHE_KIB = 256 * 1024


@contextmanager
def bulk_load(conn: Connection, empty_tables: list[str]) -> Iterator[None]:
    """Conditions for loading many rows on ``conn`` inside the caller's transaction.

    The plain indexes of ``empty_tables`` (tables that held no row when the load began) are
    dropped and built again from their own definitions once the rows are in: one sort per index
    instead of an index insert per row. Indexes that back a constraint (primary keys, unique
    keys) stay, so the database still refuses what it refused before. Everything is undone with
    the transaction on an error, the indexes too. On SQLite the page cache is raised for the
    load and restored afterwards. On PostgreSQL the foreign keys of ``empty_tables`` are also
    dropped and added again after the load: adding one checks all rows in one join, where
    COPY fires a check per row (two thirds of a 100 k import's COPY time, measured).
    """
    cache = by_dialect(conn, sqlite="cache_size", postgresql=None)
    before = conn.exec_driver_sql(f"PRAGMA {cache}").scalar() if cache else None
    if cache:
        conn.exec_driver_sql(f"PRAGMA {cache} = -{BULK_CACHE_KIB}")
    deferred = _plain_indexes(conn, empty_tables)
    for name, _ in deferred:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    references = _foreign_keys(conn, empty_tables)
    for table, name, _ in references:
        conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    conn.info[_FROZEN] = _truncated(conn, empty_tables)
    try:
        yield
        for _, definition in deferred:
            conn.exec_driver_sql(definition)
        for table, name, definition in references:  # each checks every row with one join
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    finally:
        conn.info.pop(_FROZEN, None)
        if cache:
            conn.exec_driver_sql(f"PRAGMA {cache} = {int(before)}")


# conn.info key: the tables COPY writes frozen (see _truncated)
_FROZEN = "lifecycle_copy_freeze"
# conn.info key, set when the transaction exported its snapshot (a sync's Arrow reader does):
# PostgreSQL then refuses COPY ... FREEZE ("cannot perform COPY FREEZE because of prior
# transaction activity"; seen in a first rucio sync into an empty catalog)
SNAPSHOT_EXPORTED = "lifecycle_snapshot_exported"


def _truncated(conn: Connection, tables: list[str]) -> set[str]:
    """PostgreSQL: the empty ``tables`` truncated in this transaction, so that COPY can write
    their rows frozen (``COPY ... FREEZE``, allowed only into a table created or truncated in
    the same transaction): already visible to every transaction and marked all-visible in
    the visibility map, as a ``VACUUM`` would leave them. SQLite: none.

    Without it a catalog just imported has no visibility map (until autovacuum comes by; this
    server runs without) and no hint bits: its first readers set those on every page they
    touch, writing it again, and every index-only scan fetches heap rows. Measured at 1 M
    datasets, ``audit --format json`` on the imported catalog against the same catalog after
    ``VACUUM (FREEZE)``: 11.0 s of server CPU against 8.0 s for the first run (findings
    recorded), 8.6 s against 6.3 s for the next; the walk of the irreproducible set fetched
    260 k heap rows, the reproducibility rule's blocking inputs 1.4 M.

    A table is truncated with the empty tables that reference it (TRUNCATE refuses a table
    another one references unless that one is truncated too); one referenced by a table with
    rows is left as it is, and loaded without FREEZE. Truncating empty tables changes no row;
    like the index drops of :func:`bulk_load` it locks them until the transaction ends.
    """
    if by_dialect(conn, sqlite=True, postgresql=False) or not tables:
        return set()
    exported = conn.info.get(SNAPSHOT_EXPORTED)  # by this transaction (its id), or an earlier
    if exported is not None and exported == conn.exec_driver_sql("SELECT txid_current()").scalar():
        return set()  # a transaction that exported its snapshot is not one COPY may freeze in
    edges = conn.exec_driver_sql(
        "SELECT DISTINCT c.relname, p.relname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
        "WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace"
    ).all()
    referencing: dict[str, set[str]] = {}
    for child, parent in edges:
        referencing.setdefault(parent, set()).add(child)
    empty: dict[str, bool] = {table: True for table in tables}  # so the caller found them

    def is_empty(table: str) -> bool:
        if table not in empty:
            sql = f'SELECT 1 FROM "{table}" LIMIT 1'
            empty[table] = conn.exec_driver_sql(sql).first() is None
        return empty[table]

    truncated: set[str] = set()
    for table in tables:
        closure, todo = {table}, [table]
        while todo and closure:
            for child in referencing.get(todo.pop(), ()):
                if child in closure:
                    continue
                if not is_empty(child):
                    closure = set()
                    break
                closure.add(child)
                todo.append(child)
        truncated |= closure
    if truncated:
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in sorted(truncated)))
    return truncated & set(tables)


def _plain_indexes(conn: Connection, tables: list[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes of ``tables`` that back no constraint."""
    if not tables:
        return []
    sql = by_dialect(
        conn,
        # SQLite keeps each index's CREATE statement; a constraint's index has none
        sqlite="SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN :tables ORDER BY name",
        # an index a constraint owns (primary or unique key) is that constraint's conindid
        postgresql="SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname IN :tables "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
        "ORDER BY i.relname",
    )
    params = {"tables": list(tables)}
    return [(name, definition) for name, definition in conn.execute(statement(sql, params), params)]


def _foreign_keys(conn: Connection, tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the foreign keys of ``tables`` on PostgreSQL (SQLite checks
    a reference by a lookup of the parent's primary key, and cannot drop a constraint)."""
    sql = by_dialect(
        conn,
        sqlite=None,
        postgresql="SELECT t.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class t ON t.oid = k.conrelid WHERE k.contype = 'f' "
        "AND t.relnamespace = current_schema()::regnamespace AND t.relname IN :tables "
        "ORDER BY t.relname, k.conname",
    )
    if sql is None or not tables:
        return []
    params = {"tables": list(tables)}
    return [tuple(row) for row in conn.execute(statement(sql, params), params)]
