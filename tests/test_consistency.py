"""Storage consistency (``lifecycle consistency ENDPOINT DUMP``) and dark data in quarantine
(``lifecycle dark list``), on both databases.

The catalog: one site with a disk and a tape endpoint and 40 derived datasets (no producer:
not reproducible), each with a disk replica made long before the dumps; the first five also on
tape. Times around the dump are set by freezing the clock (``lifecycle.catalog.store.clock``),
so the journal records changes before, inside and after the dump window.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from catalogs import write_catalog
from conftest import snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import ImportRowError, UsageError
from lifecycle.exchange.dump import write_dump

runner = CliRunner()
DISK, TAPE = "SITE_DATADISK", "SITE_DATATAPE"
T = datetime(2026, 1, 20, tzinfo=UTC)  # the dump's time
NOW = T + timedelta(days=30)
N = 40
FILES, BYTES = 10, 1000


def did(i: int) -> str:
    return f"mc20_13TeV:mc20_13TeV.{i:06d}.deriv.DAOD_PHYS.p{i}"


def stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def tables(created: dict[int, datetime] | None = None) -> dict[str, list[dict[str, str]]]:
    created = created or {}
    old = datetime(2025, 1, 1, tzinfo=UTC)
    datasets = [
        {"did": did(i), "kind": "derived", "bytes": str(BYTES), "files": str(FILES),
         "created_at": stamp(old)}
        for i in range(N + 5)
    ]  # fmt: skip
    replicas = [
        {"did": did(i), "endpoint": DISK, "created_at": stamp(created.get(i, old))}
        for i in range(N)
    ] + [{"did": did(i), "endpoint": TAPE, "created_at": stamp(old)} for i in range(5)]
    # datasets N .. N+4 have a tape replica only: unknown to the disk endpoint
    replicas += [
        {"did": did(i), "endpoint": TAPE, "created_at": stamp(old)} for i in range(N, N + 5)
    ]
    return {
        "sites": [{"name": "SITE", "tier": "1", "country": "xx"}],
        "endpoints": [
            {"name": DISK, "site": "SITE", "media": "disk"},
            {"name": TAPE, "site": "SITE", "media": "tape"},
        ],
        "datasets": datasets,
        "replicas": replicas,
    }


@pytest.fixture
def clock(monkeypatch):
    """Set the present: ``clock(when)``; NOW until set."""
    now = {"at": NOW}
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: now["at"])
    return lambda when: now.__setitem__("at", when)


@pytest.fixture
def cat(catalog, tmp_path, clock) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "grid", tables()))
    return catalog


def dump(path: Path, entries: list[tuple[str, int, int]]) -> Path:
    """A CSV dump with rows (did, files, bytes)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["did", "files", "bytes"])
        writer.writerows(entries)
    return path


def full(skip: set[int] = frozenset(), n: int = N) -> list[tuple[str, int, int]]:
    """Every disk replica's dataset, whole, but those in ``skip``."""
    return [(did(i), FILES, BYTES) for i in range(n) if i not in skip]


