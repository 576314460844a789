"""``transformations list|show`` and ``productions show``: the numbers against pandas over the
exported catalog, the report envelopes and columns, unknown tags and ids, hostile values."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from conftest import SAMPLE_CATALOG
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.errors import UnknownProduction, UnknownTransformation

runner = CliRunner()


@pytest.fixture
def sample(catalog):
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


@pytest.fixture
def exported(sample, tmp_path) -> dict[str, pd.DataFrame]:
    """The catalog's own export, read back: the independent computation's input."""
    directory = tmp_path / "export"
    sample.export_directory(directory)
    names = ("transformations", "productions", "production_io", "datasets")
    return {
        name: pd.read_csv(
            directory / f"{name}.csv",
            keep_default_na=False,
            na_values=[""],
            dtype={"bytes": "Int64"},
        )
        for name in names
    }


def run(cat, *args: str):
    return runner.invoke(app, ["--db", cat.url, *args])


def test_transformations_list_matches_pandas_over_the_export(sample, exported):
    productions = exported["productions"]
    outputs = exported["production_io"].query("role == 'output'")
    outputs = outputs.merge(exported["datasets"], on="did").merge(
        productions, left_on="production", right_on="id"
    )
    last = pd.to_datetime(productions["finished_at"].fillna(productions["started_at"]), utc=True)
    expected = pd.DataFrame(
        {
            "productions": productions.groupby("transformation").size(),
            "outputs": outputs.groupby("transformation").size(),
            "output_bytes": outputs.groupby("transformation")["bytes"].sum(),
            "last_used": last.groupby(productions["transformation"]).max(),
        }
    )
    found = sample.transformations().transformations.set_index("tag")
    assert sorted(found.index) == sorted(exported["transformations"]["tag"])
    expected = expected.reindex(found.index)
    for column in ("productions", "outputs", "output_bytes"):
        assert found[column].tolist() == expected[column].fillna(0).astype(int).tolist(), column
    assert found["last_used"].tolist() == expected["last_used"].tolist()
    digests = exported["transformations"].set_index("tag")["image_digest"]
    recorded = digests.fillna("").str.strip() != ""
    assert found["has_image_digest"].tolist() == recorded.reindex(found.index).tolist()


def test_transformations_list_filters(sample):
    def tags(**filters) -> list[str]:
        return sample.transformations(**filters).transformations["tag"].tolist()

    assert tags(tag=["r13*"]) == ["r13144", "r13145", "r13167", "r13286", "r13604"]
    assert tags(tag=["e3723", "s3681"]) == ["e3723", "s3681"]
    assert tags(data_type=["DAOD_PHYSLITE"]) == ["grp15_v01", "p6026"]
    assert tags(missing_digest=True) == ["p4931"]
    assert set(tags(name="Reco_tf", release="Athena,22.0.4?")) == {
        "r13144", "r13145", "r13167", "r13286"
    }  # fmt: skip
    assert tags(tag=["nothing*"]) == []


def test_a_blank_digest_is_not_a_digest(catalog, tmp_path):
    tables = mini()
    tables["transformations"][0]["image_digest"] = " \t "
    catalog.import_directory(write_catalog(tmp_path / "blank", tables))
    listing = catalog.transformations()
    assert listing.transformations["has_image_digest"].tolist() == [False, False]
    assert listing.summary["without_image_digest"] == 2


def test_transformation_show_summarises_its_productions(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    details = catalog.transformation("r13286")
    assert details.transformation["release"] == "Athena,22.0.40"
    assert details.transformation["last_used"] == "2018-08-03T00:00:00Z"
    assert details.summary == {
        "has_image_digest": True, "productions": 1, "by_status": {"done": 1}, "sites": 1,
        "inputs": 2, "outputs": 1, "output_bytes": 1_000_000_000_000,
        "first_used": "2018-08-02T00:00:00Z", "last_used": "2018-08-03T00:00:00Z",
    }  # fmt: skip
    assert details.productions["production"].tolist() == ["task-00000001"]
    unused = catalog.transformation("p4910")  # a production with no times, site or status
    assert unused.summary["first_used"] is None
    assert unused.summary["has_image_digest"] is False


def test_production_show_lists_inputs_by_role_then_outputs(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    details = catalog.production("task-00000001")
    assert details.production["transformation"] == "r13286"
    assert details.production["site"] == "CERN-PROD"
    assert details.production["started_at"] == "2018-08-02T00:00:00Z"
    assert details.datasets[["did", "role"]].values.tolist() == [
        [RAW, "input"], [CALIB, "calibration"], [AOD, "output"]
    ]  # fmt: skip
    assert details.datasets["available_replicas"].tolist() == [2, 1, 1]
    assert details.summary["inputs_by_role"] == {"calibration": 1, "input": 1}
    assert details.summary["input_bytes"] == 2_000_000_000_000 + 1_000_000  # RAW + CALIB
    second = catalog.production("task-00000002")
    assert second.outputs["did"].tolist() == [PHYS]
    assert second.outputs["available_replicas"].tolist() == [0]  # its only replica is lost


def test_unknown_tag_and_id(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    with pytest.raises(UnknownTransformation):
        catalog.transformation("r99999")
    with pytest.raises(UnknownProduction):
        catalog.production("task-99")
    for args in (["transformations", "show", "r99999"], ["productions", "show", "task-99"]):
        result = run(catalog, *args)
        assert result.exit_code == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert args[-1] in result.stderr


def test_json_envelopes(sample):
    listing = json.loads(run(sample, "transformations", "list", "-f", "json").stdout)
    assert list(listing) == ["kind", "summary", "transformations"]
    assert listing["kind"] == "transformations"
    assert listing["summary"]["transformations"] == len(listing["transformations"])
    first = listing["transformations"][0]
    assert first["has_image_digest"] is True
    assert isinstance(first["output_bytes"], int)
    assert isinstance(first["output_data_types"], list)
    shown = json.loads(run(sample, "transformations", "show", "p6026", "-f", "json").stdout)
    assert list(shown) == [
        "kind", "summary", "transformation", "productions", "outputs_by_data_type"
    ]  # fmt: skip
    assert shown["kind"] == "transformation"
    assert len(shown["productions"]) == shown["summary"]["productions"] == 11
    assert shown["summary"]["by_status"] == {"done": 10, "failed": 1}
    assert shown["transformation"]["parameters"]["ami_status"] == "valid"
    production = shown["productions"][0]["production"]
    one = json.loads(run(sample, "productions", "show", production, "-f", "json").stdout)
    assert list(one) == ["kind", "summary", "production", "inputs", "outputs"]
    assert one["kind"] == "production"
    assert one["production"]["transformation"] == "p6026"
    assert all("did" in d and isinstance(d["bytes"], int) for d in one["inputs"] + one["outputs"])


def test_csv_columns(sample):
    def header(*args: str) -> list[str]:
        result = run(sample, *args, "-f", "csv")
        assert result.exit_code == 0, result.output
        return next(csv.reader(io.StringIO(result.stdout)))

    assert header("transformations", "list") == [
        "tag", "name", "release", "has_image_digest", "productions", "outputs", "output_bytes",
        "output_data_types", "last_used",
    ]  # fmt: skip
    assert header("transformations", "show", "s3681") == [
        "production", "status", "site", "conditions_tag", "started_at", "finished_at", "inputs",
        "outputs", "output_bytes",
    ]  # fmt: skip
    assert header("productions", "show", "task-23721729") == [
        "did", "role", "kind", "data_type", "bytes", "events", "state", "available_replicas"
    ]  # fmt: skip
    rows = list(
        csv.DictReader(io.StringIO(run(sample, "transformations", "list", "-f", "csv").stdout))
    )
    assert {r["has_image_digest"] for r in rows} == {"true", "false"}


def test_tables_are_bounded_and_start_with_the_summary(sample, monkeypatch):
    import lifecycle.cli.inventory as inventory

    monkeypatch.setattr(inventory, "TRANSFORMATIONS_ON_SCREEN", 5)
    monkeypatch.setattr(inventory, "ROWS_ON_SCREEN", 3)
    listing = run(sample, "transformations", "list")
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.startswith("18 transformations: 1 without an image digest, 2 unused;")
    assert "… and 13 more (--format json lists all)" in listing.stdout
    assert "r13286" not in listing.stdout  # past the first five
    shown = run(sample, "transformations", "show", "p6026")
    assert "… and 8 more (--format json lists all)" in shown.stdout
    assert "11 productions (10 done, 1 failed) at 9 sites" in shown.stdout


def test_hostile_values_are_shown_literally(catalog, tmp_path):
    tables = mini()
    evil_tag, evil_site = "r1[/]'\"[bold]", "EVIL[link=http://x]SITE[/link]"
    tables["transformations"][0]["tag"] = evil_tag
    tables["transformations"][0]["release"] = "[red]Athena[/red]"
    tables["productions"][0]["transformation"] = evil_tag
    for row in tables["sites"]:
        if row["name"] == "CERN-PROD":
            row["name"] = evil_site
    for row in tables["endpoints"] + tables["productions"]:
        if row.get("site") == "CERN-PROD":
            row["site"] = evil_site
    catalog.import_directory(write_catalog(tmp_path / "evil", tables))
    listing = run(catalog, "transformations", "list", "--tag", evil_tag)
    assert listing.exit_code == 0, listing.output
    assert evil_tag in listing.stdout
    assert "[red]Athena[/red]" in listing.stdout
    shown = run(catalog, "transformations", "show", evil_tag)
    assert shown.exit_code == 0, shown.output
    assert evil_site in shown.stdout
    production = run(catalog, "productions", "show", "task-00000001")
    assert evil_tag in production.stdout
    assert evil_site in production.stdout
    assert "\x1b" not in listing.stdout + shown.stdout + production.stdout
