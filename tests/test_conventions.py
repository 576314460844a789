"""One convention for values everywhere: bytes exact in JSON and CSV and humanised in tables,
booleans and numbers typed in JSON (``true``, not ``"true"``), counts grouped in thousands,
durations as the policy writes them."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from catalogs import AOD, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.values import typed_text

runner = CliRunner()


@pytest.fixture
def loaded(catalog, tmp_path):
    """The mini catalog with endpoint attributes of every kind: boolean, integer, decimal,
    a code with a leading zero, a mixed column, and one set on only some endpoints."""
    tables = mini()
    extras = [
        {"archival": "true", "weight": "3", "free_tb": "12.5", "code": "007", "mixed": "x"},
        {"archival": "False", "weight": "-1", "free_tb": "4", "code": "12", "mixed": "1"},
    ]
    for row, extra in zip(tables["endpoints"], extras * len(tables["endpoints"]), strict=False):
        row.update(extra)
    tables["endpoints"][0]["partial"] = "TRUE"
    catalog.import_directory(write_catalog(tmp_path / "x", tables))
    return catalog.url


def run(url: str, *args: str, width: int = 200):
    return runner.invoke(app, ["--db", url, *args], terminal_width=width)


def test_endpoint_attributes_are_typed_in_json_and_csv(loaded):
    rows = json.loads(run(loaded, "endpoints", "list", "--format", "json").stdout)["endpoints"]
    by_name = {r["endpoint"]: r for r in rows}
    first, second = by_name["CERN-PROD_DATATAPE"], by_name["CERN-PROD_DATADISK"]
    assert (first["archival"], second["archival"]) == (True, False)
    assert (first["weight"], second["weight"]) == (3, -1)
    assert (first["free_tb"], second["free_tb"]) == (12.5, 4.0)
    assert (first["code"], second["code"]) == ("007", "12")  # a code keeps its zeros: text
    assert (first["mixed"], second["mixed"]) == ("x", "1")
    assert first["partial"] is True
    assert second["partial"] is None
    listed = csv.DictReader(io.StringIO(run(loaded, "endpoints", "list", "-f", "csv").stdout))
    table = {r["endpoint"]: r for r in listed}  # the same names as json
    first, second = table["CERN-PROD_DATATAPE"], table["CERN-PROD_DATADISK"]
    assert (first["archival"], second["archival"]) == ("true", "false")
    assert (first["partial"], second["partial"]) == ("true", "")
    assert (first["weight"], first["free_tb"], first["code"]) == ("3", "12.5", "007")
    people = run(loaded, "endpoints", "list").stdout
    assert "true" in people
    assert "True" not in people
    assert "False" not in people


def test_typed_endpoint_attributes_still_select(loaded):
    """Expressions read the stored text; typing the listing changes nothing they select."""
    rows = json.loads(
        run(loaded, "endpoints", "list", "-e", "archival&weight>0", "-f", "json").stdout
    )["endpoints"]
    assert rows
    assert all(r["archival"] is True and r["weight"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("texts", "dtype", "values"),
    [
        (["true", "FALSE", None], "boolean", [True, False, None]),
        (["1", "-2", None], "Int64", [1, -2, None]),
        (["9223372036854775807"], "Int64", [2**63 - 1]),
        (["99999999999999999999"], "object", ["99999999999999999999"]),  # exact, as text
        (["41800.0", "3"], "Float64", [41800.0, 3.0]),
        (["007", "1"], "object", ["007", "1"]),
        (["1e5"], "object", ["1e5"]),
        (["yes", "no"], "object", ["yes", "no"]),
        ([None, None], "object", [None, None]),
    ],
)
def test_typed_text(texts, dtype, values):
    typed = typed_text(pd.Series(texts, dtype=object))
    assert str(typed.dtype) == dtype
    assert [None if pd.isna(v) else v for v in typed] == values


def test_datasets_show_humanises_bytes_in_the_table_only(loaded):
    table = run(loaded, "datasets", "show", AOD).stdout
    json_bytes = json.loads(run(loaded, "datasets", "show", AOD, "--format", "json").stdout)
    size = json_bytes["dataset"]["bytes"]
    assert isinstance(size, int)
    assert size >= 1000
    assert f"({size:,} bytes)" in table
    assert not re.search(rf"(?<![\d,]){size}(?![\d,])", table)  # not the raw integer
    assert any(unit in table for unit in (" kB (", " MB (", " GB (", " TB (", " PB ("))
    files = json_bytes["dataset"]["files"]
    assert re.search(rf"(?<![\d,]){files:,}(?![\d,])", table)


def test_notes_group_counts_in_thousands(catalog, tmp_path):
    tables = mini()
    template = tables["datasets"][-1]
    for i in range(1200):
        tables["datasets"].append({**template, "did": f"user.x:user.x.n{i:05d}", "expires_at": ""})
    catalog.import_directory(write_catalog(tmp_path / "x", tables))
    listed = run(catalog.url, "datasets", "list", "--limit", "1000")
    assert "showing the first 1,000 datasets; --limit 0 lists all" in listed.stderr


def test_free_space_in_tb_is_listed_as_integer_free_bytes(catalog, tmp_path):
    """``freespace_tb`` (an endpoint's own attribute, in TB) is ``free_bytes`` in every report,
    an integer; the exchange format keeps the attribute as it was given."""
    tables = mini()
    for row, free in zip(tables["endpoints"], ["4480", "0.5", ""], strict=True):
        row["freespace_tb"] = free
    catalog.import_directory(write_catalog(tmp_path / "x", tables))
    listed = json.loads(run(catalog.url, "endpoints", "list", "-f", "json").stdout)["endpoints"]
    free = {r["endpoint"]: r["free_bytes"] for r in listed}
    assert free == {
        "CERN-PROD_DATATAPE": 4_480_000_000_000_000,
        "CERN-PROD_DATADISK": 500_000_000_000,
        "BNL-OSG2_DATATAPE": None,
    }
    assert all("freespace_tb" not in r for r in listed)
    rows = list(
        csv.DictReader(io.StringIO(run(catalog.url, "endpoints", "list", "-f", "csv").stdout))
    )
    assert {r["endpoint"]: r["free_bytes"] for r in rows}["CERN-PROD_DATADISK"] == "500000000000"
    assert "4.48 PB" in run(catalog.url, "endpoints", "list").stdout  # humanised for people
    catalog.export_directory(tmp_path / "out")
    assert "freespace_tb" in (tmp_path / "out" / "endpoints.csv").read_text()
