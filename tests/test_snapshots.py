"""Several read transactions on one snapshot (``lifecycle.catalog.snapshots``), and the report's
parts shared out to them: the same snapshot whatever a writer commits meanwhile, one connection
where no second one can read the same catalog, and the same page as when read on one."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT, SAMPLE_CATALOG, write_lock_held

import lifecycle.api as api_module
from lifecycle.api import Catalog
from lifecycle.catalog.grouped import group_catalog
from lifecycle.catalog.snapshots import read_snapshot, read_together
from lifecycle.errors import LifecycleError
from lifecycle.report import data as report_data
from lifecycle.report.schedule import SharedSet, side_by_side

NOW = "2026-06-01T00:00:00+00:00"


def _pins(conn) -> int:
    return int(conn.exec_driver_sql("SELECT COUNT(*) FROM pin").scalar())


@pytest.fixture
def sample(catalog) -> Catalog:
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


def test_every_reader_reads_the_snapshot_of_the_start(sample, catalog_url):
    did = sample.datasets()["did"].iloc[0]
    before = len(sample.pins())
    with read_together(sample.store, 3) as conns:
        assert len(conns) == 3
        writer = Catalog(catalog_url)
        try:  # a writer commits while the readers are open: none of them sees it
            writer.pin(did, "committed meanwhile")
        finally:
            writer.close()
        assert [_pins(conn) for conn in conns] == [before] * 3
    with sample.read() as conn:
        assert _pins(conn) == before + 1


def test_the_arrow_reader_reads_the_snapshot_of_the_start(sample, catalog_url):
    did = sample.datasets()["did"].iloc[0]
    before = len(sample.pins())
    with read_snapshot(sample.store, 2, arrow=True) as snapshot:
        assert snapshot.arrow is not None
        writer = Catalog(catalog_url)
        try:
            writer.pin(did, "committed meanwhile")
        finally:
            writer.close()
        (ids,) = snapshot.arrow.read(["id"], "pin", ["int"])
        assert len(ids) == before
        assert [_pins(conn) for conn in snapshot.conns] == [before] * 2
    assert len(sample.pins()) == before + 1


def _table(conn, name: str) -> list[tuple]:
    found = conn.exec_driver_sql(f"SELECT * FROM {name}").all()
    return sorted((tuple(row) for row in found), key=repr)


def test_the_catalog_counted_in_arrow_is_counted_as_in_sql(sample):
    """group_catalog through the Arrow reader fills the same tables as in SQL (a replica of
    every state, a dataset without a type)."""
    with sample.store.atomic("test") as (conn, _):  # not available; a dataset without a type
        conn.exec_driver_sql(
            "UPDATE replica SET state = 'lost' WHERE id IN (SELECT MIN(id) FROM replica)"
        )
        conn.exec_driver_sql(
            "UPDATE dataset SET data_type = NULL WHERE id IN (SELECT MAX(dataset_id) FROM replica)"
        )
    with read_snapshot(sample.store, 2, arrow=True) as snapshot:
        conn = snapshot.conns[0]
        assert snapshot.arrow is not None
        in_sql = group_catalog(conn, "tmp_test_sql")
        in_arrow = group_catalog(conn, "tmp_test_arrow", snapshot.arrow)
        for a, b in zip(in_sql.tables(), in_arrow.tables(), strict=True):
            expected = _table(conn, a)
            assert expected
            assert _table(conn, b) == expected
        states = {row[1] for row in _table(conn, in_arrow.replicas)}
        assert states > {"available"}
        assert None in {row[1] for row in _table(conn, in_arrow.datasets)}


def test_positions_of_keys_among_ids_dense_or_sparse():
    import pyarrow as pa

    from lifecycle.catalog.grouped import _positions

    dense = _positions(pa.array([3, 5, 7, 1, -2]), pa.array([5, 1, 3]))
    assert dense.to_pylist() == [2, 0, None, 1, None]
    sparse = _positions(pa.array([2, 10**12, 3]), pa.array([10**12, 2]))
    assert sparse.to_pylist() == [1, 0, None]
    assert _positions(pa.array([1], pa.int64()), pa.array([], pa.int64())).to_pylist() == [None]


def test_the_irreproducible_set_copied_is_the_set_computed(sample):
    from lifecycle.provenance.reproducibility import IRREPRODUCIBLE

    with read_together(sample.store, 2) as (first, second):
        shared = SharedSet(lambda name, work: work(), shared=True)
        assert shared.compute(first) == IRREPRODUCIBLE
        assert shared.on(first) == IRREPRODUCIBLE  # the computed one, not a copy
        assert shared.on(second) == IRREPRODUCIBLE
        computed, copied = (_table(conn, IRREPRODUCIBLE) for conn in (first, second))
        assert computed
        assert [(i, bool(u), p) for i, u, p in copied] == [(i, bool(u), p) for i, u, p in computed]
        assert any(p is not None for _, _, p in computed)  # the producers are copied too
        shared.drop()
        assert not any(sa.inspect(conn).has_table(IRREPRODUCIBLE) for conn in (first, second))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_long_writer_leaves_one_connection(sample, catalog_url, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0.2")
    reader = Catalog(catalog_url)  # its engine reads the lock timeout when made
    try:
        with write_lock_held(catalog_url), read_together(reader.store, 3) as conns:
            assert len(conns) == 1
            assert _pins(conns[0]) == len(sample.pins())
    finally:
        reader.close()


def test_one_connection_in_memory():
    cat = Catalog("sqlite://")
    try:
        cat.init()
        with read_together(cat.store, 4) as conns:
            assert len(conns) == 1
            assert _pins(conns[0]) == 0
    finally:
        cat.close()


def test_the_page_is_the_same_read_side_by_side_or_one_after_the_other(sample, monkeypatch):
    from datetime import datetime

    now = datetime.fromisoformat(NOW)
    policies = str(ROOT / "policies")
    sample.audit(policies, record=True)
    pages = {}
    for count in (1, 4):
        monkeypatch.setattr(api_module, "CONNECTIONS", count)
        pages[count] = sample.report(policies, now, lineage=[sample.datasets()["did"].iloc[-1]])
    assert pages[1].html == pages[4].html
    one, four = pages[1].data, pages[4].data
    assert one.risk == four.risk
    assert one.compliance.audit.summary == four.compliance.audit.summary


def test_sections_rendered_ahead_from_their_parts_are_those_of_the_page(sample):
    """The idle core renders the sections whose parts are read (``prerender``) from those parts
    alone: each is the HTML the page gives it, and only sections with all their parts are."""
    import dataclasses
    from datetime import datetime

    from lifecycle.report import page

    report = sample.report(
        str(ROOT / "policies"), datetime.fromisoformat(NOW),
        lineage=[sample.datasets()["did"].iloc[-1]],
    )  # fmt: skip
    data = report.data
    given = ("catalog", "now", "policies", "decade", "timings")
    parts = {f.name: getattr(data, f.name) for f in dataclasses.fields(data) if f.name not in given}
    ready = page.prerender(parts, data.catalog, data.now, data.policies, data.decade)
    assert set(ready) == {*page.SECTIONS, "durability"}
    for html in ready.values():
        assert html in report.html
    assert page.render(data, ready) == report.html
    some = page.prerender(
        {"risk": data.risk, "overview": data.overview}, data.catalog, data.now, data.policies
    )
    assert set(some) == {"risk"}  # the overview also reads the compliance part


def test_an_error_in_one_part_is_raised_and_stops_the_rest(sample, monkeypatch):
    started = []

    def failing(*args, **kwargs):
        started.append("risk")
        raise LifecycleError("risk failed")

    monkeypatch.setattr(report_data, "risk", failing)
    monkeypatch.setattr(report_data, "repair_section", lambda *a, **k: started.append("repair"))
    monkeypatch.setattr(api_module, "CONNECTIONS", 1)
    with pytest.raises(LifecycleError, match="risk failed"):
        sample.report(str(ROOT / "policies"))
    assert started == ["risk"]  # one after the other: nothing after the failed group
    started.clear()
    monkeypatch.setattr(api_module, "CONNECTIONS", 4)
    with pytest.raises(LifecycleError, match="risk failed"):
        sample.report(str(ROOT / "policies"))
    assert "risk" in started


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_first_group_runs_where_first_ran_and_the_others_do_not_wait_for_it(count):
    """The first group reads what ``first`` left on the first connection, so it runs there;
    the other connections take the groups after it meanwhile (``first`` here waits until
    another connection has begun a group: with one connection, nothing can)."""
    import threading

    conns = [object() for _ in range(count)]
    ran: dict[str, object] = {}
    begun = threading.Event()

    def first(conn):
        ran["first"] = conn
        if count > 1:
            assert begun.wait(30), "no other connection took a group while first ran"

    def group(name):
        def run(conn):
            ran[name] = conn
            if name != "lead":
                begun.set()
            return {name: True}

        return run

    names = ["lead", "a", "b", "c"]
    parts = side_by_side([group(n) for n in names], conns, first=first)
    assert parts == dict.fromkeys(names, True)
    assert ran["first"] is conns[0]
    assert ran["lead"] is conns[0]
    if count > 1:
        assert any(ran[n] is not conns[0] for n in names[1:])


def test_the_readers_are_closed(sample, tmp_path: Path):
    with read_together(sample.store, 3):
        pass
    assert sample.store.engine.pool.checkedout() == 0


def test_the_reasons_counted_in_sql_are_those_of_each_dataset_explained(sample):
    """Preservation's top reasons (counted per reason in SQL) equal the reasons of
    ``irreproducible_reasons``, a row per dataset, counted by cause in Python."""
    from lifecycle.audit.grouping import cause_of
    from lifecycle.provenance import irreproducible_reasons, irreproducible_table

    with sample.read() as conn, irreproducible_table(conn) as table:
        got = report_data.preservation(conn, table).reasons
        where = "d.kind IN :kinds AND d.state NOT IN ('deleted', 'lost')"
        each = irreproducible_reasons(conn, table, where, {"kinds": list(report_data.DERIVED)})
    expected: dict[str, int] = {}
    for row in each:
        reason = row["reason"]
        if row["blocking_input"] and reason.startswith("input "):
            reason = report_data.BLOCKED
        cause = cause_of("reproducibility", reason)
        expected[cause] = expected.get(cause, 0) + 1
    assert got == sorted(expected.items(), key=lambda item: (-item[1], item[0]))[: report_data.TOP]
    assert sum(n for _, n in got) > 0  # the sample catalog has irreproducible derived data


def test_the_heavy_packages_are_imported_before_any_group_starts(sample, catalog_url):
    """Threads importing pandas at once can meet it half initialised (seen at 1 M datasets):
    in a fresh process, pandas is not loaded when the report's parts begin (one thread imports
    it while the first computes the irreproducible set), and every group starts with pandas and
    pyarrow loaded."""
    import ast
    import subprocess
    import sys

    script = f"""
import sys
import lifecycle.report.schedule as schedule
import lifecycle.report.data as data
from lifecycle.api import Catalog
seen = []
plain = schedule.side_by_side
def side_by_side(groups, conns, first=None):
    seen.append(("entry", "pandas" in sys.modules))
    def wrapped(group):
        def run(conn):
            seen.append(("group", all(m in sys.modules for m in ("pandas", "pyarrow"))))
            return group(conn)
        return run
    return plain([wrapped(g) for g in groups], conns, first)
data.side_by_side = side_by_side
import lifecycle.api as api
api.CONNECTIONS = 2
with Catalog({catalog_url!r}) as cat:
    cat.report({str(ROOT / "policies")!r})
print(seen)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = ast.literal_eval(done.stdout.strip())
    assert seen[0] == ("entry", False)
    groups = [present for what, present in seen if what == "group"]
    assert len(groups) >= 7
    assert all(groups)
