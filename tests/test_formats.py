"""Every report offers the same formats (issue 13, item 6): a table for people (a tree for a
graph), json and csv for scripts; binary formats go to a file, never to a terminal.

The command tree is walked, so a command added without csv fails here.
"""

from __future__ import annotations

import csv
import io

import pytest
from conftest import ROOT, SAMPLE_CATALOG
from typer.main import get_command
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app

runner = CliRunner()
POLICIES = str(ROOT / "policies")

# Commands whose formats differ by nature, not by omission:
DIFFERENT_BY_NATURE = {
    # graphs: a tree for people, json, and the graph languages (prov, dot, mermaid, svg, html);
    # a graph is nodes and edges, not rows, so csv would have to pick one of them
    "lineage",
    "impact",
    # a recipe is a program: text for people, json, a shell script; not rows
    "recipe",
    # the exchange format is a directory of tables (csv or parquet files), not a report
    "export",
    # a plan written for another tool: its json document or its steps as parquet
    "plan export",
    # the whole catalog's lineage as a stream of OpenLineage events (NDJSON), not rows
    "export-lineage",
}


def _format_options(command, path=()):
    """(command path, its --format choices) for every command and group with --format."""
    for param in getattr(command, "params", []):
        if "--format" in getattr(param, "opts", ()):
            yield " ".join(path), [choice.value for choice in param.type_descriptor.annotation]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _format_options(sub, (*path, name))


FORMATS = dict(_format_options(get_command(app)))


def test_the_walk_finds_the_reports():
    assert {"overview", "audit", "simulate loss", "replicas delete", "lineage"} <= set(FORMATS)
    assert set(FORMATS) >= DIFFERENT_BY_NATURE  # the allow-list names real commands


@pytest.mark.parametrize("command", sorted(set(FORMATS) - DIFFERENT_BY_NATURE))
def test_every_report_offers_table_json_and_csv(command):
    assert {"table", "json", "csv"} <= set(FORMATS[command]), FORMATS[command]


@pytest.mark.parametrize("command", sorted(DIFFERENT_BY_NATURE & {"lineage", "impact"}))
def test_graphs_offer_a_tree_and_json(command):
    assert {"tree", "json"} <= set(FORMATS[command])


@pytest.fixture
def sample(catalog_url) -> str:
    loaded = runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE_CATALOG)])
    assert loaded.exit_code == 0, loaded.output
    return catalog_url


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_simulate_loss_csv_one_row_per_dataset_with_its_outcome(sample):
    args = ["--db", sample, "simulate", "loss", "--site", "BNL-OSG2", "--policy", POLICIES]
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 1  # something is lost for good, whatever the format
    rows = _rows(result.stdout)
    assert list(rows[0]) == ["outcome", "did", "kind", "bytes", "reason", "steps"]
    cat = Catalog(sample)
    report = cat.simulate_loss(sites=("BNL-OSG2",))
    cat.close()
    assert report.lost
    assert report.recoverable
    assert [r["did"] for r in rows if r["outcome"] == "lost"] == [d["did"] for d in report.lost]
    assert [(r["did"], int(r["steps"])) for r in rows if r["outcome"] == "recoverable"] == [
        (d["did"], d["steps"]) for d in report.recoverable
    ]
    for row in rows:  # raw integers; the reason for what is lost, the steps for the rest
        assert row["bytes"].isdigit()
        assert bool(row["reason"]) == (row["outcome"] == "lost")
        assert row["steps"].isdigit() == (row["outcome"] == "recoverable")


RAW = "data18_13TeV:data18_13TeV.00348885.physics_Main.daq.RAW"


def test_replicas_delete_csv_one_row_per_refusal(sample):
    args = ["--db", sample, "replicas", "delete", RAW, "CERN-PROD_DATATAPE", "--reason", "t"]
    refused = runner.invoke(app, [*args, "--policy", POLICIES, "--format", "csv"])
    assert refused.exit_code == 1
    rows = _rows(refused.stdout)
    assert [(r["did"], r["guard"], r["allowed"]) for r in rows] == [(RAW, "replication", "false")]
    assert "needs 2 copies at distinct sites" in rows[0]["message"]
    # without policies no rule guards it, and another copy stays: allowed, one row, no guard
    allowed = runner.invoke(app, [*args, "--format", "csv"])
    assert allowed.exit_code == 0, allowed.output
    rows = _rows(allowed.stdout)
    assert [(r["allowed"], r["applied"], r["guard"]) for r in rows] == [("true", "false", "")]


def test_replicas_mark_lost_csv_the_replica_then_its_consequences(sample):
    args = ["--db", sample, "replicas", "mark-lost", RAW, "CERN-PROD_DATATAPE", "--reason", "t"]
    result = runner.invoke(app, [*args, "--policy", POLICIES, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["section"] for r in rows] == ["replica", "violation"]
    replica, violation = rows
    assert (replica["did"], replica["outcome"], replica["lost_for_good"]) == (RAW, "kept", "false")
    assert replica["re_replicate_from"] == "NDGF-T1_DATATAPE"
    assert (violation["did"], violation["rule"]) == (RAW, "raw-archival-copies")


def test_simulate_loss_parquet_to_a_file_holds_the_csv_rows(sample, tmp_path):
    import pandas as pd

    args = ["--db", sample, "simulate", "loss", "--site", "BNL-OSG2", "--policy", POLICIES]
    path = tmp_path / "loss.parquet"
    written = runner.invoke(app, [*args, "--format", "parquet", "-o", str(path)])
    assert written.exit_code == 1, written.output
    assert written.stdout == ""
    table = pd.read_parquet(path)
    rows = _rows(runner.invoke(app, [*args, "--format", "csv"]).stdout)
    assert list(table["did"]) == [r["did"] for r in rows]
    assert list(table["outcome"]) == [r["outcome"] for r in rows]
    assert "parquet" not in FORMATS["replicas delete"]  # a report of one replica: a few rows
