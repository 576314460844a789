"""The provenance graph for people (``--format tree``): summary first, a bounded tree, then what
the productions ran, drawn with rich.

The **summary** comes first, so that ``| head`` answers "how much": the datasets the walk reached
(all of them, also past ``--max-nodes``), by depth and by kind and data type. The **tree** hangs
under each dataset the production that made it, then that production's inputs (lineage), or the
productions that used it, then their outputs (impact). It stays readable at any size: its
entries are chosen nearest first (breadth first), at most ``BRANCHES`` under one entry and
``TREE_ENTRIES`` in all, and what is left out is counted where it would have been ("… and 99,990
more consumers (--format json lists all)"). A production is one line naming its transformation;
what is needed to run it again (release, image, code, command) is the transformation's, so it is
printed once per **transformation**, below the tree, not once per production. Catalog text is
shown literally (:func:`~lifecycle.text.printable`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, TextIO

from lifecycle.output.graphs import inputs_notes, kind_text, role_order
from lifecycle.output.tables import console
from lifecycle.text import count, human_bytes, is_recorded, number, printable

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from lifecycle.provenance.graph import Node, Production, ProvenanceGraph, Transformation

TREE_WIDTH = 160  # columns of the tree when the output is not a terminal
TREE_LEVELS = 10  # productions deep in one tree (8 columns each); deeper chains go on below
TREE_ENTRIES = 80  # datasets and productions in the tree (the nearest first), whatever its size
BRANCHES = 6  # entries under one dataset or production
DEPTH_ROWS = 10  # rows of the summary by depth
TRANSFORMATIONS = 10  # transformations described below the tree

Key = tuple[str, str]  # ("dataset", DID) or ("production", name)


def write_tree(graph: ProvenanceGraph, out: TextIO) -> None:
    """``tree``: the summary, the bounded tree, and the transformations of its productions."""
    screen = console(out, TREE_WIDTH)
    for part in _summary(graph):
        screen.print(part, highlight=False)
    tree = _Tree(graph)
    for part in tree.build_all():
        screen.print(part)
    for part in _transformations(graph, tree.shown_productions):
        screen.print(part, highlight=False)


def more_hint(graph: ProvenanceGraph) -> str:
    """Where the entries a bounded view leaves out are listed."""
    if graph.truncated:
        return f"--format json lists the nearest {number(graph.max_nodes)}; --max-nodes for more"
    return "--format json lists all"


class _Tree:
    """The rich tree of a walk: datasets and the productions between them, from the root.

    Which entries it shows is chosen first, breadth first from the root (:meth:`_choose`), so
    that the nearest datasets are shown whatever the graph's size; it is then drawn depth first
    (:meth:`_grow`). An entry met a second time (a DAG shares ancestors; a production has several
    inputs) is expanded where the breadth-first walk met it first and shown elsewhere as one line,
    "(see above)" or "(see below)". Productions the walk from the root never reaches (only in a
    graph built by hand) are listed at the end. A chain deeper than ``TREE_LEVELS`` productions
    goes on in a new tree below ("continued below"), so that no level is pushed off the right
    edge. Nothing recurses per level: a chain of thousands of productions is as deep.
    """

    def __init__(
        self, graph: ProvenanceGraph, entries: int = TREE_ENTRIES, branches: int = BRANCHES
    ) -> None:
        self.graph = graph
        self.upstream = graph.direction == "upstream"
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
        self.hint = more_hint(graph)
        # what the tree shows: the entries under each expanded entry, how many it leaves out,
        # and where each shown entry is expanded (under which entry; None for the root)
        self.listed: dict[Key, list[tuple[Key, str]]] = {}
        self.left_out: dict[Key, int] = {}
        self.home: dict[Key, Key | None] = {}
        self._choose(("dataset", graph.root), entries, branches)
        self.drawn: set[Key] = set()
        self.continued: list[Key] = []  # datasets whose subtree goes on in a tree of its own

    @property
    def shown_productions(self) -> list[str]:
        return [name for kind, name in self.home if kind == "production"]

    def _children(self, key: Key) -> list[tuple[Key, str]]:
        """The entries below ``key`` in the full tree, in the order they are listed, with their
        role (a dataset's) or verb (a production's)."""
        kind, name = key
        if kind == "dataset":
            if self.upstream:
                producer = self.producer.get(name)
                return [(("production", producer), "made by")] if producer else []
            return [
                (("production", p), f"used as {role} by")
                for p, role in sorted(self.consumers[name])
            ]
        if self.upstream:
            return [(("dataset", d), role) for role, d in sorted(self.inputs[name], key=role_order)]
        return [(("dataset", d), "output") for d in sorted(self.outputs[name])]

    def _choose(self, start: Key, entries: int, branches: int) -> None:
        """Choose the entries to show, breadth first from ``start``: at most ``branches`` under
        one entry and ``entries`` in all (an entry shown again as "(see above)" counts too)."""
        from collections import deque

        self.home[start] = None
        used = 1
        queue = deque([start])
        while queue:
            key = queue.popleft()
            children = self._children(key)
            listed: list[tuple[Key, str]] = []
            for child, role in children[:branches]:
                if used >= entries:
                    break
                if child not in self.home:
                    self.home[child] = key
                    queue.append(child)
                listed.append((child, role))
                used += 1
            self.listed[key] = listed
            self.left_out[key] = len(children) - len(listed)

    def build_all(self) -> list[Tree]:
        """The tree from the root, then one tree for each chain continued from a deep level."""
        from rich.text import Text
        from rich.tree import Tree

        root = ("dataset", self.graph.root)
        self.drawn.add(root)
        tree = Tree(_dataset_text(self.nodes[self.graph.root], root=True), guide_style="dim")
        self._grow(tree, root, continued=True)
        trees = [tree]
        for key in self.continued:  # grows while the continued trees continue again
            label = Text("continued: ", style="italic")
            label.append_text(_dataset_text(self.nodes[key[1]], root=True))
            trees.append(Tree(label, guide_style="dim"))
            self._grow(trees[-1], key, continued=True)
        reached = self._reachable(root)
        unseen = [p for name, p in self.graph.productions.items() if name not in reached]
        if unseen:
            branch = tree.add("productions not reached from the root", style="italic")
            for p in unseen[:BRANCHES]:
                branch.add(_production_text(p, "production", note=self.notes.get(p.name)))
            if len(unseen) > BRANCHES:
                branch.add(_more(len(unseen) - BRANCHES, "production", self.hint))
        return trees

    def _reachable(self, start: Key) -> set[str]:
        """The productions a walk from ``start`` reaches (the tree shows only some of them)."""
        reached, stack = {start}, [start]
        while stack:
            for child, _ in self._children(stack.pop()):
                if child not in reached:
                    reached.add(child)
                    stack.append(child)
        return {name for kind, name in reached if kind == "production"}

    def _grow(self, branch: Tree, key: Key, level: int = 0, continued: bool = False) -> None:
        """Hang what was chosen below ``key`` (drawn as ``branch``) on it, depth first, without
        recursion: the stack holds what is still to add, in order. ``level`` counts the
        productions between the tree's root and ``key``."""
        stack: list[tuple] = [("below", branch, key, level, continued)]
        while stack:
            item = stack.pop()
            if item[0] == "more":
                _, below, key = item
                noun = _MORE_NOUNS[self.upstream, key[0]]
                below.add(_more(self.left_out[key], noun, self.hint))
                continue
            if item[0] == "entry":
                _, below, parent, child, role, level = item
                if self.home.get(child) != parent or child in self.drawn:
                    below.add(
                        self._text(child, role, see="above" if child in self.drawn else "below")
                    )
                    continue
                self.drawn.add(child)
                stack.append(("below", below.add(self._text(child, role)), child, level, False))
                continue
            _, below, key, level, top = item
            if key[0] == "dataset" and level >= TREE_LEVELS and not top and self.listed[key]:
                from rich.text import Text

                below.add(Text("(continued below)", style="italic"))
                self.continued.append(key)
                continue
            if self.left_out.get(key):
                stack.append(("more", below, key))
            step = 1 if key[0] == "dataset" else 0  # a production's children are one further
            stack.extend(
                ("entry", below, key, child, role, level + step)
                for child, role in reversed(self.listed.get(key, ()))
            )

    def _text(self, key: Key, role: str, see: str | None = None) -> Text:
        kind, name = key
        if kind == "dataset":
            text = _dataset_text(self.nodes[name], role=role)
            return text.append(f" (see {see})", style="italic") if see else text
        production = self.graph.productions[name]
        if see:
            return _production_text(production, role, see=see)
        return _production_text(production, role, note=self.notes.get(name))


