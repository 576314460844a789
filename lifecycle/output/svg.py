"""The provenance graph as a picture: SVG, and a self-contained HTML page holding it.

Drawn here, in Python, with no system binary (Graphviz is not needed) and no third-party
library: the walk already gives every dataset its depth, so a layered drawing needs only an
order within each layer. Datasets sit in the layer of their depth, each production between its
nearest shown output and its inputs (:func:`layout`); the order within a layer is chosen by a
few barycentre sweeps, which untangle most crossings of a provenance DAG. Data flows down the
page: lineage draws the inputs on top and the dataset at the bottom, impact the dataset on top.

Boxes follow the PROV style of the other diagrams (:mod:`~lifecycle.output.diagrams`): datasets
rounded and coloured by kind (deleted ones dashed and grey), productions square; each box has a
``<title>`` (a tooltip) with the full text, and a dataset's name is folded at dots rather than
cut. Every catalog value is untrusted: control characters are shown as escapes
(:func:`~lifecycle.text.printable`), characters XML cannot hold replaced, and ``& < > " '``
escaped, so a label never becomes markup.

A picture of thousands of boxes is unreadable and heavy: a graph of more than ``MAX_BOXES``
datasets and productions is refused (a usage error suggesting ``--depth`` or ``--max-nodes``)
before anything is written; ``--format json`` lists any size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from lifecycle.errors import UsageError
from lifecycle.output.diagrams import KIND_COLOURS, OTHER_COLOUR
from lifecycle.output.graphs import generations, inputs_notes, kind_text
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    from lifecycle.provenance.graph import Node, Production, ProvenanceGraph

MAX_BOXES = 2_000  # datasets and productions in one picture
CHAR_WIDTH = 6.6  # pixels of one character of the 11 px monospace font
LINE_HEIGHT = 14
FOLD = 48  # characters of a dataset name on one line of a box (folded at dots)
PAD = 8  # pixels between a box's edge and its text
GAP_X, GAP_Y = 24, 56  # pixels between boxes of a layer, and between layers
MARGIN = 20
SWEEPS = 4  # barycentre sweeps (down and up) ordering the layers


@dataclass
class Box:
    """One dataset or production of the picture, where it is drawn."""

    key: str  # "dataset:<DID>" or "production:<name>"
    lines: list[str]  # its text, one line each (already printable)
    title: str  # the tooltip: the full text
    kind: str  # "production" or the dataset's kind
    rank: int  # its layer, counted in the walk's direction from the root
    deleted: bool = False
    root: bool = False
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class Picture:
    """The laid-out graph: boxes with their places, edges between their keys, the size."""

    boxes: dict[str, Box]
    edges: list[tuple[str, str, str]]  # (from key, to key, label), in the direction data flows
    width: float = 0.0
    height: float = 0.0
    caption: list[str] = field(default_factory=list)


def check_size(graph: ProvenanceGraph) -> None:
    """Refuse a graph too big to draw, naming the options that make it smaller."""
    boxes = len(graph.nodes) + len(graph.productions)
    if boxes > MAX_BOXES:
        raise UsageError(
            f"--format svg/html: {len(graph.nodes):,} datasets and {len(graph.productions):,} "
            f"productions are too many to draw (at most {MAX_BOXES:,} boxes); narrow it with "
            "--depth N or --max-nodes N, or use --format json"
        )


def write_svg(graph: ProvenanceGraph, out: TextIO) -> None:
    """``svg``: a standalone SVG document of the graph."""
    check_size(graph)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(svg_text(layout(graph), standalone=True))


def write_html(graph: ProvenanceGraph, out: TextIO) -> None:
    """``html``: one page, the summary and the SVG inline; no script, style sheet, font or
    image is fetched (its content security policy forbids any)."""
    check_size(graph)
    picture = layout(graph)
    what = "lineage" if graph.direction == "upstream" else "impact"
    rows = "".join(
        "<tr><td>{}</td><td>{:,}</td><td>{}</td><td>{:,}</td><td>{:,}</td></tr>".format(
            escape(f"{row['kind']}/{row['data_type']}" if row["data_type"] else row["kind"]),
            row["datasets"],
            escape(human_bytes(row["bytes"])),
            row["available"],
            row["deleted"],
        )
        for row in graph.summary
    )
    table = (
        "<table><tr><th>kind/data type</th><th>datasets</th><th>size</th><th>available</th>"
        f"<th>deleted</th></tr>{rows}</table>"
        if rows
        else ""
    )
    out.write(
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{what} of {escape(graph.root)}</title>\n"
        f"<style>{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{what} of <code>{escape(graph.root)}</code></h1>\n"
        + "".join(f"<p>{escape(line)}</p>\n" for line in picture.caption)
        + f'{table}\n<div class="graph">\n{svg_text(picture, standalone=False)}</div>\n'
        "</body>\n</html>\n"
    )


_PAGE_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.2em}code{font-size:1em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{padding:2px 10px;text-align:right}th:first-child,td:first-child{text-align:left}"
    "th{border-bottom:1px solid #999}.graph{overflow:auto;border:1px solid #ddd}"
)


# -- layout ------------------------------------------------------------------------------------


def layout(graph: ProvenanceGraph) -> Picture:
    """Boxes in layers by depth, ordered to cross little, placed; edges as data flows."""
    notes = inputs_notes(graph)
    depth = {n.did: n.depth for n in graph.nodes}
    boxes: dict[str, Box] = {}
    for node in graph.nodes:
        lines = [*_fold(printable(node.did)), printable(_dataset_facts(node))]
        boxes[f"dataset:{node.did}"] = Box(
            key=f"dataset:{node.did}",
            lines=lines,
            title="\n".join(printable(text) for text in (node.did, _dataset_facts(node))),
            kind=node.kind,
            rank=2 * node.depth,
            deleted=node.deleted,
            root=node.did == graph.root,
        )
    edges: list[tuple[str, str, str]] = []  # (from, to, label): data flows from -> to
    near: dict[str, list[int]] = defaultdict(list)  # production -> depths of its near datasets
    far: dict[str, list[int]] = defaultdict(list)
    for parent, name, role in sorted({(e.parent, e.production, e.role) for e in graph.edges}):
        edges.append((f"dataset:{parent}", f"production:{name}", role))
        (far if graph.direction == "upstream" else near)[name].append(depth[parent])
    for name, child in generations(graph):
        edges.append((f"production:{name}", f"dataset:{child}", ""))
        (near if graph.direction == "upstream" else far)[name].append(depth[child])
    for name, p in graph.productions.items():
        # between its nearest shown dataset on the root's side and the layer beyond it
        if near[name]:
            rank = 2 * min(near[name]) + 1
        elif far[name]:
            rank = 2 * min(far[name]) - 1
        else:  # reached by no shown dataset (only in a graph built by hand)
            rank = 1
        lines = [printable(line) for line in _production_lines(p, notes.get(name))]
        boxes[f"production:{name}"] = Box(
            key=f"production:{name}",
            lines=lines,
            title="\n".join(printable(line) for line in _production_details(p)),
            kind="production",
            rank=rank,
        )
    picture = Picture(boxes, edges, caption=_caption(graph))
    _place(picture, upstream=graph.direction == "upstream")
    return picture


def _place(picture: Picture, upstream: bool) -> None:
    """Order each layer by barycentre sweeps, then give every box its place and size."""
    for box in picture.boxes.values():
        box.width = max(len(line) for line in box.lines) * CHAR_WIDTH + 2 * PAD
        box.height = len(box.lines) * LINE_HEIGHT + 2 * PAD - 4
    ranks = sorted({box.rank for box in picture.boxes.values()}, reverse=upstream)
    layers = {r: sorted(b.key for b in picture.boxes.values() if b.rank == r) for r in ranks}
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in picture.edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    rank_of = {key: box.rank for key, box in picture.boxes.items()}
    position: dict[str, float] = {}  # a box's place in its layer, from 0 (left) to 1 (right)

    def place(layer: list[str]) -> None:
        position.update({key: (i + 0.5) / len(layer) for i, key in enumerate(layer)})

    for layer in layers.values():
        place(layer)
    for sweep in range(SWEEPS):
        order = ranks if sweep % 2 == 0 else list(reversed(ranks))
        for rank in order[1:]:

            def centre(key: str, rank: int = rank) -> float:
                placed = [position[n] for n in neighbours[key] if rank_of[n] != rank]
                return sum(placed) / len(placed) if placed else position[key]

            layers[rank].sort(key=lambda key: (centre(key), key))
            place(layers[rank])
    widths = {
        r: sum(picture.boxes[k].width for k in keys) + GAP_X * (len(keys) - 1)
        for r, keys in layers.items()
    }
    picture.width = max(widths.values(), default=0) + 2 * MARGIN
    top = MARGIN + LINE_HEIGHT * (len(picture.caption) + 1)
    for rank in ranks:
        keys = layers[rank]
        x = (picture.width - widths[rank]) / 2
        height = max(picture.boxes[k].height for k in keys)
        for key in keys:
            box = picture.boxes[key]
            box.x, box.y = x, top + (height - box.height) / 2
            x += box.width + GAP_X
        top += height + GAP_Y
    picture.height = top - GAP_Y + MARGIN


def _fold(did: str) -> list[str]:
    """A dataset name on lines of at most ``FOLD`` characters, broken after dots (or, in a
    part longer than a line, anywhere): never cut."""
    lines, line = [], ""
    for part in did.replace(".", ".\0").split("\0"):
        while len(part) > FOLD:
            if line:
                lines.append(line)
                line = ""
            lines.append(part[:FOLD])
            part = part[FOLD:]
        if len(line) + len(part) > FOLD:
            lines.append(line)
            line = ""
        line += part
    return [*lines, line] if line else lines


def _dataset_facts(node: Node) -> str:
    state = node.state if node.state in ("deleted", "lost") else None
    state = state or ("available" if node.available else "no available replica")
    return f"{kind_text(node)} · {human_bytes(node.bytes)} · {state}"


def _production_lines(p: Production, note: str | None) -> list[str]:
    t = p.transformation
    lines = [p.name, f"{t.tag} {t.name} · {t.release or 'release not recorded'}"]
    return [*lines, f"({note})"] if note else lines


def _production_details(p: Production) -> list[str]:
    t = p.transformation
    return [
        f"production {p.name} · {p.status} · {p.site or 'site not recorded'}",
        f"transformation {t.tag} {t.name}",
        f"release {t.release or 'not recorded'}",
        f"image {t.image_ref or 'not recorded'}",
        f"command {t.command or 'not recorded'}",
        f"conditions {p.conditions_tag or 'not recorded'}",
    ]


def _caption(graph: ProvenanceGraph) -> list[str]:
    side = "upstream" if graph.direction == "upstream" else "downstream"
    total = sum(row["datasets"] for row in graph.summary)
    lines = [
        f"{side} of {printable(graph.root)}: {total:,} datasets, "
        f"{human_bytes(sum(row['bytes'] for row in graph.summary))} (the root not counted)"
    ]
    if graph.truncated:
        lines.append(
            f"truncated: showing the nearest {len(graph.nodes):,} of {total + 1:,} datasets "
            f"(--max-nodes {graph.max_nodes})"
        )
    return lines


# -- SVG text ----------------------------------------------------------------------------------


def svg_text(picture: Picture, *, standalone: bool) -> str:
    """The SVG element of ``picture`` (with its namespace when ``standalone``)."""
    width, height = round(picture.width), round(picture.height)
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts = [
        f'<svg{namespace} width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="11">\n',
        f"<title>{escape(picture.caption[0]) if picture.caption else 'provenance'}</title>\n",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>\n',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n',
    ]
    for i, line in enumerate(picture.caption):
        y = MARGIN + LINE_HEIGHT * i + 10
        parts.append(f'<text x="{MARGIN}" y="{y}" fill="#333">{escape(line)}</text>\n')
    parts.append('<g fill="none" stroke="#555" stroke-width="1">\n')
    for a, b, label in picture.edges:
        parts.append(_edge(picture.boxes[a], picture.boxes[b], label))
    parts.append("</g>\n")
    for box in picture.boxes.values():
        parts.append(_box(box))
    parts.append("</svg>\n")
    return "".join(parts)


def _edge(a: Box, b: Box, label: str) -> str:
    """A curve from ``a`` to ``b`` (bottom to top when ``b`` is below), with its label."""
    x1, x2 = a.x + a.width / 2, b.x + b.width / 2
    if b.y >= a.y + a.height:
        y1, y2 = a.y + a.height, b.y
    else:  # an edge against the flow (a DAG drawn by depth rarely has one)
        y1, y2 = a.y, b.y + b.height
    bend = (y2 - y1) / 2
    path = (
        f'<path d="M {x1:.1f} {y1:.1f} C {x1:.1f} {y1 + bend:.1f} {x2:.1f} {y2 - bend:.1f} '
        f'{x2:.1f} {y2:.1f}" marker-end="url(#arrow)"/>\n'
    )
    if not label:
        return path
    x, y = (x1 + x2) / 2 + 4, (y1 + y2) / 2
    text = (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="#777" stroke="#fff" stroke-width="3" '
        f'paint-order="stroke">{escape(label)}</text>\n'
    )
    return path + text


def _box(box: Box) -> str:
    if box.kind == "production":
        fill, stroke, dash, radius = "#ffffff", "#333333", "", 0
    elif box.deleted:
        fill, stroke, dash, radius = OTHER_COLOUR, "#999999", ' stroke-dasharray="5 3"', 10
    else:
        fill, stroke, dash, radius = KIND_COLOURS.get(box.kind, OTHER_COLOUR), "#555555", "", 10
    width = 2.5 if box.root else 1
    colour = "#999999" if box.deleted else "#111111"
    parts = [
        f'<g class="{"production" if box.kind == "production" else "dataset"}">'
        f"<title>{escape(box.title, lines=True)}</title>"
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" rx="{radius}" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="{width}"{dash}/>'
        f'<text x="{box.x + PAD:.1f}" y="{box.y + PAD + 7:.1f}" fill="{colour}">'
    ]
    for i, line in enumerate(box.lines):
        weight = ' font-weight="bold"' if i == 0 and box.kind == "production" else ""
        dy = "0" if i == 0 else str(LINE_HEIGHT)
        parts.append(f'<tspan x="{box.x + PAD:.1f}" dy="{dy}"{weight}>{escape(line)}</tspan>')
    parts.append("</text></g>\n")
    return "".join(parts)


def escape(text: str, *, lines: bool = False) -> str:
    """``text`` for XML and HTML text or a quoted attribute: control characters shown as
    escapes (:func:`printable`; with ``lines``, the line breaks between lines kept), characters
    XML 1.0 cannot hold as ``\\uXXXX``, and ``& < > " '`` as entities."""
    text = "\n".join(map(printable, text.split("\n"))) if lines else printable(text)
    if not text.isascii():
        text = "".join(f"\\u{ord(c):04x}" if _not_xml(c) else c for c in text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _not_xml(c: str) -> bool:
    code = ord(c)
    return 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)
