"""Running SQL on the catalog: one way to bind parameters, one place per engine difference.

- :func:`statement` makes a textual statement whose list parameters expand (``IN :names``) and
  whose datetimes bind with :data:`TIMESTAMP`, the catalog's one timestamp type (aware UTC, as the
  models store them: SQLite compares the stored text, so a datetime must be written exactly so).
  :func:`rows` and :func:`frame` run one and return plain dicts or a DataFrame; :func:`tuples`
  reads a large result as the driver's plain tuples.
- :func:`by_dialect` picks the SQLite or the PostgreSQL form of a statement (or of a function).
  Every engine-specific form of a statement in ``lifecycle`` goes through it, with the measured
  or known reason in a comment next to the call: ``grep -rn by_dialect lifecycle`` lists them.
  :func:`analyze` is the most common one.
- :func:`temporary_table` and :func:`drop_tables`: the scratch tables set-based services fill;
  :func:`insert_rows` fills one from rows in Python through the driver's own bulk path.
- :func:`planner_settings`: PostgreSQL planner settings for the statements of one block.

Not here: the engine setup in :mod:`lifecycle.catalog.store` (SQLite pragmas, PostgreSQL's JIT
setting, the write lock as ``BEGIN IMMEDIATE`` or an advisory lock, what an error code means, where
an SQLite file lives). That configures connections per engine rather than choosing the form of a
statement, and stays with the engine it configures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from lifecycle.catalog.models import Dataset
from lifecycle.errors import CatalogError
from lifecycle.values import rows_frame, to_utc

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

T = TypeVar("T")

# The type of every timestamp column of the models (sqlmodel's aware UTC datetime): bound with it,
# a datetime is stored and compared exactly as the catalog stores it on either engine.
TIMESTAMP = Dataset.__table__.c.created_at.type

# Columns a DataFrame from :func:`frame` turns into UTC timestamps, whatever the engine returned.
TIMESTAMP_COLUMNS = {
    "created_at",
    "expires_at",
    "accessed_at",
    "started_at",
    "finished_at",
    "until",
    "at",
    "as_of",
    "applied_at",
    "end_of_life",
    "first_seen",  # dark data
    "last_seen",
    "confirmed_at",
    "not_before",  # transfers
    "seen_at",  # replication rules
}


def statement(sql: str, params: dict[str, Any] | None = None) -> sa.TextClause:
    """``sql`` as a statement: list (and tuple) parameters expanded, datetimes as :data:`TIMESTAMP`."""
    out = sa.text(sql)
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            out = out.bindparams(sa.bindparam(name, expanding=True))
        elif isinstance(value, datetime):
            out = out.bindparams(sa.bindparam(name, type_=TIMESTAMP))
    return out


def rows(conn: Connection, sql: str, /, **params: Any) -> list[dict[str, Any]]:
    """The rows of ``sql`` as plain dicts (no pandas: for light paths and per-finding work)."""
    return [dict(row) for row in conn.execute(statement(sql, params), params).mappings()]


def tuples(conn: Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` (no parameters) as the driver gives them, plain tuples: for reading
    a large result once in Python (SQLAlchemy's rows cost about as much again as the read)."""
    result = conn.exec_driver_sql(sql)
    try:
        yield from result.cursor
    finally:
        result.close()


def execute_named(conn: Connection, sql: str, params: dict[str, Any]) -> sa.CursorResult:
    """Run ``sql`` with those of ``params`` it names (``:name``), bound as :func:`statement`
    binds them: for services that build several statements from one set of parameters."""
    import re

    used = {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}
    return conn.execute(statement(sql, used), used)


def frame(conn: Connection, sql: str, /, **params: Any) -> pd.DataFrame:
    """The rows of ``sql`` as a DataFrame, with the :data:`TIMESTAMP_COLUMNS` in UTC."""
    result = conn.execute(statement(sql, params), params)
    out = rows_frame(result.keys(), result.fetchall())
    for column in out.columns:
        if column in TIMESTAMP_COLUMNS:
            out[column] = to_utc(out[column])
    return out


