"""Hostile import and export (issue 10, items 9-14): refusals name file, row and column in one
line and change nothing; what import accepts survives export -> import -> export byte for byte."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from catalogs import mini, write_catalog

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog
from lifecycle.text import INDEXED_TEXT_BYTES

LEAKS = ("np.", "Timestamp(", "numpy")
BIG = 2**63 - 1


def _no_leaks(result) -> None:
    for leak in LEAKS:
        assert leak not in result.stderr, result.stderr


@pytest.fixture
def loaded(catalog_url, tmp_path) -> str:
    """A catalog holding the mini catalog."""
    directory = write_catalog(tmp_path / "loaded", mini())
    assert invoke(catalog_url, "import", str(directory)).exit_code == 0
    return catalog_url


def _add_row(table: str, **values: str):
    def mutate(tables: dict) -> None:
        tables[table].append({**tables[table][0], **values})

    return mutate


def _parquet(table: str, arrow: pa.Table):
    def make(directory: Path) -> None:
        (directory / f"{table}.csv").unlink()
        pq.write_table(arrow, directory / f"{table}.parquet")

    return make


def _dataset(**values) -> dict:
    row = {"did": ["x:x.new"], "kind": ["derived"], "bytes": [1], "files": [1],
           "created_at": pa.array([0], pa.timestamp("us", tz="UTC"))}  # fmt: skip
    row.update(values)
    return row


CSV_CASES = {
    "full-width digit": (_add_row("sites", name="X", tier="\uff11"), "sites.csv:4", "tier"),
    "arabic-indic digit": (_add_row("datasets", did="x:x.a", bytes="\u0661\u0662"),
                           "datasets.csv:6", "bytes"),  # fmt: skip
    "full-width float": (_add_row("transformations", tag="t9", output_ratio="\uff10.5"),
                         "transformations.csv:4", "output_ratio"),  # fmt: skip
    "year 0": (_add_row("datasets", did="x:x.b", created_at="0000-01-01T00:00:00Z"),
               "datasets.csv:6", "created_at"),  # fmt: skip
    "year 10000 once in UTC": (_add_row("pins", reason="r2", until="9999-12-31T23:30:00-01:00"),
                               "pins.csv:3", "until"),  # fmt: skip
    "nanoseconds": (_add_row("pins", reason="r3", until="2020-01-01T00:00:00.123456789Z"),
                    "pins.csv:3", "sub-microsecond"),  # fmt: skip
    "2**63": (_add_row("datasets", did="x:x.c", bytes=str(2**63)), "datasets.csv:6", "bytes"),
    "pin reason over the index limit": (
        _add_row("pins", reason="é" * (INDEXED_TEXT_BYTES // 2 + 1)), "pins.csv:3", "reason"),
    "data type over the index limit": (
        _add_row("datasets", did="x:x.d", data_type="D" * (INDEXED_TEXT_BYTES + 1)),
        "datasets.csv:6", "data_type"),
    "metadata key over the index limit": (
        _add_row("datasets", **{"k" * (INDEXED_TEXT_BYTES + 1): "v"}), "datasets.csv:header",
        f"{INDEXED_TEXT_BYTES:,}"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_csv_cells_are_refused(loaded, unchanged, tmp_path, case):
    mutate, where, what = CSV_CASES[case]
    tables = mini()
    mutate(tables)
    directory = write_catalog(tmp_path / "bad", tables)
    check = unchanged(loaded)
    result = invoke(loaded, "import", str(directory))
    assert_refused(result, 2, where, what)
    _no_leaks(result)
    check()


def test_the_index_limit_is_named(loaded, tmp_path):
    tables = mini()
    _add_row("pins", reason="x" * (INDEXED_TEXT_BYTES + 1))(tables)
    result = invoke(loaded, "import", str(write_catalog(tmp_path / "bad", tables)))
    assert_refused(result, 2, "pins.csv:3: reason:", f"at most {INDEXED_TEXT_BYTES:,} bytes")


PARQUET_CASES = {
    "list column": (_parquet("datasets", pa.table(_dataset(tags=pa.array([[1, 2]])))),
                    "datasets.parquet:header", "tags"),  # fmt: skip
    "struct column": (_parquet("datasets", pa.table(_dataset(kind=[{"a": "raw"}]))),
                      "datasets.parquet:header", "kind"),  # fmt: skip
    "binary extra, not UTF-8": (
        _parquet("datasets", pa.table(_dataset(blob=pa.array([b"\xff\xfe"], pa.binary())))),
        "datasets.parquet:header", "blob"),
    "duplicate column names": (
        _parquet("sites", pa.Table.from_arrays(
            [pa.array(["X"]), pa.array([1]), pa.array(["ch"]), pa.array(["de"])],
            names=["name", "tier", "country", "country"])),
        "sites.parquet:header", "country"),
    "timestamp[ns] with nanoseconds": (
        _parquet("datasets", pa.table(_dataset(
            created_at=pa.array([1_577_836_800_123_456_789], pa.timestamp("ns", tz="UTC"))))),
        "datasets.parquet:1", "created_at"),
    "timestamp in a DID column": (
        _parquet("datasets", pa.table(_dataset(
            did=pa.array([1_577_836_800_000_000], pa.timestamp("us", tz="UTC"))))),
        "datasets.parquet:1", "did"),
    "2**63 as uint64": (
        _parquet("datasets", pa.table(_dataset(bytes=pa.array([2**63], pa.uint64())))),
        "datasets.parquet:1", "bytes"),
    "year 0 via a string column": (
        _parquet("datasets", pa.table(_dataset(created_at=["0000-06-01"]))),
        "datasets.parquet:1", "created_at"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PARQUET_CASES))
def test_bad_parquet_files_are_refused(loaded, unchanged, tmp_path, case):
    make, where, what = PARQUET_CASES[case]
    directory = write_catalog(tmp_path / "bad", mini())
    make(directory)
    check = unchanged(loaded)
    result = invoke(loaded, "import", str(directory))
    assert_refused(result, 2, where, what)
    _no_leaks(result)
    check()


def _upper(d: Path) -> None:
    (d / "pins.csv").rename(d / "pins.CSV")


def _directory(d: Path) -> None:
    (d / "pins.csv").unlink()
    (d / "pins.csv").mkdir()


def _dangling(d: Path) -> None:
    (d / "pins.csv").unlink()
    (d / "pins.csv").symlink_to(d / "nowhere.csv")


def _fifo(d: Path) -> None:
    (d / "pins.csv").unlink()
    os.mkfifo(d / "pins.csv")


@pytest.mark.parametrize("make", [_upper, _directory, _dangling, _fifo])
def test_files_named_like_tables_are_tables(loaded, unchanged, tmp_path, make):
    directory = write_catalog(tmp_path / "odd", mini())
    make(directory)
    check = unchanged(loaded)
    result = invoke(loaded, "import", str(directory))
    name = "pins.CSV" if make is _upper else "pins.csv"
    assert_refused(result, 2, f"{directory / name}:")
    check()


def test_a_failed_import_leaves_no_new_catalog_file(tmp_path):
    tables = mini()
    _add_row("sites", name="X", tier="\uff11")(tables)
    directory = write_catalog(tmp_path / "bad", tables)
    path = tmp_path / "new.db"
    assert_refused(invoke(str(path), "import", str(directory)), 2, "sites.csv:4: tier")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]
    good = write_catalog(tmp_path / "good", mini())
    assert invoke(str(path), "import", str(good)).exit_code == 0
    assert path.exists()


def test_a_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    directory = write_catalog(tmp_path / "good", mini())
    assert_refused(invoke(str(path), "import", str(directory)), 2, "not a lifecycle catalog")
    assert_refused(invoke(str(path), "init"), 2, "not a lifecycle catalog")
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
    assert names == ["people"]


def _export(url: str, directory: Path, *args: str) -> dict[str, bytes]:
    result = invoke(url, "export", str(directory), *args)
    assert result.exit_code == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _round_trip(url: str, new_catalog_url, tmp_path: Path, fmt: str) -> dict[str, bytes]:
    """Export, import into a new catalog, export again: the two exports are identical."""
    first = _export(url, tmp_path / f"first-{fmt}", "--format", fmt)
    other = new_catalog_url()
    imported = invoke(other, "import", str(tmp_path / f"first-{fmt}"))
    assert imported.exit_code == 0, imported.stderr
    assert _export(other, tmp_path / f"second-{fmt}", "--format", fmt) == first
    return first


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_cells_and_largest_integers_round_trip(catalog_url, new_catalog_url, tmp_path, fmt):
    tables = mini()
    command = "athena.py " + "--option=value " * 200_000  # 3 MB, past Arrow's 1 MB CSV block
    tables["transformations"][0]["command"] = command
    tables["datasets"][0]["bytes"] = str(BIG)
    tables["datasets"][0]["events"] = str(BIG)
    tables["endpoints"][0]["capacity_bytes"] = str(BIG)
    result = invoke(catalog_url, "import", str(write_catalog(tmp_path / "big", tables)))
    assert result.exit_code == 0, result.stderr
    first = _round_trip(catalog_url, new_catalog_url, tmp_path, fmt)
    if fmt == "csv":
        assert command.encode() in first["transformations.csv"]
        assert str(BIG).encode() in first["datasets.csv"]
    else:
        table = pq.read_table(tmp_path / "first-parquet" / "datasets.parquet")
        assert BIG in table.column("bytes").to_pylist()
        commands = pq.read_table(tmp_path / "first-parquet" / "transformations.parquet")
        assert command in commands.column("command").to_pylist()


_PLAN_POLICY = """
[policy]
name = "plans"

