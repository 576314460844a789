"""The provenance graph as a diagram: Graphviz DOT and Mermaid, in the PROV style.

Datasets are ellipses or rounded boxes coloured by kind, productions are boxes, and arrows run
the way data flows (input → production → output) for lineage and impact alike. Identifiers and
labels are escaped for each language (catalog text never becomes diagram syntax).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, TextIO

from lifecycle.output.graphs import generations, inputs_notes, kind_text
from lifecycle.text import human_bytes

if TYPE_CHECKING:
    from lifecycle.provenance.graph import Node, Production, ProvenanceGraph

KIND_COLOURS = {
    "raw": "#f4cccc",
    "calibration": "#fff2cc",
    "derived": "#d9ead3",
    "simulated": "#cfe2f3",
    "metadata": "#ead1dc",
    "outreach": "#d9d2e9",
}
OTHER_COLOUR = "#eeeeee"  # a kind without a colour of its own, and deleted datasets


def write_dot(graph: ProvenanceGraph, out: TextIO) -> None:
    """Graphviz DOT: quoted ids ``dataset:<DID>`` and ``production:<name>``, escaped labels."""
    lines = [
        f"digraph {'lineage' if graph.direction == 'upstream' else 'impact'} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in sorted(graph.nodes, key=lambda n: n.did):
        attributes = {"label": "\n".join(_dataset_lines(node)), "shape": "ellipse"}
        if node.deleted:
            attributes |= {"style": "filled,dashed", "fillcolor": OTHER_COLOUR}
            attributes |= {"color": "grey50", "fontcolor": "grey50"}
        else:
            attributes |= {
                "style": "filled",
                "fillcolor": KIND_COLOURS.get(node.kind, OTHER_COLOUR),
            }
        if node.did == graph.root:
            attributes["penwidth"] = "2"
        lines.append(f"  {_dot_quote('dataset:' + node.did)} [{_dot_attributes(attributes)}];")
    notes = inputs_notes(graph)
    for _, p in sorted(graph.productions.items()):
        label = "\n".join(_production_lines(p, notes.get(p.name)))
        attributes = {"label": label, "shape": "box"}
        lines.append(f"  {_dot_quote('production:' + p.name)} [{_dot_attributes(attributes)}];")
    for parent, name, role in sorted({(e.parent, e.production, e.role) for e in graph.edges}):
        edge = f"{_dot_quote('dataset:' + parent)} -> {_dot_quote('production:' + name)}"
        lines.append(f"  {edge} [{_dot_attributes({'label': role})}];")
    for name, child in generations(graph):
        lines.append(f"  {_dot_quote('production:' + name)} -> {_dot_quote('dataset:' + child)};")
    out.write("\n".join([*lines, "}"]) + "\n")


def write_mermaid(graph: ProvenanceGraph, out: TextIO) -> None:
    """A Mermaid ``flowchart TD``: ids ``d1``, ``p1``... by sorted DID and name, escaped labels."""
    nodes = sorted(graph.nodes, key=lambda n: n.did)
    ids = {n.did: f"d{i}" for i, n in enumerate(nodes, 1)}
    pids = {name: f"p{i}" for i, name in enumerate(sorted(graph.productions), 1)}
    lines = ["flowchart TD"]
    classes: dict[str, list[str]] = defaultdict(list)
    notes = inputs_notes(graph)
    for node in nodes:
        lines.append(f'  {ids[node.did]}("{_mermaid_text(_dataset_lines(node))}")')
        kind = node.kind if node.kind in KIND_COLOURS else "other"
        classes["deleted" if node.deleted else kind].append(ids[node.did])
    for name, p in sorted(graph.productions.items()):
        text = _mermaid_text(_production_lines(p, notes.get(name)))
        lines.append(f'  {pids[name]}["{text}"]')
        classes["production"].append(pids[name])
    for parent, name, role in sorted({(e.parent, e.production, e.role) for e in graph.edges}):
        lines.append(f"  {ids[parent]} -->|{role}| {pids[name]}")
    for name, child in generations(graph):
        lines.append(f"  {pids[name]} --> {ids[child]}")
    styles = {kind: f"fill:{colour}" for kind, colour in KIND_COLOURS.items()}
    styles |= {
        "other": f"fill:{OTHER_COLOUR}",
        "deleted": f"fill:{OTHER_COLOUR},stroke:#999,stroke-dasharray:5 5,color:#999",
        "production": "fill:#ffffff,stroke:#333",
    }
    for name, members in classes.items():
        lines.append(f"  classDef {name} {styles[name]}")
        lines.append(f"  class {','.join(members)} {name}")
    lines.append(f"  style {ids[graph.root]} stroke-width:3px")
    out.write("\n".join(lines) + "\n")


def _dataset_lines(node: Node) -> tuple[str, ...]:
    state = node.state if node.state in ("deleted", "lost") else None
    state = state or ("available" if node.available else "no available replica")
    return (node.did, f"{kind_text(node)} · {human_bytes(node.bytes)} · {state}")


def _transformation_line(p: Production) -> str:
    t = p.transformation
    return f"{t.tag} {t.name} · {t.release or 'release not recorded'}"


def _production_lines(p: Production, note: str | None) -> tuple[str, ...]:
    """A production box: its name, its transformation, and why no input is shown (if none is)."""
    return (p.name, _transformation_line(p), *((f"({note})",) if note else ()))


def _dot_quote(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _dot_attributes(attributes: dict[str, str]) -> str:
    return ", ".join(f"{key}={_dot_quote(value)}" for key, value in attributes.items())


def _mermaid_text(lines: tuple[str, ...]) -> str:
    """Label text for a quoted Mermaid node: entity codes for the characters Mermaid parses."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;", "\n": " "}
    return "<br/>".join("".join(codes.get(c, c) for c in line) for line in lines)
