"""Reading the catalog straight into Arrow, on a connection of its own (ADBC).

Fetching a catalog table through the Python driver makes one Python object per value before
Arrow sees it: 22.6 s of CPU of an identical 1 M-dataset sync's 50 s (benchmarks/README.md,
"Sync speed, second step"). Apache Arrow's ADBC drivers (``adbc-driver-sqlite``,
``adbc-driver-postgresql``) read rows into Arrow arrays in C: the replicas (1.7 M rows) and
the datasets with their metadata text (1 M) took 3.7 s of CPU against 9.3 s for the driver's
cursor alone, before its values went into Arrow.

Such a connection is not the writer's, so it cannot see the writer's transaction: it reads the
catalog as last committed. :func:`arrow_reader` gives one out only where that is exactly what
the writer's connection ``conn`` reads, on the same conditions as
:func:`~lifecycle.catalog.store.snapshot_reader` (see there): ``conn`` holds the catalog's write
lock (SQLite's ``BEGIN IMMEDIATE`` on a WAL file; PostgreSQL's advisory lock, whose snapshot
the reader imports), so no other run can commit while it lasts, and the caller reads through it
**only before its own first write** to the catalog, after which it must use ``conn`` itself.

The engines differ in one place here, :meth:`ArrowReader.read`: PostgreSQL sends typed columns;
SQLite has none, and ADBC's SQLite driver takes each column's Arrow type from the values of its
first batch of rows, then fails on a value of another storage class (measured: a first batch of
nulls typed int64, then a REAL failed). So on SQLite one typed row (0, 0.0, '') goes first and
is dropped after reading: a column is then typed by the storage class its values must have, and
any value of another class fails the read, which the caller answers by reading through ``conn``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.bulk import SNAPSHOT_EXPORTED
from lifecycle.catalog.store import snapshot_reader, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

BATCH_ROWS = 65_536  # rows per batch of ADBC's SQLite reader (its default is 1,024)
_FIRST = "_lc_first"  # SQLite: 0 on the typed first row, 1 on the rows read
# SQLite: the typed first row's value per kind of column (timestamps are text there)
_TYPED_VALUE = {"int": "0", "float": "0.0", "timestamp": "''", "text": "''"}


class ArrowReader:
    """One ADBC connection reading what the writer's connection reads (see the module's note),
    or, from :func:`~lifecycle.catalog.snapshots.read_snapshot`, the snapshot its readers read."""

    def __init__(self, dialect: str, session: Session) -> None:
        self.dialect = dialect
        self._session = session

    def begin(self) -> bool:
        """SQLite: take the transaction's snapshot now (at its first read), as the other readers
        of a snapshot do; False if the read fails. PostgreSQL: the snapshot is set on connecting."""
        if self.dialect != "sqlite":
            return True
        import adbc_driver_manager

        try:
            self._session.run_query("SELECT 1 FROM sqlite_master LIMIT 1")
        except (adbc_driver_manager.Error, OSError):
            return False
        return True

    def read(self, items: list[str], source: str, kinds: list[str]) -> list[Any] | None:
        """``SELECT items FROM source`` as Arrow chunked arrays, typed as the engine sends them
        (``kinds``: each item's column type, ``int``, ``float``, ``timestamp`` or ``text``);
        ``None`` if a value does not have the storage class its column's first rows have."""
        import adbc_driver_manager

        names = [f"v{i}" for i in range(len(items))]
        listed = ", ".join(f"{item} AS {name}" for item, name in zip(items, names, strict=True))
        sql = f"SELECT {listed} FROM {source}"
        if self.dialect == "sqlite":
            typed = ", ".join(_TYPED_VALUE[kind] for kind in kinds)
            sql = f"SELECT 0 AS {_FIRST}, {typed} UNION ALL SELECT 1, {listed} FROM {source}"
        session = self._session
        options = {}
        if self.dialect == "sqlite":
            options = {"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)}
        else:  # a failed read (a lock not had) must not end the snapshot's transaction
            session.run("SAVEPOINT lc_read")
        try:
            table = session.table(sql, options)
        except (adbc_driver_manager.Error, OSError):
            if self.dialect != "sqlite":
                session.run("ROLLBACK TO SAVEPOINT lc_read")
            return None
        if self.dialect == "sqlite":
            table = _without_typed_row(table)
        return [table.column(i) for i in range(table.num_columns)]


def _without_typed_row(table: Any) -> Any:
    """SQLite: the rows read without the typed first row, by its flag (wherever it came). Where
    it came first, as SQLite gives a ``UNION ALL``, sliced off without a copy: filtering copied
    every value (0.1-0.2 s for the 1.7 M replicas of 1 M datasets)."""
    import pyarrow.compute as pc

    flags = table[_FIRST]
    if len(flags) and flags[0].as_py() == 0 and pc.min(flags.slice(1)).as_py() in (1, None):
        return table.slice(1).drop_columns([_FIRST])
    return table.filter(pc.equal(flags, 1)).drop_columns([_FIRST])


@contextmanager
def arrow_reader(conn: Connection) -> Iterator[ArrowReader | None]:
    """An :class:`ArrowReader` of what ``conn`` reads, closed at the end of the block, or
    ``None`` where none can be had: ``conn`` does not hold the write lock, an in-memory or
    non-WAL SQLite catalog, or the ADBC driver cannot connect."""
    if snapshot_reader(conn) is None:  # its conditions are ours: the lock, WAL, a file
        yield None
        return
    connection = None
    try:
        connection = _connect(conn)
    except Exception:  # a URL option libpq does not take, a driver that will not load: no reader
        connection = None
    try:
        yield None if connection is None else ArrowReader(conn.dialect.name, connection)
    finally:
        if connection is not None:
            connection.close()


def _connect(conn: Connection):
    """An ADBC connection to ``conn``'s catalog, reading what ``conn`` reads."""
    if conn.dialect.name == "sqlite":
        # its snapshot, taken at its first read, is the last commit: no one can commit while
        # the writer holds the lock
        return connect_sqlite(sqlite_file(conn.engine.url))
    # the snapshot conn's transaction sees (exported under the lock, as snapshot_reader does)
    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
    # no COPY ... FREEZE in this transaction (bulk.py); conn.info outlives it: keyed by its id
    conn.info[SNAPSHOT_EXPORTED] = conn.exec_driver_sql("SELECT txid_current()").scalar()
    return connect_postgresql(conn, snapshot)


class Session:
    """An ADBC connection through the driver manager's own API. Its DB-API layer imports pandas
    on import (0.4 s of CPU, under the write lock where a snapshot's reader begins); here
    pyarrow is imported only to read a table."""

    def __init__(self, database: Any, autocommit: bool) -> None:
        import adbc_driver_manager

        self._database = database
        try:
            self._connection = adbc_driver_manager.AdbcConnection(database)
            if not autocommit:
                self._connection.set_autocommit(False)
        except BaseException:
            database.close()
            raise

    def _statement(self, sql: str, options: dict[str, str] | None = None):
        import adbc_driver_manager

        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            if options:
                statement.set_options(**options)
            statement.set_sql_query(sql)
        except BaseException:
            statement.close()
            raise
        return statement

    def run(self, sql: str) -> None:
        """Run a statement that returns no rows."""
        statement = self._statement(sql)
        try:
            statement.execute_update()
        finally:
            statement.close()

    def run_query(self, sql: str) -> None:
        """Run a query, its rows not read (SQLite: a read transaction takes its snapshot)."""
        statement = self._statement(sql)
        try:
            stream, _ = statement.execute_query()
            del stream  # released unread
        finally:
            statement.close()

    def table(self, sql: str, options: dict[str, str] | None = None) -> Any:
        """The rows of a query as a ``pyarrow.Table``."""
        import pyarrow

        statement = self._statement(sql, options)
        try:
            stream, _ = statement.execute_query()
            return pyarrow.RecordBatchReader._import_from_c(stream.address).read_all()
        finally:
            statement.close()

    def close(self) -> None:
        try:
            self._connection.close()
        finally:
            self._database.close()


def connect_sqlite(path: Any) -> Session:
    """An ADBC connection to the SQLite file ``path``, read-only (WAL lets it read while a writer
    holds the lock), in a transaction that takes its snapshot at its first read and keeps it
    until the connection is closed."""
    import adbc_driver_sqlite

    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    return Session(adbc_driver_sqlite.connect(uri), autocommit=False)


def connect_postgresql(conn: Connection, snapshot: str) -> Session:
    """An ADBC connection to ``conn``'s PostgreSQL catalog in a read-only REPEATABLE READ
    transaction on the exported ``snapshot``."""
    import adbc_driver_postgresql

    url = conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    session = Session(adbc_driver_postgresql.connect(url), autocommit=True)
    try:
        session.run("SET jit = off")  # as the engine's connections (store.py says why)
        # never wait for a lock: the writer may hold one it took for its bulk load (the
        # indexes and foreign keys of empty tables dropped, ACCESS EXCLUSIVE), and it waits
        # for this reader in the same thread; a read that would wait fails, and the caller
        # reads through the writer's connection instead
        session.run("SET lock_timeout = '50ms'")
        session.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # SET takes no bound parameter: the server's identifier (hex digits and dashes)
        if not all(c in "0123456789ABCDEFabcdef-" for c in snapshot):
            raise ValueError(f"not a snapshot identifier: {snapshot!r}")
        session.run(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    except Exception:
        session.close()
        raise
    return session