[[rule]]
name = "analysis-two-disk-sites"
type = "replication"
select = { kind = ["derived"], data_type = ["DAOD_*"] }
copies = 2
endpoints = "media=disk"
distinct = "site"
"""


def test_a_plan_applied_catalog_round_trips(catalog, new_catalog_url, tmp_path):
    """As in test_planning: new software reprocesses the chain's RAW, then the plan is applied."""

    from catalogs import chain

    from lifecycle.policy import Selector, load_policies

    tables = chain()
    tables["endpoints"].append(
        {"name": "BNL-OSG2_DATADISK", "site": "BNL-OSG2", "media": "disk", "capacity_bytes": "",
         "type": "DATADISK", "archival": "false"}
    )  # fmt: skip
    for tag, name in (("r99999", "Reco_tf"), ("p99998", "Deriv_tf")):
        tables["transformations"].append(
            {"tag": tag, "name": name, "release": "Athena,26.0.1",
             "image": "registry.cern.ch/atlas/athena:26.0.1", "image_digest": "sha256:" + "f" * 64,
             "cpu_seconds_per_event": "3.6", "output_ratio": "0.5"}
        )  # fmt: skip
    catalog.import_directory(write_catalog(tmp_path / "chain", tables))
    policy = tmp_path / "plans.toml"
    policy.write_text(_PLAN_POLICY)
    plan = catalog.plan_reprocess(
        Selector(kind=("raw",)), "r99999,p99998:DAOD_PHYSLITE", None, "c", load_policies([policy])
    )
    catalog.apply_plan(plan.id)
    first = _round_trip(catalog.url, new_catalog_url, tmp_path, "csv")
    assert b"r99999_p99998" in first["datasets.csv"]
    _round_trip(catalog.url, new_catalog_url, tmp_path, "parquet")


