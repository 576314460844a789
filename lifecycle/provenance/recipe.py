"""Recipes: the minimal ordered list of productions that rebuilds one dataset from what exists now.

The walk starts at the dataset's own producer (a recipe rebuilds the dataset even when it still
has a replica) and goes upstream only through inputs without an available replica: the first
available inputs are where the recipe starts. Each production needed is one step, in execution
order (a step comes after every step that makes one of its inputs). The recipe is reproducible
exactly when the shared service says so (:mod:`lifecycle.provenance.reproducibility`): every
needed dataset has a producer that finished (``done``) and whose transformation records a release
and an image digest (blank values record nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.queries import dataset_id
from lifecycle.catalog.sql import analyze, drop_tables, temporary_table
from lifecycle.provenance.graph import Production, productions_by_name
from lifecycle.provenance.reproducibility import available, production_problem
from lifecycle.values import envelope, json_value

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

NEED_TABLE = "tmp_recipe_need"


@dataclass(frozen=True)
class Ingredient:
    """A dataset a step reads or writes."""

    did: str
    role: str  # input, calibration, config; "output" for what a step writes
    available: bool
    state: str


@dataclass(frozen=True)
class Step:
    """One production to run again."""

    production: Production
    inputs: list[Ingredient]
    outputs: list[Ingredient]


@dataclass(frozen=True)
class Missing:
    """Why a dataset the recipe needs cannot be regenerated."""

    did: str
    reason: str
    production: str | None = None
    transformation: str | None = None


@dataclass
class Recipe:
    did: str
    steps: list[Step]
    missing: list[Missing] = field(default_factory=list)

    @property
    def reproducible(self) -> bool:
        return not self.missing

    @property
    def starts_from(self) -> list[Ingredient]:
        """The available inputs the recipe reads (none of them is rebuilt)."""
        made = {o.did for step in self.steps for o in step.outputs}
        seen: dict[str, Ingredient] = {}
        for step in self.steps:
            for i in step.inputs:
                if i.did not in made and i.did not in seen:
                    seen[i.did] = i
        return sorted(seen.values(), key=lambda i: i.did)

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``recipe``: whether the dataset can be rebuilt, how many steps
        and from how many available inputs, then the steps in order."""
        starts_from = self.starts_from
        summary = {
            "reproducible": self.reproducible,
            "steps": len(self.steps),
            "starts_from": len(starts_from),
            "missing": len(self.missing),
        }
        return envelope(
            "recipe",
            summary,
            did=self.did,
            reproducible=self.reproducible,
            missing=[vars(m) for m in self.missing],
            starts_from=[vars(i) for i in starts_from],
            steps=[
                {
                    "production": s.production.name,
                    "transformation": s.production.transformation.tag,
                    "transformation_name": s.production.transformation.name,
                    "release": s.production.transformation.release,
                    "image": s.production.transformation.image,
                    "image_digest": s.production.transformation.image_digest,
                    "code_repo": s.production.transformation.code_repo,
                    "code_commit": s.production.transformation.code_commit,
                    "command": s.production.transformation.command,
                    "conditions_tag": s.production.conditions_tag,
                    "site": s.production.site,
                    "started_at": json_value(s.production.started_at),
                    "finished_at": json_value(s.production.finished_at),
                    "inputs": [i.did for i in s.inputs],
                    "roles": {i.did: i.role for i in s.inputs},
                    "outputs": [o.did for o in s.outputs],
                    "deleted": [d.did for d in (*s.inputs, *s.outputs) if d.state == "deleted"],
                }
                for s in self.steps
            ],
        )


