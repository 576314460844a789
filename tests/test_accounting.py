"""Storage accounting (``endpoints usage``, ``sites usage``): the numbers against pandas over the
exported catalog, the report's envelope and columns, filters, and hostile names."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from catalogs import mini, write_catalog
from conftest import SAMPLE_CATALOG
from typer.testing import CliRunner

from lifecycle.cli.app import app

runner = CliRunner()
KEYS = {
    "endpoint": ["endpoint", "site"],
    "site": ["site", "tier", "country", "cloud"],
    "tier": ["tier"],
    "country": ["country"],
    "cloud": ["cloud"],
}


@pytest.fixture
def sample(catalog):
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


@pytest.fixture
def exported(sample, tmp_path) -> pd.DataFrame:
    """Every endpoint joined to its site and to the datasets of its available replicas, read
    back from the catalog's own export: the independent computation's input."""
    directory = tmp_path / "export"
    sample.export_directory(directory)

    def read(name: str) -> pd.DataFrame:
        exact = {"capacity_bytes": "Int64", "bytes": "Int64"}  # no float detour past 2**53
        return pd.read_csv(
            directory / f"{name}.csv", keep_default_na=False, na_values=[""], dtype=exact
        )

    sites = read("sites").rename(columns={"name": "site"})
    endpoints = read("endpoints").rename(columns={"name": "endpoint"})
    endpoints = endpoints.merge(sites, on="site")
    replicas = read("replicas")
    replicas = replicas[replicas["state"] == "available"].merge(
        read("datasets")[["did", "kind", "data_type", "bytes"]], on="did"
    )
    return endpoints.merge(replicas, on="endpoint", how="left")


def run(cat, *args: str):
    return runner.invoke(app, ["--db", cat.url, *args])


def _key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].astype(str).agg("|".join, axis=1)


@pytest.mark.parametrize("by", list(KEYS))
def test_usage_matches_pandas_over_the_export(sample, exported, by):
    keys = [*KEYS[by], "media"]
    per_endpoint = exported.groupby(list(dict.fromkeys(["endpoint", *keys])), dropna=False).agg(
        replicas=("did", "count"),
        used_bytes=("bytes", "sum"),
        capacity_bytes=("capacity_bytes", "first"),
    )
    per_endpoint["free_bytes"] = per_endpoint["capacity_bytes"] - per_endpoint["used_bytes"]
    expected = per_endpoint.groupby(keys, dropna=False).agg(
        endpoints=("replicas", "size"),
        replicas=("replicas", "sum"),
        used_bytes=("used_bytes", "sum"),
        capacity_bytes=("capacity_bytes", "sum"),
        free_bytes=("free_bytes", "sum"),
    )
    expected = expected.reset_index()
    found = sample.usage(by).usage
    assert len(found) == len(expected)
    columns = ["endpoints", "replicas", "used_bytes", "capacity_bytes", "free_bytes"]
    left = found.assign(_k=_key(found, keys)).set_index("_k")[columns].astype("int64")
    right = expected.assign(_k=_key(expected, keys)).set_index("_k")[columns].astype("int64")
    pd.testing.assert_frame_equal(left.sort_index(), right.sort_index())
    assert found["used_bytes"].sum() == exported["bytes"].sum()  # every available replica once


def test_shares_match_pandas_and_add_up_per_group(sample, exported):
    usage = sample.usage("site")
    held = exported.dropna(subset=["did"])
    expected = held.groupby(["site", "media", "kind", "data_type"]).agg(
        replicas=("did", "count"), used_bytes=("bytes", "sum")
    )
    found = usage.shares.set_index(["site", "media", "kind", "data_type"])
    pd.testing.assert_frame_equal(
        found[["replicas", "used_bytes"]].astype("int64").sort_index(),
        expected.astype("int64").sort_index(),
    )
    sums = usage.shares.groupby(["site", "media"])["share"].sum()
    held_bytes = usage.usage.set_index(["site", "media"])["used_bytes"]
    assert all(abs(v - 1) < 1e-4 for k, v in sums.items() if held_bytes[k] > 0)
    by_kind = held.groupby("kind")["bytes"].sum().astype(int).to_dict()
    assert usage.summary["used_bytes_by_kind"] == by_kind


def test_summary_totals_per_media(sample, exported):
    summary = sample.usage("tier").summary
    for media, totals in summary["media"].items():
        at = exported[exported["media"] == media]
        capacity = at.drop_duplicates("endpoint")["capacity_bytes"].sum()
        assert totals["used_bytes"] == at["bytes"].sum()
        assert totals["capacity_bytes"] == capacity
        assert totals["free_bytes"] == capacity - at["bytes"].sum()
        assert totals["endpoints"] == at["endpoint"].nunique()
    assert set(summary["media"]) == {"disk", "tape"}


def test_an_endpoint_without_capacity_is_counted_apart(catalog, mini_dir):
    catalog.import_directory(mini_dir)  # CERN-PROD_DATADISK has no capacity
    usage = catalog.usage("endpoint")
    disk = usage.usage.set_index("endpoint").loc["CERN-PROD_DATADISK"]
    assert disk["used_bytes"] == 1_000_000_000_000 + 1_000_000  # AOD, CALIB; PHYS is lost
    assert pd.isna(disk["capacity_bytes"])
    assert pd.isna(disk["free_bytes"])
    assert pd.isna(disk["used_fraction"])
    site = catalog.usage("site").summary
    assert site["endpoints_without_capacity"] == 1
    assert site["capacity_bytes"] == 140_000_000_000_000_000
    # RAW on both tapes (a blank state imports as available), AOD and CALIB on disk
    assert site["used_bytes"] == 2 * 2_000_000_000_000 + 1_000_001_000_000
    assert site["media"]["disk"]["capacity_bytes"] is None


def test_filters(sample):
    at_cern = sample.usage("endpoint", site=["CERN-PROD"]).usage
    assert set(at_cern["site"]) == {"CERN-PROD"}
    tape = sample.usage("site", media="tape").usage
    assert set(tape["media"]) == {"tape"}
    tier0_tape = sample.usage("endpoint", expression="tier=0&media=tape").usage
    assert set(tier0_tape["endpoint"]) == {"CERN-PROD_DATATAPE", "CERN-PROD_MCTAPE"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sites", "usage", "--site", "NOWHERE"], "--site: unknown site 'NOWHERE'"),
        (["endpoints", "usage", "--media", "floppy"], "--media: 'floppy'"),
        (["sites", "usage", "--by", "planet"], "--by"),
        (["endpoints", "usage", "-e", "tier=9"], "matches no endpoint"),
    ],
)
def test_bad_options_exit_2_with_one_line(sample, args, message):
    result = run(sample, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_envelope_and_csv_columns(sample):
    result = run(sample, "sites", "usage", "--by", "country", "-f", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document) == ["kind", "summary", "usage", "shares"]
    assert document["kind"] == "usage"
    assert document["summary"]["by"] == "country"
    assert isinstance(document["summary"]["used_bytes"], int)
    row = document["usage"][0]
    assert list(row) == [
        "country", "media", "endpoints", "endpoints_without_capacity", "replicas",
        "used_bytes", "capacity_bytes", "free_bytes", "used_fraction",
    ]  # fmt: skip
    assert isinstance(row["used_bytes"], int)
    as_csv = list(csv.DictReader(io.StringIO(run(sample, "sites", "usage", "-f", "csv").stdout)))
    assert list(as_csv[0])[:5] == ["site", "tier", "country", "cloud", "media"]
    assert as_csv[0]["used_bytes"].isdigit()  # raw integers, not "1.2 TB"
    shares = run(sample, "endpoints", "usage", "--shares", "-f", "csv").stdout
    header = shares.splitlines()[0].split(",")
    assert header == [
        "endpoint", "site", "media", "kind", "data_type", "replicas", "used_bytes", "share"
    ]  # fmt: skip


def test_table_starts_with_the_totals_and_humanises_bytes(sample):
    result = run(sample, "sites", "usage")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("disk: ")
    assert " used of " in lines[0]
    assert lines[1].startswith("tape: ")
    assert "TB" in result.stdout
    assert "CERN-PROD" in result.stdout


def test_hostile_names_are_shown_literally(catalog, tmp_path):
    tables = mini()
    evil = "EVIL[/]\"SITE'[bold red]x[/bold red]"
    for row in tables["sites"]:
        if row["name"] == "BNL-OSG2":
            row["name"], row["cloud"] = evil, "[link=http://x]C[/link]"
    for row in tables["endpoints"]:
        if row["site"] == "BNL-OSG2":
            row["site"] = evil
    catalog.import_directory(write_catalog(tmp_path / "evil", tables))
    table = run(catalog, "sites", "usage", "--by", "site")
    assert table.exit_code == 0, table.output
    assert evil in table.stdout
    assert "[link=http://x]C[/link]" in table.stdout
    assert "\x1b" not in table.stdout
    by_cloud = json.loads(run(catalog, "sites", "usage", "--by", "cloud", "-f", "json").stdout)
    assert "[link=http://x]C[/link]" in {row["cloud"] for row in by_cloud["usage"]}
    only = catalog.usage("site", site=[evil]).usage  # the name is bound, not spliced
    assert list(only["site"].unique()) == [evil]


def test_usage_and_overview_from_the_grouped_replicas_are_the_same(sample):
    """The report counts the replicas and datasets once (group_catalog, in SQL or in Arrow) for
    the overview and the storage: the same frames as from the replicas themselves, on a catalog
    with every replica state."""
    from lifecycle.accounting import usage
    from lifecycle.catalog.grouped import group_catalog
    from lifecycle.catalog.queries import overview

    with sample.read() as conn:
        conn.exec_driver_sql(  # states other than available, and a dataset without a type
            "UPDATE replica SET state = 'lost' WHERE id IN (SELECT MIN(id) FROM replica)"
        )
        conn.exec_driver_sql(
            "UPDATE dataset SET data_type = NULL WHERE id IN (SELECT MAX(dataset_id) FROM replica)"
        )
        plain = (overview(conn), {by: usage(conn, by) for by in ("endpoint", "site", "tier")})
        grouped = group_catalog(conn, "tmp_test_grouped")
        found = (
            overview(conn, grouped),
            {by: usage(conn, by, grouped=grouped.replicas) for by in plain[1]},
        )
    assert set(plain[0].replicas_by_state["state"]) > {"available"}
    assert plain[0].replicas_by_state.to_dict("records") == found[0].replicas_by_state.to_dict(
        "records"
    )
    assert plain[0].datasets_by_kind.to_dict("records") == found[0].datasets_by_kind.to_dict(
        "records"
    )
    for by, expected in plain[1].items():
        assert expected.usage.to_dict("records") == found[1][by].usage.to_dict("records")
        assert expected.shares.to_dict("records") == found[1][by].shares.to_dict("records")
