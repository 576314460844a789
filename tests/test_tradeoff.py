"""Compute vs storage: per data type, storage against regeneration, numbers checked by hand."""

from __future__ import annotations

import json

import pytest
from catalogs import AOD1, MERGED, RAW1, chain, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.errors import UsageError
from lifecycle.tradeoff import COLUMNS, DEFAULT_COSTS, Costs

runner = CliRunner()

# Core-seconds per event read: reconstruction 36 s, merge 0.36 s, PHYS 7.2 s, PHYSLITE 3.6 s.
CPU = {"r13286": "36", "p4910": "0.36", "p5000": "7.2", "p6026": "3.6"}
# Prices making the tiny chain readable: 0.001 per byte-year of disk, 0.0002 of tape.
PRICES = {"storage_cost": 1e9, "tape_cost": 2e8, "cpu_cost": 0.1}


def costed_chain() -> dict:
    """The chain of tests/catalogs.py with a cost model and a tape copy of MERGED.

    Every dataset but the calibration holds 1000 events. Kept derived data: AOD2 (1500 B,
    disk), MERGED (2500 B, disk and tape), LITE (25 B, disk); AOD1 and DPHYS are deleted.
    Recipes: AOD2 = task-reco2 (1000 x 36 s = 10 h); MERGED = task-merge (reads AOD1 + AOD2,
    2000 x 0.36 s = 0.2 h) + task-reco1 for the deleted AOD1 (10 h) = 10.2 h; LITE = task-lite
    (1000 x 3.6 s = 1 h) + task-phys for the deleted DPHYS (1000 x 7.2 s = 2 h) = 3 h.
    """
    tables = chain()
    for t in tables["transformations"]:
        t["cpu_seconds_per_event"] = CPU[t["tag"]]
    tables["replicas"].append(
        {"did": MERGED, "endpoint": "BNL-OSG2_DATATAPE", "state": "available",
         "created_at": "2019-02-01T00:00:00Z", "accessed_at": ""}
    )  # fmt: skip
    return tables


def load(catalog, tmp_path, tables):
    catalog.import_directory(write_catalog(tmp_path / "cat", tables))
    return catalog


def by_type(frame) -> dict[str, dict]:
    return {row["data_type"]: row for row in frame.to_dict("records")}


def test_costs_by_hand(catalog, tmp_path):
    frame = load(catalog, tmp_path, costed_chain()).tradeoff(
        PRICES["storage_cost"], PRICES["cpu_cost"], tape_cost=PRICES["tape_cost"]
    )
    assert list(frame.columns) == COLUMNS
    assert list(frame["data_type"]) == ["AOD", "DAOD_PHYSLITE"]  # DAOD_PHYS is all deleted
    aod, lite = by_type(frame)["AOD"], by_type(frame)["DAOD_PHYSLITE"]
    assert (aod["datasets"], aod["bytes"], aod["stored_bytes"]) == (2, 4000, 6500)
    assert aod["storage_cost"] == pytest.approx(4000 * 1e-3 + 2500 * 2e-4)  # 4.5
    assert (aod["irreproducible"], aod["uncosted"], aod["regenerable"]) == (0, 0, 2)
    assert aod["regenerable_storage_cost"] == pytest.approx(4.5)
    assert aod["cpu_hours"] == pytest.approx(10 + 10.2)
    assert aod["regeneration_cost"] == pytest.approx(2.02)
    assert aod["ratio"] == pytest.approx(2.02 / 4.5)
    assert aod["verdict"] == "cheaper to regenerate"
    assert (lite["datasets"], lite["bytes"], lite["stored_bytes"]) == (1, 25, 25)
    assert lite["storage_cost"] == pytest.approx(0.025)
    assert lite["cpu_hours"] == pytest.approx(3)
    assert lite["regeneration_cost"] == pytest.approx(0.3)
    assert lite["ratio"] == pytest.approx(12)
    assert lite["verdict"] == "cheaper to keep"


