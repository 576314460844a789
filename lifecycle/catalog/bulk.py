"""Set-based bulk inserts: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Rows come in as a pandas DataFrame whose columns are already in the table's types (strings,
nullable integers, floats, UTC timestamps). They go to the driver straight from Arrow buffers, in
chunks, without building one ORM object (or one dict) per row.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

CHUNK_ROWS = 100_000
# How SQLAlchemy's DateTime stores a timestamp in SQLite; raw inserts must match it exactly.
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def insert_frame(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named as the table's) into ``table``."""
    if frame.empty:
        return 0
    import pyarrow as pa

    write = _copy if conn.dialect.name == "postgresql" else _executemany
    for start in range(0, len(frame), CHUNK_ROWS):  # Arrow copies one chunk at a time
        part = frame.iloc[start : start + CHUNK_ROWS]
        write(conn, table, pa.Table.from_pandas(part, preserve_index=False))
    return len(frame)


def _executemany(conn: Connection, table: str, arrow) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = arrow.column_names
    for i, col in enumerate(arrow.columns):
        if pa.types.is_timestamp(col.type):
            # %S of a microsecond timestamp prints SS.ffffff, as SQLAlchemy stores it.
            utc = col.cast(pa.timestamp("us", tz="UTC"))
            arrow = arrow.set_column(i, columns[i], pc.strftime(utc, format=SQLITE_TIMESTAMP))
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
    sql = f'COPY "{table}" ({", ".join(arrow.column_names)}) FROM STDIN WITH (FORMAT csv)'
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            for batch in arrow.to_batches(max_chunksize=CHUNK_ROWS):
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, options)
                copy.write(buf.getvalue())
    finally:
        cursor.close()


def reset_sequences(conn: Connection, tables: list[str]) -> None:
    """After inserts with explicit ids, move PostgreSQL's id sequences past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)'
        )
