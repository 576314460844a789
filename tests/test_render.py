"""Graph renderings: the format registry, golden outputs of the MINI chain, and each format's rules.

Golden files live in ``tests/golden/``; ``LIFECYCLE_UPDATE_GOLDEN=1 pytest tests/test_render.py``
rewrites them from the current output (review the diff before committing).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.cli.options import GraphFormat
from lifecycle.errors import UsageError
from lifecycle.output import register, render
from lifecycle.output.prov import local_name
from lifecycle.output.registry import FAMILIES
from lifecycle.provenance.graph import (
    Edge,
    Node,
    Production,
    ProvenanceGraph,
    Transformation,
    impact,
    lineage,
)

GRAPH_FORMATS = FAMILIES["graph"]


def render_graph(graph: ProvenanceGraph, fmt: str, out: io.StringIO) -> None:
    render(graph, fmt, "graph", out)


def graph_format(name: str):
    return register("graph", name)


GOLDEN = Path(__file__).parent / "golden"
SUFFIXES = {
    "tree": "txt",
    "json": "json",
    "prov-json": "prov.json",
    "prov-n": "provn",
    "prov-xml": "prov.xml",
    "openlineage": "openlineage.ndjson",
    "dot": "dot",
    "mermaid": "mmd",
}


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    """Rich decides on colour from the environment: make every run the same plain one."""
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def load(catalog, tmp_path, tables=None):
    catalog.import_directory(write_catalog(tmp_path / "mini", tables or mini()))
    return catalog


def walk(catalog, did: str = PHYS, walker=lineage, **options) -> ProvenanceGraph:
    with catalog.read() as conn:
        return walker(conn, did, **options)


def rendered(graph: ProvenanceGraph, fmt: str) -> str:
    out = io.StringIO()
    render_graph(graph, fmt, out)
    return out.getvalue()


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LIFECYCLE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path} (see module docstring)"


def with_deleted_aod() -> dict:
    tables = mini()
    next(d for d in tables["datasets"] if d["did"] == AOD)["state"] = "deleted"
    next(r for r in tables["replicas"] if r["did"] == AOD)["state"] = "deleted"
    return tables


# -- the registry --------------------------------------------------------------------------------


def test_every_cli_format_is_registered():
    assert set(GRAPH_FORMATS) >= {f.value for f in GraphFormat}
    assert list(GRAPH_FORMATS)[:6] == ["tree", "json", "prov-json", "prov-n", "dot", "mermaid"]


def test_unknown_format_is_a_usage_error_naming_the_option():
    graph = ProvenanceGraph("s:d", "upstream", [_node("s:d")], [], {})
    with pytest.raises(UsageError, match=r"--format: 'png' is not one of tree, json, "):
        render_graph(graph, "png", io.StringIO())


def test_a_registered_format_renders_through_render_graph(monkeypatch):
    monkeypatch.setitem(GRAPH_FORMATS, "count", None)  # removed again after the test
    graph_format("count")(lambda graph, out: out.write(f"{len(graph.nodes)} datasets\n"))
    graph = ProvenanceGraph("s:d", "upstream", [_node("s:d")], [], {})
    assert rendered(graph, "count") == "1 datasets\n"


# -- golden files --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(SUFFIXES))
def test_mini_lineage_golden(catalog, tmp_path, fmt):
    """The exact output for PHYS's lineage, the same on SQLite and PostgreSQL."""
    text = rendered(walk(load(catalog, tmp_path)), fmt)
    assert_golden(f"mini_lineage.{SUFFIXES[fmt]}", text)
    assert not DELETED[fmt](text)  # the markers of a deleted dataset are not always there


@pytest.mark.parametrize("fmt", list(SUFFIXES))
def test_mini_lineage_depth_1_golden(catalog, tmp_path, fmt):
    """PHYS's lineage cut at --depth 1: AOD is shown with its producer, whose inputs are not."""
    text = rendered(walk(load(catalog, tmp_path), depth=1), fmt)
    assert_golden(f"mini_lineage_depth1.{SUFFIXES[fmt]}", text)


def test_mini_impact_tree_golden(catalog, tmp_path):
    graph = walk(load(catalog, tmp_path), CALIB, impact)
    assert_golden("mini_impact.txt", rendered(graph, "tree"))