def test_regenerations_a_year_multiply_the_cpu_cost(catalog, tmp_path):
    frame = load(catalog, tmp_path, costed_chain()).tradeoff(
        PRICES["storage_cost"], PRICES["cpu_cost"], tape_cost=PRICES["tape_cost"],
        accesses_per_year=3,
    )  # fmt: skip
    aod = by_type(frame)["AOD"]
    assert aod["regeneration_cost"] == pytest.approx(6.06)
    assert aod["verdict"] == "cheaper to keep"  # 6.06 > 4.5
    never = catalog.tradeoff(accesses_per_year=0)
    assert set(never["verdict"]) == {"cheaper to regenerate"}


def test_irreproducible_datasets_must_be_kept(catalog, tmp_path):
    tables = costed_chain()
    for r in tables["replicas"]:
        if r["did"] == RAW1:  # AOD1 (deleted) cannot be rebuilt, so neither can MERGED
            r["state"] = "lost"
    next(t for t in tables["transformations"] if t["tag"] == "p6026")["image_digest"] = ""
    frame = load(catalog, tmp_path, tables).tradeoff(
        PRICES["storage_cost"], PRICES["cpu_cost"], tape_cost=PRICES["tape_cost"]
    )
    aod, lite = by_type(frame)["AOD"], by_type(frame)["DAOD_PHYSLITE"]
    assert (aod["datasets"], aod["irreproducible"], aod["regenerable"]) == (2, 1, 1)
    assert aod["storage_cost"] == pytest.approx(4.5)  # keeping costs all of it
    assert aod["regenerable_storage_cost"] == pytest.approx(1.5)  # AOD2 alone
    assert aod["cpu_hours"] == pytest.approx(10)
    assert aod["verdict"] == "cheaper to regenerate; must keep: 1 irreproducible"
    assert (lite["irreproducible"], lite["regenerable"], lite["cpu_hours"]) == (1, 0, 0)
    assert lite["ratio"] is None or lite["ratio"] != lite["ratio"]
    assert lite["verdict"] == "must keep: 1 irreproducible"


def test_a_recipe_without_cost_model_is_counted_apart(catalog, tmp_path):
    tables = costed_chain()
    next(t for t in tables["transformations"] if t["tag"] == "p4910")["cpu_seconds_per_event"] = ""
    frame = load(catalog, tmp_path, tables).tradeoff(
        PRICES["storage_cost"], PRICES["cpu_cost"], tape_cost=PRICES["tape_cost"]
    )
    aod, lite = by_type(frame)["AOD"], by_type(frame)["DAOD_PHYSLITE"]
    assert (aod["uncosted"], aod["regenerable"], aod["cpu_hours"]) == (1, 1, pytest.approx(10))
    assert aod["verdict"] == "cheaper to regenerate; unknown: 1 without cost model"
    assert lite["cpu_hours"] == pytest.approx(3)  # MERGED is available: no merge in its recipe


def test_an_available_intermediate_shortens_the_recipe(catalog, tmp_path):
    tables = costed_chain()
    for d in tables["datasets"]:
        if d["did"] == AOD1:
            d["state"] = "closed"
    for r in tables["replicas"]:
        if r["did"] == AOD1:
            r["state"] = "available"
    aod = by_type(load(catalog, tmp_path, tables).tradeoff(1e9, 0.1, tape_cost=2e8))["AOD"]
    assert aod["datasets"] == 3  # AOD1 is kept now too
    assert aod["cpu_hours"] == pytest.approx(10 + 10 + 0.2)  # MERGED is the merge alone


