"""The exchange reader's and exporter's shared pieces: refusing a file at its first bad row, and
reading catalog rows for a set of keys by chunks or by one whole-table read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lifecycle.errors import ImportRowError
from lifecycle.exchange import exporter
from lifecycle.exchange.reader import Source
from lifecycle.exchange.spec import TABLES


def _source(rows: list[int]) -> Source:
    frame = pd.DataFrame({"did": ["x"] * len(rows)}, index=rows)
    return Source(TABLES["datasets"], Path("datasets.csv"), frame, [])


def test_refuse_names_the_first_bad_row_and_column():
    bad = pd.Series([False, True, True], index=[2, 5, 9])
    with pytest.raises(ImportRowError) as raised:
        _source([2, 5, 9]).refuse(bad, "bytes", "must not be negative")
    assert (raised.value.file, raised.value.row, raised.value.column) == (
        "datasets.csv",
        5,
        "bytes",
    )
    assert raised.value.reason == "must not be negative"


def test_refuse_builds_the_message_from_the_row_when_given_a_function():
    values = pd.Series(["a", "b"], index=[2, 3])
    with pytest.raises(ImportRowError, match="'b' is wrong"):
        _source([2, 3]).refuse(values == "b", "kind", lambda row: f"{values[row]!r} is wrong")


def test_refuse_accepts_a_file_without_bad_rows():
    _source([2, 3]).refuse(pd.Series([False, False], index=[2, 3]), "kind", "never raised")


@pytest.mark.parametrize("name", ["datasets", "endpoints", "replicas", "production_io"])
def test_catalog_rows_for_keys_are_the_same_by_chunks_or_by_one_whole_table_read(
    catalog, mini_dir, monkeypatch, name
):
    catalog.import_directory(mini_dir)
    key = TABLES[name].key[0]
    with catalog.read() as conn:
        whole = exporter.catalog_frame(conn, name)
        wanted = whole[key].iloc[:2]
        keys = pd.concat([wanted, wanted.iloc[:1], pd.Series([None, "absent"])])
        monkeypatch.setattr(exporter, "IN_CHUNK", 1)
        chunked = exporter.catalog_frame(conn, name, keys)
        monkeypatch.setattr(exporter, "IN_LIMIT", 0)
        filtered = exporter.catalog_frame(conn, name, keys)
        none = exporter.catalog_frame(conn, name, pd.Series([], dtype="string"))
    order = list(TABLES[name].key)
    assert set(chunked[key]) == set(wanted)
    pd.testing.assert_frame_equal(
        chunked.sort_values(order).reset_index(drop=True),
        filtered.sort_values(order).reset_index(drop=True),
        check_dtype=False,  # by chunks, an id column can come back as objects (a chunk is empty)
    )
    assert none.empty
    surrogate = ["_id"] if "_id" in whole.columns else []
    assert list(none.columns) == [*surrogate, *TABLES[name].column_names]
