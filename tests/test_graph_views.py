"""Views of a provenance graph for people: the tree stays bounded at any size (summary first,
then the nearest entries, then what was left out, counted), and the pictures (svg, html) are
well-formed, self-contained, hold every label escaped, and refuse what they cannot draw."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.errors import UsageError
from lifecycle.output import render
from lifecycle.output.graph_tree import BRANCHES, TREE_ENTRIES
from lifecycle.output.registry import FAMILIES
from lifecycle.output.svg import MAX_BOXES, escape
from lifecycle.provenance.graph import Edge, Node, Production, ProvenanceGraph, Transformation
from lifecycle.text import printable

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"
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


# -- svg and html ----------------------------------------------------------------------------

HOSTILE = [
    "evil:a<b>&amp;\"quoted\"'single'",
    "evil:[bold]markup[/bold][link=http://evil.example]x[/link]",
    "evil:ctl\x1b[31m\x00\x07\nnew\u202eline\ufffe",
    "evil:]]>--><!--<script>alert(1)</script>",
]


def hostile_graph() -> ProvenanceGraph:
    t = Transformation('t<&"', "X_tf</text>", "Athena,'1'", None, None, None, "rm -rf / &", None)
    nodes = [_node(HOSTILE[0], 0), *(_node(did, 1) for did in HOSTILE[1:])]
    edges = [Edge(did, HOSTILE[0], "p<1>&", "input") for did in HOSTILE[1:]]
    production = Production("p<1>&", t, "<cond>", "S&<ite", None, None, "done")
    return ProvenanceGraph(HOSTILE[0], "upstream", nodes, edges, {"p<1>&": production})


def _titles(root: ET.Element, kind: str) -> list[str]:
    return [
        g.find(f"{SVG}title").text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == kind and g.find(f"{SVG}title") is not None
    ]


def test_svg_is_well_formed_and_holds_every_label_escaped():
    graph = hostile_graph()
    text = _rendered(graph, "svg")
    root = ET.fromstring(text.encode("utf-8"))  # raises on anything malformed
    assert root.tag == f"{SVG}svg"
    shown = [title.split("\n")[0] for title in _titles(root, "dataset")]
    expected = [printable(did).replace("\ufffe", "\\ufffe") for did in HOSTILE]
    assert sorted(shown) == sorted(expected)  # every dataset, text as printable shows it
    (production,) = _titles(root, "production")
    assert production.startswith('production p<1>& · done · S&<ite\ntransformation t<&" X_tf<')
    assert not list(root.iter(f"{SVG}script"))
    assert not list(root.iter(f"{SVG}foreignObject"))
    for element in root.iter():
        assert not any(name.endswith("href") for name in element.attrib), element.attrib
    assert "\x1b" not in text
    assert "\x00" not in text
    assert "<script>" not in text
    assert "]]>" not in text


def test_svg_of_the_mini_chain_draws_every_dataset_and_production(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "mini", mini()))
    path = tmp_path / "lineage.svg"
    result = invoke(catalog.url, "lineage", PHYS, "--format", "svg", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    root = ET.parse(path).getroot()
    datasets = {title.split("\n")[0] for title in _titles(root, "dataset")}
    assert datasets == {PHYS, AOD, CALIB, "data18_13TeV:data18_13TeV.00357772.physics_Main.daq.RAW"}
    productions = {title.split(" ")[1] for title in _titles(root, "production")}
    assert productions == {"task-00000001", "task-00000002"}
    paths = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(paths) == 5  # RAW, CALIB -> task 1 -> AOD -> task 2 -> PHYS
    labels = {t.text for t in root.iter(f"{SVG}text") if t.get("paint-order")}
    assert labels == {"input", "calibration"}
    # data flows down the page: inputs above their production, the dataset at the bottom
    y = {
        _drawn(g.findtext(f"{SVG}title")): float(g.find(f"{SVG}rect").get("y"))
        for g in root.iter(f"{SVG}g")
        if g.get("class")
    }
    assert y[CALIB] < y["task-00000001"] < y[AOD] < y["task-00000002"] < y[PHYS]


def test_html_is_one_page_holding_the_svg_and_fetching_nothing(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "mini", mini()))
    result = invoke(catalog.url, "impact", CALIB, "--format", "html")  # a pipe: allowed
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>\n")
    assert "default-src 'none'" in page  # the page's policy forbids any fetch
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    titles = {g.findtext("title").split("\n")[0] for g in svg.iter("g") if g.get("class")}
    assert {CALIB, AOD, PHYS} <= titles
    assert re.search(r"<td>derived/AOD</td><td>1</td><td>1\.00 TB</td>", page)
    assert not re.search(
        r"""(src|href|action)\s*=|url\((?!#)|@import|<script|<link|<iframe""", page
    )


def test_html_escapes_hostile_labels():
    page = _rendered(hostile_graph(), "html")
    assert (
        "<title>lineage of evil:a&lt;b&gt;&amp;amp;&quot;quoted&quot;&#39;single&#39;</title>"
        in (page)
    )
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    assert len([g for g in svg.iter("g") if g.get("class") == "dataset"]) == len(HOSTILE)
    assert "<script>" not in page
    assert "\x1b" not in page
    assert not re.search(r"""(src|href)\s*=|<link|url\((?!#)""", page)


def test_escape_keeps_text_and_neutralises_markup():
    assert escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;"
    assert escape("x\x1by\nz") == "x\\x1by\\nz"
    assert escape("a\nb", lines=True) == "a\nb"
    assert escape("ok\ufffe\U0001f600") == "ok\\ufffe\U0001f600"


def test_a_graph_too_big_to_draw_is_refused_before_anything_is_written(fanout_url, tmp_path):
    graph = wide_graph(8, 4)
    assert len(graph.nodes) + len(graph.productions) > MAX_BOXES
    with pytest.raises(UsageError, match=r"too many to draw .* --depth N or --max-nodes N"):
        _rendered(graph, "svg")
    path = tmp_path / "impact.svg"
    result = invoke(fanout_url, "impact", CALIB, "-f", "svg", "-o", str(path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "2,004 datasets and 2,003 productions are too many to draw" in result.stderr
    assert not path.exists()
    smaller = invoke(
        fanout_url, "impact", CALIB, "-f", "svg", "--max-nodes", "500", "-o", str(path)
    )
    assert smaller.exit_code == 0, smaller.output
    ET.parse(path)


@pytest.mark.parametrize("fmt", ["svg", "html"])
def test_a_picture_is_never_written_to_a_terminal(tmp_path, fmt):
    """On a terminal: one line saying to use -o, exit 2, before the catalog is even read."""
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-c", "from lifecycle.cli.app import main; main()",
             "--db", f"sqlite:///{tmp_path}/none.db", "lineage", "x:y", "--format", fmt],
            stdout=secondary, stderr=subprocess.PIPE, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )  # fmt: skip
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"lifecycle: error: --format {fmt} writes a file, not text for a terminal: "
        "give -o FILE, or pipe it to a program\n"
    )


def _drawn(title: str) -> str:
    """The DID or production name a box's title is about."""
    first = title.split("\n")[0]
    return first.split(" ")[1] if first.startswith("production ") else first


def _rendered(graph: ProvenanceGraph, fmt: str) -> str:
    out = io.StringIO()
    render(graph, fmt, "graph", out)
    return out.getvalue()


def _node(did: str, depth: int) -> Node:
    return Node(did, "derived", "AOD", depth, True, "closed", 1, None, None)


def test_only_text_for_people_and_tools_may_go_to_a_terminal():
    kept_off = {
        (f.family, f.name) for fam in FAMILIES.values() for f in fam.values() if not f.terminal
    }
    assert kept_off == {
        ("listing", "parquet"),
        ("plan", "parquet"),
        ("graph", "svg"),
        ("graph", "html"),
    }
