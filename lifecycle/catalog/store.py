"""The catalog facade's storage side: URL resolution, engines, migrations, transactions and locks.

``Catalog`` (in ``lifecycle.catalog``) owns one :class:`Store`. Every write goes through
:meth:`Store.atomic`, which takes the catalog's write lock, runs in one transaction and leaves a
journal entry when something changed.
"""

from __future__ import annotations

import getpass
import os
import re
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
_PG_LOCK_KEY = 0x6C69666563  # "lifec"
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
        return sa.create_engine(url, pool_pre_ping=False)
    except Exception as exc:  # missing driver, bad dialect
        raise CatalogError(f"--db: cannot use {url!r}: {exc}") from exc


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
            if insp.has_table("dataset"):
                raise CatalogError(
                    f"{self.display_url()}: holds tables but no lifecycle schema revision; "
                    "not a lifecycle catalog"
                )
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def ensure_schema(self) -> None:
        """Create or upgrade the schema on first use; refuse a schema newer than this code."""
        if self._schema_checked:
            return
        current = self.revision()
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
    def _locked_connection(self) -> Iterator[Connection]:
        """A connection inside a transaction that holds the catalog's write lock."""
        with self._connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{int(lock_timeout() * 1000)}ms'"
                        )
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                    yield conn
            except OperationalError as exc:
                if _is_lock_error(exc):
                    raise CatalogLocked(self.display_url()) from exc
                raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (one consistent snapshot on SQLite and PostgreSQL)."""
        self.ensure_schema()
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def atomic(
        self, command: str, reason: str | None = None
    ) -> Iterator[tuple[Connection, Change]]:
        """One transaction under the write lock; journals the change if its summary is set.

        On any exception the transaction rolls back and the catalog is left as it was.
        """
        self.ensure_schema()
        change = Change(command=command, actor=current_actor(), reason=reason)
        with self._locked_connection() as conn:
            yield conn, change
            if change.summary is not None:
                from lifecycle.catalog.models import Journal

                conn.execute(
                    sa.insert(Journal.__table__).values(
                        at=utcnow(),
                        actor=change.actor,
                        command=change.command,
                        summary=change.summary,
                        reason=change.reason,
                    )
                )

    def display_url(self) -> str:
        """The URL without a password."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
