"""The Rucio bridge without a server: the mapping of Rucio's answers, the snapshot it makes (it
imports and syncs), the rules table, reading push plans, and the messages without rucio-clients.

The round trip against a real server is in ``test_rucio_roundtrip.py``.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifecycle.api import Catalog, KindRules, Mapping, RucioSettings
from lifecycle.cli.app import app
from lifecycle.errors import RucioUnavailable, UsageError
from lifecycle.rucio import mapping
from lifecycle.rucio.client import connect, rucio_errors
from lifecycle.rucio.pull import read_rules, write_snapshot
from lifecycle.rucio.push import read_plan
from lifecycle.rucio.rules import covering_rules, record_pushed, record_rules

runner = CliRunner()
WHEN = datetime(2026, 12, 6, 13, 26, 37)
RAW = "data18_13TeV:data18_13TeV.00348885.physics_Main.daq.RAW"


def rses():
    return [
        {"rse": "CERN-PROD_DATATAPE", "rse_type": "TAPE"},
        {"rse": "CERN-PROD_DATADISK", "rse_type": "DISK"},
        {"rse": "NDGF-T1_DATATAPE", "rse_type": "RSEType.TAPE"},
    ]


def attributes():
    return {
        "CERN-PROD_DATATAPE": {"CERN-PROD_DATATAPE": True, "tier": "0", "country": "ch",
                               "cloud": "CERN", "archive": True, "quota": "2", "weight": "0.5",
                               "site": "CERN-PROD", "space_token": "ATLASDATATAPE"},
        "CERN-PROD_DATADISK": {"CERN-PROD_DATADISK": True, "tier": "0", "country": "ch",
                               "site": "CERN-PROD", "archive": "False"},
        "NDGF-T1_DATATAPE": {"NDGF-T1_DATATAPE": True, "country": "se", "name": "sneaky"},
    }  # fmt: skip


def meta(**changes):
    base = {"scope": "data18_13TeV", "name": RAW.split(":")[1], "datatype": "RAW",
            "bytes": 2000, "length": 2, "events": None, "created_at": WHEN, "is_open": False,
            "expired_at": None, "project": "data18_13TeV", "run_number": 348885,
            "stream_name": "physics_Main", "prod_step": None, "account": "root",
            "did_type": "DATASET", "availability": "AVAILABLE", "md5": None}  # fmt: skip
    return {**base, **changes}


@pytest.mark.parametrize(
    ("value", "typed"),
    [("2", 2), ("-3", -3), ("0.5", 0.5), ("true", True), ("False", False), (True, True),
     ("007", "007"), ("ATLASDATATAPE", "ATLASDATATAPE"), ("1e3", "1e3"), (None, None)],
)  # fmt: skip
def test_attribute_values_get_their_types_back(value, typed):
    assert mapping.attribute_value(value) == typed
    assert type(mapping.attribute_value(value)) is type(typed)


def test_rses_become_endpoints_and_sites_with_typed_attributes():
    sites, endpoints = mapping.site_rows(rses(), attributes(), Mapping())
    assert [e["name"] for e in endpoints] == sorted(r["rse"] for r in rses())
    tape = next(e for e in endpoints if e["name"] == "CERN-PROD_DATATAPE")
    assert tape["media"] == "tape"
    assert tape["site"] == "CERN-PROD"
    assert tape["quota"] == 2
    assert tape["weight"] == 0.5
    assert tape["archive"] is True
    assert "CERN-PROD_DATATAPE" not in tape  # the attribute named after the RSE itself
    disk = next(e for e in endpoints if e["name"] == "CERN-PROD_DATADISK")
    assert disk["media"] == "disk"
    assert disk["archive"] is False
    ndgf = next(e for e in endpoints if e["name"] == "NDGF-T1_DATATAPE")
    assert ndgf["media"] == "tape"
    assert ndgf["site"] == "NDGF-T1"  # no site attribute: the name before its first _
    assert ndgf["name"] == "NDGF-T1_DATATAPE"  # not the attribute "name"
    assert sites == [
        {"name": "CERN-PROD", "tier": 0, "country": "ch", "cloud": "CERN", "status": "active"},
        {"name": "NDGF-T1", "tier": 3, "country": "se", "cloud": None, "status": "active"},
    ]


def test_the_attribute_names_are_configurable():
    attrs = {"X_DATADISK": {"atlas_site": "X-SITE", "t": "1", "land": "fr", "region": "FR"}}
    config = Mapping(site_attribute="atlas_site", tier_attribute="t",
                     country_attribute="land", cloud_attribute="region")  # fmt: skip
    sites, endpoints = mapping.site_rows([{"rse": "X_DATADISK", "rse_type": "DISK"}], attrs, config)
    assert sites == [{"name": "X-SITE", "tier": 1, "country": "fr", "cloud": "FR",
                      "status": "active"}]  # fmt: skip
    assert endpoints[0]["site"] == "X-SITE"


def test_a_dataset_keeps_its_fields_and_metadata():
    row = mapping.dataset_row(meta(), KindRules())
    assert row["did"] == RAW
    assert row["kind"] == "raw"
    assert row["data_type"] == "RAW"
    assert (row["bytes"], row["files"], row["events"]) == (2000, 2, None)
    assert row["created_at"] == WHEN.replace(tzinfo=UTC)
    assert row["state"] == "closed"
    assert row["stream"] == "physics_Main"
    assert row["run_number"] == 348885
    assert row["project"] == "data18_13TeV"
    for bookkeeping in ("account", "did_type", "availability", "md5", "prod_step"):
        assert bookkeeping not in row
    assert mapping.dataset_row(meta(is_open=True), KindRules())["state"] == "open"


@pytest.mark.parametrize(
    ("scope", "datatype", "rules", "kind"),
    [
        ("data18_13TeV", "RAW", [], "raw"),
        ("data18_13TeV", "DAOD_PHYSLITE", [], "derived"),
        ("mc20_13TeV", "AOD", [], "simulated"),
        ("data18_calib", None, [], "calibration"),
        ("data18_13TeV", "DRAW_ZMUMU", [], "derived"),
        ("data18_13TeV", "NTUP_*", ["NTUP_*=outreach"], "outreach"),
        ("user.jdoe", None, ["scope:user.*=derived"], "derived"),
        ("data18_13TeV", "RAW", ["RAW=calibration"], "calibration"),
        ("conditions", None, [], "derived"),
    ],
)
def test_the_kind_comes_from_the_rules_then_the_defaults(scope, datatype, rules, kind):
    assert KindRules.parse(rules).kind(scope, datatype) == kind


@pytest.mark.parametrize("text", ["RAW", "=raw", "RAW=rawish", "scope:mc*=nothing"])
def test_a_bad_kind_rule_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--kind"):
        KindRules.parse([text])


@pytest.mark.parametrize(
    ("available", "replicating", "state"),
    [(2, set(), "available"), (1, set(), "unavailable"), (1, {RAW}, "copying"),
     (0, {RAW}, "copying")],
)  # fmt: skip
def test_a_dataset_replica_is_available_only_when_every_file_is(available, replicating, state):
    replica = {"scope": "data18_13TeV", "name": RAW.split(":")[1], "rse": "CERN-PROD_DATATAPE",
               "length": 2, "available_length": available, "created_at": WHEN,
               "accessed_at": None, "state": "AVAILABLE" if available == 2 else "UNAVAILABLE"}  # fmt: skip
    row = mapping.replica_row(replica, replicating)
    assert row["state"] == state
    assert row["endpoint"] == "CERN-PROD_DATATAPE"
    assert row["did"] == RAW


def test_a_rule_keeps_rucio_s_words():
    rule = {"id": "e18fd180b0a549ebb4a2553a7d123eba", "scope": "data18_13TeV",
            "name": RAW.split(":")[1], "rse_expression": "FZK-LCG2_DATATAPE", "copies": 1,
            "state": "REPLICATING", "account": "root", "comments": "lifecycle repair: x",
            "source_replica_expression": "CERN-PROD_DATATAPE", "created_at": WHEN,
            "expires_at": None, "locks_ok_cnt": 0, "locks_replicating_cnt": 2,
            "locks_stuck_cnt": 0}  # fmt: skip
    row = mapping.rule_row(rule)
    assert row["rule_id"] == rule["id"]
    assert row["did"] == RAW
    assert row["state"] == "REPLICATING"
    assert row["created_at"] == "2026-12-06T13:26:37Z"
    assert row["locks_replicating"] == 2
    assert mapping.replicating_dids([row]) == {RAW}


@pytest.mark.parametrize(
    "text",
    ["Sun, 06 Dec 2026 13:26:37 UTC", "2026-12-06T13:26:37", "2026-12-06T13:26:37Z",
     "2026-12-06 14:26:37+01:00"],
)  # fmt: skip
def test_rucio_times_are_read_in_every_form_it_writes(text):
    assert mapping.timestamp(text) == datetime(2026, 12, 6, 13, 26, 37, tzinfo=UTC)


def _snapshot(tmp_path: Path, rules: list[dict]) -> Path:
    sites, endpoints = mapping.site_rows(rses(), attributes(), Mapping())
    replica = {"scope": "data18_13TeV", "name": RAW.split(":")[1], "rse": "CERN-PROD_DATATAPE",
               "length": 2, "available_length": 2, "created_at": WHEN, "accessed_at": None}  # fmt: skip
    tables = {"sites": sites, "endpoints": endpoints,
              "datasets": [mapping.dataset_row(meta(), KindRules())],
              "replicas": [mapping.replica_row(replica)]}  # fmt: skip
    write_snapshot(tmp_path / "snap", tables, rules)
    return tmp_path / "snap"


def test_the_snapshot_imports_and_keeps_the_attribute_types(catalog: Catalog, tmp_path):
    rule = mapping.rule_row({"id": "abc123", "scope": "data18_13TeV", "name": RAW.split(":")[1],
                             "rse_expression": "NDGF-T1_DATATAPE", "copies": 1, "state": "OK",
                             "created_at": WHEN})  # fmt: skip
    directory = _snapshot(tmp_path, [rule])
    assert read_rules(directory) == [rule]
    catalog.import_directory(directory)  # rules.jsonl: not a table, left alone
    found = catalog.endpoints().set_index("name")
    assert found.loc["CERN-PROD_DATATAPE", "site"] == "CERN-PROD"
    with catalog.read() as conn:
        attrs = dict(conn.exec_driver_sql(
            "SELECT a.key, a.value FROM endpoint_attribute a JOIN endpoint e "
            "ON e.id = a.endpoint_id WHERE e.name = 'CERN-PROD_DATATAPE'"
        ).fetchall())  # fmt: skip
    assert attrs["archive"] in ("true", "1", True)
    assert catalog.dataset(RAW).metadata["stream"] == "physics_Main"
    report = catalog.sync(directory, ["replicas:CERN-PROD_DATATAPE"], apply=True)
    assert not report.changed  # the same snapshot again: nothing


def test_rules_are_recorded_changed_and_removed_with_the_journal(catalog: Catalog, tmp_path):
    catalog.import_directory(_snapshot(tmp_path, []))
    rule = {"rule_id": "abc123", "did": RAW, "rse_expression": "NDGF-T1_DATATAPE", "copies": 1,
            "state": "REPLICATING", "created_at": "2026-12-06T13:26:37Z", "locks_replicating": 2}  # fmt: skip
    lost = {**rule, "rule_id": "ffff", "did": "data18_13TeV:nothing.here"}
    now = datetime(2026, 12, 6, 14, tzinfo=UTC)
    with catalog.atomic("rucio sync --apply") as (conn, change):
        first = record_rules(conn, change, [rule, lost], ["data18_13TeV"], now)
    assert (first.added, first.changed, first.removed, first.unknown) == (1, 0, 0, 1)
    with catalog.read() as conn:
        assert covering_rules(conn, [RAW]) == {RAW: "covered by rule abc123 (REPLICATING)"}
    with catalog.atomic("rucio sync --apply") as (conn, change):
        done = record_rules(conn, change, [{**rule, "state": "OK", "locks_replicating": 0,
                                            "locks_ok": 2}], ["data18_13TeV"], now)  # fmt: skip
    assert (done.added, done.changed, done.removed) == (0, 1, 0)
    changes = catalog.journal_changes(int(catalog.journal(limit=1)["id"].iloc[0]))
    state = changes[changes["field"] == "state"]
    assert list(state["old_value"]) == ["REPLICATING"]
    assert list(state["new_value"]) == ["OK"]
    shown = catalog.dataset(RAW).rules
    assert list(shown["state"]) == ["OK"]
    assert catalog.dataset(RAW).to_dict()["replication_rules"][0]["rule_id"] == "abc123"
    with catalog.atomic("rucio sync --apply") as (conn, change):
        gone = record_rules(conn, change, [], ["data18_13TeV"], now)
    assert gone.removed == 1
    assert catalog.dataset(RAW).rules.empty
    with catalog.atomic("rucio sync --apply") as (conn, change):
        assert (
            record_rules(conn, change, [], ["data18_13TeV"], now)
            .line()
            .startswith("replication rules: 0 new rules")
        )


def test_pushed_rules_are_journaled_next_to_their_finding(catalog: Catalog, tmp_path):
    catalog.import_directory(_snapshot(tmp_path, []))
    created = [{"rule_id": "r1", "did": RAW, "rse_expression": "NDGF-T1_DATATAPE", "copies": 1,
                "state": "REPLICATING", "finding": f"{RAW}: raw-archival-copies"}]  # fmt: skip
    with catalog.atomic("rucio push --apply") as (conn, change):
        assert record_pushed(conn, change, created, datetime.now(UTC)) == 1
        change.summary = "pushed"
    journal = catalog.journal(limit=1)
    changes = catalog.journal_changes(int(journal["id"].iloc[0])).set_index("field")
    assert changes.loc["rule_id", "new_value"] == "r1"
    assert changes.loc["finding", "new_value"] == f"{RAW}: raw-archival-copies"
    assert list(catalog.journal(did=RAW)["id"])[0] == journal["id"].iloc[0]


def test_a_plan_is_read_from_rucio_lines_or_a_saved_repair_plan(tmp_path):
    line = {"did": RAW, "copies": 1, "rse_expression": "A|B", "comment": "lifecycle repair: x",
            "source_replica_expression": "C", "findings": ["raw-archival-copies"]}  # fmt: skip
    lines = tmp_path / "plan.jsonl"
    lines.write_text(json.dumps(line) + "\n\n" + json.dumps({**line, "did": RAW + "2"}) + "\n")
    assert [r["did"] for r in read_plan(str(lines))] == [RAW, RAW + "2"]
    transfer = {"did": RAW, "target": "A", "source": "C", "reason": "why", "rules": "r1,r2"}
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps({"kind": "repair", "transfers": [transfer, {**transfer,
                                                                           "target": "B"}]}))  # fmt: skip
    [rule] = read_plan(str(saved))
    assert (rule["copies"], rule["rse_expression"], rule["findings"]) == (2, "A|B", ["r1", "r2"])
    assert read_plan(str(tmp_path / "plan.jsonl")) != []
    empty = tmp_path / "empty"
    empty.write_text("")
    assert read_plan(str(empty)) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "plan.txt:1: not a rule"), ('{"did": "x:y", "copies": 1}', "rse_expression"),
     ('{"did": "noscope", "copies": 1, "rse_expression": "A"}', "is not scope:name"),
     ('{"did": "x:y", "copies": 0, "rse_expression": "A"}', "copies"),
     ('{"did": "x:y", "copies": true, "rse_expression": "A"}', "copies"), ("[1]", "JSON object")],
)  # fmt: skip
def test_a_bad_plan_names_file_line_and_field(tmp_path, text, message):
    path = tmp_path / "plan.txt"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_plan(str(path))


def test_the_settings_never_show_the_password():
    settings = RucioSettings("http://127.0.0.1:9", "root", "userpass", "ddmlab", "s3cret")
    assert "s3cret" not in repr(settings)
    with pytest.raises(RucioUnavailable) as caught, rucio_errors(settings):
        raise RuntimeError("Details: the server said s3cret was wrong")
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_without_rucio_clients_the_command_says_how_to_get_it(monkeypatch, tmp_path):
    real = builtins.__import__

    def no_rucio(name, *args, **kwargs):
        if name == "rucio.client" or name.startswith("rucio.client"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rucio)
    with (
        pytest.raises(RucioUnavailable, match=r"pip install 'lifecycle\[rucio\]'"),
        connect(RucioSettings("http://127.0.0.1:9")),
    ):
        pass
    result = runner.invoke(app, ["rucio", "pull", "-o", str(tmp_path / "s"), "--url", "http://x"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "lifecycle: error: the Rucio bridge needs rucio-clients: pip install 'lifecycle[rucio]'"
    )


def test_pull_refuses_a_directory_holding_other_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "pins.csv").write_text("did\n")
    result = runner.invoke(app, ["rucio", "pull", "-o", str(tmp_path / "d"), "--url", "http://x"])
    assert result.exit_code == 2
    assert "holds other files (pins.csv)" in result.stderr


def test_auto_trusts_the_summary_only_where_it_shows_a_dataset_complete():
    from lifecycle.rucio.pull import _summarized

    def dataset(did, files=2, state="closed"):
        return {"did": did, "files": files, "state": state}

    def summary(did, rse, length=2, available=2, state="AVAILABLE"):
        scope, name = did.split(":")
        return {"scope": scope, "name": name, "rse": rse, "length": length,
                "available_length": available, "state": state}  # fmt: skip

    datasets = [dataset("s:complete"), dataset("s:partial"), dataset("s:missing"),
                dataset("s:grown", files=3), dataset("s:open", state="open")]  # fmt: skip
    rows = [summary("s:complete", "A"), summary("s:complete", "B"),
            summary("s:partial", "A"), summary("s:partial", "B", available=1,
                                                state="UNAVAILABLE"),
            summary("s:grown", "A"), summary("s:open", "A")]  # fmt: skip
    kept, recheck = _summarized(rows, datasets)
    assert [(r["name"], r["rse"]) for r in kept] == [
        ("complete", "A"), ("complete", "B"), ("open", "A")
    ]  # fmt: skip
    assert sorted(d["name"] for d in recheck) == ["grown", "missing", "partial"]


def test_an_open_dataset_takes_its_size_from_its_replicas():
    from lifecycle.rucio.pull import _open_sizes

    datasets = [{"did": "s:open", "state": "open", "files": 0, "bytes": 0},
                {"did": "s:closed", "state": "closed", "files": 2, "bytes": 20}]  # fmt: skip
    replicas = [{"scope": "s", "name": "open", "length": 3, "bytes": 30},
                {"scope": "s", "name": "open", "length": 5, "bytes": 50},
                {"scope": "s", "name": "closed", "length": 9, "bytes": 90}]  # fmt: skip
    _open_sizes(datasets, replicas)
    assert [(d["files"], d["bytes"]) for d in datasets] == [(5, 50), (2, 20)]


def test_an_empty_pull_still_imports(catalog: Catalog, tmp_path):
    write_snapshot(tmp_path / "empty", {t: [] for t in ("sites", "endpoints", "datasets",
                                                       "replicas")}, [])  # fmt: skip
    assert not catalog.import_directory(tmp_path / "empty").changed