# what the entries left out under an entry are called: (lineage?, the entry's kind) -> noun
_MORE_NOUNS = {
    (True, "dataset"): "production",
    (True, "production"): "input",
    (False, "dataset"): "consumer",
    (False, "production"): "output",
}


def _more(n: int, noun: str, hint: str) -> Text:
    from rich.text import Text

    return Text(f"… and {count(n, 'more ' + noun)} ({hint})", style="italic")


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
    p: Production, verb: str, see: str | None = None, note: str | None = None
) -> Text:
    """One line: the production, its transformation (described below the tree), conditions,
    status, site and time. ``see``: only its name, for a production shown in full elsewhere;
    ``note``: why none of its inputs is shown, after its name."""
    from rich.text import Text

    t = p.transformation
    text = Text(f"{verb} ", style="dim")
    text.append(printable(p.name), style="bold magenta")
    if see:
        return text.append(f" (see {see})", style="italic")
    if note:
        text.append(f" ({note})", style="italic yellow")
    text.append(f" · {printable(t.tag)} {printable(t.name)}")
    text.append(f" · {p.status} · {printable(p.site or 'site not recorded')} · ")
    text.append(_span(p.started_at, p.finished_at))
    if p.conditions_tag:
        text.append(f" · conditions {printable(p.conditions_tag)}")
    return text