def invoke(url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


def test_lost_and_dark_basics(cat, tmp_path):
    entries = full({21, 22, 23}) + [(did(22), FILES - 1, BYTES), (did(23), FILES, BYTES - 1)]
    entries += [("user.someone:dark.file", 3, 300), (did(N), FILES, BYTES)]
    path = dump(tmp_path / f"{DISK}_2026-01-20.csv", entries)
    before = snapshot(cat)
    report = cat.consistency(DISK, path)
    assert snapshot(cat) == before  # a preview changes nothing
    assert report.dump_time == T
    assert report.time_source == "file name"
    assert report.checked == N
    assert report.lost[["did", "problem"]].values.tolist() == [
        [did(21), "missing"],
        [did(22), "fewer files"],
        [did(23), "fewer bytes"],
    ]
    assert report.lost["dump_files"].isna().tolist() == [True, False, False]
    assert sorted(report.dark["did"]) == sorted([did(N), "user.someone:dark.file"])
    known = dict(zip(report.dark["did"], report.dark["known"], strict=True))
    assert known == {did(N): True, "user.someone:dark.file": False}
    assert set(report.dark["quarantine"]) == {"new"}
    assert report.inconsistent
    # the loss means: they have no other copy and cannot be regenerated
    assert sorted(x["did"] for x in report.loss.lost) == [did(21), did(22), did(23)]


def test_a_consistent_dump_finds_nothing(cat, tmp_path):
    report = cat.consistency(DISK, dump(tmp_path / "d_20260120.csv", full()))
    assert not report.inconsistent
    assert report.loss is None
    result = invoke(cat.url, "consistency", DISK, str(tmp_path / "d_20260120.csv"))
    assert result.exit_code == 0, result.output
    assert "0 lost replicas" in result.stdout


def test_replicas_created_and_deleted_inside_the_window(catalog, tmp_path, clock):
    day, hour = timedelta(days=1), timedelta(hours=1)
    created = {5: T - 12 * hour, 10: T + 6 * hour, 11: T + 3 * day}
    cat = catalog
    clock(datetime(2025, 6, 1, tzinfo=UTC))
    cat.import_directory(write_catalog(tmp_path / "grid", tables(created)))

    def at(when, action, i, **kw):
        clock(when)
        if action == "delete":
            cat.delete_replica(did(i), DISK, "test", None, force=True, apply=True)
        else:
            cat.mark_lost(did(i), DISK, "test", apply=True)

    at(T - 10 * day, "delete", 8)  # deleted long before: in the dump, it is dark
    at(T - 6 * hour, "lost", 7)  # lost inside the window, still in the dump: neither
    at(T + 6 * hour, "delete", 6)  # deleted inside the window, missing: neither
    at(T + 3 * day, "delete", 9)  # deleted after the window, missing: nothing to do now
    at(T + 4 * day, "lost", 12)  # lost after the window and missing: already recorded
    clock(NOW)
    # missing: 5 (created inside), 6 (deleted inside), 9, 12 (changed since), 13 (truly lost)
    entries = full({5, 6, 9, 12, 13, 11}) + [(did(11), FILES, BYTES)]
    report = cat.consistency(DISK, dump(tmp_path / "d_2026-01-20.csv", entries), max_change=50)
    assert report.lost["did"].tolist() == [did(13)]
    # 8 deleted long before is dark; 7 (lost inside), 10 (created inside), 11 (created after,
    # known now) are not
    assert report.dark["did"].tolist() == [did(8)]
    assert report.dark["replica_state"].tolist() == ["deleted"]
    # created inside: 5, 10; state changed inside: 6, 7
    assert report.changed_in_window == 4
    # the window is what the dump's time and --window say
    assert (report.window_from, report.window_to) == (T - day, T + day)
    wide = cat.consistency(DISK, dump(tmp_path / "d_2026-01-20.csv", entries), window_days=5)
    assert wide.lost["did"].tolist() == [did(13)]  # 9 and 12 changed inside the wider window
    assert wide.window_to == T + 5 * day


def test_safety_limit_refuses_and_force_overrides(cat, tmp_path):
    path = dump(tmp_path / "d_2026-01-20.csv", full(set(range(5, 10))))  # 5 of 40: 12.5 %
    before = snapshot(cat)
    with pytest.raises(UsageError, match=rf"{DISK}: 5 of 40 replicas checked \(12.5 %\)"):
        cat.consistency(DISK, path, apply=True)
    assert snapshot(cat) == before
    result = invoke(cat.url, "consistency", DISK, str(path))
    assert result.exit_code == 2
    assert "over the --max-change limit of 10 %" in result.stderr
    assert cat.consistency(DISK, path, max_change=15).lost.shape[0] == 5
    forced = cat.consistency(DISK, path, force=True, apply=True)
    assert forced.forced
    assert forced.applied
    entry = cat.journal(1).iloc[0]
    assert entry["command"] == "consistency --apply --force"
    assert "forced past the --max-change limit of 10 %" in entry["summary"]


def test_apply_marks_lost_replicas_and_journals_them(cat, tmp_path):
    # 0 has a tape copy (kept), 20 has none (lost for good)
    path = dump(tmp_path / "d_2026-01-20.csv", full({0, 20}) + [("x:dark", 1, 1)])
    report = cat.consistency(DISK, path, apply=True, reason="site dump")
    assert report.applied
    assert report.loses_data
    assert [x["did"] for x in report.loss.lost] == [did(20)]
    states = {r["did"]: r["state"] for r in cat.datasets().to_dict("records")}
    assert states[did(20)] == "lost"
    assert states[did(0)] == "closed"
    replicas = cat.replicas(did(0)).set_index("endpoint")["state"].to_dict()
    assert replicas == {DISK: "lost", TAPE: "available"}
    entry = cat.journal(1).iloc[0]
    assert entry["reason"] == "site dump"
    assert "marked 2 replicas lost (1 dataset lost for good)" in entry["summary"]
    changes = cat.journal_changes(int(entry["id"]))
    changes = changes.astype(object).where(changes.notna(), None)
    found = sorted(zip(changes["entity"], changes["field"], changes["old_value"],
                       changes["new_value"], strict=True), key=str)  # fmt: skip
    assert found == sorted(
        [("replica", "state", "available", "lost")] * 2
        + [("dataset", "state", "closed", "lost"), ("dark_data", "status", None, "quarantined")],
        key=str,
    )
    assert len(cat.journal(did=did(20))) == 1  # the datasets are linked to the entry
    # the same dump again: the lost replicas are recorded already, the dark entry stays
    again = cat.consistency(DISK, path)
    assert len(again.lost) == 0
    assert again.dark["quarantine"].tolist() == ["quarantined"]
    result = invoke(cat.url, "consistency", DISK, str(path), "--format", "json")
    assert result.exit_code == 1  # dark data is still found
    document = json.loads(result.stdout)
    assert document["kind"] == "consistency"
    assert document["summary"]["dark"] == 1


def test_lost_for_good_exits_1_through_the_cli(cat, tmp_path):
    path = dump(tmp_path / "d_2026-01-20.csv", full({20}))
    result = invoke(cat.url, "consistency", DISK, str(path), "--apply")
    assert result.exit_code == 1, result.output
    assert f"{did(20)} is lost for good" in result.stdout
    assert cat.replicas(did(20))["state"].tolist() == ["lost"]


def test_dark_data_is_confirmed_by_a_dump_at_least_confirm_after_later(cat, tmp_path, clock):
    x, y = "scope:dark.x", "scope:dark.y"

    def check(days: int, entries):
        path = dump(tmp_path / f"d_{(T + timedelta(days=days)).date()}.csv", full() + entries)
        return cat.consistency(DISK, path, apply=True)

    first = check(0, [(x, 1, 10), (y, 1, 20)])
    assert first.recorded == {"new": 2, "confirmed": 0, "kept": 0, "released": 0}
    close = check(3, [(x, 1, 10), (y, 1, 20)])  # too close: still quarantined
    assert close.recorded == {"new": 0, "confirmed": 0, "kept": 2, "released": 0}
    listed = cat.dark_data()
    assert listed["status"].tolist() == ["quarantined", "quarantined"]
    assert listed["last_seen"].tolist() == [T + timedelta(days=3)] * 2
    late = check(8, [(x, 2, 15)])  # x confirmed (8 days after its first dump); y gone
    assert late.recorded == {"new": 0, "confirmed": 1, "kept": 0, "released": 1}
    listed = cat.dark_data()
    row = listed.to_dict("records")
    assert [(r["did"], r["status"], r["files"], r["bytes"]) for r in row] == [
        (x, "confirmed", 2, 15)
    ]
    assert row[0]["first_seen"] == T
    assert row[0]["confirmed_at"] == T + timedelta(days=8)
    assert cat.dark_data(status="quarantined").empty
    assert len(cat.dark_data(endpoint=DISK, status="confirmed")) == 1
    # an older dump than one recorded is refused; the catalog knowing it releases it
    with pytest.raises(UsageError, match="record dumps oldest first"):
        check(5, [(x, 2, 15)])
    result = invoke(cat.url, "dark", "list", "--format", "json")
    document = json.loads(result.stdout)
    assert document["kind"] == "dark"
    assert document["dark"][0]["status"] == "confirmed"


def test_an_entry_the_catalog_now_knows_leaves_quarantine(cat, tmp_path, clock):
    path = dump(tmp_path / "d_2026-01-20.csv", full() + [(did(N + 1), FILES, BYTES)])
    cat.consistency(DISK, path, apply=True)
    assert cat.dark_data()["did"].tolist() == [did(N + 1)]
    tables_ = tables()
    tables_["replicas"].append({"did": did(N + 1), "endpoint": DISK, "created_at": stamp(NOW)})
    cat.import_directory(write_catalog(tmp_path / "again", tables_))
    later = dump(tmp_path / "d_2026-01-27.csv", full() + [(did(N + 1), FILES, BYTES)])
    report = cat.consistency(DISK, later, apply=True)
    assert report.dark.empty
    assert report.recorded["released"] == 1
    assert cat.dark_data().empty


def test_dump_time_from_option_metadata_and_name(cat, tmp_path):
    import pandas as pd

    rows = pd.DataFrame(full(), columns=["did", "files", "bytes"])
    parquet = tmp_path / "dump.parquet"
    write_dump(parquet, rows, T + timedelta(hours=5))
    report = cat.consistency(DISK, parquet)
    assert (report.dump_time, report.time_source) == (T + timedelta(hours=5), "metadata")
    given = cat.consistency(DISK, parquet, dump_time=T)
    assert (given.dump_time, given.time_source) == (T, "given")
    plain = dump(tmp_path / "dump.csv", full())
    result = invoke(cat.url, "consistency", DISK, str(plain))
    assert result.exit_code == 2
    assert "give --dump-time" in result.stderr
    result = invoke(cat.url, "consistency", DISK, str(plain), "--dump-time", "2027-01-01")
    assert result.exit_code == 2
    assert "is in the future" in result.stderr
    result = invoke(cat.url, "consistency", "NOWHERE", str(plain), "--dump-time", "2026-01-01")
    assert result.exit_code == 2
    assert "unknown endpoint 'NOWHERE'" in result.stderr


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("did,files,bytes\nx:a,1,1\nx:b,one,1\n", "d_20260120.csv:3: files: expected an integer"),
        ("did,files,bytes\nx:a,1,-5\n", "d_20260120.csv:2: bytes: must not be negative"),
        ("did,files\nx:a,1\n", "d_20260120.csv:header: bytes: required column is missing"),
        ("did,files,bytes\nx:a,1,1\nx:a,2,1\n", "d_20260120.csv:3: files: duplicate key"),
        ("did,files,bytes\n,1,1\n", "d_20260120.csv:2: did: missing value"),
    ],
)
def test_bad_dump_rows_exit_2_naming_file_row_and_column(cat, tmp_path, content, where):
    path = tmp_path / "d_20260120.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportRowError):
        cat.consistency(DISK, path)
    result = invoke(cat.url, "consistency", DISK, str(path))
    assert result.exit_code == 2
    assert where in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_hostile_names_are_shown_literally(catalog, tmp_path, clock):
    """Endpoint and dump file names are catalog or user text: shown literally (DIDs cannot
    hold markup: the reader refuses them)."""
    evil = "[bold red]EVIL[/bold red]_$(rm -rf x)"
    grid = tables()
    grid["endpoints"][0]["name"] = evil
    for row in grid["replicas"]:
        row["endpoint"] = evil if row["endpoint"] == DISK else row["endpoint"]
    catalog.import_directory(write_catalog(tmp_path / "grid", grid))
    path = dump(tmp_path / "[red]d_2026-01-20.csv", full() + [("x:dark", 1, 1)])
    result = invoke(catalog.url, "consistency", evil, str(path), "--apply", "--wide")
    assert result.exit_code == 1, result.output
    assert f"{evil}: dump [red]d_2026-01-20.csv of" in result.stdout
    listed = invoke(catalog.url, "dark", "list", "--wide")
    assert evil in listed.stdout
    document = json.loads(invoke(catalog.url, "dark", "list", "--format", "json").stdout)
    assert document["dark"][0]["endpoint"] == evil


