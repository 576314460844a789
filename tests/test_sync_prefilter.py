"""Sync's pre-filter (:mod:`lifecycle.exchange.sync_prefilter`), on both databases.

The pre-filter may drop a snapshot row only when it is identical to the catalog's: these tests
check that an identical snapshot is dropped whole (no value falls out of the canonical form:
nulls, times with and without a zone, fractions of seconds, floats, extra cells, unicode), that
every kind of difference is kept for the sync's own comparison, that the catalog's unlisted rows
come from the same join, and that a sync gives the same answer with and without it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.api import Catalog
from lifecycle.catalog.arrow_reader import arrow_reader
from lifecycle.catalog.sql import rows
from lifecycle.exchange import sync as sync_module
from lifecycle.exchange import sync_prefilter
from lifecycle.exchange.reader import find_tables, read_table
from lifecycle.exchange.spec import TABLES
from lifecycle.exchange.sync_prefilter import UNIQUE_KEYS, Prefilter

UNICODE_DID = "user.zoe:user.zoe.omega.unicode"  # DIDs are ASCII; its other values are not


def _row(tables, table: str, **key) -> dict:
    return next(r for r in tables[table] if all(r[k] == v for k, v in key.items()))


def _edge_cases() -> dict:
    """The mini catalog with the values the canonical form must take as they are."""
    tables = mini()
    endpoint = _row(tables, "endpoints", name="CERN-PROD_DATADISK")
    endpoint["json"] = '{"quota": [1, 2.5, null], "note": "a:b|c"}'
    endpoint["sep"] = "3:abc1:x"  # looks like the length-prefixed text of the extra cells
    transformation = _row(tables, "transformations", tag="r13286")
    transformation["cpu_seconds_per_event"] = "0.1"
    transformation["output_ratio"] = "1e-300"
    transformation["unicode"] = "naïve café ∑ 日本"
    tables["datasets"].append(
        {"did": UNICODE_DID, "kind": "outreach", "data_type": "NTUP", "bytes": "9223372036854775807",
         "files": "0", "events": "", "created_at": "2020-02-29 23:59:59.999999",
         "expires_at": "2040-01-01T01:00:00-01:00", "state": "open", "run_number": "ñ"},
    )  # fmt: skip
    tables["replicas"].append(
        {"did": UNICODE_DID, "endpoint": "CERN-PROD_DATADISK", "state": "available",
         "created_at": "2020-03-01T00:00:00.000001Z", "accessed_at": "2020-03-01T00:00:00"},
    )  # fmt: skip
    tables["pins"].append(
        {"did": UNICODE_DID, "reason": "réunion ∑ 日本 🚀", "until": "", "actor": "zoë"}
    )
    return tables


@pytest.fixture
def loaded(catalog: Catalog, tmp_path: Path):
    """The catalog with the edge cases imported, and a function writing a snapshot of them
    after ``edit``."""
    catalog.import_directory(write_catalog(tmp_path / "base", _edge_cases()))
    made = iter(range(1000))

    def snapshot_after(edit=None) -> Path:
        tables = _edge_cases()
        if edit is not None:
            edit(tables)
        return write_catalog(tmp_path / f"snap{next(made)}", tables)

    return catalog, snapshot_after


def _kept(catalog: Catalog, directory: Path, unlisted: bool = False) -> dict:
    """Per table: the file's row numbers the pre-filter keeps (and the unlisted ids), the
    same whether the catalog's rows are read through the driver's cursor or straight into
    Arrow by the outside reader (under the write lock, as a sync reads them)."""
    answers = {}
    for through in ("driver", "arrow"):
        out = {}
        with _connection(catalog, through) as (conn, outside):
            prefilter = Prefilter(conn, outside)
            for name, path in find_tables(directory).items():
                found = prefilter(read_table(TABLES[name], path), unlisted=unlisted)
                out[name] = (
                    found.rows.tolist()
                    if not unlisted
                    else (found.rows.tolist(), found.unlisted.tolist())
                )
        assert set(prefilter.read_through.values()) == {through}
        answers[through] = out
    assert answers["arrow"] == answers["driver"]
    return answers["driver"]


@contextmanager
def _connection(catalog: Catalog, through: str):
    if through == "driver":
        with catalog.read() as conn:
            yield conn, None
    else:
        with catalog.atomic("test") as (conn, _), arrow_reader(conn) as outside:
            assert outside is not None
            yield conn, outside


def test_an_identical_snapshot_is_dropped_whole(loaded):
    catalog, snapshot_after = loaded
    kept = _kept(catalog, snapshot_after())
    assert set(kept) == set(TABLES)
    assert kept == {name: [] for name in TABLES}


def test_values_the_reader_spells_alike_are_identical(loaded):
    """The same instant in another zone, a boolean in other letters (the reader's spelling)."""
    catalog, snapshot_after = loaded

    def edit(tables):
        _row(tables, "datasets", did=AOD)["created_at"] = "2018-08-03T08:00:00Z"  # was +02:00
        _row(tables, "datasets", did=PHYS)["created_at"] = "2018-08-05T12:00:00.25+02:00"
        _row(tables, "replicas", did=UNICODE_DID)["accessed_at"] = "2020-03-01T00:00:00+00:00"
        _row(tables, "endpoints", name="CERN-PROD_DATATAPE")["archival"] = "true"  # was TRUE

    kept = _kept(catalog, snapshot_after(edit))
    assert kept == {name: [] for name in TABLES}


# file, key, column, new value (one difference each): the row must be kept for the sync
DIFFERENCES = [
    ("datasets", {"did": PHYS}, "bytes", "100000000001"),  # int
    ("datasets", {"did": AOD}, "events", ""),  # a value becomes null
    ("datasets", {"did": CALIB}, "events", "0"),  # null becomes a value
    ("datasets", {"did": PHYS}, "created_at", "2018-08-05T10:00:00.250001Z"),  # one microsecond
    ("datasets", {"did": AOD}, "expires_at", "2030-01-01T00:00:00Z"),
    ("datasets", {"did": RAW}, "run_number", "357773"),  # metadata value
    ("datasets", {"did": UNICODE_DID}, "run_number", "n\u0303"),  # ñ decomposed: other text
    ("datasets", {"did": AOD}, "kind", "outreach"),  # enum (immutable: the sync refuses it later)
    (
        "replicas",
        {"did": RAW, "endpoint": "CERN-PROD_DATATAPE"},
        "accessed_at",
        "2019-01-01T00:00:00Z",
    ),  # fmt: skip
    ("replicas", {"did": UNICODE_DID, "endpoint": "CERN-PROD_DATADISK"}, "state", "lost"),
    ("transformations", {"tag": "r13286"}, "cpu_seconds_per_event", "0.1000000000000001"),
    ("transformations", {"tag": "p4910"}, "cpu_seconds_per_event", "0"),  # float from null
    ("transformations", {"tag": "r13286"}, "unicode", "naïve café ∑ 日本 "),
    (
        "endpoints",
        {"name": "CERN-PROD_DATADISK"},
        "json",
        '{"quota": [1, 2.5, null], "note": "a:b|c" }',
    ),  # fmt: skip
    ("endpoints", {"name": "CERN-PROD_DATADISK"}, "sep", ""),  # an attribute removed
    ("endpoints", {"name": "CERN-PROD_DATATAPE"}, "sep", "3:abc1:x"),  # an attribute added
    ("endpoints", {"name": "CERN-PROD_DATATAPE"}, "archival", "false"),  # was TRUE
    ("sites", {"name": "BNL-OSG2"}, "cloud", ""),
    ("productions", {"id": "task-00000002"}, "started_at", "2019-01-01T00:00:00Z"),
    ("pins", {"did": PHYS, "actor": "alice"}, "until", ""),
    ("pins", {"did": UNICODE_DID}, "until", "2030-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(
    ("table", "key", "column", "value"),
    DIFFERENCES,
    ids=[f"{d[0]}.{d[2]}={d[3]!r}" for d in DIFFERENCES],
)
def test_a_difference_of_any_kind_is_kept_for_the_sync(loaded, table, key, column, value):
    catalog, snapshot_after = loaded

    def edit(tables):
        for row in tables[table]:  # a column new to the file: empty on the other rows
            row.setdefault(column, "")
        _row(tables, table, **key)[column] = value

    directory = snapshot_after(edit)
    kept = _kept(catalog, directory)
    source = read_table(TABLES[table], find_tables(directory)[table])
    wanted = source.frame.index[
        (source.frame[list(key)] == [key[k] for k in key]).all(axis=1)
    ].tolist()
    assert kept[table] == wanted
    assert all(rows == [] for name, rows in kept.items() if name != table)


def test_separators_in_extra_cells_cannot_make_two_descriptions_alike(loaded):
    """The naive concatenation of key and value would make these equal; the lengths do not."""
    catalog, snapshot_after = loaded

    def edit(tables):
        endpoint = _row(tables, "endpoints", name="CERN-PROD_DATADISK")
        endpoint["sep"] = "3:abc"
        endpoint["se"] = "p1:x"
        for row in tables["endpoints"]:
            row.setdefault("se", "")

    assert _kept(catalog, snapshot_after(edit))["endpoints"] != []


def test_new_rows_are_kept_and_unlisted_ones_come_from_the_same_join(loaded):
    catalog, snapshot_after = loaded

    def edit(tables):
        tables["replicas"] = [r for r in tables["replicas"] if r["did"] != CALIB]
        tables["replicas"].append(
            {"did": CALIB, "endpoint": "BNL-OSG2_DATATAPE", "state": "available",
             "created_at": "2020-01-01T00:00:00Z", "accessed_at": ""}
        )  # fmt: skip

    directory = snapshot_after(edit)
    kept, unlisted = _kept(catalog, directory, unlisted=True)["replicas"]
    assert kept == [len(_edge_cases()["replicas"]) + 1]  # the new one (CSV line number)
    with catalog.read() as conn:
        calib = rows(
            conn,
            "SELECT r.id FROM replica r JOIN dataset d ON d.id = r.dataset_id WHERE d.did = :did",
            did=CALIB,
        )
    assert unlisted == [calib[0]["id"]]


# -- the same answer with and without the pre-filter ------------------------------------------

EDITS = st.lists(
    st.sampled_from(
        [
            ("replicas", {"did": RAW, "endpoint": "CERN-PROD_DATATAPE"}, "state", "unavailable"),
            ("replicas", {"did": CALIB, "endpoint": "CERN-PROD_DATADISK"}, "accessed_at",
             "2021-01-01T00:00:00+01:00"),
            ("replicas", {"did": UNICODE_DID, "endpoint": "CERN-PROD_DATADISK"}, "accessed_at",
             ""),
            ("datasets", {"did": AOD}, "expires_at", "2031-01-01T00:00:00Z"),
            ("datasets", {"did": UNICODE_DID}, "bytes", "1"),
            ("datasets", {"did": RAW}, "bytes", "1"),  # refused: history
            ("datasets", {"did": RAW}, "run_number", "1"),
            ("sites", {"name": "BNL-OSG2"}, "status", "down"),
            ("endpoints", {"name": "CERN-PROD_DATADISK"}, "json", "{}"),
            ("endpoints", {"name": "CERN-PROD_DATADISK"}, "capacity_bytes", "7"),
            ("transformations", {"tag": "p4910"}, "image_digest", "sha256:" + "e" * 64),
            ("productions", {"id": "task-00000002"}, "status", "failed"),
            ("pins", {"did": PHYS, "actor": "alice"}, "until", "2029-01-01T00:00:00Z"),
            ("replicas", None, None, None),  # drop a replica (absent with --complete)
            ("datasets", None, None, None),  # drop the user dataset and its replica
        ]
    ),
    max_size=5,
)  # fmt: skip


def _apply(tables, edits) -> None:
    for table, key, column, value in edits:
        if key is not None:
            for row in tables[table]:  # (none if an earlier edit dropped it)
                if all(row[k] == v for k, v in key.items()):
                    row[column] = value
        elif table == "replicas":
            tables["replicas"] = [r for r in tables["replicas"] if r["did"] != CALIB]
        else:
            tables["datasets"] = [d for d in tables["datasets"] if d["did"] != UNICODE_DID]
            tables["replicas"] = [r for r in tables["replicas"] if r["did"] != UNICODE_DID]


def _outcome(catalog: Catalog, directory: Path, complete: list[str]):
    """What a sync does: changes, counts, or its refusal."""
    try:
        report = catalog.sync(directory, complete, max_change=100, force=True)
    except Exception as exc:  # the same refusal either way
        return ("refused", type(exc).__name__, str(exc))
    changes = sorted(json.dumps(c, sort_keys=True, default=str) for c in report.changes)
    return ("ok", changes, dict(report.added), dict(report.unchanged), dict(report.absent))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=EDITS, complete=st.sampled_from([[], ["replicas:*"], ["datasets:user.*"]]))
def test_sync_gives_the_same_answer_with_and_without_the_prefilter(
    loaded, monkeypatch, edits, complete
):
    catalog, snapshot_after = loaded
    directory = snapshot_after(lambda tables: _apply(tables, edits))
    made = _recording(monkeypatch)
    with_prefilter = _outcome(catalog, directory, complete)
    assert made[-1].read_through["sites"] == "arrow"  # the first table, before any write
    monkeypatch.setattr(sync_module._Sync, "prefilter", False)
    without = _outcome(catalog, directory, complete)
    monkeypatch.undo()
    assert with_prefilter == without


def _recording(monkeypatch) -> list[Prefilter]:
    """Every pre-filter the syncs make from now on, to ask how they read the catalog."""
    made: list[Prefilter] = []

    class Recorded(Prefilter):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(sync_module, "Prefilter", Recorded)
    return made


def test_a_sync_reads_through_arrow_until_its_first_write(loaded, monkeypatch):
    """The outside reader sees the catalog as committed before the sync: after the sync's
    first write (here the new site's row) every table is read through its own connection."""
    catalog, snapshot_after = loaded
    made = _recording(monkeypatch)
    catalog.sync(snapshot_after())
    assert set(made[-1].read_through.values()) == {"arrow"}

    def new_site(tables):
        tables["sites"].append(
            {"name": "NEW-SITE", "tier": "2", "country": "fr", "cloud": "FR", "status": "active"}
        )

    report = catalog.sync(snapshot_after(new_site), apply=True)
    assert report.added["sites"] == 1
    ways = made[-1].read_through
    assert ways["sites"] == "arrow"
    assert {ways[t] for t in ways if t != "sites"} == {"driver"}


def test_every_key_taken_as_unique_has_a_unique_index_in_the_schema(catalog):
    """The pre-filter counts no key of these tables: the database must keep them unique."""
    import sqlalchemy as sa

    inspector = sa.inspect(catalog.store.engine)
    for _name, (table, columns) in UNIQUE_KEYS.items():
        unique = [tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)]
        unique += [tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]]
        assert columns in unique, f"{table}: no unique index on {columns}"


@pytest.mark.parametrize(
    ("ours", "theirs", "found"),
    [
        ([(1, 2)], [(1, 2)], [0]),
        ([(1, 0)], [(0, 2**32)], [None]),  # equal as (1 << 32) + 0: must fall back to text
        ([(2**31, 0)], [(0, 0), (2**31, 0)], [1]),
        ([(1, None)], [(1, 0)], [None]),  # an id the catalog lacks
    ],
)
def test_two_ids_make_one_key_only_where_they_cannot_meet_another(ours, theirs, found):
    import pyarrow as pa
    import pyarrow.compute as pc

    def table(pairs):
        return pa.table(
            {k: pa.array([p[i] for p in pairs], pa.int64()) for i, k in enumerate("ab")}
        )

    file_keys, recorded = sync_prefilter._keys(table(ours), table(theirs), ("a", "b"))
    assert pc.index_in(file_keys, value_set=recorded).to_pylist() == found
