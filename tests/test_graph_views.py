"""Views of a provenance graph for people: the tree stays bounded at any size (summary first,
then the nearest entries, then what was left out, counted)."""

from __future__ import annotations

import io
import json
import re

import pytest
from catalogs import AOD, CALIB, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.output import render
from lifecycle.output.graph_tree import BRANCHES, TREE_ENTRIES
from lifecycle.provenance.graph import Edge, Node, Production, ProvenanceGraph, Transformation

runner = CliRunner()
FANOUT = 2_000  # productions using CALIB, each making one AOD, all merged into MERGED
MERGED = "data18_13TeV:data18_13TeV.periodB.physics_Main.merge.DAOD_PHYS.r13286_p4910"


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _fanout_aod(i: int) -> str:
    return f"data18_13TeV:data18_13TeV.{400000 + i:08d}.physics_Main.recon.AOD.r13286"


def fanout() -> dict:
    """MINI, plus ``FANOUT`` productions of r13286 using CALIB, each making one AOD, and one
    production of p4910 merging them all into MERGED (the shape of a calibration used by a
    whole campaign)."""
    tables = mini()
    dataset = next(d for d in tables["datasets"] if d["did"] == AOD)
    for i in range(FANOUT):
        tables["datasets"].append(dataset | {"did": _fanout_aod(i), "bytes": "1000"})
        name = f"task-f{i:05d}"
        tables["productions"].append(
            {"id": name, "transformation": "r13286", "status": "done", "site": "CERN-PROD"}
        )
        tables["production_io"] += [
            {"production": name, "did": CALIB, "role": "calibration"},
            {"production": name, "did": _fanout_aod(i), "role": "output"},
        ]
        tables["production_io"].append(
            {"production": "task-merge", "did": _fanout_aod(i), "role": "input"}
        )
    tables["datasets"].append(dataset | {"did": MERGED, "data_type": "DAOD_PHYS", "bytes": "1000"})
    tables["productions"].append({"id": "task-merge", "transformation": "p4910", "status": "done"})
    tables["production_io"].append({"production": "task-merge", "did": MERGED, "role": "output"})
    return tables


@pytest.fixture
def fanout_url(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "fanout", fanout()))
    return catalog.url


def invoke(url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


# -- the tree: bounded, summary first ----------------------------------------------------------


def test_impact_of_a_calibration_used_by_thousands_stays_short(fanout_url):
    result = invoke(fanout_url, "impact", CALIB)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 40  # 2,003 datasets and 2,002 productions reached
    assert lines[0] == (
        "downstream: 2,003 datasets, 1.10 TB, 1 to 2 productions away (the root not counted)"
    )
    assert lines[1:4] == ["depth  datasets", "    1     2,001", "    2         2"]
    assert re.search(r"^derived/AOD +2,001 ", result.stdout, re.MULTILINE)
    consumers = [line for line in lines if "used as calibration by" in line]
    assert len(consumers) == BRANCHES
    more = f"└── … and {FANOUT + 1 - BRANCHES:,} more consumers (--format json lists all)"
    assert more in lines
    # r13286 ran 2,001 productions: described once, in one row, not once per production
    assert re.search(r"^r13286 +Reco_tf +Athena,22\.0\.40 +recorded +2,001$", result.stdout, re.M)
    assert result.stdout.count("Athena,22.0.40") == 1
    # the JSON still lists every dataset and production
    document = json.loads(invoke(fanout_url, "impact", CALIB, "-f", "json").stdout)
    assert len(document["nodes"]) == FANOUT + 4
    assert len(document["productions"]) == FANOUT + 3


def test_lineage_of_a_merge_of_thousands_stays_short(fanout_url):
    result = invoke(fanout_url, "lineage", MERGED)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 50
    assert lines[0].startswith("upstream: 2,001 datasets, ")
    inputs = [line for line in lines if "input: " in line]
    assert len(inputs) == BRANCHES
    assert f"    └── … and {FANOUT - BRANCHES:,} more inputs (--format json lists all)" in lines
    # CALIB made each shown AOD: expanded once, then named
    assert sum(CALIB in line for line in lines) == BRANCHES
    assert sum(line.endswith("available (see above)") for line in lines if CALIB in line) == 5
    assert lines.index("r13286 Reco_tf · 2,000 productions") > lines.index(inputs[-1])


def test_a_truncated_graph_says_where_the_rest_is(fanout_url):
    result = invoke(fanout_url, "impact", CALIB, "--max-nodes", "100")
    assert result.exit_code == 0, result.output
    assert "truncated: showing the nearest 100 of 2,004 datasets (--max-nodes 100)" in (
        result.stdout
    )
    assert "(--format json lists the nearest 100; --max-nodes for more)" in result.stdout


def wide_graph(branching: int, levels: int) -> ProvenanceGraph:
    """A hand-built impact: every dataset used by ``branching`` productions, each making one
    dataset, ``levels`` deep (``branching ** levels`` leaves)."""
    t = Transformation("t1", "X_tf", "Athena,1", None, "sha256:" + "a" * 64, None, None, None)
    nodes, edges, productions = [_node("s:0", 0)], [], {}
    frontier = ["s:0"]
    for depth in range(1, levels + 1):
        grown = []
        for parent in frontier:
            for i in range(branching):
                child, name = f"{parent}.{i}", f"p{parent[2:]}.{i}"
                nodes.append(_node(child, depth))
                edges.append(Edge(parent, child, name, "input"))
                productions[name] = Production(name, t, None, None, None, None, "done")
                grown.append(child)
        frontier = grown
    return ProvenanceGraph("s:0", "downstream", nodes, edges, productions)


def test_the_tree_shows_at_most_its_budget_of_entries_nearest_first():
    graph = wide_graph(8, 4)  # 4,680 datasets below the root
    text = _rendered(graph, "tree")
    lines = text.splitlines()
    entries = [line for line in lines if re.search(r"(used as input by|output:) ", line)]
    assert len(entries) == TREE_ENTRIES - 1  # the root is the first entry
    assert len(lines) < TREE_ENTRIES * 2
    assert f"output: s:0.{BRANCHES - 1}" in text  # breadth first: every shown consumer of the
    assert "output: s:0.0.0 " in text  # root before anything two levels down
    assert "… and 2 more consumers (--format json lists all)" in text  # 8 - 6 under the root
    assert "s:0.0.0.0" not in text  # the budget is spent before the third level


def _rendered(graph: ProvenanceGraph, fmt: str) -> str:
    out = io.StringIO()
    render(graph, fmt, "graph", out)
    return out.getvalue()


def _node(did: str, depth: int) -> Node:
    return Node(did, "derived", "AOD", depth, True, "closed", 1, None, None)