def test_cli_lineage_prints_the_rendering(catalog, tmp_path):
    graph = walk(load(catalog, tmp_path))
    result = CliRunner().invoke(app, ["--db", catalog.url, "lineage", PHYS, "--format", "prov-n"])
    assert result.exit_code == 0, result.output
    assert result.stdout == rendered(graph, "prov-n")


# -- deleted datasets ----------------------------------------------------------------------------


def _deleted_in_tree(text: str) -> bool:
    return any(AOD in line and line.endswith("· deleted") for line in text.splitlines())


def _deleted_in_json(text: str) -> bool:
    return {n["did"]: n["state"] for n in json.loads(text)["nodes"]}[AOD] == "deleted"


def _deleted_in_prov_json(text: str) -> bool:
    relations = json.loads(text).get("wasInvalidatedBy", {})
    invalidated = [r["prov:entity"] for r in relations.values()]
    return invalidated == [f"dataset:{local_name(AOD)}"]


def _deleted_in_prov_n(text: str) -> bool:
    return f"wasInvalidatedBy(dataset:{local_name(AOD)}, -, -" in text


def _deleted_in_prov_xml(text: str) -> bool:
    entity = re.escape(f'<prov:entity prov:ref="dataset:{local_name(AOD)}"/>')
    return re.search(rf"<prov:wasInvalidatedBy>\s*{entity}", text) is not None


def _deleted_in_openlineage(text: str) -> bool:
    states = {
        d["facets"]["lifecycle_dataset"]["did"]: d["facets"]["lifecycle_dataset"]["state"]
        for event in map(json.loads, text.splitlines())
        for d in event["inputs"] + event["outputs"]
    }
    return states.get(AOD) == "deleted"


def _deleted_in_dot(text: str) -> bool:
    line = next(line for line in text.splitlines() if line.startswith(f'  "dataset:{AOD}" ['))
    return 'style="filled,dashed"' in line and "· deleted" in line


def _deleted_in_mermaid(text: str) -> bool:
    node = re.search(rf'  (d\d+)\("{re.escape(AOD)}<br/>', text)
    return node is not None and re.search(rf"class (\w+,)*{node[1]}(,\w+)* deleted", text)


DELETED = {
    "tree": _deleted_in_tree,
    "json": _deleted_in_json,
    "prov-json": _deleted_in_prov_json,
    "prov-n": _deleted_in_prov_n,
    "prov-xml": _deleted_in_prov_xml,
    "openlineage": _deleted_in_openlineage,
    "dot": _deleted_in_dot,
    "mermaid": _deleted_in_mermaid,
}


@pytest.mark.parametrize("fmt", list(DELETED))
def test_a_deleted_intermediate_shows_as_deleted_in_every_format(catalog, tmp_path, fmt):
    graph = walk(load(catalog, tmp_path, with_deleted_aod()))
    assert AOD in {n.did for n in graph.nodes}
    assert DELETED[fmt](rendered(graph, fmt))


# -- the tree ------------------------------------------------------------------------------------


def test_tree_shows_each_production_with_what_is_needed_to_run_it_again(catalog, tmp_path):
    """A production is one line naming its transformation; what is needed to run it again is
    the transformation's, printed once below the tree."""
    text = rendered(walk(load(catalog, tmp_path)), "tree")
    lines = text.splitlines()
    produced = (
        "made by task-00000001 · r13286 Reco_tf · done · CERN-PROD · "
        "2018-08-02 00:00 → 2018-08-03 00:00 UTC · conditions CONDBR2-BLKPA-RUN2-09"
    )
    assert any(line.endswith(produced) for line in lines)
    at = lines.index("r13286 Reco_tf · 1 production")
    assert lines[at + 1 : at + 5] == [
        "    release Athena,22.0.40",
        f"    image registry.cern.ch/atlas/athena:22.0.40@sha256:{'a' * 64}",
        f"    code https://gitlab.cern.ch/atlas/athena @ {'b' * 40}",
        "    command Reco_tf.py --AMIConfig r13286",
    ]
    at = lines.index("p4910 Derivation_tf · 1 production")
    assert lines[at + 1 : at + 5] == [
        "    release AthDerivation,21.2.179.0",
        "    image not recorded",
        "    code not recorded",
        "    command not recorded",
    ]
    for fact in (
        f"calibration: {CALIB}  calibration/COND · 1.00 MB · available",
        f"input: {RAW}  raw/RAW · 2.00 TB · available",
    ):
        assert fact in text
    assert "\x1b" not in text  # no colour codes when not writing to a terminal
    assert max(len(line) for line in lines) <= 160


