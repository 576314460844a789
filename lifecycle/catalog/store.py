"""The catalog facade's storage side: URL resolution, engines, migrations, transactions and locks.

``Catalog`` (in ``lifecycle.api``) owns one :class:`Store`. Every write goes through
:meth:`Store.atomic`, which takes the catalog's write lock, runs in one transaction and leaves a
journal entry when something changed.

The engine setup here is per engine and stays here: SQLite's pragmas and ``BEGIN IMMEDIATE``,
PostgreSQL's JIT setting and advisory write lock, what each engine's error codes mean, where an
SQLite file lives. Statements whose form differs by engine choose it with
:func:`lifecycle.catalog.sql.by_dialect` instead.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import re
import socket
import sqlite3
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from lifecycle.catalog.migrations import HEAD, REVISIONS
from lifecycle.catalog.models import Journal
from lifecycle.catalog.sql import drop_tables
from lifecycle.errors import (
    CatalogError,
    CatalogLocked,
    LifecycleError,
    SchemaTooNew,
    SystemFailure,
    UsageError,
)

DEFAULT_DB = "lifecycle.db"
# Arbitrary but fixed key for PostgreSQL's advisory write lock of a catalog.
_PG_LOCK_CLASS = 0x6C696665  # "life": the advisory lock class of lifecycle catalogs
_NOT_A_CATALOG = (
    "{url}: no catalog there (create one with 'lifecycle init' or 'lifecycle import DIR')"
)
_LOCK_APP_PREFIX = "lifecycle-lock:"  # application_name of the session holding the lock
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def resolve_url(db: str | Path | None = None) -> str:
    """An SQLAlchemy URL from ``--db``, else ``LIFECYCLE_DB``, else ``./lifecycle.db``.

    A bare path means an SQLite file.
    """
    value = str(db) if db is not None else os.environ.get("LIFECYCLE_DB") or DEFAULT_DB
    if _URL_RE.match(value):
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


# PostgreSQL's lock_timeout and SQLite's busy_timeout are milliseconds in a signed 32-bit int
MAX_LOCK_TIMEOUT = (2**31 - 1) // 1000


def lock_timeout() -> float:
    """Seconds a write waits for another run's lock before giving up (``LIFECYCLE_LOCK_TIMEOUT``).

    0 means do not wait at all; anything but a number from 0 to ``MAX_LOCK_TIMEOUT`` (about 24
    days) is a usage error naming the variable.
    """
    text = os.environ.get("LIFECYCLE_LOCK_TIMEOUT") or "5"  # set but empty: the default
    try:  # ASCII only: float() would read full-width and other Unicode digits too
        value = float(text) if text.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_LOCK_TIMEOUT:  # also refuses nan
        raise UsageError(
            f"LIFECYCLE_LOCK_TIMEOUT: {text!r} is not a number of seconds from 0 to "
            f"{MAX_LOCK_TIMEOUT} (0: do not wait)"
        )
    return value


def lock_timeout_ms() -> int:
    """:func:`lock_timeout` in whole milliseconds: 0 stays 0 (do not wait), and any wait shorter
    than a millisecond becomes one, never 0 (PostgreSQL reads ``lock_timeout = 0`` as forever)."""
    seconds = lock_timeout()
    return 0 if seconds == 0 else max(1, math.ceil(seconds * 1000))


def current_actor() -> str:
    """Who acts: ``LIFECYCLE_ACTOR`` if set, else the login name."""
    actor = os.environ.get("LIFECYCLE_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        return "unknown"


def system_clock() -> datetime:
    """The machine's present, as an aware UTC datetime."""
    return datetime.now(UTC)


