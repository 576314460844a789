"""What every rendering of a provenance graph shares, and the graph's own JSON.

The renderings (tree: :mod:`~lifecycle.output.graph_tree`; dot and mermaid:
:mod:`~lifecycle.output.diagrams`; W3C PROV: :mod:`~lifecycle.output.prov`) take a
:class:`~lifecycle.provenance.graph.ProvenanceGraph` duck-typed. Every format links a dataset to
the production that made it whenever that production is listed (``graph.generated_by``), also
where none of its inputs is shown: at the ``--depth`` limit, cut by ``--max-nodes``, or a
production with no recorded input. The tree and the diagrams then say why no input is shown
(:func:`inputs_notes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from lifecycle.output.json_stream import Entries, in_chunks, write_json

if TYPE_CHECKING:
    from lifecycle.provenance.graph import Node, ProvenanceGraph

ROLES = ("input", "calibration", "config")  # the order inputs are listed in


LAZY_LISTS = ("nodes", "edges", "productions")  # the lists of a graph's JSON made as written


def write_graph_json(graph: ProvenanceGraph, out: TextIO) -> None:
    """``json``: the graph's documented shape (``graph.to_dict()``), its nodes, edges and
    productions made a chunk at a time as they are written (``graph.to_dict(lazy=True)``)."""
    document = graph.to_dict(lazy=True)
    for key in LAZY_LISTS:
        document[key] = Entries(in_chunks(document[key]))
    write_json(document, out)


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


def generations(graph: ProvenanceGraph) -> list[tuple[str, str]]:
    """(production, output DID) for every shown dataset whose producer is listed, sorted."""
    pairs = {(e.production, e.child) for e in graph.edges}
    shown = {n.did for n in graph.nodes}
    pairs |= {
        (name, did)
        for did, name in graph.generated_by.items()
        if did in shown and name in graph.productions
    }
    return sorted(pairs)


def kind_text(node: Node) -> str:
    return f"{node.kind}/{node.data_type}" if node.data_type else node.kind


def role_order(pair: tuple[str, str]) -> tuple[int, str, str]:
    role, did = pair
    return (ROLES.index(role) if role in ROLES else len(ROLES), role, did)
