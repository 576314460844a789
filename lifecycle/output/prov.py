"""W3C PROV documents of a provenance graph (``prov-json``, ``prov-n``, ``prov-xml``), built
with ``prov``.

The mapping (``lc`` is our vocabulary, ``urn:lifecycle:vocab:``):

- a **dataset** is an entity ``dataset:<DID as a local name>`` (see :func:`local_name`) with
  ``prov:type`` ``lc:<Kind>Dataset`` (``lc:RawDataset``, ``lc:CalibrationDataset``, ...),
  ``prov:label`` its DID (identifiers are valid XML names in every serialization, so the DID is
  kept here), and ``lc:data_type``, ``lc:bytes``, ``lc:events``, ``lc:state``, ``lc:available``,
  ``lc:created_at``;
- a **production** is an activity ``production:<name>`` (``prov:type`` ``lc:Production``) with its
  start and end times, ``lc:conditions_tag``, ``lc:site`` and ``lc:status``;
- a **transformation** is a plan: an entity ``transformation:<tag>`` typed ``prov:Plan`` and
  ``lc:Transformation``, with ``lc:name``, ``lc:release``, ``lc:image`` (image@digest),
  ``lc:code_repo``, ``lc:code_commit`` and ``lc:command``;
- a **software release** is a ``prov:SoftwareAgent`` ``release:<release>``, one per release;
- each production ``used`` its inputs with ``prov:role`` ``lc:input``, ``lc:calibration`` or
  ``lc:config``, ``wasAssociatedWith`` its release and transformation, and each output
  ``wasGeneratedBy`` it and ``wasDerivedFrom`` each of its inputs through it. Every shown
  dataset whose producer is listed (``graph.generated_by``) ``wasGeneratedBy`` it, also when
  none of the producer's inputs is shown (at the depth limit, cut by the node cap, or a
  production with no recorded input);
- a deleted dataset stays, ``wasInvalidatedBy`` (``prov:type`` ``lc:Deletion``; a lost one
  ``lc:Loss``), with its ``lc:state``;
- how the walk was limited is said on the **root** entity (PROV documents carry no attributes
  of their own): ``lc:max_depth`` when a depth was given, and ``lc:truncated`` ``true`` with
  ``lc:max_nodes`` when the node cap cut the graph. A complete walk adds neither.

Missing values are left out. Two exports of the same graph are byte-identical: identifiers come
from DIDs and names (see :func:`local_name`), records are added in sorted order grouped by record
type (the order PROV-JSON groups them in), and the blank-node ids ``prov`` gives relations in
PROV-JSON (``_:id1``, ...) are numbered afresh for each serialization, in record order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from prov.model import ProvDocument

    from lifecycle.provenance.graph import ProvenanceGraph

URN = "urn:lifecycle:"
NAMESPACES = {
    "lc": f"{URN}vocab:",
    "dataset": f"{URN}dataset:",
    "production": f"{URN}production:",
    "transformation": f"{URN}transformation:",
    "release": f"{URN}release:",
}
INVALIDATIONS = {"deleted": "Deletion", "lost": "Loss"}  # dataset state -> lc: invalidation type


def local_name(text: str) -> str:
    """The local part of an identifier: ``text`` made a valid XML name (an NCName), reversibly.

    PROV-XML writes identifiers as ``xs:QName``: after the prefix, a name that starts with a
    letter or ``_`` and holds letters, digits, ``.``, ``-`` and ``_`` only: no second ``:``, no
    ``%`` (the DID ``data15_13TeV:data15_13TeV.00279169...`` is not one). Such a name is also a
    PROV-N local name and a URI path segment, so one identifier serves every serialization.
    ASCII letters, digits, ``.``, ``-`` and ``_`` are kept, so DIDs and tags stay readable;
    anything else (the scope's ``:``, ``,`` in ``Athena,22.0.40``, spaces, quotes, non-ASCII
    text), and a leading digit, ``.`` or ``-``, becomes ``_x<hex code point>_`` (the escape of
    XML's own name encoding: ``:`` is ``_x003A_``); a ``_`` before an ``x`` is escaped too
    (``_x005F_``), so every ``_x`` starts an escape and :func:`from_local_name` reverses it.
    The DID itself is the entity's ``prov:label``.
    """
    return _UNSAFE.sub(_escape, text)


def from_local_name(name: str) -> str:
    """The text :func:`local_name` made ``name`` from."""
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)), name)


# what local_name escapes: a "_" that an "x" follows, a character outside [A-Za-z0-9._-],
# and a first character that may not start an XML name
_UNSAFE = re.compile(r"_(?=x)|[^A-Za-z0-9._\-]|^[0-9.\-]")
_ESCAPE = re.compile(r"_x([0-9A-F]+)_")


def _escape(match: re.Match[str]) -> str:
    return f"_x{ord(match[0]):04X}_"


def prov_document(graph: ProvenanceGraph, text: Callable[[Any], Any] | None = None) -> ProvDocument:
    """The graph as a W3C PROV document (see the module docstring for the mapping); ``text``,
    if given, is applied to every attribute value (PROV-XML's escape of what XML cannot hold)."""
    from prov.constants import PROV
    from prov.model import ProvDocument

    doc = ProvDocument()
    ns = {prefix: doc.add_namespace(prefix, uri) for prefix, uri in NAMESPACES.items()}
    lc, dataset, production = ns["lc"], ns["dataset"], ns["production"]
    plan, release = ns["transformation"], ns["release"]
    productions = sorted(graph.productions.values(), key=lambda p: p.name)
    names = {p.name for p in productions}
    transformations = {p.transformation.tag: p.transformation for p in productions}
    releases = sorted({t.release for t in transformations.values() if t.release})
    nodes = sorted(graph.nodes, key=lambda n: n.did)

    for node in nodes:
        walk: tuple[tuple[str, Any], ...] = ()
        if node.did == graph.root:
            walk = (
                ("lc:max_depth", graph.max_depth),
                ("lc:truncated", True if graph.truncated else None),
                ("lc:max_nodes", graph.max_nodes if graph.truncated else None),
            )
        doc.entity(
            dataset[local_name(node.did)],
            _present(
                text,
                ("prov:type", lc[f"{node.kind.capitalize()}Dataset"]),
                ("prov:label", node.did),
                ("lc:data_type", node.data_type),
                ("lc:bytes", node.bytes),
                ("lc:events", node.events),
                ("lc:state", node.state),
                ("lc:available", node.available),
                ("lc:created_at", node.created_at),
                *walk,
            ),
        )
    for tag, t in sorted(transformations.items()):
        doc.entity(
            plan[local_name(tag)],
            _present(
                text,
                ("prov:type", PROV["Plan"]),
                ("prov:type", lc["Transformation"]),
                ("prov:label", tag),
                ("lc:name", t.name),
                ("lc:release", t.release),
                ("lc:image", t.image_ref),
                ("lc:code_repo", t.code_repo),
                ("lc:code_commit", t.code_commit),
                ("lc:command", t.command),
            ),
        )
    for name in releases:
        doc.agent(
            release[local_name(name)],
            _present(text, ("prov:type", PROV["SoftwareAgent"]), ("prov:label", name)),
        )
    for p in productions:
        doc.activity(
            production[local_name(p.name)],
            p.started_at,
            p.finished_at,
            _present(
                text,
                ("prov:type", lc["Production"]),
                ("lc:conditions_tag", p.conditions_tag),
                ("lc:site", p.site),
                ("lc:status", p.status),
            ),
        )

    for p in productions:
        t = p.transformation
        doc.wasAssociatedWith(
            production[local_name(p.name)],
            release[local_name(t.release)] if t.release else None,
            plan[local_name(t.tag)],
        )
    for name, role, parent in sorted({(e.production, e.role, e.parent) for e in graph.edges}):
        doc.used(
            production[local_name(name)],
            dataset[local_name(parent)],
            other_attributes=[("prov:role", lc[role])],
        )
    generations = {(e.child, e.production) for e in graph.edges}
    shown = {n.did for n in nodes}
    generations |= {
        (did, name) for did, name in graph.generated_by.items() if did in shown and name in names
    }
    for child, name in sorted(generations):
        doc.wasGeneratedBy(dataset[local_name(child)], production[local_name(name)])
    for child, parent, name in sorted({(e.child, e.parent, e.production) for e in graph.edges}):
        doc.wasDerivedFrom(
            dataset[local_name(child)], dataset[local_name(parent)], production[local_name(name)]
        )
    for node in nodes:
        if node.state in INVALIDATIONS:
            doc.wasInvalidatedBy(
                dataset[local_name(node.did)],
                other_attributes=[("prov:type", lc[INVALIDATIONS[node.state]])],
            )
    return doc


def to_prov_json(graph: ProvenanceGraph) -> str:
    """PROV-JSON text of the graph (indented; no trailing newline)."""
    return prov_document(graph).serialize(format="json", indent=2)


def to_prov_n(graph: ProvenanceGraph) -> str:
    """PROV-N text of the graph, from ``document`` to ``endDocument`` (no trailing newline)."""
    return prov_document(graph).serialize(format="provn")


def to_prov_xml(graph: ProvenanceGraph) -> str:
    """PROV-XML text of the graph (valid against W3C ``prov-core.xsd``; no trailing newline).

    XML 1.0 cannot hold most control characters at all: in values they are written visibly
    (``\\x01``, as :func:`~lifecycle.text.printable` shows them); identifiers never hold them.
    """
    doc = prov_document(graph, text=_xml_text)
    return doc.serialize(format="xml").rstrip("\n")


def write_prov_json(graph: ProvenanceGraph, out: TextIO) -> None:
    """``prov-json``: the PROV-JSON document and a newline."""
    out.write(to_prov_json(graph) + "\n")


def write_prov_n(graph: ProvenanceGraph, out: TextIO) -> None:
    """``prov-n``: the PROV-N document and a newline."""
    out.write(to_prov_n(graph) + "\n")


def write_prov_xml(graph: ProvenanceGraph, out: TextIO) -> None:
    """``prov-xml``: the PROV-XML document and a newline."""
    out.write(to_prov_xml(graph) + "\n")


# characters XML 1.0 cannot hold (its Char production), in any text or attribute
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> Any:
    """A string value with the characters XML cannot hold written visibly; others as they are."""
    if isinstance(value, str) and _NOT_XML.search(value):
        return _NOT_XML.sub(lambda m: ascii(m[0])[1:-1], value)
    return value


def _present(text: Callable[[Any], Any] | None, *pairs: tuple[str, Any]) -> list[tuple[str, Any]]:
    """The attribute pairs whose value is known (a missing value is left out, not written
    null), each value passed through ``text`` if given."""
    known = [(name, value) for name, value in pairs if value is not None and value != ""]
    return known if text is None else [(name, text(value)) for name, value in known]
