"""``lifecycle sync``: a snapshot of the grid merged into the catalog, on both databases.

Every mutable field is updated and journaled old/new; every immutable one is refused with file,
row, column and the recorded value, the catalog unchanged; completeness by endpoint expression
and by scope glob; the per-endpoint safety limit and --force; the loss reported in the loss
simulation's words; preview writes nothing; all or nothing under SIGKILL.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from conftest import snapshot
from test_concurrency import wait_for_pause
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import ImportRowError, UsageError

runner = CliRunner()
ALL = 100  # --max-change that lets every change through (the small catalog's endpoints hold 1-3)
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
def base(catalog: Catalog, tmp_path: Path):
    """The catalog loaded with the mini catalog (PHYS open, so its size may change), and a
    function writing a snapshot: the same tables after ``edit``."""
    tables = mini()
    _row(tables, "datasets", did=PHYS)["state"] = "open"
    catalog.import_directory(write_catalog(tmp_path / "base", tables))
    made = iter(range(1000))

    def snapshot_after(edit=None) -> Path:
        copy = mini()
        _row(copy, "datasets", did=PHYS)["state"] = "open"
        if edit is not None:
            edit(copy)
        return write_catalog(tmp_path / f"snap{next(made)}", copy)

    return catalog, snapshot_after


def _row(tables, table: str, **key) -> dict:
    return next(r for r in tables[table] if all(r[k] == v for k, v in key.items()))


def _exported(catalog: Catalog, tmp_path: Path, table: str) -> list[dict]:
    out = tmp_path / f"export-{len(list(tmp_path.iterdir()))}"
    catalog.export_directory(out)
    with (out / f"{table}.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _last_summary(catalog: Catalog) -> str:
    entries = catalog.journal()
    return entries.loc[entries["id"].idxmax(), "summary"]


def _last_changes(catalog: Catalog) -> list[tuple]:
    entry = int(catalog.journal()["id"].max())
    found = catalog.journal_changes(entry)
    return list(found[["entity", "row_key", "field", "old_value", "new_value"]].itertuples(
        index=False, name=None))  # fmt: skip


# -- mutable fields: updated, journaled old and new -----------------------------------------------

MUTABLE = [
    # table, key, column, new value, journal entity, row_key, old, new (as journaled)
    ("replicas", {"did": RAW, "endpoint": "BNL-OSG2_DATATAPE"}, "state", "unavailable",
     "replica", f"{RAW}@BNL-OSG2_DATATAPE", "available", "unavailable"),
    ("replicas", {"did": AOD, "endpoint": "CERN-PROD_DATADISK"}, "accessed_at",
     "2026-01-02T03:04:05Z", "replica", f"{AOD}@CERN-PROD_DATADISK", None,
     "2026-01-02T03:04:05Z"),
    ("datasets", {"did": AOD}, "state", "deleted", "dataset", AOD, "closed", "deleted"),
    ("datasets", {"did": AOD}, "expires_at", "2031-01-01T00:00:00Z", "dataset", AOD, None,
     "2031-01-01T00:00:00Z"),
    ("datasets", {"did": PHYS}, "bytes", "123", "dataset", PHYS, "100000000000", "123"),
    ("datasets", {"did": PHYS}, "files", "21", "dataset", PHYS, "20", "21"),
    ("datasets", {"did": PHYS}, "events", "", "dataset", PHYS, "1000000", None),
    ("sites", {"name": "BNL-OSG2"}, "status", "down", "site", "BNL-OSG2", "active", "down"),
    ("sites", {"name": "BNL-OSG2"}, "tier", "2", "site", "BNL-OSG2", "1", "2"),
    ("sites", {"name": "BNL-OSG2"}, "cloud", "NA", "site", "BNL-OSG2", "US", "NA"),
    ("endpoints", {"name": "CERN-PROD_DATADISK"}, "capacity_bytes", "5", "endpoint",
     "CERN-PROD_DATADISK", None, "5"),
    ("endpoints", {"name": "CERN-PROD_DATADISK"}, "type", "SCRATCHDISK", "endpoint_attribute",
     "CERN-PROD_DATADISK", "DATADISK", "SCRATCHDISK"),
    ("endpoints", {"name": "CERN-PROD_DATADISK"}, "archival", "", "endpoint_attribute",
     "CERN-PROD_DATADISK", "false", None),  # an empty cell removes the attribute
    ("endpoints", {"name": "CERN-PROD_DATADISK"}, "quota", "7", "endpoint_attribute",
     "CERN-PROD_DATADISK", None, "7"),  # a new column adds one
    ("productions", {"id": "task-00000002"}, "status", "failed", "production",
     "task-00000002", "done", "failed"),
    ("productions", {"id": "task-00000002"}, "started_at", "2019-01-01T00:00:00Z",
     "production", "task-00000002", None, "2019-01-01T00:00:00Z"),
    ("productions", {"id": "task-00000001"}, "finished_at", "2018-08-04T00:00:00Z",
     "production", "task-00000001", "2018-08-03T00:00:00Z", "2018-08-04T00:00:00Z"),
    ("pins", {"did": PHYS}, "until", "2028-01-01T00:00:00Z", "pin", PHYS,
     "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"),
    ("transformations", {"tag": "p4910"}, "image_digest", "sha256:" + "e" * 64,
     "transformation", "p4910", None, "sha256:" + "e" * 64),  # filled once: it was blank
]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "key", "column", "value", "entity", "row_key", "old", "new"),
    MUTABLE,
    ids=[f"{m[0]}.{m[2]}" for m in MUTABLE],
)
def test_a_mutable_field_is_updated_and_journaled(
    base, tmp_path, table, key, column, value, entity, row_key, old, new
):
    catalog, snapshot_after = base

    def edit(tables):
        row = _row(tables, table, **key)
        if column not in row:  # a new attribute column: empty for the other endpoints
            for other in tables[table]:
                other[column] = ""
        row[column] = value

    report = catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    assert report.applied
    assert [(c["table"], c["field"]) for c in report.changes] == [(table, column)]
    assert _last_changes(catalog) == [(entity, row_key, column, old, new)]
    exported = _row({table: _exported(catalog, tmp_path, table)}, table, **key)
    assert exported.get(column, "") == value
    # the same snapshot again changes nothing
    again = catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    assert again.changes == []
    assert not any(again.added.values())


def test_a_copying_replica_takes_the_time_it_was_made_when_it_completes(base, tmp_path):
    """A replica in flight (``copying``) may change its ``created_at`` (Rucio gives its rule's
    creation time until the copy completes, then the replica's own, which can be a second on);
    once it is not copying, its ``created_at`` is history again."""
    catalog, snapshot_after = base
    key = {"did": AOD, "endpoint": "CERN-PROD_DATADISK"}

    def copying(tables):
        _row(tables, "replicas", **key)["state"] = "copying"

    catalog.sync(snapshot_after(copying), max_change=ALL, apply=True)
    made = "2018-08-03T08:00:01Z"

    def completed(tables):
        row = _row(tables, "replicas", **key)
        row["state"], row["created_at"] = "available", made

    report = catalog.sync(snapshot_after(completed), max_change=ALL, apply=True)
    assert sorted(c["field"] for c in report.changes) == ["created_at", "state"]
    assert (
        _row({"replicas": _exported(catalog, tmp_path, "replicas")}, "replicas", **key)[
            "created_at"
        ]
        == made
    )

    def later(tables):
        completed(tables)
        _row(tables, "replicas", **key)["created_at"] = "2018-08-03T08:00:02Z"

    with pytest.raises(ImportRowError, match=f"the catalog has '{made}'"):
        catalog.sync(snapshot_after(later), max_change=ALL, apply=True)


# -- immutable fields: refused with file, row, column and the recorded value -----------------------

IMMUTABLE = [
    # table, key, column, new value, words of the message
    ("datasets", {"did": AOD}, "kind", "simulated", "the catalog has 'derived'"),
    ("datasets", {"did": AOD}, "created_at", "2018-08-04T00:00:00Z",
     "the catalog has '2018-08-03T08:00:00Z'"),
    ("datasets", {"did": AOD}, "data_type", "ESD", "data_type is history"),
    ("datasets", {"did": AOD}, "bytes", "5", "the bytes of a closed dataset is history"),
    ("datasets", {"did": AOD}, "run_number", "1", "the catalog has '357772'"),
    ("replicas", {"did": RAW, "endpoint": "CERN-PROD_DATATAPE"}, "created_at",
     "2018-08-01T13:00:00Z", "the catalog has '2018-08-01T12:00:00Z'"),
    ("sites", {"name": "BNL-OSG2"}, "country", "ca", "the catalog has 'us'"),
    ("endpoints", {"name": "BNL-OSG2_DATATAPE"}, "media", "disk", "the catalog has 'tape'"),
    ("endpoints", {"name": "BNL-OSG2_DATATAPE"}, "site", "CERN-PROD",
     "the catalog has 'BNL-OSG2'"),
    ("transformations", {"tag": "r13286"}, "image_digest", "sha256:" + "f" * 64,
     "makes a new transformation"),
    ("transformations", {"tag": "r13286"}, "release", "Athena,22.0.41",
     "makes a new transformation"),
    ("transformations", {"tag": "r13286"}, "command", "Reco_tf.py", "command is history"),
    ("productions", {"id": "task-00000001"}, "transformation", "p4910",
     "the catalog has 'r13286'"),
    ("productions", {"id": "task-00000001"}, "conditions_tag", "OTHER",
     "conditions_tag is history"),
    ("productions", {"id": "task-00000001"}, "site", "BNL-OSG2", "the catalog has 'CERN-PROD'"),
    ("production_io", {"production": "task-00000001", "did": CALIB}, "role", "config",
     "the catalog has 'calibration'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "key", "column", "value", "words"),
    IMMUTABLE,
    ids=[f"{m[0]}.{m[2]}" for m in IMMUTABLE],
)
def test_an_immutable_field_is_refused_and_nothing_changes(base, table, key, column, value, words):
    catalog, snapshot_after = base

    def edit(tables):
        _row(tables, "replicas", did=AOD, endpoint="CERN-PROD_DATADISK")["state"] = "copying"
        _row(tables, table, **key)[column] = value

    before = snapshot(catalog)
    with pytest.raises(ImportRowError) as raised:
        catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    error = raised.value
    assert (error.file, error.column) == (f"{table}.csv", column)
    assert isinstance(error.row, int)
    assert words in str(error)
    assert snapshot(catalog) == before


def test_a_production_takes_no_new_inputs_and_a_dataset_no_second_producer(base):
    catalog, snapshot_after = base
    before = snapshot(catalog)

    def new_input(tables):
        tables["production_io"].append(
            {"production": "task-00000002", "did": CALIB, "role": "calibration"}
        )

    with pytest.raises(ImportRowError, match="inputs and outputs are history"):
        catalog.sync(snapshot_after(new_input), apply=True)

    def second_producer(tables):
        tables["productions"].append({**_row(tables, "productions", id="task-00000002"),
                                      "id": "task-00000003"})  # fmt: skip
        tables["production_io"].append(
            {"production": "task-00000003", "did": PHYS, "role": "output"}
        )

    with pytest.raises(ImportRowError, match="produced twice"):
        catalog.sync(snapshot_after(second_producer), apply=True)
    assert snapshot(catalog) == before


def test_new_rows_are_added_as_import_adds_them(base):
    catalog, snapshot_after = base
    new = "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW"

    def edit(tables):
        tables["datasets"].append({**_row(tables, "datasets", did=RAW), "did": new})
        tables["replicas"].append({**_row(tables, "replicas", did=RAW,
                                          endpoint="CERN-PROD_DATATAPE"), "did": new})  # fmt: skip

    report = catalog.sync(snapshot_after(edit), apply=True)
    assert {t: n for t, n in report.added.items() if n} == {"datasets": 1, "replicas": 1}
    assert report.changes == []
    assert catalog.dataset(new).dataset["kind"] == "raw"

    def bad(tables):  # the same errors as import: a dangling reference
        tables["replicas"].append({**_row(tables, "replicas", did=RAW,
                                          endpoint="CERN-PROD_DATATAPE"),
                                   "endpoint": "NOWHERE_DATADISK"})  # fmt: skip

    with pytest.raises(ImportRowError, match="unknown endpoint 'NOWHERE_DATADISK'"):
        catalog.sync(snapshot_after(bad), apply=True)


def test_a_first_sync_into_an_empty_catalog_adds_everything(catalog: Catalog, tmp_path: Path):
    """Tables empty and one not (the sites): on PostgreSQL the pre-filter's reader exports the
    sync's snapshot, after which COPY ... FREEZE is refused ("prior transaction activity"): the
    bulk load of the empty tables must then copy without it."""
    tables = mini()
    catalog.import_directory(write_catalog(tmp_path / "sites", {"sites": tables["sites"]}))
    report = catalog.sync(write_catalog(tmp_path / "all", tables), apply=True)
    assert report.added["datasets"] == len(tables["datasets"])
    assert report.added["replicas"] == len(tables["replicas"])
    assert len(catalog.datasets()) == len(tables["datasets"])


# -- identical snapshot, preview ------------------------------------------------------------------


def test_an_identical_snapshot_changes_nothing_and_writes_one_journal_line(base):
    catalog, snapshot_after = base
    before = snapshot(catalog)
    report = catalog.sync(snapshot_after(), apply=True)
    assert not report.changed
    assert report.changes == []
    assert not report.loses_data
    after = snapshot(catalog)
    assert len(after["journal"]) == len(before["journal"]) + 1
    assert {t: rows for t, rows in after.items() if t != "journal"} == {
        t: rows for t, rows in before.items() if t != "journal"
    }
    assert "no changes" in _last_summary(catalog)


def test_a_preview_writes_nothing(base, backend):
    catalog, snapshot_after = base

    def edit(tables):
        _row(tables, "sites", name="BNL-OSG2")["status"] = "down"
        _row(tables, "replicas", did=RAW, endpoint="BNL-OSG2_DATATAPE")["state"] = "lost"
        tables["replicas"].remove(_row(tables, "replicas", did=AOD))

    path = Path(catalog.url.removeprefix("sqlite:///")) if backend == "sqlite" else None
    before = snapshot(catalog)
    catalog.close()
    file_before = path.read_bytes() if path else None
    report = catalog.sync(snapshot_after(edit), ["replicas:CERN-PROD_DATADISK"], ALL)
    assert not report.applied
    assert {(c["table"], c["field"], c["reason"].split(" of ")[0]) for c in report.changes} == {
        ("sites", "status", "snapshot"),
        ("replicas", "state", "snapshot"),
        ("replicas", "state", "absent from snapshot"),
    }
    catalog.close()
    if path:
        assert path.read_bytes() == file_before
    assert snapshot(catalog) == before


# -- completeness -----------------------------------------------------------------------------------


def test_complete_replicas_marks_the_absent_ones_deleted_on_the_selected_endpoints(base):
    catalog, snapshot_after = base

    def edit(tables):  # two replicas go missing: one on the endpoint declared complete
        tables["replicas"].remove(_row(tables, "replicas", did=AOD))
        tables["replicas"].remove(_row(tables, "replicas", did=RAW, endpoint="BNL-OSG2_DATATAPE"))

    without = catalog.sync(snapshot_after(edit), max_change=ALL)
    assert without.changes == []  # absence means nothing unless declared
    report = catalog.sync(
        snapshot_after(edit), ["replicas:site=CERN-PROD&media=disk"], ALL, apply=True
    )
    assert report.absent == {"replicas": 1}
    assert [(c["key"], c["old"], c["new"]) for c in report.changes] == [
        ({"did": AOD, "endpoint": "CERN-PROD_DATADISK"}, "available", "deleted")
    ]
    assert report.changes[0]["reason"] == "absent from snapshot of 2018-08-05T12:00:00Z"
    states = dict(
        zip(catalog.replicas(RAW)["endpoint"], catalog.replicas(RAW)["state"], strict=True)
    )
    assert states["BNL-OSG2_DATATAPE"] == "available"
    assert _last_changes(catalog) == [
        ("replica", f"{AOD}@CERN-PROD_DATADISK", "state", "available", "deleted")
    ]


def test_complete_datasets_marks_absent_datasets_of_matching_scopes_deleted(base):
    catalog, snapshot_after = base

    def edit(tables):  # AOD (scope data18_13TeV) and CALIB (scope calib) go missing
        for did in (AOD, CALIB):
            tables["datasets"].remove(_row(tables, "datasets", did=did))
            tables["replicas"] = [r for r in tables["replicas"] if r["did"] != did]
            tables["production_io"] = [r for r in tables["production_io"] if r["did"] != did]

    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    report = catalog.sync(snapshot_after(edit), ["datasets:data*"], ALL, as_of=as_of, apply=True)
    assert report.absent == {"datasets": 1, "replicas": 1}
    assert catalog.dataset(AOD).dataset["state"] == "deleted"
    assert catalog.dataset(CALIB).dataset["state"] == "closed"
    assert {c["reason"] for c in report.changes} == {"absent from snapshot of 2026-01-01T00:00:00Z"}
    assert sorted(_last_changes(catalog)) == [
        ("dataset", AOD, "state", "closed", "deleted"),
        ("replica", f"{AOD}@CERN-PROD_DATADISK", "state", "available", "deleted"),
    ]


@pytest.mark.parametrize(
    ("complete", "words"),
    [
        ("replicas", "--complete: 'replicas' is not replicas:EXPR"),
        ("sites:CERN*", "--complete: 'sites:CERN*' is not"),
        ("replicas:media=", "--complete replicas:media=: invalid endpoint expression"),
        ("replicas:NO-SUCH_DATADISK", "--complete replicas:NO-SUCH_DATADISK: endpoint expression"),
    ],
)
def test_a_bad_complete_option_is_a_usage_error_naming_it(base, complete, words):
    catalog, snapshot_after = base
    with pytest.raises(UsageError) as raised:
        catalog.sync(snapshot_after(), [complete], apply=True)
    assert str(raised.value).startswith(words)


# -- safety limit, loss -------------------------------------------------------------------------------


def test_the_safety_limit_refuses_and_force_goes_past_it_saying_so(base):
    catalog, snapshot_after = base

    def edit(tables):
        _row(tables, "replicas", did=AOD, endpoint="CERN-PROD_DATADISK")["state"] = "unavailable"

    before = snapshot(catalog)
    with pytest.raises(UsageError) as raised:  # 1 of the 3 replicas there: 33 % > 10 %
        catalog.sync(snapshot_after(edit), apply=True)
    assert str(raised.value).startswith(
        "--max-change: CERN-PROD_DATADISK: 1 of its 3 replicas (33.3 %) would change state or "
        "disappear, above the 10 % limit"
    )
    assert snapshot(catalog) == before
    assert catalog.sync(snapshot_after(edit), max_change=34).changes  # within a higher limit
    report = catalog.sync(snapshot_after(edit), force=True, apply=True)
    assert report.forced == [{"endpoint": "CERN-PROD_DATADISK", "changing": 1, "replicas": 3}]
    assert "--force: past the 10 % limit on CERN-PROD_DATADISK" in _last_summary(catalog)


def test_a_last_copy_of_raw_lost_is_applied_and_reported_as_lost_for_good(base):
    catalog, snapshot_after = base

    def edit(tables):
        for replica in tables["replicas"]:
            if replica["did"] == RAW:
                replica["state"] = "lost"

    report = catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    assert [(row["did"], row["kind"]) for row in report.lost] == [(RAW, "raw")]
    assert report.loses_data
    assert report.lines()[0] == (
        f"{RAW} (raw) is now lost for good: no replica would remain and raw data cannot be "
        "regenerated"
    )
    assert set(catalog.replicas(RAW)["state"]) == {"lost"}
    assert "1 dataset lost for good" in _last_summary(catalog)


# -- with the audit ---------------------------------------------------------------------------------


def test_sync_then_audit_then_audit_diff_shows_exactly_the_changes(base, tmp_path, monkeypatch):
    catalog, snapshot_after = base
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: NOW)
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[policy]\nname = "p"\n[[rule]]\nname = "raw-tape"\ntype = "replication"\n'
        'select = { kind = ["raw"] }\ncopies = 2\nendpoints = "media=tape"\ndistinct = "site"\n'
    )
    catalog.audit(str(policy))

    def edit(tables):
        _row(tables, "replicas", did=RAW, endpoint="BNL-OSG2_DATATAPE")["state"] = "unavailable"

    catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    catalog.audit(str(policy))
    diff = catalog.audit_diff()
    assert list(zip(diff["appeared"]["rule"], diff["appeared"]["did"], strict=True)) == [
        ("raw-tape", RAW)
    ]
    assert diff["resolved"].empty


# -- the command line ---------------------------------------------------------------------------------


def test_cli_exit_codes_and_json(base):
    catalog, snapshot_after = base

    def lost(tables):
        for replica in tables["replicas"]:
            if replica["did"] == RAW:
                replica["state"] = "lost"

    db = ["--db", catalog.url]
    path = str(snapshot_after(lost))
    preview = runner.invoke(app, [*db, "sync", path, "--max-change", "100", "-f", "json"])
    assert preview.exit_code == 1, preview.output  # data lost for good: in preview too
    doc = json.loads(preview.stdout)
    assert doc["kind"] == "sync"
    assert doc["summary"]["applied"] is False
    assert doc["summary"]["updated"] == {"replicas": {"state": 2}}
    assert sorted(c["key"]["endpoint"] for c in doc["changes"]) == [
        "BNL-OSG2_DATATAPE", "CERN-PROD_DATATAPE"
    ]  # fmt: skip
    assert [row["did"] for row in doc["lost"]] == [RAW]
    refused = runner.invoke(app, [*db, "sync", path])
    assert refused.exit_code == 2
    assert "--max-change: " in refused.stderr
    csv_out = runner.invoke(app, [*db, "sync", path, "--max-change", "100", "-f", "csv"])
    assert csv_out.stdout.splitlines()[0] == "table,key,field,old,new,reason"
    applied = runner.invoke(app, [*db, "sync", path, "--max-change", "100", "--apply"])
    assert applied.exit_code == 1
    assert f"{RAW} (raw) is now lost for good" in applied.stdout
    assert runner.invoke(app, [*db, "sync", path, "--apply"]).exit_code == 0  # nothing left

    def history(tables):
        _row(tables, "datasets", did=AOD)["kind"] = "simulated"

    bad = runner.invoke(app, [*db, "sync", str(snapshot_after(history)), "--apply"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith(
        "lifecycle: error: datasets.csv:4: kind: the catalog has 'derived'"
    )


def test_hostile_text_is_shown_literally(catalog, tmp_path):
    tables = mini()
    hostile = "[bold red]EVIL[/bold red]"
    _row(tables, "sites", name="BNL-OSG2")["cloud"] = hostile
    catalog.import_directory(write_catalog(tmp_path / "a", tables))
    _row(tables, "sites", name="BNL-OSG2")["cloud"] = "[link=http://x]y[/link]"
    argv = ["--db", catalog.url, "sync", str(write_catalog(tmp_path / "b", tables))]
    out = runner.invoke(app, argv, env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert hostile in out.stdout  # the old value, not made bold
    assert "[link=http://x]y[/link]" in out.stdout


def test_a_sync_killed_before_commit_leaves_the_catalog_as_it_was(base):
    catalog, snapshot_after = base

    def edit(tables):
        _row(tables, "sites", name="BNL-OSG2")["status"] = "down"
        _row(tables, "replicas", did=RAW, endpoint="BNL-OSG2_DATATAPE")["state"] = "unavailable"

    before = snapshot(catalog)
    argv = [sys.executable, "-m", "lifecycle.cli.app", "--db", catalog.url, "sync",
            str(snapshot_after(edit)), "--max-change", "100", "--apply"]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "LIFECYCLE_PAUSE_BEFORE_COMMIT": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_pause(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(catalog) == before
    report = catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)  # usable again
    assert len(report.changes) == 2


def test_a_column_the_snapshot_lacks_is_not_described_except_endpoint_attributes(base):
    catalog, snapshot_after = base

    def edit(tables):
        for replica in tables["replicas"]:  # no state (its default is available), no accessed_at
            del replica["state"], replica["accessed_at"]
        for dataset in tables["datasets"]:  # no metadata column
            del dataset["run_number"]
        for endpoint in tables["endpoints"]:  # no archival attribute: removed
            del endpoint["archival"]

    report = catalog.sync(snapshot_after(edit), max_change=ALL, apply=True)
    assert sorted((c["table"], c["key"]["name"], c["field"], c["new"]) for c in report.changes) == [
        ("endpoints", name, "archival", None)
        for name in ("BNL-OSG2_DATATAPE", "CERN-PROD_DATADISK", "CERN-PROD_DATATAPE")
    ]
    assert set(catalog.replicas(PHYS)["state"]) == {"lost"}  # not made available by default
