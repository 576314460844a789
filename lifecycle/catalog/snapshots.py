"""Several read transactions on one snapshot of the catalog, for read-only work on several cores.

A report reads the whole catalog in independent parts (the audit, the loss simulations, the
replicas grouped); on a connection each they run side by side (Python's sqlite3 and psycopg
release the GIL while a statement runs). They must all read the same catalog, never one part
before a writer's commit and another after it:

- SQLite (a file in WAL mode): the readers begin their snapshots while another connection holds
  the write lock (``BEGIN IMMEDIATE``), so no commit can fall between them; the lock is released
  as soon as every snapshot has begun (milliseconds: writers wait for it no longer than for a
  commit). Where the lock cannot be had within the lock timeout (a long import), where the
  catalog cannot be written (read-only files) or is not in WAL mode, or is in memory (another
  connection is another database), there is one connection only.
- PostgreSQL: the first connection's REPEATABLE READ transaction exports its snapshot
  (``pg_export_snapshot()``) and the others import it (``SET TRANSACTION SNAPSHOT``).

Nothing here writes to the catalog: the readers may make temporary tables of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from lifecycle.catalog.arrow_reader import ArrowReader, connect_postgresql, connect_sqlite

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Store


@contextmanager
def read_together(store: Store, count: int) -> Iterator[list[Connection]]:
    """Up to ``count`` connections, each in a read transaction, all reading one snapshot: the
    first always (as :meth:`Store.read` gives it), the others where they can be had."""
    with read_snapshot(store, count) as snapshot:
        yield snapshot.conns


@dataclass
class Snapshot:
    """Connections reading one snapshot, and an ADBC reader of it (``arrow``) where one could
    be had: a table read straight into Arrow, for a pass over every row counted in Arrow."""

    conns: list[Connection]
    arrow: ArrowReader | None = None


@contextmanager
def read_snapshot(store: Store, count: int, arrow: bool = False) -> Iterator[Snapshot]:
    """:func:`read_together`'s connections, and with ``arrow`` an ADBC reader on the same
    snapshot where the others can be had (begun with them; none where the driver cannot
    connect)."""
    store.ensure_schema(create=False)
    with ExitStack() as stack:
        first = stack.enter_context(store._connect())
        if count <= 1:
            stack.enter_context(first.begin())
            yield Snapshot([first])
            return
        if store.dialect == "postgresql":
            others, snapshot = _postgresql(store, stack, first, count - 1)
            reader = None
            if arrow and snapshot is not None:
                reader = _arrow(stack, first, lambda: connect_postgresql(first, snapshot))
            yield Snapshot([first, *others], reader)
            return
        yield _sqlite(store, stack, first, count - 1, arrow)


def _arrow(stack: ExitStack, conn: Connection, connect: Callable[[], Any]) -> ArrowReader | None:
    """An :class:`ArrowReader` on the connection ``connect`` makes, closed with ``stack``; None
    where the driver cannot connect (a URL option libpq does not take, a driver that will not
    load)."""
    try:
        connection = connect()
    except Exception:
        return None
    stack.callback(connection.close)
    return ArrowReader(conn.dialect.name, connection)


def _postgresql(
    store: Store, stack: ExitStack, first: Connection, more: int
) -> tuple[list[Connection], str | None]:
    stack.enter_context(first.begin())
    first.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    snapshot = str(first.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
    # SET takes no bound parameter: the server's identifier (hex digits and dashes) is checked
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        return [], None
    out = []
    for _ in range(more):
        other = stack.enter_context(store._connect())
        stack.enter_context(other.begin())
        other.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        out.append(other)
    return out, snapshot


# SQLite: the readers map the catalog file into memory (at most 2 GiB, SQLite's own cap). The
# report's parts read the dataset and replica tables again and again, otherwise through a page
# cache of 2 MiB a connection and a read() call a page: mapped, 8-15 % less CPU per part at 1 M
# datasets (the system time of joining every replica to its dataset: 1.05 -> 0.05 s). Only on
# these readers, and given up when they are done: a listing's peak RSS would count the pages.
MAP_BYTES = 2**31


def _map(stack: ExitStack, conns: list[Connection]) -> list[Connection]:
    for conn in conns:
        conn.exec_driver_sql(f"PRAGMA mmap_size = {MAP_BYTES}")
        stack.callback(conn.exec_driver_sql, "PRAGMA mmap_size = 0")
    return conns


def _sqlite(
    store: Store, stack: ExitStack, first: Connection, more: int, arrow: bool = False
) -> Snapshot:
    """``first`` and up to ``more`` others, their snapshots begun under the write lock (with
    ``arrow``, an ADBC reader's too); ``first`` alone where the lock cannot be had (see the
    module's docstring); each maps the file."""
    usable = not store.read_only and store._sqlite_path() is not None
    if usable:
        usable = str(first.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"
        first.rollback()  # the statement began a transaction: the snapshot begins below
    if usable:
        others = ExitStack()
        conns = [first, *(others.enter_context(store._connect()) for _ in range(more))]
        reader = None
        try:
            with store.engine.connect() as lock:
                lock = lock.execution_options(sqlite_begin="IMMEDIATE")
                with lock.begin():  # nobody commits until every snapshot has begun
                    for conn in conns:
                        others.enter_context(conn.begin())
                        _begin_snapshot(conn)
                    if arrow:
                        path = store._sqlite_path()
                        reader = _arrow(others, first, lambda: connect_sqlite(path))
                        if reader is not None and not reader.begin():
                            reader = None
        except OperationalError:  # locked by a long writer, or not writable after all
            others.close()
        else:
            stack.enter_context(others)
            return Snapshot(_map(stack, conns), reader)
    stack.enter_context(first.begin())
    return Snapshot(_map(stack, [first]))


def _begin_snapshot(conn: Connection) -> None:
    """Fix the read transaction's snapshot now (SQLite takes it at the first read)."""
    conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").all()
