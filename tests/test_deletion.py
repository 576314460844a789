"""Guarded deletion of one replica and marking replicas lost, on the chain of ``catalogs.chain``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from catalogs import AOD2, CALIB, LITE, MERGED, RAW1, RAW2, chain, write_catalog
from catalogs import DPHYS as PHYS
from conftest import snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import UsageError
from lifecycle.policy import load_policies

runner = CliRunner()
POLICY = """
[policy]
name = "test-placement"

[[rule]]
name = "raw-archival-copies"
type = "replication"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"
"""


@pytest.fixture
def policies(tmp_path):
    path = tmp_path / "policies" / "placement.toml"
    path.parent.mkdir()
    path.write_text(POLICY)
    return load_policies([path])


def load(catalog: Catalog, tmp_path: Path, tables=None) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "chain", tables or chain()))
    return catalog


@pytest.fixture
def cat(catalog, tmp_path) -> Catalog:
    return load(catalog, tmp_path)


def guards(report) -> list[tuple[str, bool]]:
    return [(r.guard, r.overridable) for r in report.refusals]


def test_an_unguarded_replica_is_previewed_then_deleted(cat, policies):
    before = snapshot(cat)
    preview = cat.delete_replica(AOD2, "CERN-PROD_DATADISK", "disk full", policies)
    assert preview.allowed
    assert not preview.applied
    assert snapshot(cat) == before  # a preview changes nothing
    done = cat.delete_replica(AOD2, "CERN-PROD_DATADISK", "disk full", policies, apply=True)
    assert done.applied
    assert list(cat.replicas(AOD2)["state"]) == ["deleted"]
    assert cat.dataset(AOD2).dataset["state"] == "deleted"  # no live replica left
    entry = cat.journal(did=AOD2).iloc[0]
    assert entry["command"] == "replicas delete --apply"
    assert entry["reason"] == "disk full"
    assert entry["summary"] == f"deleted the replica of {AOD2} at CERN-PROD_DATADISK"


def test_the_last_copy_of_raw_or_calibration_is_refused_even_with_force(cat, policies):
    for did, endpoint in ((RAW2, "CERN-PROD_DATATAPE"), (CALIB, "CERN-PROD_DATADISK")):
        report = cat.delete_replica(did, endpoint, "x", policies, force=True, apply=True)
        assert ("last-copy", False) in guards(report)
        assert not report.allowed
        assert not report.applied
        assert set(cat.replicas(did)["state"]) == {"available"}


def test_a_replica_whose_removal_breaks_a_replication_rule_needs_force(cat, policies):
    # RAW1 has tape copies at CERN-PROD and BNL-OSG2: deleting one leaves one site
    report = cat.delete_replica(RAW1, "BNL-OSG2_DATATAPE", "migration", policies, apply=True)
    assert guards(report) == [("replication", True)]
    assert "raw-archival-copies" in report.refusals[0].message
    assert "1 would remain" in report.refusals[0].message
    assert not report.applied
    forced = cat.delete_replica(
        RAW1, "BNL-OSG2_DATATAPE", "migration", policies, force=True, apply=True
    )
    assert forced.applied
    assert cat.dataset(RAW1).dataset["state"] == "closed"  # another copy remains
    entry = cat.journal(did=RAW1).iloc[0]
    assert entry["summary"].endswith("(forced past the replication guard)")
    assert entry["command"] == "replicas delete --apply --force"


def test_a_deletion_that_makes_others_irreproducible_needs_force(catalog, tmp_path, policies):
    tables = chain()
    next(t for t in tables["transformations"] if t["tag"] == "p4910")["image_digest"] = ""
    cat = load(catalog, tmp_path, tables)  # MERGED cannot be regenerated: its copy matters
    report = cat.delete_replica(MERGED, "CERN-PROD_DATADISK", "cleanup", policies)
    messages = [r.message for r in report.refusals]
    assert guards(report) == [("reproducibility", True), ("reproducibility", True)]
    assert messages[0].startswith(f"{MERGED} would lose its last available copy")
    assert messages[1] == f"2 other datasets would become irreproducible: {PHYS}, {LITE}"
    assert not report.allowed
    forced = cat.delete_replica(
        MERGED, "CERN-PROD_DATADISK", "cleanup", policies, force=True, apply=True
    )
    assert forced.applied
    table = cat.reproducibility()
    assert not dict(zip(table["did"], table["reproducible"], strict=True))[LITE]
    assert "forced past the reproducibility guard" in cat.journal(limit=1).iloc[0]["summary"]


def test_deleting_a_reproducible_dataset_breaks_nothing(cat, policies):
    # MERGED is reproducible (from AOD1, deleted but reproducible, and AOD2): no guard
    report = cat.delete_replica(MERGED, "CERN-PROD_DATADISK", "cleanup", policies)
    assert report.refusals == []
    assert report.allowed


def test_unknown_or_deleted_replicas_are_usage_errors(cat, policies):
    with pytest.raises(UsageError, match="unknown endpoint"):
        cat.delete_replica(AOD2, "NOWHERE_DATADISK", "x", policies)
    with pytest.raises(UsageError, match="has no replica at"):
        cat.delete_replica(AOD2, "BNL-OSG2_DATATAPE", "x", policies)
    with pytest.raises(UsageError, match="already deleted"):
        cat.delete_replica(PHYS, "CERN-PROD_DATADISK", "x", policies)
    with pytest.raises(UsageError, match="--reason"):
        cat.delete_replica(AOD2, "CERN-PROD_DATADISK", " ", policies)


def test_mark_lost_records_the_loss_and_the_dataset_state(cat):
    before = snapshot(cat)
    preview = cat.mark_lost(RAW1, "BNL-OSG2_DATATAPE", "tape damaged")
    assert not preview.applied
    assert snapshot(cat) == before  # a preview changes nothing
    first = cat.mark_lost(RAW1, "BNL-OSG2_DATATAPE", "tape damaged", apply=True)
    assert first.applied
    assert (first.outcome, first.remaining) == ("kept", {"available": 1})
    assert not first.loses_data
    assert cat.dataset(RAW1).dataset["state"] == "closed"  # CERN-PROD still has it
    last = cat.mark_lost(RAW1, "CERN-PROD_DATATAPE", "robot dropped it", apply=True)
    assert last.loses_data
    assert cat.dataset(RAW1).dataset["state"] == "lost"
    assert set(cat.replicas(RAW1)["state"]) == {"lost"}
    entries = cat.journal(did=RAW1)
    assert list(entries["command"]) == ["replicas mark-lost --apply"] * 2
    assert list(entries["reason"]) == ["robot dropped it", "tape damaged"]
    assert entries["summary"].iloc[0].endswith(f"lost: {RAW1} is lost for good")
    # each entry records the values it changed, old and new (the replica; then the dataset too)
    first_entry, last_entry = (int(i) for i in entries["id"].iloc[::-1])
    assert cat.journal_changes(first_entry).to_dict("records") == [
        {"entity": "replica", "row_key": f"{RAW1}@BNL-OSG2_DATATAPE", "field": "state",
         "old_value": "available", "new_value": "lost"},
    ]  # fmt: skip
    assert cat.journal_changes(last_entry).to_dict("records") == [
        {"entity": "replica", "row_key": f"{RAW1}@CERN-PROD_DATATAPE", "field": "state",
         "old_value": "available", "new_value": "lost"},
        {"entity": "dataset", "row_key": RAW1, "field": "state",
         "old_value": "closed", "new_value": "lost"},
    ]  # fmt: skip
    with pytest.raises(UsageError, match="already lost"):
        cat.mark_lost(RAW1, "CERN-PROD_DATATAPE", "again")
    with pytest.raises(UsageError, match="--reason"):
        cat.mark_lost(AOD2, "CERN-PROD_DATADISK", "  ")


def test_mark_lost_copying_or_unavailable_replicas(catalog, tmp_path):
    # the states that can become lost are kept: available, copying and unavailable
    tables = chain()
    for r in tables["replicas"]:
        if r["did"] == RAW1:  # BNL's copy on a site that is down, CERN's still being written
            r["state"] = "unavailable" if r["endpoint"] == "BNL-OSG2_DATATAPE" else "copying"
        if r["did"] == LITE:
            r["state"] = "unavailable"
    cat = load(catalog, tmp_path, tables)
    held = cat.mark_lost(RAW1, "CERN-PROD_DATATAPE", "x", apply=True)
    assert (held.outcome, held.remaining, held.loses_data) == ("held", {"unavailable": 1}, False)
    assert held.irreproducible == []  # nothing available changed
    gone = cat.mark_lost(RAW1, "BNL-OSG2_DATATAPE", "x", apply=True)
    assert gone.outcome == "lost"
    assert "raw data cannot be regenerated" in gone.reason
    assert cat.dataset(RAW1).dataset["state"] == "lost"
    lite = cat.mark_lost(LITE, "CERN-PROD_DATADISK", "x")  # reproducible: its recipe says so
    assert (lite.outcome, lite.steps) == ("recoverable", 2)


def test_replicas_delete_cli_exit_codes_and_json(cat, tmp_path, policies):
    policy_dir = str(tmp_path / "policies")

    def cli(*args: str):
        return runner.invoke(app, ["--db", cat.url, "replicas", *args])

    refused = cli("delete", RAW1, "BNL-OSG2_DATATAPE", "--reason", "x", "--policy", policy_dir)
    assert refused.exit_code == 1
    assert refused.stdout.startswith("refused (replication): rule raw-archival-copies")
    preview = cli("delete", AOD2, "CERN-PROD_DATADISK", "--reason", "x", "--policy", policy_dir)
    assert preview.exit_code == 0
    assert preview.stdout == f"would delete the replica of {AOD2} at CERN-PROD_DATADISK\n"
    assert "dry run" in preview.stderr
    document = json.loads(
        cli(
            "delete", RAW2, "CERN-PROD_DATATAPE", "--reason", "x", "--policy", policy_dir,
            "--force", "--apply", "-f", "json",
        ).stdout
    )  # fmt: skip
    assert document["kind"] == "replicas-delete"
    assert document["summary"]["allowed"] is False
    assert document["summary"]["applied"] is False
    assert document["summary"]["refusals"] == len(document["refusals"])
    assert document["replica"]["did"] == RAW2
    assert document["refusals"][0]["guard"] == "last-copy"
    assert cli("delete", AOD2, "CERN-PROD_DATADISK", "--policy", policy_dir).exit_code == 2
    lost = cli("mark-lost", AOD2, "CERN-PROD_DATADISK", "--reason", "disk failure", "--apply")
    assert lost.exit_code == 0
    assert cat.dataset(AOD2).dataset["state"] == "lost"


def test_the_last_copy_that_is_only_unavailable_is_still_the_last_copy(catalog, tmp_path):
    tables = chain()
    for r in tables["replicas"]:
        if r["did"] == RAW1:  # CERN's copy lost, BNL's on a site that is down for a while
            r["state"] = "lost" if r["endpoint"] == "CERN-PROD_DATATAPE" else "unavailable"
    cat = load(catalog, tmp_path, tables)
    report = cat.delete_replica(RAW1, "BNL-OSG2_DATATAPE", "x", None, force=True, apply=True)
    assert [(r.guard, r.overridable) for r in report.refusals] == [("last-copy", False)]
    assert not report.applied
    assert sorted(cat.replicas(RAW1)["state"]) == ["lost", "unavailable"]


def test_replicas_delete_without_policies_skips_only_the_replication_guard(
    cat, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # no ./policies here
    result = runner.invoke(
        app, ["--db", cat.url, "replicas", "delete", RAW1, "BNL-OSG2_DATATAPE", "--reason", "x"]
    )
    assert result.exit_code == 0
    assert "replication guard is not checked" in result.stderr
