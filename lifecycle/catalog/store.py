"""The catalog facade's storage side: URL resolution, engines, migrations, transactions and locks.

``Catalog`` (in ``lifecycle.catalog``) owns one :class:`Store`. Every write goes through
:meth:`Store.atomic`, which takes the catalog's write lock, runs in one transaction and leaves a
journal entry when something changed.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from lifecycle.catalog.migrations import HEAD, REVISIONS
from lifecycle.errors import CatalogError, CatalogLocked, SchemaTooNew

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


def lock_timeout() -> float:
    """Seconds a write waits for another run's lock before giving up (``LIFECYCLE_LOCK_TIMEOUT``)."""
    return float(os.environ.get("LIFECYCLE_LOCK_TIMEOUT", "5"))


def current_actor() -> str:
    """Who acts: ``LIFECYCLE_ACTOR`` if set, else the login name."""
    actor = os.environ.get("LIFECYCLE_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        return "unknown"


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


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


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"--db: not a database URL or path: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise CatalogError(f"--db: directory of {database!r} does not exist")
        engine = sa.create_engine(url, connect_args={"timeout": lock_timeout()})
        _configure_sqlite(engine)
        return engine
    try:
        engine = sa.create_engine(url, pool_pre_ping=False)
    except Exception as exc:  # missing driver, bad dialect
        raise CatalogError(f"--db: cannot use {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    """No JIT compilation: our queries are many and short-lived, and compiling them costs more
    than it saves (measured: about 10 % of a whole-catalog audit at 1,000,000 datasets)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, and explicit BEGIN (IMMEDIATE for writes) so locking is ours."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA case_sensitive_like=ON")  # globs match case as on PostgreSQL
        cur.execute(f"PRAGMA busy_timeout={int(lock_timeout() * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _is_lock_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "lock timeout" in text or "locknotavailable" in text


class Store:
    """Engine, schema and transactions of one catalog database."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = _make_engine(url)
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
        with self._locked_connection() as conn:
            before = self._revision(conn)
            if before is not None and before not in REVISIONS:
                raise SchemaTooNew(before, HEAD)
            if before != HEAD:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        self._schema_checked = True
        return before, HEAD

    # -- connections and transactions ----------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except sa.exc.DatabaseError as exc:
            raise CatalogError(
                f"cannot open catalog {self.display_url()}: {str(exc.orig).strip().splitlines()[0]}"
            ) from exc
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _locked_connection(self, command: str = "lifecycle") -> Iterator[Connection]:
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
        with self._connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{int(lock_timeout() * 1000)}ms'"
                        )
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:high, :low)"),
                            dict(zip(("high", "low"), self._pg_lock_key(conn), strict=True)),
                        )
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

    @staticmethod
    def _pg_lock_key(conn: Connection) -> tuple[int, int]:
        """The advisory lock of this catalog: one per schema, so catalogs in other schemas of
        the same database do not wait for each other."""
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar() or ""
        return _PG_LOCK_CLASS, zlib.crc32(schema.encode()) & 0x7FFFFFFF

    def _sqlite_path(self) -> Path | None:
        if self.dialect != "sqlite":
            return None
        database = sa.engine.make_url(self.url).database
        return None if not database or database == ":memory:" else Path(database)

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
        self, command: str, reason: str | None = None, *, create: bool = False
    ) -> Iterator[tuple[Connection, Change]]:
        """One transaction under the write lock; journals the change if its summary is set.

        On any exception the transaction rolls back and the catalog is left as it was. Only
        ``create`` (import) makes a new catalog where there is none.
        """
        path = self._sqlite_path()
        if create and path is not None and not path.exists():
            with self._removed_on_failure(path), self._atomic(command, reason, create) as pair:
                yield pair
        else:
            with self._atomic(command, reason, create) as pair:
                yield pair

    @contextmanager
    def _atomic(
        self, command: str, reason: str | None, create: bool
    ) -> Iterator[tuple[Connection, Change]]:
        self.ensure_schema(create=create)
        change = Change(command=command, actor=current_actor(), reason=reason)
        with self._locked_connection(command) as conn:
            yield conn, change
            if change.summary is not None:
                from lifecycle.catalog.models import Journal

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
            for table in change.drop_after:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")

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
