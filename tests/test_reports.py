"""Reports have one JSON envelope (``kind``, ``summary``, then their items), a csv of their rows
and a summary first for people: overview and datasets show (issue 13, items 3, 5 and 6)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from catalogs import AOD
from typer.testing import CliRunner

from lifecycle.cli.app import app

runner = CliRunner()


@pytest.fixture
def loaded(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    return catalog.url


def run(url: str, *args: str):
    result = runner.invoke(app, ["--db", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_overview_envelope_summary_and_csv(loaded):
    shown = json.loads(run(loaded, "overview", "-f", "json"))
    assert shown["kind"] == "overview"
    summary = shown["summary"]
    assert summary["sites"] == sum(r["sites"] for r in shown["sites_by_tier"])
    assert summary["endpoints"] == sum(r["endpoints"] for r in shown["sites_by_tier"])
    assert summary["datasets"] == sum(r["datasets"] for r in shown["datasets_by_kind"]) == 4
    assert summary["bytes"] == sum(r["bytes"] for r in shown["datasets_by_kind"])
    assert summary["replicas"] == sum(r["replicas"] for r in shown["replicas_by_state"]) == 5
    rows = list(csv.DictReader(io.StringIO(run(loaded, "overview", "-f", "csv"))))
    sections = [r["section"] for r in rows]
    expected = [
        name
        for name in ("sites_by_tier", "datasets_by_kind", "replicas_by_state")
        for _ in shown[name]
    ]
    assert sections == expected
    kinds = [(r["kind"], r["data_type"], int(r["datasets"])) for r in rows if r["kind"]]
    assert kinds == [(r["kind"], r["data_type"], r["datasets"]) for r in shown["datasets_by_kind"]]
    first = run(loaded, "overview").splitlines()[0]
    assert first.startswith("2 sites, 3 endpoints; 4 datasets (")
    assert first.endswith("; 5 replicas")


def test_datasets_show_csv_is_its_fields_and_metadata(loaded):
    shown = json.loads(run(loaded, "datasets", "show", AOD, "-f", "json"))["dataset"]
    rows = list(csv.DictReader(io.StringIO(run(loaded, "datasets", "show", AOD, "-f", "csv"))))
    fields = {r["field"]: r["value"] for r in rows}
    assert fields["did"] == shown["did"]
    assert fields["bytes"] == str(shown["bytes"])  # exact, not humanised
    assert fields["created_at"] == shown["created_at"]  # ISO 8601 UTC, as json writes it
    for key, value in shown["metadata"].items():
        assert fields[f"metadata.{key}"] == value