def test_tree_expands_a_shared_ancestor_once_where_it_is_nearest(catalog, tmp_path):
    """CALIB feeds PHYS's producer directly and through AOD: expanded once, under PHYS's
    producer (one production away, the nearest), and named "(see below)" under AOD's."""
    tables = mini()
    tables["production_io"].append(
        {"production": "task-00000002", "did": CALIB, "role": "calibration"}
    )
    text = rendered(walk(load(catalog, tmp_path, tables)), "tree")
    lines = [line for line in text.splitlines() if CALIB in line]
    assert len(lines) == 2
    assert lines[0].endswith("available (see below)")
    assert lines[0].startswith("    │       └── calibration:")  # under AOD's producer
    assert lines[1].startswith("    └── calibration:")  # under PHYS's producer
    assert lines[1].endswith("available")


def test_tree_prints_a_production_with_two_outputs_once():
    """X and Y, both made by p1, feed the root: p1 and its inputs appear once, and the
    transformation both productions ran is described once."""
    t = Transformation("t1", "X_tf", "Athena,1", None, None, None, None, None)
    productions = {n: Production(n, t, None, None, None, None, "done") for n in ("p1", "p2")}
    nodes = [_node(d) for d in ("s:root", "s:x", "s:y", "s:raw")]
    edges = [
        Edge("s:x", "s:root", "p2", "input"),
        Edge("s:y", "s:root", "p2", "input"),
        Edge("s:raw", "s:x", "p1", "input"),
        Edge("s:raw", "s:y", "p1", "input"),
    ]
    text = rendered(ProvenanceGraph("s:root", "upstream", nodes, edges, productions), "tree")
    assert text.count("made by p1") == 2
    assert "made by p1 (see above)" in text
    assert text.count("release Athena,1") == 1
    assert "t1 X_tf · 2 productions" in text.splitlines()
    assert text.count("input: s:raw") == 1


def test_tree_of_an_impact_lists_consumers_and_outputs(catalog, tmp_path):
    text = rendered(walk(load(catalog, tmp_path), CALIB, impact), "tree")
    assert "used as calibration by task-00000001 · r13286 Reco_tf · done" in text
    assert f"output: {AOD}" in text
    assert f"output: {PHYS}" in text
    summary = "downstream: 2 datasets, 1.10 TB, 1 to 2 productions away (the root not counted)"
    assert text.splitlines()[0] == summary
    assert re.search(r"^r13286 +Reco_tf +Athena,22\.0\.40 +recorded +1$", text, re.MULTILINE)
    assert re.search(r"^p4910 +Derivation_tf +\S+ +not recorded +1$", text, re.MULTILINE)


def test_tree_starts_with_the_summary_and_the_truncation_marker(catalog, tmp_path):
    text = rendered(walk(load(catalog, tmp_path), max_nodes=2), "tree")
    lines = text.splitlines()
    assert (
        lines[0] == "upstream: 3 datasets, 3.00 TB, 1 to 2 productions away (the root not counted)"
    )
    assert lines[1:4] == ["depth  datasets", "    1         1", "    2         2"]
    marker = lines.index("truncated: showing the nearest 2 of 4 datasets (--max-nodes 2)")
    assert marker < next(i for i, line in enumerate(lines) if line.startswith(PHYS))
    assert re.search(r"^raw/RAW +1 +2\.00 TB +1 +0$", text, re.MULTILINE)


# -- producers whose inputs are not shown -------------------------------------------------------

MADE_AOD = "made by task-00000001"


