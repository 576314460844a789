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

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.sql import analyze
from lifecycle.provenance.graph import Production, productions_by_name
from lifecycle.provenance.reproducibility import available, is_recorded, production_problem
from lifecycle.text import printable
from lifecycle.values import json_value

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

        return {
            "did": self.did,
            "reproducible": self.reproducible,
            "missing": [vars(m) for m in self.missing],
            "starts_from": [vars(i) for i in self.starts_from],
            "steps": [
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
        }


def recipe(conn: Connection, did: str, gone: str | None = None) -> Recipe:
    """How to rebuild ``did`` now (``gone``: a table of replica ids to treat as unavailable)."""
    from lifecycle.catalog.queries import dataset_id

    root_id = dataset_id(conn, did)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {NEED_TABLE}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {NEED_TABLE} (id INTEGER PRIMARY KEY)")
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
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {NEED_TABLE}")
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


def to_text(recipe: Recipe) -> str:
    """The recipe for people (catalog text with control characters shown as escapes)."""
    lines = [f"recipe for {recipe.did}"]
    if recipe.reproducible:
        lines.append(f"reproducible: {len(recipe.steps)} step(s) from available inputs")
    else:
        lines.append("NOT reproducible:")
        lines += [f"  - {m.did}: {m.reason}" for m in recipe.missing]
    if recipe.starts_from:
        lines.append("starts from:")
        lines += [f"  {_label(i)} ({i.role})" for i in recipe.starts_from]
    for n, step in enumerate(recipe.steps, 1):
        p, t = step.production, step.production.transformation
        lines.append(f"step {n}: {p.name}  transformation {t.tag} ({t.name})")
        release = t.release if is_recorded(t.release) else "?"
        lines.append(f"    release {release}  image {t.image_ref or '?'}")
        if t.code_repo or t.code_commit:
            lines.append(f"    code {t.code_repo or '?'} @ {t.code_commit or '?'}")
        if p.conditions_tag:
            lines.append(f"    conditions {p.conditions_tag}")
        if t.command:
            lines.append(f"    command {t.command}")
        lines += [f"    in  {_label(i)} ({i.role})" for i in step.inputs]
        lines += [f"    out {_label(o)}" for o in step.outputs]
    return "".join(printable(line) + "\n" for line in lines)  # one line stays one line


def _label(ingredient: Ingredient) -> str:
    if ingredient.state in ("deleted", "lost"):
        return f"{ingredient.did} [{ingredient.state}]"
    return ingredient.did if ingredient.available else f"{ingredient.did} [no available replica]"


# %IN, %CALIB, %CONFIG: the step's datasets of that role; %OUT: its outputs
PLACEHOLDERS = {"IN": "input", "CALIB": "calibration", "CONFIG": "config", "OUT": "output"}
_PLACEHOLDER = re.compile(r"%(IN|CALIB|CONFIG|OUT)(?![A-Za-z0-9_])")
SHELL_HEADER = """\
# Run it with sh. Each step runs its transformation's command in the container image pinned by
# digest, as  ${LIFECYCLE_RUN:-apptainer exec} IMAGE WORD...  (set LIFECYCLE_RUN to another
# executor, e.g. 'apptainer exec --bind /data', or to echo to print the steps without running
# them). The command's words are passed as written, never read by a shell; %IN, %CALIB, %CONFIG
# and %OUT in them become the step's input, calibration, config and output datasets, named by
# the variables below (scope:name; a word that is only a placeholder becomes one word per
# dataset, a placeholder inside a word their names joined by commas).
set -eu

run() {
    ${LIFECYCLE_RUN:-apptainer exec} "$@"
}"""


def to_shell(recipe: Recipe) -> str:
    """A POSIX shell script running the steps in order in their container images.

    Catalog text never becomes shell syntax: values are single-quoted arguments (``shlex.quote``)
    and comments show them through :func:`lifecycle.text.printable`, so no newline ends a
    comment. A recipe that cannot be regenerated yields a script that says why and exits 1.
    """
    comment = _comment
    lines = [
        "#!/bin/sh",
        comment(f"Rebuild {recipe.did}"),
        comment(
            f"Generated by lifecycle recipe: {len(recipe.steps)} step(s) in execution order, "
            "from available inputs."
        ),
    ]
    if not recipe.reproducible:
        lines = [*lines[:2], "set -eu"]
        for m in recipe.missing:
            lines.append(_say(f"cannot regenerate: {m.did}: {m.reason}"))
        lines.append("exit 1")
        return "\n".join(lines) + "\n"
    lines += [SHELL_HEADER, "", "# datasets: read (available now) and written by the steps"]
    names: dict[str, str] = {}  # DID -> shell variable
    for step in recipe.steps:
        for d in (*step.inputs, *step.outputs):
            if d.did not in names:
                names[d.did] = f"d{len(names) + 1}"
                lines += _assign(names[d.did], d.did)
    for n, step in enumerate(recipe.steps, 1):
        p, t = step.production, step.production.transformation
        lines += [
            "",
            comment(
                f"step {n}/{len(recipe.steps)}: {p.name} ({t.tag} {t.name}, release {t.release})"
            ),
        ]
        lines += [comment(f"  in  ${names[i.did]} {i.did} ({i.role})") for i in step.inputs]
        lines += [comment(f"  out ${names[o.did]} {o.did}") for o in step.outputs]
        if p.conditions_tag:
            lines.append(comment(f"  conditions {p.conditions_tag}"))
        if t.code_commit:
            lines.append(comment(f"  code {t.code_repo or ''}@{t.code_commit}"))
        lines += _shell_command(n, step, names)
    return "\n".join(lines) + "\n"


def _say(message: str) -> str:
    """A line printing ``message`` on stderr: ``printf``, as ``echo`` reads backslash escapes in
    dash and others; control characters shown as escapes (a message is for people)."""
    return f"printf '%s\\n' {shlex.quote(printable(message))} >&2"


def _quoted(text: str) -> str | None:
    """``text`` as one shell word, or None when it holds characters a terminal acts on (an ESC,
    a newline): those are never written into the script, see :func:`_assign`."""
    return shlex.quote(text) if text.isprintable() else None


def _assign(variable: str, text: str) -> list[str]:
    """Lines setting ``variable`` to ``text`` exactly: a quoted word, or, for text with control
    characters, ``printf`` of a format spelling them (and ``\\``, ``%``, ``'``) as octal escapes;
    a trailing ``x`` keeps trailing newlines from command substitution, then goes."""
    word = _quoted(text)
    if word is not None:
        return [f"{variable}={word}"]
    spelled = "".join(
        c if c.isprintable() and c not in "\\%'" else "".join(f"\\{b:03o}" for b in c.encode())
        for c in text
    )
    # the format starts with %s of nothing: a format starting with '-' is no option to printf
    return [f"{variable}=$(printf '%s{spelled}x' '')", f"{variable}=${{{variable}%x}}"]


def _comment(text: str) -> str:
    """A one-line shell comment: control characters (a newline would end it) as escapes."""
    return f"# {printable(text)}".rstrip()


def _shell_command(n: int, step: Step, names: dict[str, str]) -> list[str]:
    """The step's ``run IMAGE WORD...`` line: every word quoted, placeholders as variables."""
    t = step.production.transformation

    def fail(why: str) -> list[str]:
        return [_say(f"step {n}: {why}"), "exit 1"]

    spelled: list[str] = []  # step n's words with control characters: variables s<n>_<k>

    def literal(text: str) -> str:  # a quoted word, or a variable set before the run line
        word = _quoted(text)
        if word is None:
            spelled.append(f"s{n}_{len(spelled) + 1}")
            notes.extend(_assign(spelled[-1], text))
            word = f'"${spelled[-1]}"'
        return word

    if not t.command or not t.command.strip():
        return fail(f"transformation {t.tag} records no command")
    notes = []
    try:
        words = shlex.split(t.command)
    except ValueError:  # an unbalanced quote: the words are what white space separates
        words = t.command.split()
        notes.append(_comment("  the command has an unbalanced quote: split at white space"))
    by_role: dict[str, list[str]] = {role: [] for role in PLACEHOLDERS.values()}
    for d in step.inputs:
        by_role.setdefault(d.role, []).append(f'"${names[d.did]}"')
    by_role["output"] = [f'"${names[o.did]}"' for o in step.outputs]
    out = []
    for word in words:
        parts = _PLACEHOLDER.split(word)  # literal, placeholder, literal, ...
        for placeholder in parts[1::2]:
            if not by_role[PLACEHOLDERS[placeholder]]:
                return notes + fail(
                    f"the command names %{placeholder} but the production records no "
                    f"{PLACEHOLDERS[placeholder]} dataset"
                )
        if len(parts) == 3 and parts[0] == parts[2] == "":
            out += by_role[PLACEHOLDERS[parts[1]]]
            continue
        out.append(
            "".join(
                ",".join(by_role[PLACEHOLDERS[part]]) if i % 2 else literal(part) * bool(part)
                for i, part in enumerate(parts)
            )
            or "''"
        )
    image = t.image_ref or ""
    if t.image and "://" not in t.image:
        image = f"docker://{image}"
    image = literal(image)
    return [*notes, " ".join(["run", image, *out])]