def recipe(conn: Connection, did: str, gone: str | None = None) -> Recipe:
    """How to rebuild ``did`` now (``gone``: a table of replica ids to treat as unavailable)."""
    root_id = dataset_id(conn, did)
    temporary_table(conn, NEED_TABLE)
    try:
        conn.execute(
            sa.text(
                f"""
                INSERT INTO {NEED_TABLE} (id)
                WITH RECURSIVE need(id) AS (
                    SELECT CAST(:root AS INTEGER)
                    UNION
                    SELECT i.dataset_id
                    FROM need n
                    JOIN production_output o ON o.dataset_id = n.id
                    JOIN production_input i ON i.production_id = o.production_id
                    WHERE NOT {available("i.dataset_id", gone)}
                )
                SELECT id FROM need
                """
            ),
            {"root": root_id},
        )
        analyze(conn, NEED_TABLE)  # else PostgreSQL plans for a big table: hash scans
        needed = conn.execute(
            sa.text(
                f"""
                SELECT d.did, p.name
                FROM {NEED_TABLE} n CROSS JOIN dataset d
                LEFT JOIN production_output o ON o.dataset_id = n.id
                LEFT JOIN production p ON p.id = o.production_id
                WHERE d.id = n.id
                ORDER BY d.did
                """
            )
        ).all()
        # the inputs and outputs of every needed production (walk table first: see graph.py)
        steps = f"""
            SELECT DISTINCT o2.production_id AS id FROM {NEED_TABLE} n
            CROSS JOIN production_output o2 WHERE o2.dataset_id = n.id"""
        io = conn.execute(
            sa.text(
                f"""
                SELECT p.name, d.did, 'output' AS role, d.state, {available("d.id", gone)}
                FROM ({steps}) s CROSS JOIN production p CROSS JOIN production_output o
                CROSS JOIN dataset d
                WHERE p.id = s.id AND o.production_id = s.id AND d.id = o.dataset_id
                UNION ALL
                SELECT p.name, d.did, i.role, d.state, {available("d.id", gone)}
                FROM ({steps}) s CROSS JOIN production p CROSS JOIN production_input i
                CROSS JOIN dataset d
                WHERE p.id = s.id AND i.production_id = s.id AND d.id = i.dataset_id
                """
            )
        ).all()
    finally:
        drop_tables(conn, NEED_TABLE)
    productions = productions_by_name(
        conn, sorted({name for _, name in needed if name is not None})
    )
    inputs: dict[str, list[Ingredient]] = {name: [] for name in productions}
    outputs: dict[str, list[Ingredient]] = {name: [] for name in productions}
    for name, member, role, state, is_available in sorted(io, key=lambda r: (r[0], r[1])):
        target = outputs if role == "output" else inputs
        target[name].append(Ingredient(member, role, bool(is_available), state))
    steps = _in_execution_order(
        [Step(productions[name], inputs[name], outputs[name]) for name in productions]
    )
    root_did = conn.execute(sa.text("SELECT did FROM dataset WHERE id = :id"), {"id": root_id})
    root_did = root_did.scalar_one()
    return Recipe(root_did, steps, _missing(root_did, needed, productions))


def _missing(
    root: str, needed: list[tuple[str, str | None]], productions: dict[str, Production]
) -> list[Missing]:
    out = []
    for member, name in needed:
        if name is None:
            reason = (
                "no producing production recorded"
                if member == root
                else "has no available replica and no producing production recorded"
            )
            out.append(Missing(member, reason))
    for production in productions.values():
        t = production.transformation
        problem = production_problem(
            production.name, production.status, t.tag, t.release, t.image_digest
        )
        if problem:
            made = sorted(d for d, name in needed if name == production.name)
            out.extend(Missing(d, problem, production.name, t.tag) for d in made)
    return sorted(out, key=lambda m: (m.did, m.reason))


def _in_execution_order(steps: list[Step]) -> list[Step]:
    """Topological order (a step after the steps making its inputs), ties by production name."""
    made_by = {o.did: s.production.name for s in steps for o in s.outputs}
    by_name = {s.production.name: s for s in steps}
    waits_for = {
        name: {made_by[i.did] for i in s.inputs if i.did in made_by} - {name}
        for name, s in by_name.items()
    }
    order: list[Step] = []
    ready = sorted(name for name, deps in waits_for.items() if not deps)
    while ready:
        name = ready.pop(0)
        order.append(by_name[name])
        for other, deps in waits_for.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    ready.append(other)
                    ready.sort()
    return order