def _aod_made_in_tree(text: str, note: str) -> bool:
    """The line after AOD's is its producer, in full, with why its inputs are not shown."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if f"input: {AOD}" in line)
    made = f"{MADE_AOD} ({note}) · r13286 Reco_tf · done · CERN-PROD"
    return lines[at + 1].strip(" │└├─").startswith(made)


def _aod_made_in_dot(text: str, note: str) -> bool:
    box = next(
        line for line in text.splitlines() if line.startswith('  "production:task-00000001"')
    )
    edge = f'  "production:task-00000001" -> "dataset:{AOD}";'
    return f"Athena,22.0.40\\n({note})" in box and edge in text.splitlines()


def _aod_made_in_mermaid(text: str, note: str) -> bool:
    ids = dict(re.findall(r'^  (\w+)[(\[]"([^<"]*)<br/>', text, re.MULTILINE))
    aod, task = (next(i for i, label in ids.items() if label == x) for x in (AOD, "task-00000001"))
    return f"  {task} --> {aod}" in text.splitlines() and f'<br/>({note})"]' in text


def _aod_made_in_prov_json(text: str, note: str) -> bool:
    relations = json.loads(text)["wasGeneratedBy"].values()
    aod = f"dataset:{local_name(AOD)}"
    return {"prov:entity": aod, "prov:activity": "production:task-00000001"} in [
        {k: r[k] for k in ("prov:entity", "prov:activity")} for r in relations
    ]


def _aod_made_in_prov_n(text: str, note: str) -> bool:
    return f"wasGeneratedBy(dataset:{local_name(AOD)}, production:task-00000001, -)" in text


def _aod_made_in_prov_xml(text: str, note: str) -> bool:
    generation = (
        "<prov:wasGeneratedBy>\n"
        f'    <prov:entity prov:ref="dataset:{local_name(AOD)}"/>\n'
        '    <prov:activity prov:ref="production:task-00000001"/>\n'
    )
    return generation in text


def _aod_made_in_openlineage(text: str, note: str) -> bool:
    made = {
        e["run"]["facets"]["lifecycle_production"]["production"]: [
            d["facets"]["lifecycle_dataset"]["did"] for d in e["outputs"]
        ]
        for e in map(json.loads, text.splitlines())
    }
    return AOD in made.get("task-00000001", [])


def _aod_made_in_json(text: str, note: str) -> bool:
    return json.loads(text)["generated_by"][AOD] == "task-00000001"


AOD_MADE = {
    "tree": _aod_made_in_tree,
    "json": _aod_made_in_json,
    "prov-json": _aod_made_in_prov_json,
    "prov-n": _aod_made_in_prov_n,
    "prov-xml": _aod_made_in_prov_xml,
    "openlineage": _aod_made_in_openlineage,
    "dot": _aod_made_in_dot,
    "mermaid": _aod_made_in_mermaid,
}


@pytest.mark.parametrize("fmt", list(AOD_MADE))
def test_depth_1_links_aod_to_its_producer_in_every_format(catalog, tmp_path, fmt):
    """lineage PHYS --depth 1: AOD's inputs are beyond the depth, its producer is still shown."""
    graph = walk(load(catalog, tmp_path), depth=1)
    assert {n.did for n in graph.nodes} == {PHYS, AOD}
    assert not any(e.child == AOD for e in graph.edges)  # no edge says who made AOD
    text = rendered(graph, fmt)
    assert AOD_MADE[fmt](text, "inputs beyond --depth 1")
    assert RAW not in text
    assert CALIB not in text


@pytest.mark.parametrize("fmt", ["tree", "dot", "mermaid", "prov-n"])
def test_depth_1_through_the_cli(catalog, tmp_path, fmt):
    load(catalog, tmp_path)
    args = ["--db", catalog.url, "lineage", PHYS, "--depth", "1", "--format", fmt]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert AOD_MADE[fmt](result.stdout, "inputs beyond --depth 1")


@pytest.mark.parametrize("fmt", ["tree", "dot", "mermaid"])
def test_a_producer_cut_by_the_node_cap_says_so(catalog, tmp_path, fmt):
    text = rendered(walk(load(catalog, tmp_path), max_nodes=2), fmt)
    assert AOD_MADE[fmt](text, "inputs, if any, cut by --max-nodes 2")


def test_the_producer_of_the_root_at_depth_0(catalog, tmp_path):
    graph = walk(load(catalog, tmp_path), depth=0)
    text = rendered(graph, "tree")
    assert "made by task-00000002 (inputs beyond --depth 0) · p4910 Derivation_tf · done" in text
    assert '"production:task-00000002" -> "dataset:' + PHYS + '";' in rendered(graph, "dot")
    assert "p1 --> d1" in rendered(graph, "mermaid")


def test_a_production_with_no_recorded_input(catalog, tmp_path):
    """AOD's producer without inputs: the whole walk is shown, so it has none to show."""
    tables = mini()
    tables["production_io"] = [
        r
        for r in tables["production_io"]
        if not (r["production"] == "task-00000001" and r["role"] != "output")
    ]
    graph = walk(load(catalog, tmp_path, tables))
    assert not graph.truncated
    assert {n.did for n in graph.nodes} == {PHYS, AOD}
    for fmt in ("tree", "dot", "mermaid", "prov-n"):
        assert AOD_MADE[fmt](rendered(graph, fmt), "no recorded input"), fmt