def driver_mark(conn: Connection) -> str:
    """The placeholder of a value in SQL given to the driver itself (``exec_driver_sql``, or its
    cursor): ``?`` for sqlite3, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def by_dialect(conn: Connection, *, sqlite: T, postgresql: T) -> T:
    """The form for ``conn``'s engine: ``sqlite`` or ``postgresql`` (any value: SQL, a function).

    Say why next to each call: the measurement or the engine's rule that makes the forms differ.
    """
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite
    if name == "postgresql":
        return postgresql
    raise CatalogError(f"catalogs live in SQLite or PostgreSQL, not {name}")


def analyze(conn: Connection, *tables: str) -> None:
    """Planner statistics for tables just filled (temporary ones, or tables after a bulk load)."""
    command = by_dialect(
        conn,
        # PostgreSQL: temporary tables get no statistics (autovacuum never sees them), and a
        # table just loaded is planned as if empty until analyzed. SQLite is left without
        # (as it always was): the statements written for it pick their indexes themselves.
        sqlite=None,
        postgresql="ANALYZE {}",
    )
    if command is not None:
        for table in tables:
            conn.exec_driver_sql(command.format(table))


# The columns of a scratch table of changed values, in the order ``Change.changes_sql`` reads
JOURNAL_CHANGE_COLUMNS = (
    "entity TEXT NOT NULL, entity_id BIGINT NOT NULL, field TEXT NOT NULL, "
    "old_value TEXT, new_value TEXT"
)


def temporary_table(conn: Connection, name: str, columns: str = "id INTEGER PRIMARY KEY") -> str:
    """A new, empty temporary table ``name`` (one left by an earlier step is replaced)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({columns})")
    return name


def drop_tables(conn: Connection, *names: str) -> None:
    """Drop the (temporary) tables ``names`` that exist.

    Nothing in a PostgreSQL transaction that has failed: any statement there fails ("current
    transaction is aborted"), and that error would take the place of the one that failed it (a
    full disk reported as an unexpected error). Its rollback drops the tables it created, and
    :func:`temporary_table` replaces any other."""
    if failed_transaction(conn):
        return
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def failed_transaction(conn: Connection) -> bool:
    """PostgreSQL: a statement of ``conn``'s transaction failed, and it takes no other until it
    is rolled back. SQLite: never (a failed statement leaves its transaction usable)."""
    if conn.dialect.name != "postgresql":
        return False
    info = getattr(conn.connection.driver_connection, "info", None)
    return getattr(getattr(info, "transaction_status", None), "name", None) == "INERROR"


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], found: Iterable[Sequence[Any]]
) -> None:
    """Insert ``found`` (rows of plain values in the order of ``columns``) into ``table``.

    The driver's own bulk path, rows as they are: SQLAlchemy's per-row parameter handling took
    longer than the insert itself (150 k findings of the audit). SQLite: executemany.
    PostgreSQL: COPY; psycopg's executemany sends a statement a row (4.5 k findings of the
    audit's reprocessability rule: 0.2-0.3 s, the server busy for 0.05 s of it)."""
    names = ", ".join(columns)
    if by_dialect(conn, sqlite=True, postgresql=False):
        marks = ", ".join("?" for _ in columns)
        found = list(found)
        if found:  # SQLAlchemy takes an empty list for no parameters at all
            conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", found)
        return
    driver = conn.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in found:
            copy.write_row(row)


@contextmanager
def planner_settings(conn: Connection, **settings: str) -> Iterator[None]:
    """PostgreSQL: the statements of the block are planned with ``settings`` (``SET LOCAL``:
    this transaction only), the values before are restored afterwards. SQLite: nothing.

    For a statement whose plan PostgreSQL misjudges (say why, with the measurement, at the
    call): its row estimates for a recursive CTE's work table, for instance, are guesses.
    """
    if by_dialect(conn, sqlite=True, postgresql=False):
        yield
        return
    before = {
        name: conn.execute(sa.text("SELECT current_setting(:name)"), {"name": name}).scalar()
        for name in settings
    }
    change = sa.text("SELECT set_config(:name, :value, true)")
    for name, value in settings.items():
        conn.execute(change, {"name": name, "value": value})
    yield
    # not after an error: the transaction is then rolled back, settings included (and a
    # statement in an aborted transaction would hide the error)
    for name, value in before.items():
        conn.execute(change, {"name": name, "value": value})
