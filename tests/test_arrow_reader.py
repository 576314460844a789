"""The catalog read straight into Arrow on a connection of its own
(:mod:`lifecycle.catalog.arrow_reader`), on both databases.

It sees the catalog as last committed, so it is given out only under the write lock (no other
run commits while it reads: what it reads is what the writer reads), and a value that does not
have its column's storage class declines the read instead of being read otherwise.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from catalogs import AOD, mini, write_catalog

from lifecycle.api import Catalog
from lifecycle.catalog.arrow_reader import arrow_reader
from lifecycle.catalog.store import sqlite_file
from lifecycle.errors import CatalogLocked

COLUMNS = ["did", "bytes", "events", "created_at", "expires_at"]
KINDS = ["text", "int", "int", "timestamp", "timestamp"]


@pytest.fixture
def loaded(catalog: Catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "base", mini()))
    return catalog


def _through_the_writer(conn) -> list[tuple]:
    """The same columns through the writer's own connection, in id order."""
    result = conn.exec_driver_sql(f"SELECT {', '.join(COLUMNS)} FROM dataset ORDER BY id")
    return [tuple(row) for row in result]


def _as_rows(columns) -> list[tuple]:
    return list(zip(*(c.to_pylist() for c in columns), strict=True))


def test_there_is_no_reader_without_the_write_lock(loaded):
    with loaded.read() as conn, arrow_reader(conn) as outside:
        assert outside is None


def test_under_the_lock_it_reads_what_the_writer_reads(loaded):
    with loaded.atomic("test") as (conn, _), arrow_reader(conn) as outside:
        assert outside is not None
        columns = outside.read(COLUMNS, "(SELECT * FROM dataset ORDER BY id) d", KINDS)
        assert columns is not None
        ours = _as_rows(columns)
        theirs = _through_the_writer(conn)
        assert [r[:3] for r in ours] == [r[:3] for r in theirs]  # text, int, and nulls
        assert any(r[2] is None for r in ours)  # a null in an int column (events of CALIB)
        assert len(ours) == len(mini()["datasets"])


def test_a_concurrent_writer_cannot_commit_while_it_reads(loaded, catalog_url, monkeypatch):
    """The reasoning the reader rests on, shown: while the sync's connection holds the lock,
    another run's write waits and fails, so the reader's snapshot is the writer's."""
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0.2")
    other = Catalog(catalog_url)  # its engine reads the lock timeout when made
    try:
        with loaded.atomic("test") as (conn, _), arrow_reader(conn) as outside:
            before = outside.read(["id"], "pin", ["int"])[0].to_pylist()
            with pytest.raises(CatalogLocked):
                other.pin(AOD, "slipped in")
            assert outside.read(["id"], "pin", ["int"])[0].to_pylist() == before
        other.pin(AOD, "after the lock")  # now it can
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_value_of_another_storage_class_declines_the_read(loaded):
    """SQLite keeps text that is no number in an INTEGER column: the reader declines it
    (None) rather than read the column as text or drop the value."""
    path = sqlite_file(loaded.store.engine.url)
    raw = sqlite3.connect(path)
    try:
        raw.execute("UPDATE dataset SET events = 'many' WHERE did = ?", (AOD,))
        raw.commit()
    finally:
        raw.close()
    with loaded.atomic("test") as (conn, _), arrow_reader(conn) as outside:
        columns = outside.read(["did", "events"], "dataset", ["text", "int"])
        assert columns is None or not str(columns[1].type).startswith("int")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_it_never_waits_for_a_lock_and_reads_on_after_one(loaded):
    """The writer's bulk load may hold ACCESS EXCLUSIVE on a table (its indexes dropped): the
    reader, in the same thread, must give up at once rather than wait for ever, and its
    snapshot must survive the failed read."""
    with loaded.atomic("test") as (conn, _), arrow_reader(conn) as outside:
        conn.exec_driver_sql("LOCK TABLE site IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        assert outside.read(["name"], "site", ["text"]) is None
        assert time.monotonic() - start < 5
        columns = outside.read(["did"], "dataset", ["text"])
        assert columns is not None
        assert sorted(columns[0].to_pylist()) == sorted(d["did"] for d in mini()["datasets"])
