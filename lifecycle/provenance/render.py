"""Renderings of a provenance graph by format name: tree, json, prov-json, prov-n, dot, mermaid.

Every format is a function ``(graph, out)`` registered with :func:`graph_format`, the built-in
ones included; :func:`render_graph` looks the name up. ``tree`` is for people; ``json`` is the
graph's documented shape; ``prov-json`` and ``prov-n`` are W3C PROV
(:mod:`lifecycle.provenance.w3c`); ``dot`` (Graphviz) and ``mermaid`` are diagrams in the PROV
style: datasets as ellipses or rounded boxes coloured by kind, productions as boxes, arrows in
the direction data flows (input → production → output) for lineage and impact alike.

Every format links a dataset to the production that made it whenever that production is listed
(``graph.generated_by``), also where none of its inputs is shown: at the ``--depth`` limit, cut
by ``--max-nodes``, or a production with no recorded input. The tree and the diagrams then say
why no input is shown (:func:`inputs_notes`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    from datetime import datetime

    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from lifecycle.provenance.graph import Node, Production, ProvenanceGraph

GraphRenderer = Callable[["ProvenanceGraph", TextIO], None]
GRAPH_FORMATS: dict[str, GraphRenderer] = {}
TREE_WIDTH = 160  # columns of the tree when the output is not a terminal
TREE_LEVELS = 10  # productions deep in one tree (8 columns each); deeper chains go on below
ROLES = ("input", "calibration", "config")  # the order inputs are listed in
KIND_COLOURS = {
    "raw": "#f4cccc",
    "calibration": "#fff2cc",
    "derived": "#d9ead3",
    "simulated": "#cfe2f3",
    "metadata": "#ead1dc",
    "outreach": "#d9d2e9",
}
OTHER_COLOUR = "#eeeeee"  # a kind without a colour of its own, and deleted datasets


def graph_format(name: str) -> Callable[[GraphRenderer], GraphRenderer]:
    """Register a graph renderer under ``name`` (the built-in formats use this too)."""

    def decorate(fn: GraphRenderer) -> GraphRenderer:
        GRAPH_FORMATS[name] = fn
        return fn

    return decorate


def render_graph(graph: ProvenanceGraph, fmt: str, out: TextIO) -> None:
    """Write ``graph`` to ``out`` in the format registered as ``fmt``."""
    from lifecycle.errors import UsageError

    try:
        renderer = GRAPH_FORMATS[fmt]
    except KeyError:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(GRAPH_FORMATS)}") from None
    renderer(graph, out)


@graph_format("tree")
def _tree(graph: ProvenanceGraph, out: TextIO) -> None:
    from rich.console import Console

    console = Console(file=out, width=None if out.isatty() else TREE_WIDTH, soft_wrap=False)
    for tree in _Tree(graph).build_all():
        console.print(tree)
    title, table = _summary(graph)
    console.print(title, highlight=False)
    if graph.summary:
        console.print(table)
    if graph.truncated:
        total = 1 + sum(row["datasets"] for row in graph.summary)
        console.print(
            f"truncated: showing {len(graph.nodes)} of {total} datasets "
            f"(--max-nodes {graph.max_nodes})",
            style="bold yellow",
            highlight=False,
        )


@graph_format("json")
def _json(graph: ProvenanceGraph, out: TextIO) -> None:
    out.write(json.dumps(graph.to_dict(), indent=2) + "\n")


@graph_format("prov-json")
def _prov_json(graph: ProvenanceGraph, out: TextIO) -> None:
    from lifecycle.provenance.w3c import to_prov_json

    out.write(to_prov_json(graph) + "\n")


@graph_format("prov-n")
def _prov_n(graph: ProvenanceGraph, out: TextIO) -> None:
    from lifecycle.provenance.w3c import to_prov_n

    out.write(to_prov_n(graph) + "\n")


@graph_format("dot")
def _dot(graph: ProvenanceGraph, out: TextIO) -> None:
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
    for name, child in _generations(graph):
        lines.append(f"  {_dot_quote('production:' + name)} -> {_dot_quote('dataset:' + child)};")
    out.write("\n".join([*lines, "}"]) + "\n")


@graph_format("mermaid")
def _mermaid(graph: ProvenanceGraph, out: TextIO) -> None:
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
    for name, child in _generations(graph):
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


# -- the tree ------------------------------------------------------------------------------------


class _Tree:
    """The rich tree of a walk: datasets and the productions between them, from the root.

    Lineage hangs the production that made a dataset under it, then that production's inputs
    (or why none is shown: "made by X (inputs beyond --depth 1)"); impact hangs the productions
    that used it, then their outputs. A dataset or production met a second time (a DAG shares
    ancestors) is printed again but not expanded: "(see above)". Productions the walk from the
    root never reaches (only in a graph built by hand) are listed at the end. A chain deeper than
    ``TREE_LEVELS`` productions goes on in a new tree below ("continued below"), so that no level
    is pushed off the right edge.
    """

    def __init__(self, graph: ProvenanceGraph) -> None:
        self.graph = graph
        self.nodes = {n.did: n for n in graph.nodes}
        self.producer: dict[str, str] = dict(graph.generated_by)  # DID -> name
        self.inputs: dict[str, set[tuple[str, str]]] = defaultdict(set)  # production -> role, DID
        self.consumers: dict[str, set[tuple[str, str]]] = defaultdict(set)  # DID -> name, role
        self.outputs: dict[str, set[str]] = defaultdict(set)  # production -> DIDs
        for e in graph.edges:
            self.producer.setdefault(e.child, e.production)
            self.inputs[e.production].add((e.role, e.parent))
            self.consumers[e.parent].add((e.production, e.role))
            self.outputs[e.production].add(e.child)
        self.notes = inputs_notes(graph)
        self.seen: set[str] = set()
        self.continued: list[str] = []  # datasets whose subtree goes on in a tree of its own

    def build_all(self) -> list[Tree]:
        """The tree from the root, then one tree for each chain continued from a deep level."""
        from rich.text import Text
        from rich.tree import Tree

        root = self.graph.root
        self.seen.add(f"dataset:{root}")
        tree = Tree(_dataset_text(self.nodes[root], root=True), guide_style="dim")
        self._grow(tree, root)
        trees = [tree]
        for did in self.continued:  # grows while the continued trees continue again
            label = Text("continued: ", style="italic")
            label.append_text(_dataset_text(self.nodes[did], root=True))
            trees.append(Tree(label, guide_style="dim"))
            self._grow(trees[-1], did)
        unseen = [
            p for name, p in self.graph.productions.items() if f"production:{name}" not in self.seen
        ]
        if unseen:
            branch = tree.add("productions not reached from the root", style="italic")
            for p in unseen:
                branch.add(_production_text(p, "production", note=self.notes.get(p.name)))
        return trees

    def _grow(self, branch: Tree, did: str) -> None:
        """Hang everything below ``did`` on ``branch``, depth first, without recursion (a chain of
        thousands of productions is as deep): the stack holds what is still to add, in order."""
        from rich.text import Text

        stack: list[tuple] = []
        self._push_productions(stack, branch, did, 0)
        while stack:
            item = stack.pop()
            if item[0] == "dataset":
                _, below, child, role, level = item
                grown = self._dataset(below, child, role)
                if grown is None:
                    continue
                if level >= TREE_LEVELS and self._has_productions(child):
                    grown.add(Text("(continued below)", style="italic"))
                    self.continued.append(child)
                    continue
                self._push_productions(stack, grown, child, level)
                continue
            _, below, name, verb, note, level = item
            expanded = self._visit(below, name, verb, note)
            if expanded is None:
                continue
            if self.graph.direction == "upstream":
                children = [
                    (parent, role) for role, parent in sorted(self.inputs[name], key=_role_order)
                ]
            else:
                children = [(child, "output") for child in sorted(self.outputs[name])]
            stack.extend(
                ("dataset", expanded, d, role, level + 1) for d, role in reversed(children)
            )

    def _has_productions(self, did: str) -> bool:
        if self.graph.direction == "upstream":
            return did in self.producer
        return bool(self.consumers[did])

    def _push_productions(self, stack: list[tuple], branch: Tree, did: str, level: int) -> None:
        """The productions to hang below dataset ``did`` (its producer, or its consumers);
        ``level`` counts the productions between the tree's root and ``did``."""
        if self.graph.direction == "upstream":
            if did in self.producer:
                name = self.producer[did]
                stack.append(("production", branch, name, "made by", self.notes.get(name), level))
        else:
            consumers = sorted(self.consumers[did], key=lambda pair: pair[0])
            stack.extend(
                ("production", branch, name, f"used as {role} by", None, level)
                for name, role in reversed(consumers)
            )

    def _visit(self, branch: Tree, name: str, verb: str, note: str | None = None) -> Tree | None:
        """Add production ``name``; the branch to expand, or None if it was shown already."""
        key = f"production:{name}"
        production = self.graph.productions[name]
        if key in self.seen:
            branch.add(_production_text(production, verb, brief=True))
            return None
        self.seen.add(key)
        return branch.add(_production_text(production, verb, note=note))

    def _dataset(self, branch: Tree, did: str, role: str) -> Tree | None:
        """Add dataset ``did``; the branch to expand, or None if it was shown already."""
        key = f"dataset:{did}"
        text = _dataset_text(self.nodes[did], role=role)
        if key in self.seen:
            branch.add(text.append(" (see above)", style="italic"))
            return None
        self.seen.add(key)
        return branch.add(text)


