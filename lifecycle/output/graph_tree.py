"""The provenance graph as a tree for people (``--format tree``), drawn with rich.

Lineage hangs under each dataset the production that made it, then that production's inputs;
impact hangs the productions that used it, then their outputs. Every production shows what is
needed to run it again, one fact a line; a summary of the datasets reached, by kind and data
type, follows the tree. Catalog text is shown literally (:func:`~lifecycle.text.printable`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, TextIO

from lifecycle.output.graphs import inputs_notes, kind_text, role_order
from lifecycle.output.tables import console
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    from datetime import datetime

    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from lifecycle.provenance.graph import Node, Production, ProvenanceGraph

TREE_WIDTH = 160  # columns of the tree when the output is not a terminal
TREE_LEVELS = 10  # productions deep in one tree (8 columns each); deeper chains go on below


def write_tree(graph: ProvenanceGraph, out: TextIO) -> None:
    """``tree``: the trees of the walk, the summary by kind, and whether it was truncated."""
    screen = console(out, TREE_WIDTH)
    for tree in _Tree(graph).build_all():
        screen.print(tree)
    title, table = _summary(graph)
    screen.print(title, highlight=False)
    if graph.summary:
        screen.print(table)
    if graph.truncated:
        total = 1 + sum(row["datasets"] for row in graph.summary)
        screen.print(
            f"truncated: showing {len(graph.nodes)} of {total} datasets "
            f"(--max-nodes {graph.max_nodes})",
            style="bold yellow",
            highlight=False,
        )


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
                    (parent, role) for role, parent in sorted(self.inputs[name], key=role_order)
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
    text.append(f"  {printable(kind_text(node))} · {human_bytes(node.bytes)} · ")
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


def _span(started: datetime | None, finished: datetime | None) -> str:
    """When a production ran, in UTC to the minute."""

    def minute(value: datetime) -> str:
        return f"{value:%Y-%m-%d %H:%M}"

    if started and finished:
        return f"{minute(started)} → {minute(finished)} UTC"
    if started or finished:
        return f"{'started' if started else 'finished'} {minute(started or finished)} UTC"
    return "time not recorded"