def test_event_generation_counts_the_events_it_wrote(catalog, tmp_path):
    tables = costed_chain()
    evnt = "mc23_13p6TeV:mc23_13p6TeV.601229.PhPy8EG_A14_ttbar.evgen.EVNT.e8514"
    tables["datasets"].append(
        {"did": evnt, "kind": "simulated", "data_type": "EVNT", "bytes": "100", "files": "1",
         "events": "5000", "created_at": "2023-01-01T00:00:00Z"}
    )  # fmt: skip
    tables["replicas"].append(
        {"did": evnt, "endpoint": "CERN-PROD_DATADISK", "created_at": "2023-01-01T00:00:00Z"}
    )
    tables["transformations"].append(
        {"tag": "e8514", "name": "Gen_tf", "release": "AthGeneration,23.6.1",
         "image_digest": "sha256:" + "e" * 64, "cpu_seconds_per_event": "7.2"}
    )  # fmt: skip
    tables["productions"].append({"id": "task-gen", "transformation": "e8514"})
    tables["production_io"].append({"production": "task-gen", "did": evnt, "role": "output"})
    evgen = by_type(load(catalog, tmp_path, tables).tradeoff())["EVNT"]
    assert evgen["cpu_hours"] == pytest.approx(5000 * 7.2 / 3600)  # 10 h


def test_default_prices(catalog, tmp_path):
    assert Costs() == Costs(25.0, 5.0, 0.01, 1.0)
    aod = by_type(load(catalog, tmp_path, costed_chain()).tradeoff())["AOD"]
    assert aod["storage_cost"] == pytest.approx(4000 / 1e12 * 25 + 2500 / 1e12 * 5)
    assert aod["regeneration_cost"] == pytest.approx(20.2 * 0.01)


def test_empty_catalog(catalog):
    frame = catalog.tradeoff()
    assert frame.empty
    assert list(frame.columns) == COLUMNS


@pytest.mark.parametrize("field", ["storage_cost", "tape_cost", "cpu_cost", "accesses_per_year"])
def test_negative_prices_are_usage_errors(field):
    with pytest.raises(UsageError, match="must be a number >= 0"):
        Costs(**{field: -1})


def test_set_based_recipes_match_the_per_dataset_recipe(catalog, tmp_path):
    """On a generated catalog, per data type, the set-based walk costs what recipe() lists."""
    import sqlalchemy as sa

    from lifecycle.generate import generate

    generate(tmp_path / "gen", 800, seed=3)
    catalog.import_directory(tmp_path / "gen")
    frame = catalog.tradeoff()
    with catalog.read() as conn:
        hours = dict(
            conn.execute(
                sa.text(
                    "SELECT p.name, t.cpu_seconds_per_event * COALESCE("
                    "(SELECT SUM(d.events) FROM production_input i JOIN dataset d "
                    " ON d.id = i.dataset_id WHERE i.production_id = p.id AND i.role = 'input'),"
                    "(SELECT SUM(d.events) FROM production_output o JOIN dataset d "
                    " ON d.id = o.dataset_id WHERE o.production_id = p.id)) / 3600.0 "
                    "FROM production p JOIN transformation t ON t.id = p.transformation_id"
                )
            ).all()
        )
        kept = conn.execute(
            sa.text(
                "SELECT d.did, d.data_type FROM dataset d WHERE d.kind IN ('derived', 'simulated')"
                " AND EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = d.id"
                " AND r.state = 'available')"
            )
        ).all()
    expected: dict[str, dict] = {}
    for did, data_type in kept:
        recipe = catalog.recipe(did)
        row = expected.setdefault(data_type, {"datasets": 0, "irreproducible": 0, "hours": 0.0})
        row["datasets"] += 1
        if not recipe.reproducible:
            row["irreproducible"] += 1
        else:
            row["hours"] += sum(hours[step.production.name] for step in recipe.steps)
    got = {
        row["data_type"]: {
            "datasets": row["datasets"],
            "irreproducible": row["irreproducible"],
            "hours": pytest.approx(row["cpu_hours"]),
        }
        for row in frame.to_dict("records")
    }
    assert got == expected
    assert sum(r["irreproducible"] for r in expected.values()) > 0


# -- CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def cli_url(catalog, tmp_path) -> str:
    return load(catalog, tmp_path, costed_chain()).url