def test_export_refuses_symlinks_in_the_target(loaded, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "pins.csv").symlink_to(victim)
    assert_refused(invoke(loaded, "export", str(out)), 2, f"{out / 'pins.csv'}", "symbolic link")
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["pins.csv"]


def test_a_failed_export_leaves_the_old_files(loaded, tmp_path, monkeypatch):
    from lifecycle.exchange import exporter

    out = tmp_path / "out"
    before = _export(loaded, out)
    write = exporter._write_csv
    written = []

    def disk_full(table, frame, path, guard=None):
        written.append(table.name)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(table, frame, path, guard)

    monkeypatch.setattr(exporter, "_write_csv", disk_full)
    with pytest.raises(OSError, match="No space"), Catalog(loaded) as cat:
        cat.export_directory(out)
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before  # no staging left


def test_export_names_the_other_format_files_it_replaces(loaded, tmp_path):
    out = tmp_path / "out"
    _export(loaded, out, "--format", "parquet")
    result = invoke(loaded, "export", str(out))
    assert result.exit_code == 0
    assert "sites.parquet" in result.stderr
    assert "pins.parquet" in result.stderr
    assert sorted(p.suffix for p in out.iterdir()) == [".csv"] * 8


def test_excel_safe_guards_formulas_only_when_asked(catalog_url, tmp_path):
    tables = mini()
    tables["pins"][0]["reason"] = '=HYPERLINK("http://x")'
    tables["pins"][0]["actor"] = "@admin"
    tables["datasets"][0]["=cmd"] = "+1"
    invoke(catalog_url, "import", str(write_catalog(tmp_path / "f", tables)))
    plain = _export(catalog_url, tmp_path / "plain")
    assert b'"=HYPERLINK(""http://x"")",2027-01-01T00:00:00Z,@admin' in plain["pins.csv"]
    safe = _export(catalog_url, tmp_path / "safe", "--excel-safe")
    assert b'"\'=HYPERLINK(""http://x"")",2027-01-01T00:00:00Z,\'@admin' in safe["pins.csv"]
    assert b"'=cmd" in safe["datasets.csv"].splitlines()[0]
    assert safe["sites.csv"] == plain["sites.csv"]
    listing = invoke(catalog_url, "pins", "list", "-f", "csv", "--excel-safe")
    assert listing.exit_code == 0, listing.stderr
    assert "'=HYPERLINK" in listing.stdout
    assert "'@admin" in listing.stdout
    assert "'=" not in invoke(catalog_url, "pins", "list", "-f", "csv").stdout
    refused = invoke(catalog_url, "export", str(tmp_path / "pq"), "-f", "parquet", "--excel-safe")
    assert_refused(refused, 2, "--excel-safe")


def test_sums_are_exact_integers(catalog_url, tmp_path):
    tables = mini()
    size = 2**53 + 1  # a float would round it
    for row in tables["datasets"]:
        row["bytes"] = str(size)
    invoke(catalog_url, "import", str(write_catalog(tmp_path / "s", tables)))
    overview = json.loads(invoke(catalog_url, "overview", "-f", "json").stdout)
    by_kind = {r["kind"]: r["bytes"] for r in overview["datasets_by_kind"]}
    assert by_kind["raw"] == size
    assert all(type(v) is int for v in by_kind.values())
    replicas = sum(r["bytes"] for r in overview["replicas_by_state"])
    assert replicas == size * len(tables["replicas"])