# The present as every service sees it; tests freeze time by replacing this one attribute
# (``monkeypatch.setattr("lifecycle.catalog.store.clock", ...)``), which reaches every caller of
# :func:`utcnow` however it was imported.
clock = system_clock


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (from :data:`clock`)."""
    return clock()


@dataclass
class Change:
    """What a transaction did; a journal entry is written when ``summary`` is set."""

    command: str
    actor: str
    summary: str | None = None
    reason: str | None = None
    # datasets the change touched, linked to its journal entry (``journal --did``): a query
    # returning dataset ids, run when the entry is written; then ``drop_after`` temporary tables
    # (that query's source, say) are dropped
    datasets_sql: str | None = None
    drop_after: tuple[str, ...] = ()
    # the values it changed, old and new (table ``journal_change``): queries returning
    # ``entity, entity_id, field, old_value, new_value`` (set-based writers fill a scratch table
    # before they update, and name it in ``drop_after``), and single rows as dicts of those keys
    changes_sql: list[str] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)


_CHANGE_COLUMNS = "entity, entity_id, field, old_value, new_value"


def _record_changes(conn: Connection, entry: int, change: Change) -> None:
    """Write ``change``'s changed values under journal entry ``entry``."""
    for query in change.changes_sql:
        conn.execute(
            sa.text(
                f"INSERT INTO journal_change (journal_id, {_CHANGE_COLUMNS}) "
                f"SELECT :entry, {', '.join('x.' + c for c in _CHANGE_COLUMNS.split(', '))} "
                f"FROM ({query}) x"
            ),
            {"entry": entry},
        )
    if change.changes:
        conn.execute(
            sa.text(
                f"INSERT INTO journal_change (journal_id, {_CHANGE_COLUMNS}) VALUES (:entry, "
                ":entity, :entity_id, :field, :old_value, :new_value)"
            ),
            [{"entry": entry, **row} for row in change.changes],
        )


def sqlite_file(parsed: sa.engine.URL) -> Path | None:
    """The file of an SQLite URL (also of ``sqlite:///file:PATH?...&uri=true``); None in memory."""
    database = parsed.database
    if not database or database == ":memory:":
        return None
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = urllib.parse.unquote(database[len("file:") :])
        return None if not database or database == ":memory:" else Path(database)
    return Path(database)


def _sqlite_read_only(parsed: sa.engine.URL, path: Path | None) -> bool:
    """Whether the catalog can only be read: the URL says so (``mode=ro``, ``immutable=1``), or
    this process may not write the file, or may not create the journal files next to it."""
    if parsed.query.get("mode") == "ro" or parsed.query.get("immutable") == "1":
        return True
    return (
        path is not None
        and path.exists()
        and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    )


def _read_only_connector(path: Path, timeout: float):
    """Connections that only read ``path``. Where the directory is writable, or the WAL's
    ``-wal`` and ``-shm`` files exist, ``mode=ro`` reads it as any reader would; otherwise
    SQLite cannot open a WAL database read-only at all, and ``immutable=1`` reads the file as
    last checkpointed (a catalog closed cleanly has everything there)."""
    quoted = urllib.parse.quote(str(path))
    wal_ready = all(path.with_name(path.name + end).exists() for end in ("-wal", "-shm"))
    mode = "mode=ro" if os.access(path.parent, os.W_OK) or wal_ready else "immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            f"file:{quoted}?{mode}", uri=True, timeout=timeout, check_same_thread=False
        )

    return connect