def test_generated_dumps_round_trip(catalog, tmp_path, clock):
    """``generate --dumps``: the check finds exactly the planted lost and dark entries."""
    grid, dumps = tmp_path / "gen", tmp_path / "dumps"
    chosen = "CERN-PROD_DATADISK|CERN-PROD_DATATAPE|BNL-OSG2_DATADISK|site=AGLT2"
    result = runner.invoke(
        app, ["generate", str(grid), "-n", "2000", "--seed", "5", "--dumps", str(dumps),
              "--dump-endpoints", chosen],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    planted = json.loads((dumps / "planted.json").read_text())
    assert sorted(planted["endpoints"]) == [
        "AGLT2_DATADISK", "AGLT2_SCRATCHDISK", "BNL-OSG2_DATADISK", "CERN-PROD_DATADISK",
        "CERN-PROD_DATATAPE",
    ]  # fmt: skip
    assert sum(len(p["lost"]) for p in planted["endpoints"].values()) >= 4
    catalog.import_directory(grid)
    for endpoint, plants in planted["endpoints"].items():
        path = dumps / f"{endpoint}_2025-12-31.parquet"
        report = catalog.consistency(endpoint, path)
        assert report.time_source == "metadata"
        lost = sorted(zip(report.lost["did"], report.lost["problem"], strict=True))
        assert lost == sorted((p["did"], p["problem"]) for p in plants["lost"]), endpoint
        assert sorted(report.dark["did"]) == plants["dark"], endpoint
    again = runner.invoke(
        app, ["generate", str(tmp_path / "gen2"), "-n", "2000", "--seed", "5", "--dumps",
              str(tmp_path / "dumps2"), "--dump-endpoints", chosen],
    )  # fmt: skip
    assert again.exit_code == 0
    assert json.loads((tmp_path / "dumps2" / "planted.json").read_text()) == planted


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--window", "0", "--window: must be more than 0 days"),
        ("--max-change", "101", "--max-change: a percentage from 0 to 100"),
        ("--confirm-after", "-1", "--confirm-after: must be 0 days or more"),
        ("--dump-time", "yesterday", "--dump-time: 'yesterday' is not an ISO 8601 timestamp"),
    ],
)
def test_bad_options_exit_2(cat, tmp_path, option, value, message):
    path = dump(tmp_path / "d_2026-01-20.csv", full())
    before = snapshot(cat)
    result = invoke(cat.url, "consistency", DISK, str(path), option, value, "--apply")
    assert result.exit_code == 2
    assert message in result.stderr
    assert snapshot(cat) == before
