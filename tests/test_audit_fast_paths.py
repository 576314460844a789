"""The audit's faster paths agree with the plain ones: rules evaluated on two connections at
once find what one connection finds (one snapshot; a failure on either side leaves nothing
behind); the history write that stops early, and the counts of what changed read along the
history's intervals, say what a full comparison says."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import lifecycle.audit as audit
from lifecycle.api import Catalog
from lifecycle.catalog.store import snapshot_reader
from lifecycle.policy import load_policies

ATLAS = Path(__file__).resolve().parent.parent / "policies"


@pytest.fixture
def generated(catalog, tmp_path):
    """A generated catalog with a few calibrations and raws lost (every rule finds something)."""
    from lifecycle.generate import generate

    generate(tmp_path / "gen", 3000, seed=5)
    catalog.import_directory(tmp_path / "gen")
    with catalog.atomic("break things") as (conn, change):
        conn.exec_driver_sql(
            "UPDATE replica SET state = 'lost' WHERE dataset_id IN (SELECT id FROM dataset "
            "WHERE kind IN ('calibration', 'raw') AND id - (id / 3) * 3 = 0)"
        )
        change.summary = "lost some replicas"
    return catalog


def _threads_used(monkeypatch) -> list[str]:
    """The names of the threads that evaluated a rule, from now on. The first connection waits
    (30 s at most) for the other thread to begin a rule before it takes a shared one: on a small
    catalog under load it could otherwise take them all before that thread started."""
    seen: list[str] = []
    began = threading.Event()
    for name, evaluate in list(audit.EVALUATORS.items()):

        def spy(*args, _evaluate=evaluate, _type=name, **kwargs):
            thread = threading.current_thread().name
            seen.append(thread)
            if thread.startswith("audit"):
                began.set()
            elif _type != "reproducibility" and audit.CONCURRENT:
                began.wait(30)
            return _evaluate(*args, **kwargs)

        monkeypatch.setitem(audit.EVALUATORS, name, spy)
    return seen


def test_concurrent_evaluation_finds_what_the_serial_one_finds(generated, monkeypatch):
    atlas = load_policies([ATLAS])
    seen = _threads_used(monkeypatch)
    together = generated.audit(atlas)
    # another thread evaluated some rules, on its own connection (SQLite and PostgreSQL)
    assert any(name.startswith("audit") for name in seen)
    assert {name for name in seen if not name.startswith("audit")} == {"MainThread"}
    monkeypatch.setattr(audit, "CONCURRENT", False)
    seen.clear()
    alone = generated.audit(atlas)
    assert set(seen) == {"MainThread"}
    assert together.summary == alone.summary
    assert together.summary["findings"] > 0
    assert all(together.summary["by_rule"][r] for r in ("raw-reprocessable", "raw-preserved"))
    assert together.findings.equals(alone.findings)
    # the second run found exactly what the first recorded: nothing appeared or was resolved
    changes = generated.audit_changes(alone.run["id"])
    assert (changes["appeared"], changes["resolved"], changes["changed"]) == (0, 0, 0)


def test_a_failure_on_the_other_thread_records_nothing(generated, monkeypatch):
    """A rule failing on the second connection's thread: nothing is recorded. The failure is
    the other thread's whatever rules it takes (patching an evaluator instead made the test
    depend on which thread took that rule: under load the first connection sometimes took them
    all, and nothing failed)."""
    evaluate_on = audit._evaluate_on

    def fails_elsewhere(reader, shared, now, endpoints):
        assert threading.current_thread().name.startswith("audit")
        evaluate_on(reader, shared, now, endpoints)  # whatever it takes, then the failure
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(audit, "_evaluate_on", fails_elsewhere)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generated.audit(load_policies([ATLAS]))
    assert generated.audit_history().empty


def test_the_second_connection_reads_the_writers_snapshot(generated):
    with generated.read() as conn:
        assert snapshot_reader(conn) is None  # no lock: a writer could commit in between
    with generated.atomic("test") as (conn, _change):
        reader = snapshot_reader(conn)
        assert reader is not None
        count = "SELECT COUNT(*), MAX(id) FROM replica WHERE state = 'lost'"
        with reader() as other:
            assert other.exec_driver_sql(count).one() == conn.exec_driver_sql(count).one()
            assert other.connection.driver_connection is not conn.connection.driver_connection
    if generated.store.dialect == "postgresql":
        # the reader sees the writer's snapshot, not what commits after it was exported
        with generated.atomic("test") as (conn, _change):
            reader = snapshot_reader(conn)
            with generated.store.engine.connect() as outsider, outsider.begin():
                outsider.exec_driver_sql("UPDATE replica SET state = 'lost'")
            with reader() as other:
                lost = other.exec_driver_sql("SELECT COUNT(*) FROM replica WHERE state <> 'lost'")
                assert lost.scalar() > 0


def test_no_second_connection_to_a_catalog_in_memory():
    cat = Catalog("sqlite://")
    cat.init()
    try:
        with cat.atomic("test") as (conn, _change):
            assert snapshot_reader(conn) is None
    finally:
        cat.close()


def test_as_many_findings_as_before_but_not_the_same_ones(generated, tmp_path):
    """The history write stops early when the open findings are this run's own: one resolved
    and one new finding leave the count as it was, and must still be told apart."""
    from lifecycle.audit.history import findings_of

    path = tmp_path / "calibration.toml"
    path.write_text(
        '[policy]\nname = "c"\n[[rule]]\nname = "calibration-preserved"\n'
        'type = "preservation"\nselect = { kind = ["calibration"] }\n'
    )
    calibration = load_policies([path])
    first = generated.audit(calibration)
    assert first.summary["findings"] > 1
    with generated.read() as conn:
        flagged = sorted(findings_of(conn, first.run["id"])["did"])
        fine = conn.exec_driver_sql(
            "SELECT MIN(did) FROM dataset d WHERE kind = 'calibration' AND EXISTS (SELECT 1 "
            "FROM replica r WHERE r.dataset_id = d.id AND r.state = 'available')"
        ).scalar()
    with generated.atomic("swap") as (conn, change):
        for did, before, after in ((flagged[0], "lost", "available"), (fine, "available", "lost")):
            conn.execute(
                sa.text(
                    "UPDATE replica SET state = :after WHERE state = :before AND dataset_id = "
                    "(SELECT id FROM dataset WHERE did = :did)"
                ),
                {"after": after, "before": before, "did": did},
            )
        change.summary = "one calibration back, another lost"
    second = generated.audit(calibration)
    assert second.summary["findings"] == first.summary["findings"]
    changes = generated.audit_changes(second.run["id"])
    assert (changes["appeared"], changes["resolved"]) == (1, 1)
    with generated.read() as conn:
        now = sorted(findings_of(conn, second.run["id"])["did"])
    assert now == sorted([*flagged[1:], fine])
    third = generated.audit(calibration)  # unchanged: nothing appears or is resolved
    changes = generated.audit_changes(third.run["id"])
    assert (changes["appeared"], changes["resolved"], changes["changed"]) == (0, 0, 0)


def test_counted_changes_agree_with_the_diff(generated, tmp_path):
    """Runs with findings resolved, appearing and changing, and a run of other policies in
    between: what ``audit_changes`` counts is what ``audit_diff`` lists, run after run."""
    atlas = load_policies([ATLAS])
    other = tmp_path / "other.toml"
    other.write_text(
        '[policy]\nname = "o"\n[[rule]]\nname = "metadata-kept"\ntype = "preservation"\n'
        'select = { kind = ["metadata"] }\n'
    )
    steps = [
        None,
        "UPDATE replica SET state = 'available' WHERE id IN (SELECT id FROM replica "
        "WHERE state = 'lost' ORDER BY id LIMIT 7)",
        "UPDATE replica SET state = 'lost' WHERE id IN (SELECT id FROM replica "
        "WHERE state = 'available' ORDER BY id DESC LIMIT 9)",
        "other policies",
        "UPDATE replica SET state = 'copying' WHERE id IN (SELECT id FROM replica "
        "WHERE state = 'lost' ORDER BY id LIMIT 3)",
        None,
    ]
    seen = set()
    for step in steps:
        if step == "other policies":
            generated.audit(load_policies([other]))
            continue
        if step is not None:
            with generated.atomic("change") as (conn, change):
                conn.exec_driver_sql(step)
                change.summary = "changed replicas"
        run = generated.audit(atlas).run["id"]
        counted = generated.audit_changes(run)
        if counted["previous"] is None:  # the first run: every finding of it appeared
            assert counted["appeared"] == generated.audit_history(1)["findings"].iloc[0] > 0
            continue
        listed = generated.audit_diff(counted["previous"], run)
        assert counted["appeared"] == len(listed["appeared"]), step
        assert counted["resolved"] == len(listed["resolved"]), step
        seen.add((counted["appeared"] > 0, counted["resolved"] > 0))
    assert (True, False) in seen or (True, True) in seen  # findings appeared at some step
    assert (False, True) in seen or (True, True) in seen  # and were resolved at some step


def _history_indexes(catalog) -> list[tuple[str, tuple[str, ...]]]:
    with catalog.read() as conn:
        found = sa.inspect(conn).get_indexes("audit_finding")
    return sorted((index["name"], tuple(index["column_names"])) for index in found)


def test_the_first_run_builds_the_history_indexes_after_its_findings(generated, monkeypatch):
    """Into an empty history on PostgreSQL the findings go first and the history's indexes are
    built after them (catalog.bulk.bulk_load; SQLite inserts along them): they are all there
    afterwards, as declared, and a run that fails after writing its history leaves the history
    as it was, indexes included."""
    import lifecycle.audit.history as history

    loads: list[list[str]] = []
    bulk_load = history.bulk_load

    def spy(conn, tables):
        loads.append(list(tables))
        return bulk_load(conn, tables)

    monkeypatch.setattr(history, "bulk_load", spy)
    declared = _history_indexes(generated)
    assert {name for name, _ in declared} >= {"ix_audit_finding_rule_did", "ix_audit_finding_open"}

    def fails(report, rows):
        raise RuntimeError("terminal gone")

    with pytest.raises(RuntimeError, match="terminal gone"):
        generated.audit(load_policies([ATLAS]), show=fails)
    assert generated.audit_history().empty
    assert _history_indexes(generated) == declared
    first = generated.audit(load_policies([ATLAS]))
    assert _history_indexes(generated) == declared
    bulk = generated.store.dialect == "postgresql"
    # the failed run's, then this one's
    assert loads == ([["audit_finding"], ["audit_finding"]] if bulk else [])
    second = generated.audit(load_policies([ATLAS]))  # into a history with rows: as it was
    assert _history_indexes(generated) == declared
    assert len(loads) == (2 if bulk else 0)
    assert second.summary == first.summary
    assert generated.audit_diff()["appeared"].empty
    with generated.read() as conn:
        count = "SELECT COUNT(*) FROM audit_finding WHERE first_run = :run AND last_run IS NULL"
        opened = conn.execute(sa.text(count), {"run": first.run["id"]}).scalar()
    assert opened == first.summary["findings"] > 0