def _make_engine(url: str) -> tuple[Engine, bool]:
    """The engine of ``url``, and whether the catalog there can only be read."""
    lock_timeout()  # a bad LIFECYCLE_LOCK_TIMEOUT is refused before anything, on every engine
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"--db: not a database URL or path: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not path.parent.is_dir():
            raise CatalogError(f"--db: directory of {str(path)!r} does not exist")
        read_only = _sqlite_read_only(parsed, path)
        if read_only and path is not None and parsed.query.get("uri") != "true":
            engine = sa.create_engine(url, creator=_read_only_connector(path, lock_timeout()))
        else:
            engine = sa.create_engine(url, connect_args={"timeout": lock_timeout()})
        _configure_sqlite(engine, read_only)
        return engine, read_only
    try:
        engine = sa.create_engine(url, pool_pre_ping=False)
    except Exception as exc:  # missing driver, bad dialect
        raise CatalogError(f"--db: cannot use {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine, False


def _configure_postgresql(engine: Engine) -> None:
    """No JIT compilation: our queries are many and short-lived, and compiling them costs more
    than it saves (measured: about 10 % of a whole-catalog audit at 1,000,000 datasets)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()


def _configure_sqlite(engine: Engine, read_only: bool = False) -> None:
    """Foreign keys on, WAL, and explicit BEGIN (IMMEDIATE for writes) so locking is ours.

    A read-only catalog keeps its journal mode: changing it is a write."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA case_sensitive_like=ON")  # globs match case as on PostgreSQL
        cur.execute(f"PRAGMA busy_timeout={lock_timeout_ms()}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def snapshot_reader(conn: Connection) -> Callable[[], AbstractContextManager[Connection]] | None:
    """Another connection to ``conn``'s catalog reading what ``conn`` reads, for read-only work
    on a second core (Python's sqlite3 releases the GIL while a statement runs); as a factory
    of read transactions, or None where no such connection can be had.

    SQLite: ``conn`` must be a write transaction (``BEGIN IMMEDIATE``: the catalog's write lock,
    see :meth:`Store.atomic`) on a file in WAL mode that has not written to the catalog yet
    (its temporary tables are its own). Nobody else can commit while it holds the lock, so a
    read transaction begun meanwhile on another connection sees the last commit: what ``conn``
    reads. Use the connection only while ``conn``'s transaction lasts and before it writes.
    None otherwise:

    - a read transaction holds no lock: a writer may commit between the two snapshots;
    - an in-memory catalog is another database (or the same connection) on another connection;
    - in a rollback journal a reader would block the writer's cache spills.

    PostgreSQL: ``conn`` must be a write transaction holding the catalog's advisory write lock
    (:meth:`Store.atomic`). It is READ COMMITTED, each statement on a snapshot of its own, but
    while it holds the lock no other run commits a change: each of its snapshots sees what the
    one it exports here (``pg_export_snapshot()``) sees, and the reader imports that snapshot
    (``SET TRANSACTION SNAPSHOT`` in a REPEATABLE READ, READ ONLY transaction). The snapshot
    can be imported while ``conn``'s transaction lasts; use it before ``conn`` writes to the
    catalog (its temporary tables are its own). Measured at 1 M datasets: the rules other than
    reproducibility took 2.8 s of the server's CPU, now on a second server process while the
    first computes the irreproducible set.
    """
    if not conn.in_transaction():
        return None
    if conn.dialect.name == "postgresql":
        return _postgresql_snapshot_reader(conn)
    if conn.dialect.name != "sqlite":
        return None
    if conn.get_execution_options().get("sqlite_begin") != "IMMEDIATE":
        return None
    if sqlite_file(conn.engine.url) is None:
        return None
    if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal":
        return None
    engine = conn.engine

    @contextmanager
    def reader() -> Iterator[Connection]:
        with engine.connect() as other, other.begin():
            yield other

    return reader


def _postgresql_snapshot_reader(
    conn: Connection,
) -> Callable[[], AbstractContextManager[Connection]] | None:
    """:func:`snapshot_reader` on PostgreSQL: None unless ``conn`` holds the write lock."""
    high, low = Store._pg_lock_key(conn)
    locked = conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid() AND classid = :high AND objid = :low AND objsubid = 2)"
        ),
        {"high": high, "low": low},
    ).scalar()
    if not locked:
        return None
    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
    # SET takes no bound parameter: the server's identifier (hex digits and dashes) is checked
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        return None
    engine = conn.engine

    @contextmanager
    def reader() -> Iterator[Connection]:
        with engine.connect() as other, other.begin():
            other.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield other

    return reader


def _is_lock_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "lock timeout" in text or "locknotavailable" in text


# What a database error says about the catalog, by engine: SQLite's extended result code name
# (Python 3.11's sqlite3 exceptions carry it), PostgreSQL's SQLSTATE (psycopg's ``sqlstate``).
_SQLITE_CAUSES = {
    "SQLITE_FULL": "disk",
    "SQLITE_CORRUPT": "corrupt",
    "SQLITE_NOTADB": "corrupt",
    "SQLITE_READONLY": "read-only",
    "SQLITE_CANTOPEN": "read-only",  # its -wal/-shm files cannot be created
}
_PG_CAUSES = {"53100": "disk", "57P01": "lost", "57P02": "lost", "57P03": "lost"}


