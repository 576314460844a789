"""Edge cases of the exchange format found in review: exact integers, empty cells, reserved
names, unusual Parquet types, CSV line numbers, values the databases refuse."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from catalogs import RAW, mini, write_catalog
from conftest import snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import ImportRowError, UsageError

runner = CliRunner()
BIG = 90000000000000001  # above 2**53: a float would round it
EVENTS = 9007199254740993


def test_large_integers_next_to_nulls_survive_exactly(catalog, tmp_path, new_catalog_url):
    tables = mini()
    tables["endpoints"][0]["capacity_bytes"] = str(BIG)  # another endpoint has an empty capacity
    tables["datasets"][0]["events"] = str(EVENTS)  # the calibration has no events
    directory = write_catalog(tmp_path / "big", tables)
    catalog.import_directory(directory)
    assert not catalog.import_directory(directory).changed
    catalog.export_directory(tmp_path / "out")
    exported = (tmp_path / "out" / "endpoints.csv").read_text()
    assert str(BIG) in exported
    other = Catalog(new_catalog_url())
    other.import_directory(tmp_path / "out")
    assert not other.import_directory(directory).changed  # the same catalog, exactly
    other.close()
    rows = json.loads(
        runner.invoke(app, ["--db", catalog.url, "endpoints", "list", "-f", "json"]).stdout
    )
    assert {r["endpoint"]: r["capacity_bytes"] for r in rows["endpoints"]}[
        "CERN-PROD_DATATAPE"
    ] == BIG
    listed = json.loads(
        runner.invoke(app, ["--db", catalog.url, "datasets", "list", "-f", "json"]).stdout
    )
    events = {r["did"]: r["events"] for r in listed["datasets"]}
    assert events[RAW] == EVENTS
    assert isinstance(events[RAW], int)


def test_quoted_empty_cell_is_null(catalog, tmp_path):
    directory = tmp_path / "q"
    directory.mkdir()
    (directory / "transformations.csv").write_text('tag,name,release,image_digest\nt1,n,"",""\n')
    with pytest.raises(ImportRowError, match=r"transformations.csv:2: release: missing value"):
        catalog.import_directory(directory)
    (directory / "transformations.csv").write_text('tag,name,release,image_digest\nt1,n,A,""\n')
    catalog.import_directory(directory)
    catalog.export_directory(tmp_path / "out")
    assert (
        (tmp_path / "out" / "transformations.csv")
        .read_text()
        .splitlines()[1]
        .startswith("t1,n,A,,")
    )


def test_datasets_without_atlas_names(catalog, tmp_path):
    directory = tmp_path / "u"
    directory.mkdir()
    (directory / "datasets.csv").write_text(
        "did,kind,bytes,files,created_at\nuser.jdoe:user.jdoe.test,derived,1,1,2018-06-02\n"
    )
    catalog.import_directory(directory)
    assert catalog.datasets()["data_type"].isna().all()


@pytest.mark.parametrize("name", ["value", "key", "site_id", "id"])
def test_extra_columns_named_like_internals(catalog, tmp_path, name):
    tables = mini()
    for row in tables["endpoints"]:
        row[name] = "7"
    directory = write_catalog(tmp_path / "x", tables)
    catalog.import_directory(directory)
    assert not catalog.import_directory(directory).changed
    endpoints = catalog.endpoints().set_index("name")
    assert endpoints.loc["BNL-OSG2_DATATAPE", "site"] == "BNL-OSG2"
    assert (endpoints[name] == 7).all()  # the text "7" in the catalog, listed as a number


@pytest.mark.parametrize("name", ["_id", "_merge", "a__b"])
def test_reserved_extra_column_names(catalog, tmp_path, name):
    tables = mini()
    for row in tables["endpoints"]:
        row[name] = "1"
    with pytest.raises(ImportRowError, match=f"endpoints.csv:header: {name}: .*reserved"):
        catalog.import_directory(write_catalog(tmp_path / "x", tables))


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (pa.array([1, 2**64 - 1], pa.uint64()), "64-bit integer"),
        (pa.array([1.0, 1e20]), "64-bit integer"),
        (pa.array([1.0, 2.5]), "64-bit integer"),
    ],
)
def test_parquet_integers_out_of_range(catalog, tmp_path, array, reason):
    directory = tmp_path / "pq"
    directory.mkdir()
    pq.write_table(
        pa.table({"name": ["A", "B"], "tier": [1, 1], "country": ["x", "y"]}),
        directory / "sites.parquet",
    )
    pq.write_table(
        pa.table({"name": ["A_D", "B_D"], "site": ["A", "B"], "media": ["disk", "disk"],
                  "capacity_bytes": array}),
        directory / "endpoints.parquet",
    )  # fmt: skip
    with pytest.raises(ImportRowError, match=f"endpoints.parquet:2: capacity_bytes: .*{reason}"):
        catalog.import_directory(directory)


def test_parquet_nullable_small_int_extra_reads_as_integer(catalog, tmp_path):
    directory = tmp_path / "pq"
    directory.mkdir()
    pq.write_table(
        pa.table({"name": ["A"], "tier": [1], "country": ["x"]}), directory / "sites.parquet"
    )
    pq.write_table(
        pa.table({"name": ["A_D", "A_T"], "site": ["A", "A"], "media": ["disk", "tape"],
                  "weight": pa.array([3, None], pa.int16())}),
        directory / "endpoints.parquet",
    )  # fmt: skip
    catalog.import_directory(directory)
    assert catalog.endpoints().set_index("name").loc["A_D", "weight"] == 3  # stored as "3"


@pytest.mark.parametrize(
    ("content", "line", "column", "reason"),
    [
        ("name,tier,country\n\nX,1,ch\nY,9,ch\n", 4, "tier", "at most 3"),
        ("name,tier,country\r\nX,1,ch\r\n\r\nY,9,ch\r\n", 4, "tier", "at most 3"),
        ('name,tier,country\nX,1,ch\n"Y\nZ",9,ch\n', 3, "tier", "at most 3"),
        ("name,tier,country\nX,1,ch\n\nY,1\n", 4, "*", "expected 3 fields, found 2"),
        ("name,tier,country\nX,1,ch\nY,1,ch,extra\n", 3, "*", "expected 3 fields, found 4"),
        ("name,tier,country\nX,1,ch\nY\xff,1,ch\n", 3, "*", "not UTF-8"),
        ("name,tier,country\nX\x00,1,ch\n", 2, "name", "NUL"),
    ],
)
def test_csv_rows_are_line_numbers(catalog, tmp_path, content, line, column, reason):
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / "sites.csv").write_bytes(content.encode("latin-1"))
    with pytest.raises(ImportRowError) as info:
        catalog.import_directory(directory)
    assert (info.value.row, info.value.column) == (line, column)
    assert reason in info.value.reason


def test_overlong_keys_are_rejected_before_the_database(catalog, tmp_path):
    tables = mini()
    tables["datasets"].append(
        {"did": "data18_13TeV:" + "x" * 400, "kind": "raw", "bytes": "1", "files": "1",
         "created_at": "2018-01-01"}
    )  # fmt: skip
    before = snapshot(catalog)
    with pytest.raises(ImportRowError, match="datasets.csv:6: did: longer than 300"):
        catalog.import_directory(write_catalog(tmp_path / "long", tables))
    assert snapshot(catalog) == before


def test_infinite_numbers_are_rejected(catalog, tmp_path):
    tables = mini()
    tables["transformations"][0]["output_ratio"] = "inf"
    with pytest.raises(ImportRowError, match="output_ratio: expected a finite number"):
        catalog.import_directory(write_catalog(tmp_path / "inf", tables))


def test_export_into_a_file_is_a_usage_error(catalog, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        catalog.export_directory(tmp_path / "afile")


@pytest.mark.parametrize(
    ("options", "count"),
    [(("--name", "data18*"), 3), (("--name", "DATA18*"), 0), (("--data-type", "daod*"), 0)],
)
def test_globs_are_case_sensitive_on_every_database(catalog, mini_dir, options, count):
    catalog.import_directory(mini_dir)
    result = runner.invoke(app, ["--db", catalog.url, "datasets", "list", *options, "-f", "json"])
    assert len(json.loads(result.stdout)["datasets"]) == count


@pytest.mark.parametrize(
    "options",
    [
        ("datasets", "list", "--site", "NOWHERE"),
        ("datasets", "list", "--kind", "bogus"),
        ("endpoints", "list", "--media", "floppy"),
        ("endpoints", "list", "--site", "NOWHERE"),
    ],
)
def test_unknown_filter_values_exit_2(catalog, mini_dir, options):
    catalog.import_directory(mini_dir)
    result = runner.invoke(app, ["--db", catalog.url, *options])
    assert result.exit_code == 2
    assert result.stderr.startswith("lifecycle: error: --")


def test_api_filters_take_one_value_or_several(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    assert list(catalog.datasets(kind="raw")["did"]) == [RAW]
    assert list(catalog.datasets(kind=["raw"])["did"]) == [RAW]


def test_site_filter_ignores_deleted_replicas(catalog, tmp_path):
    tables = mini()
    tables["replicas"][1]["state"] = "deleted"  # RAW's copy at BNL-OSG2
    catalog.import_directory(write_catalog(tmp_path / "d", tables))
    assert catalog.datasets(site="BNL-OSG2").empty