def _summary(graph: ProvenanceGraph) -> list[RenderableType]:
    """Every dataset the walk reached (the root excluded): in all, by depth, by kind and data
    type; and whether the graph was cut by ``--max-nodes``."""
    from rich.text import Text

    side = "upstream" if graph.direction == "upstream" else "downstream"
    total = sum(row["datasets"] for row in graph.summary)
    size = human_bytes(sum(row["bytes"] for row in graph.summary))
    depths = graph.depths or dict(sorted(Counter(n.depth for n in graph.nodes if n.depth).items()))
    away = ""
    if depths:
        low, high = min(depths), max(depths)
        span = (
            count(low, "production")
            if low == high
            else f"{number(low)} to {number(high)} productions"
        )
        away = f", {span} away"
    parts: list[RenderableType] = [
        Text(f"{side}: {count(total, 'dataset')}, {size}{away} (the root not counted)")
    ]
    if len(depths) > 1:
        table = _table("depth", "datasets")
        for depth, n in list(depths.items())[:DEPTH_ROWS]:
            table.add_row(number(depth), number(n))
        parts.append(table)
        if len(depths) > DEPTH_ROWS:
            parts.append(_more(len(depths) - DEPTH_ROWS, "depth", f"the deepest: {number(high)}"))
    if graph.summary:
        table = _table("kind/data type", "datasets", "size", "available", "deleted")
        for row in graph.summary:
            kind = f"{row['kind']}/{row['data_type']}" if row["data_type"] else row["kind"]
            counts = (number(row["datasets"]), human_bytes(row["bytes"]), number(row["available"]))
            table.add_row(Text(printable(kind)), *counts, number(row["deleted"]))
        parts.append(table)
    if graph.truncated:
        parts.append(
            Text(
                f"truncated: showing the nearest {number(len(graph.nodes))} of {number(total + 1)} datasets "
                f"(--max-nodes {graph.max_nodes})",
                style="bold yellow",
            )
        )
    return [*parts, Text("")]


def _table(*columns: str) -> Table:
    """A plain table (no box): numbers right-aligned, text left."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        numbers = column in ("depth", "datasets", "size", "available", "deleted", "productions")
        table.add_column(column, justify="right" if numbers else "left")
    return table


def _transformations(graph: ProvenanceGraph, shown: list[str]) -> list[RenderableType]:
    """What the productions ran, once per transformation: those of the productions in the tree
    first, then the most used, at most ``TRANSFORMATIONS``. Lineage ("how was it made") gives
    each one fact a line, all that is needed to run it again; impact ("what depends on it",
    often thousands of productions) one row each, with ``transformations show`` for the rest."""
    from rich.text import Text

    uses: Counter[str] = Counter()
    by_tag: dict[str, Transformation] = {}
    for p in graph.productions.values():
        uses[p.transformation.tag] += 1
        by_tag.setdefault(p.transformation.tag, p.transformation)
    if not by_tag:
        return []
    in_tree = {graph.productions[name].transformation.tag for name in shown}
    order = sorted(by_tag, key=lambda tag: (tag not in in_tree, -uses[tag], tag))
    listed = [(by_tag[tag], uses[tag]) for tag in order[:TRANSFORMATIONS]]
    n = len(graph.productions)
    title = f"transformations: what the {count(n, 'production')} ran"
    parts: list[RenderableType] = [Text("")]
    if graph.direction == "upstream":
        parts.append(Text(f"{title}, needed to run them again (recipe DID: every step)"))
        parts.extend(_transformation_text(t, used) for t, used in listed)
    else:
        parts.append(Text(f"{title} (transformations show TAG: image, code, command)"))
        table = _table("tag", "name", "release", "image digest", "productions")
        for t, used in listed:
            digest = "recorded" if is_recorded(t.image_digest) else "not recorded"
            cells = (t.tag, t.name, t.release or "not recorded", digest)
            table.add_row(*(Text(printable(c)) for c in cells), number(used))
        parts.append(table)
    if len(order) > TRANSFORMATIONS:
        parts.append(_more(len(order) - TRANSFORMATIONS, "transformation", more_hint(graph)))
    return parts


def _transformation_text(t: Transformation, used: int) -> Text:
    """``TAG NAME · N productions`` and then what is needed to run it again, one fact a line."""
    from rich.text import Text

    text = Text(printable(f"{t.tag} {t.name}"), style="bold magenta")
    text.append(f" · {count(used, 'production')}")
    code = f"{t.code_repo or 'repository not recorded'} @ {t.code_commit}"
    for label, value in (
        ("release", t.release),
        ("image", t.image_ref),
        ("code", code if t.code_commit else t.code_repo),
        ("command", t.command),
    ):
        text.append(f"\n    {label} ", style="dim")
        text.append(printable(value or "not recorded"), style="" if value else "yellow")
    return text


def _span(started: datetime | None, finished: datetime | None) -> str:
    """When a production ran, in UTC to the minute."""

    def minute(value: datetime) -> str:
        return f"{value:%Y-%m-%d %H:%M}"

    if started and finished:
        end = f"{finished:%H:%M}" if finished.date() == started.date() else minute(finished)
        return f"{minute(started)} → {end} UTC"
    if started or finished:
        return f"{'started' if started else 'finished'} {minute(started or finished)} UTC"
    return "time not recorded"