def test_cli_json_document(cli_url):
    result = runner.invoke(
        app,
        ["--db", cli_url, "tradeoff", "--storage-cost", "1e9", "--tape-cost", "2e8",
         "--cpu-cost", "0.1", "--access-per-year", "1", "-f", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["costs"] == {
        "storage_cost": 1e9, "tape_cost": 2e8, "cpu_cost": 0.1, "accesses_per_year": 1.0
    }  # fmt: skip
    assert [row["data_type"] for row in doc["data_types"]] == ["AOD", "DAOD_PHYSLITE"]
    aod = doc["data_types"][0]
    assert set(aod) == set(COLUMNS)
    assert aod["verdict"] == "cheaper to regenerate"
    assert aod["cpu_hours"] == pytest.approx(20.2)
    assert isinstance(aod["bytes"], int)


def test_cli_defaults_and_table(cli_url):
    result = runner.invoke(app, ["--db", cli_url, "tradeoff", "-f", "json"])
    assert json.loads(result.stdout)["costs"] == DEFAULT_COSTS.as_dict()
    table = runner.invoke(app, ["--db", cli_url, "tradeoff", "--storage-cost", "1e9"])
    assert table.exit_code == 0, table.output
    assert "DAOD_PHYSLITE" in table.stdout
    assert "cheaper to regenerate" in table.stdout
    assert "prices: disk 1e+09 and tape 5 per TB-year" in table.stderr
    assert "cheaper to delete and regenerate: AOD" in table.stderr
    help_text = runner.invoke(app, ["tradeoff", "--help"]).stdout
    for default in ("25", "5", "0.01", "1"):
        assert f"[default: {default}]" in help_text


def test_cli_csv(cli_url):
    import csv
    import io

    result = runner.invoke(app, ["--db", cli_url, "tradeoff", "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["data_type"] for r in rows] == ["AOD", "DAOD_PHYSLITE"]
    assert list(rows[0]) == COLUMNS


@pytest.mark.parametrize(
    ("option", "value"), [("--storage-cost", "-1"), ("--cpu-cost", "nan"), ("--cpu-cost", "x")]
)
def test_cli_bad_prices_exit_2(cli_url, option, value):
    result = runner.invoke(app, ["--db", cli_url, "tradeoff", option, value])
    assert result.exit_code == 2
    if value != "x":  # typer rejects what is not a number itself
        assert result.stderr == f"lifecycle: error: {option}: must be a number >= 0, got {value}\n"


def test_cli_empty_catalog(catalog):
    table = runner.invoke(app, ["--db", catalog.url, "tradeoff"])
    assert table.exit_code == 0, table.output
    assert "nothing to show" in table.stdout
    doc = json.loads(runner.invoke(app, ["--db", catalog.url, "tradeoff", "-f", "json"]).stdout)
    assert doc["data_types"] == []


def test_cli_module_does_not_load_the_service_or_pandas():
    import subprocess
    import sys

    code = (
        "import sys, lifecycle.cli.tradeoff\n"
        "print(sorted(m for m in ('pandas', 'lifecycle.tradeoff') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_defaults_match_the_service():
    from dataclasses import astuple

    from lifecycle.cli import tradeoff as cli

    shown_in_help = (cli._STORAGE, cli._TAPE, cli._CPU, cli._ACCESSES)
    assert shown_in_help == astuple(DEFAULT_COSTS)


def test_the_report_names_what_is_cheaper_to_regenerate_and_the_savings(catalog, tmp_path):
    report = load(catalog, tmp_path, costed_chain()).tradeoff_report(**PRICES)
    assert report.costs == Costs.with_overrides(**PRICES)
    assert report.cheaper_to_regenerate == ["AOD"]  # the verdicts' "cheaper to regenerate"
    assert report.savings == pytest.approx(4.5 - 2.02)
    assert report.to_dict()["costs"] == report.costs.as_dict()
    assert list(report.data_types["verdict"]) == list(catalog.tradeoff(**PRICES)["verdict"])
