"""Lineage and impact: the provenance graph around one dataset, walked by one recursive query.

Edges run from an input dataset (``parent``) through a production to an output dataset
(``child``). **Lineage** walks upstream from a dataset to its raw and calibration roots;
**impact** walks downstream to everything that depends on it. ``depth`` counts the productions
crossed from the root dataset (0 for the root itself, 1 for its direct inputs or consumers).

The walk is materialized once in a temporary table; nodes, edges, productions and the summary
are then read from it with joins. Those joins are written ``CROSS JOIN ... WHERE``: SQLite then
starts from the (small, statistics-less) walk table as written instead of scanning a catalog
table, and PostgreSQL plans them as ordinary inner joins.

A node cap keeps a walk over a huge fan-out printable: the graph is then marked ``truncated``
(nearest nodes are kept, by depth then DID), while the summary still counts every dataset reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from lifecycle.catalog.queries import dataset_id
from lifecycle.catalog.sql import analyze, drop_tables, statement, temporary_table
from lifecycle.errors import UsageError
from lifecycle.provenance.reproducibility import available, is_recorded
from lifecycle.values import envelope, json_value, utc_datetime

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Direction = Literal["upstream", "downstream"]
MAX_NODES = 10_000  # default node cap of one walk
WALK_TABLE = "tmp_provenance_walk"


@dataclass(frozen=True)
class Node:
    """A dataset reached by a walk."""

    did: str
    kind: str
    data_type: str | None
    depth: int
    available: bool  # at least one available replica
    state: str  # the dataset's state: open, closed, deleted, lost
    bytes: int
    events: int | None
    created_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.state == "deleted"


@dataclass(frozen=True)
class Transformation:
    """The software a production ran (an AMI tag): what is needed to run it again."""

    tag: str
    name: str
    release: str | None
    image: str | None
    image_digest: str | None
    code_repo: str | None
    code_commit: str | None
    command: str | None

    @property
    def image_ref(self) -> str | None:
        """``image@digest`` (or whichever of the two is recorded; blank records nothing)."""
        image = self.image if is_recorded(self.image) else None
        digest = self.image_digest if is_recorded(self.image_digest) else None
        if image and digest:
            return f"{image}@{digest}"
        return digest or image


@dataclass(frozen=True)
class Production:
    """One execution of a transformation."""

    name: str
    transformation: Transformation
    conditions_tag: str | None
    site: str | None
    started_at: datetime | None
    finished_at: datetime | None
    status: str


@dataclass(frozen=True)
class Edge:
    """``parent`` was used (with ``role``) by ``production``, which generated ``child``."""

    parent: str
    child: str
    production: str
    role: str


@dataclass(frozen=True)
class RunDataset:
    """A dataset a production used (``role`` input, calibration, config) or made (``output``),
    with the facts an exported run carries (unknown ones None)."""

    did: str
    role: str
    kind: str | None
    data_type: str | None
    state: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class ProductionRun:
    """A production with its inputs and outputs (ordered by role, then DID): one run of lineage
    exports (OpenLineage)."""

    production: Production
    inputs: list[RunDataset]
    outputs: list[RunDataset]


@dataclass
class ProvenanceGraph:
    """The result of a lineage or impact walk."""

    root: str
    direction: Direction
    nodes: list[Node]
    edges: list[Edge]
    productions: dict[str, Production]
    # dataset DID -> the production that generated it, for every shown dataset whose producer
    # is listed (also where no edge shows it: at the depth limit, or a production with no input)
    generated_by: dict[str, str] = field(default_factory=dict)
    summary: list[dict[str, Any]] = field(default_factory=list)  # by kind and data type
    # depth -> datasets the walk reached at that depth (the root not counted), for the summary
    # of the views for people; not part of the JSON (which lists every node with its depth)
    depths: dict[int, int] = field(default_factory=dict)
    truncated: bool = False
    max_nodes: int = MAX_NODES
    max_depth: int | None = None

    def node(self, did: str) -> Node:
        return next(n for n in self.nodes if n.did == did)

    def runs(self) -> list[ProductionRun]:
        """The productions shown, by name, each with the inputs and outputs shown."""
        nodes = {n.did: n for n in self.nodes}

        def dataset(did: str, role: str) -> RunDataset:
            n = nodes.get(did)
            if n is None:
                return RunDataset(did, role, None, None, None, None)
            return RunDataset(did, role, n.kind, n.data_type, n.state, n.created_at)

        inputs: dict[str, set[tuple[str, str]]] = {}
        outputs: dict[str, set[str]] = {}
        for e in self.edges:
            inputs.setdefault(e.production, set()).add((e.role, e.parent))
            outputs.setdefault(e.production, set()).add(e.child)
        for did, name in self.generated_by.items():
            if did in nodes:
                outputs.setdefault(name, set()).add(did)
        return [
            ProductionRun(
                p,
                [dataset(did, role) for role, did in sorted(inputs.get(name, ()))],
                [dataset(did, "output") for did in sorted(outputs.get(name, ()))],
            )
            for name, p in sorted(self.productions.items())
        ]

    @property
    def producer_of(self) -> dict[str, Production]:
        """Shown dataset DID -> the production that generated it (where it is listed)."""
        return {did: self.productions[name] for did, name in self.generated_by.items()}

    def to_dict(self, *, lazy: bool = False) -> dict[str, Any]:
        """The JSON envelope of ``lineage`` or ``impact`` (the kind; ``json`` of the graph
        formats): the summary (datasets reached and their bytes, shown nodes, edges and
        productions, whether truncated), the walk's root and limits, nodes, edges,
        productions, the producer of each shown dataset, and every dataset reached counted by
        kind and data type (``by_kind``).

        With ``lazy`` the nodes, edges and productions are iterators of their entries, made as
        they are read: a writer then holds one chunk of them at a time besides the graph, where
        the lists would double a large graph's memory (a walk of 100,000 datasets: 0.45 GiB).
        """
        nodes = ({k: json_value(getattr(n, k)) for k in _NODE_FIELDS} for n in self.nodes)
        edges = ({k: getattr(e, k) for k in _EDGE_FIELDS} for e in self.edges)
        productions = (
            {
                "name": p.name,
                "transformation": {k: getattr(p.transformation, k) for k in _TRANSFORMATION_FIELDS}
                | {"image_ref": p.transformation.image_ref},
                "conditions_tag": p.conditions_tag,
                "site": p.site,
                "started_at": json_value(p.started_at),
                "finished_at": json_value(p.finished_at),
                "status": p.status,
            }
            for p in self.productions.values()
        )
        summary = {
            "datasets": sum(group["datasets"] for group in self.summary),
            "bytes": sum(group["bytes"] for group in self.summary),
            "nodes": len(self.nodes),
            "edges": len(self.edges),
            "productions": len(self.productions),
            "truncated": self.truncated,
        }
        return envelope(
            "lineage" if self.direction == "upstream" else "impact",
            summary,
            root=self.root,
            direction=self.direction,
            truncated=self.truncated,
            max_nodes=self.max_nodes,
            max_depth=self.max_depth,
            nodes=nodes if lazy else list(nodes),
            edges=edges if lazy else list(edges),
            productions=productions if lazy else list(productions),
            generated_by=self.generated_by,
            by_kind=self.summary,
        )


# Field names of the flat dataclasses, in order: their JSON entries are made from these
# (``dataclasses.asdict`` copies recursively: 15 of 35 s writing a graph of 100,000 datasets).
_NODE_FIELDS = tuple(f.name for f in fields(Node))
_EDGE_FIELDS = tuple(f.name for f in fields(Edge))
_TRANSFORMATION_FIELDS = tuple(f.name for f in fields(Transformation))


def lineage(
    conn: Connection, did: str, depth: int | None = None, max_nodes: int = MAX_NODES
) -> ProvenanceGraph:
    """Everything ``did`` was made from, up to ``depth`` productions away (None: to the roots)."""
    return _walk(conn, did, "upstream", depth, max_nodes)


def impact(
    conn: Connection, did: str, depth: int | None = None, max_nodes: int = MAX_NODES
) -> ProvenanceGraph:
    """Everything made from ``did``, directly or not, up to ``depth`` productions away."""
    return _walk(conn, did, "downstream", depth, max_nodes)


# One step of each walk: from node ``w.id`` to its neighbours ``next_id`` one production away.
_STEP = {
    "upstream": """
        SELECT i.dataset_id AS next_id, w.depth + 1
        FROM {walk} w
        JOIN production_output o ON o.dataset_id = w.id
        JOIN production_input i ON i.production_id = o.production_id""",
    "downstream": """
        SELECT o.dataset_id AS next_id, w.depth + 1
        FROM {walk} w
        JOIN production_input i ON i.dataset_id = w.id
        JOIN production_output o ON o.production_id = i.production_id""",
}


def _walk(
    conn: Connection, did: str, direction: Direction, depth: int | None, max_nodes: int
) -> ProvenanceGraph:
    if depth is not None and depth < 0:
        raise UsageError(f"--depth: must be 0 or more, not {depth}")
    if max_nodes < 1:
        raise UsageError(f"--max-nodes: must be at least 1, not {max_nodes}")
    root_id = dataset_id(conn, did)
    limit = "" if depth is None else "WHERE w.depth < :max_depth"
    temporary_table(conn, WALK_TABLE, "id INTEGER PRIMARY KEY, depth INTEGER NOT NULL")
    try:
        conn.execute(
            sa.text(
                f"""
                INSERT INTO {WALK_TABLE} (id, depth)
                WITH RECURSIVE walk(id, depth) AS (
                    SELECT CAST(:root AS INTEGER), 0
                    UNION
                    {_STEP[direction].format(walk="walk")} {limit}
                )
                SELECT id, MIN(depth) FROM walk GROUP BY id
                """
            ),
            {"root": root_id, "max_depth": depth},
        )
        analyze(conn, WALK_TABLE)  # PostgreSQL plans an unanalyzed table as big: hash scans
        nodes = _nodes(conn, max_nodes + 1)
        truncated = len(nodes) > max_nodes
        nodes = nodes[:max_nodes]
        kept = {n.did for n in nodes}
        edges, productions, generated_by = _edges(conn, direction, kept)
        summary = _summary(conn)
        depths = _depths(conn)
    finally:
        drop_tables(conn, WALK_TABLE)
    return ProvenanceGraph(
        root=nodes[0].did,
        direction=direction,
        nodes=nodes,
        edges=edges,
        productions=productions,
        generated_by=generated_by,
        summary=summary,
        depths=depths,
        truncated=truncated,
        max_nodes=max_nodes,
        max_depth=depth,
    )


def _nodes(conn: Connection, limit: int) -> list[Node]:

    rows = conn.execute(  # read as made into nodes: the rows are never all held at once
        sa.text(
            f"""
            SELECT d.did, d.kind, d.data_type, w.depth, {available("d.id")} AS available,
                   d.state, d.bytes, d.events, d.created_at
            FROM {WALK_TABLE} w CROSS JOIN dataset d
            WHERE d.id = w.id
            ORDER BY w.depth, d.did
            LIMIT :limit
            """
        ),
        {"limit": limit},
    )
    return [
        Node(
            did=r[0],
            kind=r[1],
            data_type=r[2],
            depth=int(r[3]),
            available=bool(r[4]),
            state=r[5],
            bytes=int(r[6]),
            events=None if r[7] is None else int(r[7]),
            created_at=utc_datetime(r[8]),
        )
        for r in rows
    ]


def _edges(
    conn: Connection, direction: Direction, kept: set[str]
) -> tuple[list[Edge], dict[str, Production], dict[str, str]]:
    """Edges between kept datasets, and the productions behind them.

    Lineage lists the producer of every kept dataset, even one that used no walked input (a
    production with no recorded input, or one cut off by the depth limit); impact lists the
    productions behind its edges.
    """
    rows = conn.execute(
        sa.text(
            f"""
            SELECT di.did AS parent, dout.did AS child, p.name AS production, i.role
            FROM {WALK_TABLE} wo
            CROSS JOIN production_output o
            CROSS JOIN production_input i
            CROSS JOIN {WALK_TABLE} wi
            CROSS JOIN dataset di
            CROSS JOIN dataset dout
            CROSS JOIN production p
            WHERE o.dataset_id = wo.id AND i.production_id = o.production_id
              AND wi.id = i.dataset_id AND di.id = i.dataset_id AND dout.id = o.dataset_id
              AND p.id = o.production_id
            ORDER BY dout.did, di.did, p.name
            """
        )
    )
    edges = [Edge(*row) for row in rows if row[0] in kept and row[1] in kept]
    wanted = {e.production for e in edges}
    generated_by = {e.child: e.production for e in edges}
    if direction == "upstream":
        candidates = f"""
            SELECT o.production_id AS id, d.did
            FROM {WALK_TABLE} w CROSS JOIN production_output o CROSS JOIN dataset d
            WHERE o.dataset_id = w.id AND d.id = w.id"""
        for name, did in conn.execute(
            sa.text(f"SELECT p.name, c.did FROM ({candidates}) c JOIN production p ON p.id = c.id")
        ):
            if did in kept:
                wanted.add(name)
                generated_by[did] = name
    return edges, productions_by_name(conn, sorted(wanted)), dict(sorted(generated_by.items()))


def productions_by_name(conn: Connection, names: list[str]) -> dict[str, Production]:
    """The named productions with their transformations, by name."""

    productions: dict[str, Production] = {}
    for i in range(0, len(names), 500):
        chunk = {"names": names[i : i + 500]}
        for row in conn.execute(
            statement(
                """
                SELECT p.name, p.conditions_tag, s.name AS site, p.started_at, p.finished_at,
                       p.status, t.tag, t.name, t.release, t.image, t.image_digest,
                       t.code_repo, t.code_commit, t.command
                FROM production p
                JOIN transformation t ON t.id = p.transformation_id
                LEFT JOIN site s ON s.id = p.site_id
                WHERE p.name IN :names
                ORDER BY p.name
                """,
                chunk,
            ),
            chunk,
        ):
            productions[row[0]] = Production(
                name=row[0],
                conditions_tag=row[1],
                site=row[2],
                started_at=utc_datetime(row[3]),
                finished_at=utc_datetime(row[4]),
                status=row[5],
                transformation=Transformation(*row[6:14]),
            )
    return dict(sorted(productions.items()))


def _summary(conn: Connection) -> list[dict[str, Any]]:
    """Every walked dataset (root excluded) counted by kind and data type."""
    rows = conn.execute(
        sa.text(
            f"""
            SELECT d.kind, d.data_type, COUNT(*) AS datasets, SUM(d.bytes) AS bytes,
                   SUM(CASE WHEN {available("d.id")} THEN 1 ELSE 0 END) AS available,
                   SUM(CASE WHEN d.state = 'deleted' THEN 1 ELSE 0 END) AS deleted
            FROM {WALK_TABLE} w CROSS JOIN dataset d
            WHERE d.id = w.id AND w.depth > 0
            GROUP BY d.kind, d.data_type
            ORDER BY d.kind, d.data_type
            """
        )
    ).all()
    return [
        {
            "kind": kind,
            "data_type": data_type,
            "datasets": int(n),
            "bytes": int(size or 0),
            "available": int(avail or 0),
            "deleted": int(deleted or 0),
        }
        for kind, data_type, n, size, avail, deleted in rows
    ]


def _depths(conn: Connection) -> dict[int, int]:
    """Every walked dataset (root excluded) counted by depth."""
    rows = conn.execute(
        sa.text(
            f"SELECT depth, COUNT(*) FROM {WALK_TABLE} WHERE depth > 0 GROUP BY depth ORDER BY depth"
        )
    )
    return {int(depth): int(n) for depth, n in rows}