def _dataset_text(node: Node, role: str | None = None, root: bool = False) -> Text:
    """``role: DID  kind/data type · size · state``, the state marked when it is not usable."""
    from rich.text import Text

    text = Text()
    if role:
        text.append(f"{role}: ", style="dim")
    text.append(printable(node.did), style="bold" if root else "cyan")
    text.append(f"  {printable(_kind(node))} · {human_bytes(node.bytes)} · ")
    if node.state in ("deleted", "lost"):
        text.append(node.state, style="bold red")
    elif node.available:
        text.append("available", style="green")
    else:
        text.append("no available replica", style="yellow")
    return text


def _production_text(
    p: Production, verb: str, brief: bool = False, note: str | None = None
) -> Text:
    """The production and its transformation: what is needed to run it again, one fact a line.

    ``brief``: only its name, for a production already shown in full ("(see above)"); ``note``:
    why none of its inputs is shown, after its name.
    """
    from rich.text import Text

    t = p.transformation
    text = Text(f"{verb} ", style="dim")
    text.append(printable(p.name), style="bold magenta")
    if brief:
        return text.append(" (see above)", style="italic")
    if note:
        text.append(f" ({note})", style="italic yellow")
    text.append(f" · {p.status} · {printable(p.site or 'site not recorded')} · ")
    text.append(_span(p.started_at, p.finished_at))
    code = (
        f"{t.code_repo or 'repository not recorded'} @ {t.code_commit}" if t.code_commit else None
    )
    for label, value in (
        ("transformation", f"{t.tag} {t.name}"),
        ("release", t.release),
        ("image", t.image_ref),
        ("code", code or t.code_repo),
        ("command", t.command),
        ("conditions", p.conditions_tag),
    ):
        text.append(f"\n{label} ", style="dim")
        text.append(printable(value or "not recorded"), style="" if value else "yellow")
    return text


