"""The catalog's SQL helpers (``lifecycle.catalog.sql``) and the bulk writers' id allocator
(``lifecycle.catalog.bulk.new_ids``), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from lifecycle.catalog.bulk import insert_frame, new_ids
from lifecycle.catalog.models import Site
from lifecycle.catalog.sql import (
    TIMESTAMP,
    TIMESTAMP_COLUMNS,
    analyze,
    by_dialect,
    drop_tables,
    frame,
    rows,
    statement,
    temporary_table,
)
from lifecycle.errors import CatalogError


@pytest.fixture
def loaded(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    return catalog


def test_every_timestamp_column_has_the_one_timestamp_type_and_reads_as_utc():
    stamped = [
        column
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(getattr(column.type, "impl", column.type), sa.DateTime)
    ]
    assert len(stamped) > 10
    assert all(type(column.type) is type(TIMESTAMP) for column in stamped)
    assert {column.name for column in stamped} <= TIMESTAMP_COLUMNS


def test_datetimes_bind_as_the_catalog_stores_them(loaded):
    """An aware datetime in any zone finds the row stored at that instant: bound another way,
    SQLite would compare text with a '+02:00' suffix and find nothing."""
    with loaded.read() as conn:
        stored = frame(conn, "SELECT did, created_at FROM dataset ORDER BY did")
        assert len(stored) > 3
        assert all(t.tzinfo is not None for t in stored["created_at"])
        for did, created in zip(stored["did"], stored["created_at"], strict=True):
            elsewhere = created.to_pydatetime().astimezone(timezone(timedelta(hours=2)))
            found = rows(conn, "SELECT did FROM dataset WHERE created_at = :t", t=elsewhere)
            assert did in {row["did"] for row in found}


def test_lists_and_tuples_expand(loaded):
    with loaded.read() as conn:
        every = [row["did"] for row in rows(conn, "SELECT did FROM dataset ORDER BY did")]
        some = every[:2]
        for values in (some, tuple(some)):
            found = rows(conn, "SELECT did FROM dataset WHERE did IN :d ORDER BY did", d=values)
            assert [row["did"] for row in found] == some
        clause = statement("SELECT 1 WHERE 1 IN :x AND :t IS NOT NULL", {"x": [1], "t": None})
        assert conn.execute(clause, {"x": [1], "t": 1}).scalar() == 1


def test_parameters_may_be_called_like_the_helpers_own_arguments(loaded):
    with loaded.read() as conn:
        found = rows(conn, "SELECT :sql AS sql, :conn AS conn", sql="a", conn="b")
    assert found == [{"sql": "a", "conn": "b"}]


def test_by_dialect_picks_the_engines_form(catalog):
    with catalog.read() as conn:
        picked = by_dialect(conn, sqlite="lite", postgresql="pg")
        assert picked == {"sqlite": "lite", "postgresql": "pg"}[conn.dialect.name]
    other = SimpleNamespace(dialect=SimpleNamespace(name="mysql"))
    with pytest.raises(CatalogError, match="mysql"):
        by_dialect(other, sqlite=1, postgresql=2)


def test_temporary_tables_are_made_empty_analyzed_and_dropped(catalog):
    with catalog.atomic("test") as (conn, _):
        table = temporary_table(conn, "tmp_sql_test")
        conn.exec_driver_sql(f"INSERT INTO {table} (id) VALUES (1), (2)")
        analyze(conn, table)
        assert temporary_table(conn, table) == table  # made again: empty
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar() == 0
        drop_tables(conn, table, "tmp_sql_never_made")
        assert not sa.inspect(conn).has_table(table)


def test_the_error_that_fails_a_transaction_is_the_one_raised(catalog):
    """A statement failing inside a block that drops its temporary tables afterwards: the
    caller sees that statement's error. On PostgreSQL the drop would itself fail in the aborted
    transaction and stand in for it; it is left to the rollback there."""
    from lifecycle.provenance import irreproducible_table

    with catalog.store.engine.connect() as conn:
        with (
            conn.begin(),
            pytest.raises(sa.exc.DBAPIError) as raised,
            irreproducible_table(conn, "tmp_sql_failing"),
        ):
            conn.exec_driver_sql("SELECT no_such_column FROM dataset")
        assert "no_such_column" in str(raised.value)
        assert "aborted" not in str(raised.value)
        with conn.begin():  # the table went with the rollback, or was dropped
            assert not sa.inspect(conn).has_table("tmp_sql_failing")
            conn.exec_driver_sql("SELECT 1")


def _sites(ids, prefix: str) -> pd.DataFrame:
    names = [f"{prefix}{i}" for i in ids]
    return pd.DataFrame(
        {"id": list(ids), "name": names, "tier": 1, "country": "CH", "status": "active"}
    )


def test_id_blocks_follow_each_other_and_the_table(catalog):
    with catalog.atomic("test") as (conn, _), new_ids(conn) as ids:
        first, second, none = ids.take("site", 3), ids.take("site", 2), ids.take("site", 0)
        assert (first, second) == (range(1, 4), range(4, 6))
        assert len(none) == 0
        insert_frame(conn, "site", _sites([*first, *second], "BLOCK-"))
    with catalog.atomic("test") as (conn, _), new_ids(conn) as ids:
        assert ids.take("site", 1) == range(6, 7)


def test_inserts_without_an_id_come_after_the_blocks(catalog, mini_dir):
    """After a bulk write numbered its rows, the engine's own numbering (PostgreSQL: the id
    sequence) goes on after them."""
    catalog.import_directory(mini_dir)
    with catalog.atomic("test") as (conn, _):
        largest = conn.exec_driver_sql("SELECT MAX(id) FROM site").scalar()
        with new_ids(conn) as ids:
            block = ids.take("site", 5)
            assert block.start == largest + 1
            insert_frame(conn, "site", _sites(block, "BULK-"))
        inserted = conn.execute(
            sa.insert(Site.__table__).values(name="ORM-1", tier=2, country="FR")
        ).inserted_primary_key[0]
    assert inserted == block.stop


def test_a_failed_bulk_write_moves_no_sequence(catalog):
    def fail() -> None:
        with catalog.atomic("test") as (conn, _), new_ids(conn) as ids:
            insert_frame(conn, "site", _sites(ids.take("site", 4), "GONE-"))
            raise RuntimeError("the caller's transaction rolls back")

    with pytest.raises(RuntimeError):
        fail()
    with catalog.atomic("test") as (conn, _):
        inserted = conn.execute(
            sa.insert(Site.__table__).values(name="ORM-1", tier=2, country="FR")
        ).inserted_primary_key[0]
    assert inserted == 1


def test_frames_carry_utc_timestamps(loaded):
    with loaded.read() as conn:
        out = frame(
            conn, "SELECT created_at, did FROM dataset WHERE created_at < :t", t=datetime.now(UTC)
        )
    assert not out.empty
    assert str(out["created_at"].dt.tz) == "UTC"