def test_no_catch_all_remains_in_a_lineage_tree(catalog, tmp_path):
    for options in ({}, {"depth": 0}, {"depth": 1}, {"max_nodes": 1}, {"max_nodes": 2}):
        text = rendered(walk(load(catalog, tmp_path), **options), "tree")
        assert "not reached from the root" not in text, options
        assert "outside this graph" not in text, options


def test_tree_lists_productions_a_hand_built_graph_does_not_reach():
    t = Transformation("t1", "X_tf", "Athena,1", None, None, None, None, None)
    production = Production("p1", t, None, None, None, None, "done")
    graph = ProvenanceGraph("s:d", "upstream", [_node("s:d")], [], {"p1": production})
    text = rendered(graph, "tree")
    assert "productions not reached from the root" in text
    assert "production p1 · t1 X_tf · done" in text


def test_generated_by_alone_links_a_hand_built_graph():
    """A producer known only from ``generated_by`` is drawn, and edges are not drawn twice."""
    t = Transformation("t1", "X_tf", None, None, None, None, None, None)
    productions = {n: Production(n, t, None, None, None, None, "done") for n in ("p1", "p2")}
    nodes = [_node("s:root"), _node("s:in")]
    edges = [Edge("s:in", "s:root", "p2", "input")]
    generated_by = {"s:root": "p2", "s:in": "p1"}
    graph = ProvenanceGraph("s:root", "upstream", nodes, edges, productions, generated_by)
    dot = rendered(graph, "dot").splitlines()
    assert dot.count('  "production:p2" -> "dataset:s:root";') == 1
    assert '  "production:p1" -> "dataset:s:in";' in dot
    mermaid = rendered(graph, "mermaid").splitlines()
    assert mermaid.count("  p2 --> d2") == 1  # d1 is s:in, d2 s:root
    assert "  p1 --> d1" in mermaid
    assert "made by p1 (no recorded input)" in rendered(graph, "tree")


# -- the diagrams --------------------------------------------------------------------------------

ODD = 'odd:na"me\\with #<b>`x`\nend'


def odd_graph() -> ProvenanceGraph:
    """A graph whose DID holds every character DOT and Mermaid treat specially."""
    t = Transformation('t"1', "X_tf", None, None, None, None, None, None)
    nodes = [_node(ODD), _node("s:in")]
    edges = [Edge("s:in", ODD, 'p"1', "input")]
    production = Production('p"1', t, None, None, None, None, "done")
    return ProvenanceGraph(ODD, "upstream", nodes, edges, {'p"1': production})


DOT_STRING = r'"(?:[^"\\]|\\.)*"'


def test_dot_quotes_and_escapes_every_id_and_label():
    text = rendered(odd_graph(), "dot")
    assert text.startswith("digraph lineage {\n")
    assert text.endswith("}\n")
    assert '"dataset:odd:na\\"me\\\\with #<b>`x`\\nend"' in text
    for line in text.splitlines()[1:-1]:  # outside quoted strings, only DOT syntax remains
        assert re.fullmatch(r"[\w ,;=\[\]>-]*", re.sub(DOT_STRING, "S", line)), line


def test_mermaid_uses_safe_ids_and_escaped_labels():
    text = rendered(odd_graph(), "mermaid")
    assert text.startswith("flowchart TD\n")
    assert 'd1("odd:na#quot;me\\with #35;#lt;b#gt;#96;x#96; end<br/>' in text
    labels = re.findall(r'\("(.*?)"\)|\["(.*?)"\]', text)
    assert all('"' not in a + b for a, b in labels)
    assert "d2 -->|input| p1" in text
    assert "p1 --> d1" in text


def test_diagrams_draw_data_flowing_from_input_to_output(catalog, tmp_path):
    dot = rendered(walk(load(catalog, tmp_path)), "dot")
    assert f'"dataset:{RAW}" -> "production:task-00000001" [label="input"];' in dot
    assert f'"production:task-00000001" -> "dataset:{AOD}";' in dot
    root = next(line for line in dot.splitlines() if line.startswith(f'  "dataset:{PHYS}" ['))
    assert 'penwidth="2"' in root  # the root stands out


def _node(did: str, state: str = "closed") -> Node:
    return Node(did, "derived", "AOD", 0, True, state, 1, None, None)