def _summary(graph: ProvenanceGraph) -> tuple[str, Table]:
    """Every dataset the walk reached (the root excluded), counted by kind and data type."""
    from rich.table import Table
    from rich.text import Text

    side = "upstream" if graph.direction == "upstream" else "downstream"
    total = sum(row["datasets"] for row in graph.summary)
    size = human_bytes(sum(row["bytes"] for row in graph.summary))
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("kind/data type", "datasets", "size", "available", "deleted"):
        table.add_column(column, justify="left" if column.startswith("kind") else "right")
    for row in graph.summary:
        kind = f"{row['kind']}/{row['data_type']}" if row["data_type"] else row["kind"]
        counts = (str(row["datasets"]), human_bytes(row["bytes"]), str(row["available"]))
        table.add_row(Text(printable(kind)), *counts, str(row["deleted"]))
    return f"{side}: {total} datasets, {size} (the root not counted)", table


def inputs_notes(graph: ProvenanceGraph) -> dict[str, str]:
    """Production name -> why none of its inputs is shown, for the lineage producers showing none.

    A producer's inputs lie one production beyond its nearest shown output: past ``--depth`` when
    that output is at the depth limit; else, in a truncated graph, possibly cut by
    ``--max-nodes``; else the walk reached them all, so the production has no recorded input.
    """
    if graph.direction != "upstream":
        return {}
    with_inputs = {e.production for e in graph.edges}
    nearest: dict[str, int] = {}  # production -> depth of its nearest shown output
    for node in graph.nodes:
        name = graph.generated_by.get(node.did)
        if name in graph.productions and name not in with_inputs:
            nearest[name] = min(node.depth, nearest.get(name, node.depth))
    notes = {}
    for name, depth in sorted(nearest.items()):
        if graph.max_depth is not None and depth >= graph.max_depth:
            notes[name] = f"inputs beyond --depth {graph.max_depth}"
        elif graph.truncated:
            notes[name] = f"inputs, if any, cut by --max-nodes {graph.max_nodes}"
        else:
            notes[name] = "no recorded input"
    return notes


def _generations(graph: ProvenanceGraph) -> list[tuple[str, str]]:
    """(production, output DID) for every shown dataset whose producer is listed, sorted."""
    pairs = {(e.production, e.child) for e in graph.edges}
    shown = {n.did for n in graph.nodes}
    pairs |= {
        (name, did)
        for did, name in graph.generated_by.items()
        if did in shown and name in graph.productions
    }
    return sorted(pairs)


def _kind(node: Node) -> str:
    return f"{node.kind}/{node.data_type}" if node.data_type else node.kind


def _role_order(pair: tuple[str, str]) -> tuple[int, str, str]:
    role, did = pair
    return (ROLES.index(role) if role in ROLES else len(ROLES), role, did)


def _span(started: datetime | None, finished: datetime | None) -> str:
    """When a production ran, in UTC to the minute."""

    def minute(value: datetime) -> str:
        return f"{value:%Y-%m-%d %H:%M}"

    if started and finished:
        return f"{minute(started)} → {minute(finished)} UTC"
    if started or finished:
        return f"{'started' if started else 'finished'} {minute(started or finished)} UTC"
    return "time not recorded"


# -- diagrams ------------------------------------------------------------------------------------


def _dataset_lines(node: Node) -> tuple[str, ...]:
    state = node.state if node.state in ("deleted", "lost") else None
    state = state or ("available" if node.available else "no available replica")
    return (node.did, f"{_kind(node)} · {human_bytes(node.bytes)} · {state}")


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