def _cause(exc: Exception) -> str | None:
    """``disk`` (full), ``lost`` (connection), ``corrupt``, ``read-only``, ``overflow`` (an
    integer sum SQLite cannot hold), or None: unexpected.

    ``exc`` is SQLAlchemy's wrapper of a driver error, or the driver's error itself."""
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy saw the server go away
        return "lost"
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    name = getattr(orig, "sqlite_errorname", None)
    if name == "SQLITE_ERROR" and str(orig) == "integer overflow":
        return "overflow"  # SUM beyond 2**63 - 1 (PostgreSQL's SUM over bigint is numeric: exact)
    if name is not None:
        return next((c for k, c in _SQLITE_CAUSES.items() if name.startswith(k)), None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate.startswith("08"):  # connection exceptions
        return "lost"
    return _PG_CAUSES.get(sqlstate)


def _holder_alive(holder: dict) -> bool:
    """Whether the run a holder file names may still be running: on this host, its process
    exists; on another host (a catalog on a shared file system) it cannot be checked."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        pid = int(holder.get("pid"))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    return True


class Store:
    """Engine, schema and transactions of one catalog database."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        # read_only: an SQLite file this process cannot write (or a URL with mode=ro): listings,
        # lineage, exports and audits that do not record their run work; writes are refused
        self.engine, self.read_only = _make_engine(url)
        self.dialect = self.engine.dialect.name
        self._schema_checked = False
        self._migrate = migrate

    # -- schema -------------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty database."""
        with self._connect() as conn:
            try:
                return self._revision(conn)
            except sa.exc.DatabaseError as exc:
                failure = self._failure(exc)
                if failure is not None:
                    raise failure from exc
                reason = str(exc.orig).strip().splitlines()[0]
                raise CatalogError(f"cannot use catalog {self.display_url()}: {reason}") from exc

    def _revision(self, conn: Connection) -> str | None:
        insp = sa.inspect(conn)
        if not insp.has_table("alembic_version"):
            # a database holding other tables is someone else's: never add ours to it
            tables = sorted(insp.get_table_names())
            if tables:
                raise CatalogError(
                    f"{self.display_url()}: holds tables ({', '.join(tables[:3])}"
                    f"{', ...' if len(tables) > 3 else ''}) but no lifecycle schema revision; "
                    "not a lifecycle catalog"
                )
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def ensure_schema(self, create: bool = True) -> None:
        """Create or upgrade the schema on first use; refuse a schema newer than this code.

        Without ``create``, a database that is not a catalog yet (a missing SQLite file, an
        empty database) is an error rather than created: a mistyped ``--db`` in a cron job must
        fail, not report on an empty catalog it just made.
        """
        if self._schema_checked:
            return
        path = self._sqlite_path()
        if not create and path is not None and not path.exists():
            raise CatalogError(_NOT_A_CATALOG.format(url=self.display_url()))
        current = self.revision()
        if current is None and not create:
            raise CatalogError(_NOT_A_CATALOG.format(url=self.display_url()))
        if current != HEAD:
            if current is not None and current not in REVISIONS:
                raise SchemaTooNew(current, HEAD)
            if not self._migrate:
                raise CatalogError(
                    f"{self.display_url()}: schema is at {current or 'nothing'}, "
                    f"run 'lifecycle db upgrade'"
                )
            self.upgrade()
        self._schema_checked = True

    def upgrade(self) -> tuple[str | None, str]:
        """Run alembic's upgrade to head under the write lock; returns (from, to) revisions."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        # SQLite's way to rebuild a table others reference (migration 0006): foreign keys off
        # for the transaction (bulk=True), then every reference checked before it commits
        with self._locked_connection("db upgrade", bulk=True) as conn:
            before = self._revision(conn)
            if before is not None and before not in REVISIONS:
                raise SchemaTooNew(before, HEAD)
            if before != HEAD:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if (
                    self.dialect == "sqlite"
                    and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None
                ):
                    raise CatalogError(
                        f"{self.display_url()}: the schema upgrade left references without "
                        "their rows; nothing was changed"
                    )
        self._schema_checked = True
        return before, HEAD

    # -- connections and transactions ----------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection; database errors that name their cause become one-line errors."""
        try:
            conn = self.engine.connect()
        except sa.exc.DatabaseError as exc:
            failure = self._failure(exc)
            if failure is not None:
                raise failure from exc
            raise CatalogError(
                f"cannot open catalog {self.display_url()}: {str(exc.orig).strip().splitlines()[0]}"
            ) from exc
        try:
            yield conn
        except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:
            # also the driver's own errors (bulk inserts use its connection directly), and
            # SQLAlchemy's own that a clean-up raised after the database failed
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc
        finally:
            conn.close()

    def _failure(self, exc: BaseException) -> LifecycleError | None:
        """The one-line error for a database error whose cause is known (see :func:`_cause`):
        ``exc`` or one it was raised while handling (a clean-up that fails after the connection
        was lost raises "can't reconnect until invalid transaction is rolled back")."""
        driver_error = self.engine.dialect.loaded_dbapi.Error
        chain: list[BaseException] = []
        while exc is not None and exc not in chain:
            chain.append(exc)
            exc = exc.__cause__ or exc.__context__
        known = [
            (e, c)
            for e in chain
            if isinstance(e, sa.exc.DBAPIError | driver_error) and (c := _cause(e)) is not None
        ]
        if not known:
            return None
        exc, cause = known[0]
        orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        lines = str(orig).strip().splitlines()
        detail = lines[0] if lines else type(orig).__name__
        url = self.display_url()
        if cause == "disk":
            return SystemFailure(
                f"{url}: disk full ({detail}); the change in progress was rolled back"
            )
        if cause == "lost":
            return SystemFailure(
                f"{url}: connection to the database was lost ({detail}); the change in "
                "progress was rolled back"
            )
        if cause == "overflow":
            return SystemFailure(
                f"{url}: a sum over the catalog exceeds {2**63 - 1}, the largest integer SQLite "
                "computes; byte or event totals this large need a PostgreSQL catalog"
            )
        if cause == "corrupt":
            return CatalogError(
                f"{url}: not a lifecycle catalog, or the database file is corrupt ({detail})"
            )
        return CatalogError(f"{url}: the catalog is read-only ({detail})")

    @contextmanager
    def _locked_connection(
        self, command: str = "lifecycle", *, bulk: bool = False, new_file: bool = False
    ) -> Iterator[Connection]:
        """A connection inside a transaction that holds the catalog's write lock.

        The holder (who, which command, since when) is recorded where a waiting run can read
        it: PostgreSQL's ``application_name`` of the session for the transaction, a small file
        next to an SQLite catalog. A run that times out waiting names the holder.
        """
        holder = {
            "actor": current_actor(),
            "command": command,
            "since": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        if self.read_only:
            raise CatalogError(
                f"{self.display_url()}: the catalog is read-only (this user may not write it, "
                f"or the URL says mode=ro); {command!r} cannot change it"
            )
        wait_ms = lock_timeout_ms()
        with self._connect() as conn, self._bulk_session(conn, bulk, new_file):
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        # lock_timeout = 0 is "wait for ever" on PostgreSQL: "do not wait" is a
                        # try-lock, and the other locks of the transaction wait 1 ms at most
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(wait_ms, 1)}ms'")
                        key = dict(zip(("high", "low"), self._pg_lock_key(conn), strict=True))
                        if wait_ms == 0:
                            got = conn.execute(
                                sa.text("SELECT pg_try_advisory_xact_lock(:high, :low)"), key
                            ).scalar()
                            if not got:
                                raise CatalogLocked(self.display_url(), self._lock_holder())
                        else:
                            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:high, :low)"), key)
                        # application_name holds at most 63 bytes: who and what; PostgreSQL
                        # itself knows since when (xact_start) and from where
                        name = f"{_LOCK_APP_PREFIX}{holder['pid']}:{holder['actor']}:{command}"
                        conn.execute(
                            sa.text("SELECT set_config('application_name', :name, true)"),
                            {"name": name.encode()[:63].decode(errors="ignore")},
                        )
                    with self._holder_file(holder):
                        yield conn
            except OperationalError as exc:
                if _is_lock_error(exc):
                    raise CatalogLocked(self.display_url(), self._lock_holder()) from exc
                raise

    @contextmanager
    def _bulk_session(self, conn: Connection, bulk: bool, new_file: bool) -> Iterator[None]:
        """SQLite settings for a bulk writer's transaction, set before it begins (SQLite ignores
        both pragmas inside a transaction) and undone after it, the connection going back to
        the pool as it came. Measured on a 1 M-dataset import (benchmarks/bench_import.py):

        - foreign keys off: SQLite checks each reference of each inserted row by a lookup of the
          parent's primary key, about 14 M lookups and 6 s of 29 s of inserts; the importer
          has resolved every reference to an id it found in the file or the catalog, and
          refuses the file (row and field named) where it found none, before inserting.
        - a new catalog file is loaded with a rollback journal, then turned to WAL: in WAL every
          page is written twice (to the WAL, then by the checkpoint into the file), 3.5 s of a
          1 GB load. The file is new, so no reader has it open; if the switch is refused, the
          load simply runs in WAL.

        PostgreSQL needs neither (its bulk path is ``catalog.bulk.bulk_load``).
        """
        if not bulk or self.dialect != "sqlite":
            yield
            return
        driver = conn.connection.driver_connection  # autocommit: no transaction is begun
        driver.execute("PRAGMA foreign_keys=OFF")
        rollback_journal = (
            new_file and driver.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
        )
        try:
            yield
        finally:
            driver.execute("PRAGMA foreign_keys=ON")
            if rollback_journal:
                driver.execute("PRAGMA journal_mode=WAL")

    @staticmethod
    def _pg_lock_key(conn: Connection) -> tuple[int, int]:
        """The advisory lock of this catalog: one per schema, so catalogs in other schemas of
        the same database do not wait for each other."""
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar() or ""
        return _PG_LOCK_CLASS, zlib.crc32(schema.encode()) & 0x7FFFFFFF

    def _sqlite_path(self) -> Path | None:
        if self.dialect != "sqlite":
            return None
        return sqlite_file(sa.engine.make_url(self.url))

    @contextmanager
    def _holder_file(self, holder: dict) -> Iterator[None]:
        path = self._sqlite_path()
        if path is None:
            yield
            return
        marker = path.with_name(path.name + "-holder")
        marker.write_text(json.dumps(holder))
        try:
            yield
        finally:
            marker.unlink(missing_ok=True)

    def _lock_holder(self) -> str | None:
        """Who holds the write lock now, as ``actor (command, pid N on host) since T``."""
        holder = None
        path = self._sqlite_path()
        try:
            if path is not None:
                marker = path.with_name(path.name + "-holder")
                holder = json.loads(marker.read_text()) if marker.exists() else None
                if holder and not _holder_alive(holder):
                    holder = None  # left by a killed run: whoever holds the lock now, not it
            elif self.dialect == "postgresql":
                with self.engine.connect() as conn:
                    row = conn.execute(
                        sa.text(
                            "SELECT a.application_name, a.xact_start, "
                            "COALESCE(a.client_hostname, host(a.client_addr), 'local') "
                            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                            "AND l.classid = :high AND l.objid = :low"
                        ),
                        dict(zip(("high", "low"), self._pg_lock_key(conn), strict=True)),
                    ).first()
                if row and row[0].startswith(_LOCK_APP_PREFIX):
                    pid, actor, command = row[0][len(_LOCK_APP_PREFIX) :].split(":", 2)
                    since = row[1].astimezone(UTC).isoformat(timespec="seconds")
                    holder = {
                        "actor": actor,
                        "command": command,
                        "pid": pid,
                        "host": row[2],
                        "since": since.replace("+00:00", "Z"),
                    }
        except (OSError, ValueError, sa.exc.DBAPIError):
            return None
        if not holder:
            return None
        return (
            f"{holder['actor']} ({holder['command']}, pid {holder['pid']} on {holder['host']}) "
            f"since {holder['since']}"
        )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (one consistent snapshot on SQLite and PostgreSQL)."""
        self.ensure_schema(create=False)
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def atomic(
        self,
        command: str,
        reason: str | None = None,
        *,
        create: bool = False,
        bulk: bool = False,
    ) -> Iterator[tuple[Connection, Change]]:
        """One transaction under the write lock; journals the change if its summary is set.

        On any exception the transaction rolls back and the catalog is left as it was. Only
        ``create`` (import) makes a new catalog where there is none. ``bulk`` is for a writer
        that checks every reference it writes itself (import): see :meth:`_bulk_session`.
        """
        path = self._sqlite_path()
        if create and path is not None and not path.exists():
            with (
                self._removed_on_failure(path),
                self._atomic(command, reason, create, bulk, new_file=True) as pair,
            ):
                yield pair
        else:
            with self._atomic(command, reason, create, bulk) as pair:
                yield pair

    @contextmanager
    def _atomic(
        self, command: str, reason: str | None, create: bool, bulk: bool, new_file: bool = False
    ) -> Iterator[tuple[Connection, Change]]:
        self.ensure_schema(create=create)
        change = Change(command=command, actor=current_actor(), reason=reason)
        with self._locked_connection(command, bulk=bulk, new_file=new_file) as conn:
            yield conn, change
            if change.summary is not None:
                entry = conn.execute(
                    sa.insert(Journal.__table__).values(
                        at=utcnow(),
                        actor=change.actor,
                        command=change.command,
                        summary=change.summary,
                        reason=change.reason,
                    )
                ).inserted_primary_key[0]
                if change.datasets_sql:
                    conn.execute(
                        sa.text(
                            "INSERT INTO journal_dataset (journal_id, dataset_id) "
                            f"SELECT DISTINCT :entry, x.id FROM ({change.datasets_sql}) x"
                        ),
                        {"entry": entry},
                    )
                _record_changes(conn, entry, change)
            drop_tables(conn, *change.drop_after)

    @contextmanager
    def _removed_on_failure(self, path: Path) -> Iterator[None]:
        """A new SQLite file that a failed command made is removed: no empty catalog is left."""
        try:
            yield
        except BaseException:
            self.engine.dispose()
            self._schema_checked = False
            for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                leftover.unlink(missing_ok=True)
            raise

    def display_url(self) -> str:
        """The URL without a password."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
