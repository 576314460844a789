"""The reproducibility service, set-based over the whole catalog (audit, expiry, recipes, what-if).

**Reproducible** (DESIGN.md invariant 4): a dataset has a generating production that finished
(status ``done``) whose transformation records a release and an image digest, and every input of
that production (any role: input, calibration, config) either has an available replica or is
itself reproducible.

**Recorded** means a value that is neither null nor only whitespace (:data:`WHITESPACE`, the
characters Python's ``str.strip()`` removes): a release or digest of ``"  "`` or ``"\t"`` records
nothing. :func:`recorded` is the one SQL test and :func:`lifecycle.text.is_recorded` its twin; catalogs
imported before import normalised blank cells to null are judged the same way.

**Production status.** Only a ``done`` production regenerates its outputs. The outputs of a
``failed`` production are whatever it left behind, and those of a ``running`` one are not complete
yet: neither is reproducible through that production (:func:`cannot_regenerate`,
:func:`production_problem`). The *inputs* of a running production are a different matter: the job
in flight reads them, so expiry keeps them (``lifecycle.expiry``); they are otherwise judged like
any dataset.

On a DAG that is the complement of the least fixed point of *irreproducible*:

    irreproducible(d) = no producer(d)
                        or producer(d) is not done
                        or the transformation of producer(d) lacks a release or an image digest
                        or some input i of producer(d) is unavailable and irreproducible(i)

which a recursive CTE computes with joins only (no negation of the recursive table): start from
every dataset without a producer (an anti-join on the output edge's primary key), every output
of a production not done and every output of a transformation that lacks a release or digest
(few), then walk downstream through inputs that have no available replica. Raw data enter the
start set but, being available, stop there. Starting from "no producer" plus "bad production"
rather than "no good producer" halves the work.

**What if.** Every function takes ``gone``: the name of a temporary table of replica ids to
treat as unavailable (see :func:`what_if`), so "what if these replicas were deleted / this site
burned down" is answered on the catalog as it would be, without changing it.

**Its tables.** The irreproducible set is computed once into a temporary table that this module
creates, names and drops: :func:`irreproducible_table` (a context manager yielding the name;
:data:`IRREPRODUCIBLE` is the default name, which the audit's rule evaluators read). Callers never
spell these names themselves. Besides each dataset's ``id`` it keeps whether the dataset is
``unavailable`` (those are the irreproducible datasets that make their consumers irreproducible)
and its producer, ``production_id`` (null for none), which saying why reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import (
    analyze,
    by_dialect,
    drop_tables,
    insert_rows,
    planner_settings,
    rows,
    statement,
    temporary_table,
    tuples,
)
from lifecycle.errors import UsageError
from lifecycle.nomenclature import normalize_did
from lifecycle.text import is_recorded
from lifecycle.values import rows_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

IRREPRODUCIBLE = "tmp_irreproducible"  # the irreproducible set, see irreproducible_table()
NEWLY_IRREPRODUCIBLE = "tmp_newly_irreproducible"  # see newly_irreproducible()


# What "only whitespace" means, everywhere: exactly the characters ``str.strip()`` removes, so the
# SQL test and the Python one agree (SQLite's and PostgreSQL's trim() remove only spaces unless told).
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


def recorded(column: str) -> str:
    """SQL: the text ``column`` records a value: not null and not only :data:`WHITESPACE`.

    ``trim(value, characters)`` is spelled alike on SQLite and PostgreSQL; the characters are
    literal in the statement (none of them is a quote).
    """
    return f"COALESCE(trim({column}, '{WHITESPACE}'), '') <> ''"


def cannot_regenerate(production: str = "p", transformation: str = "t") -> str:
    """SQL: production ``production`` (of transformation ``transformation``, both non-null rows)
    cannot regenerate its outputs: not ``done``, or no release or image digest recorded."""
    t = transformation
    return (
        f"({production}.status <> 'done' OR NOT ({recorded(f'{t}.release')}) "
        f"OR NOT ({recorded(f'{t}.image_digest')}))"
    )


# The order that makes a dataset's *latest* production (of those that read it) the first row:
# undated productions count as oldest on both engines (PostgreSQL sorts NULL first in a DESC
# order, SQLite last), ties go to the greatest name, the later task id. The reprocessability
# rule and reprocessing plans both read a dataset's calibration from its latest done production.
LATEST_PRODUCTION_ORDER = (
    "CASE WHEN p.started_at IS NULL THEN 1 ELSE 0 END, p.started_at DESC, p.name DESC"
)


def production_problem(
    production: str | None, status: str | None, tag: str | None, release, image_digest
) -> str | None:
    """Why a producer cannot regenerate its outputs, in words (None: it can).

    :func:`cannot_regenerate` in Python: the one wording every service gives.
    """
    if production is None:
        return "no producing production recorded"
    if status == "failed":
        return f"production {production} failed"
    if status != "done":
        return f"production {production} is {status or 'not done'}"
    if not is_recorded(release):
        return f"transformation {tag} records no software release"
    if not is_recorded(image_digest):
        return f"transformation {tag} records no image digest"
    return None


def consumers(dataset: str) -> str:
    """SQL joins: ``i``, the input edges reading the dataset with id ``dataset``, and ``o``, the
    output edges of those productions (what is made from it, one step downstream)."""
    return (
        f"JOIN production_input i ON i.dataset_id = {dataset} "
        "JOIN production_output o ON o.production_id = i.production_id"
    )


def available(dataset: str, gone: str | None = None) -> str:
    """SQL: the dataset with id ``dataset`` has an available replica (not among ``gone``)."""
    unless = f" AND r.id NOT IN (SELECT g.id FROM {gone} g)" if gone else ""
    return (
        f"EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = {dataset} "
        f"AND r.state = 'available'{unless})"
    )


# Datasets irreproducible on their own: no producer, a producer not done, or a transformation
# without release or digest (each branch a scan PostgreSQL and SQLite plan well on its own).
_NO_PRODUCER = """
    SELECT d.id, NULL AS production_id FROM dataset d
    WHERE NOT EXISTS (SELECT 1 FROM production_output o WHERE o.dataset_id = d.id)"""
# SQLite, without statistics, reads every dataset id along the first covering index it finds;
# since the DID index became a plain one (migration 0006) that is the DID index: ids in DID
# order, a lookup at a random place of production_output each. Read in table (id) order the
# lookups go along the table: measured at 1 M datasets, 0.19 s against 0.8-1.0 s (and 0.35 s
# along the scope index, as before 0006).
_NO_PRODUCER_SQLITE = """
    SELECT d.id, NULL AS production_id FROM dataset d NOT INDEXED
    LEFT JOIN production_output o ON o.dataset_id = d.id
    WHERE o.dataset_id IS NULL"""
_OWN_PROBLEMS = f"""
    SELECT o.dataset_id, o.production_id
    FROM production p
    JOIN production_output o ON o.production_id = p.id
    WHERE p.status <> 'done'
    UNION
    SELECT o.dataset_id, o.production_id
    FROM production p
    JOIN production_output o ON o.production_id = p.id
    WHERE p.transformation_id IN (
        SELECT t.id FROM transformation t
        WHERE NOT ({recorded("t.release")}) OR NOT ({recorded("t.image_digest")})
    )
"""


# The same datasets in one pass over the productions: a dataset has at most one producer (the
# output edge's key), so no output is listed twice and nothing need be made distinct.
_OWN_PROBLEMS_ONE_PASS = f"""
    SELECT o.dataset_id, o.production_id
    FROM production p
    JOIN production_output o ON o.production_id = p.id
    WHERE p.status <> 'done' OR p.transformation_id IN (
        SELECT t.id FROM transformation t
        WHERE NOT ({recorded("t.release")}) OR NOT ({recorded("t.image_digest")})
    )
"""


def start_set(*, sqlite: bool = False) -> str:
    """SQL: the datasets irreproducible on their own, ``id, production_id`` (their producer,
    null for none; ``sqlite``: the form SQLite reads fastest, SQLite only).

    A dataset without a producer is no production's output, and a dataset is the output of at
    most one production, so no dataset is listed twice: PostgreSQL reads the productions once
    and joins the branches by ``UNION ALL``. Measured at 1 M datasets (184 k rows, server CPU,
    alternately): with ``UNION`` PostgreSQL hashed all 184 k rows to drop duplicates, spilling
    at ``work_mem`` 4 MB, 2.2-2.6 s against 1.9-2.15 s for ``UNION ALL`` of the first branch;
    read once, the productions give the same rows in 1.03-1.06 s against 0.99-1.12 s read twice
    and made distinct (three pairs: no measurable difference; kept as the simpler statement).
    SQLite keeps its compound, as measured for it."""
    if sqlite:
        return f"{_NO_PRODUCER_SQLITE}\n    UNION{_OWN_PROBLEMS}"
    return f"{_NO_PRODUCER}\n    UNION ALL{_OWN_PROBLEMS_ONE_PASS}"


def irreproducible_cte(gone: str | None = None, *, sqlite: bool = False) -> str:
    """``irreproducible(id, unavailable, production_id) AS (...)``, to follow ``WITH RECURSIVE``.

    ``unavailable``: the dataset has no available replica (outside ``gone``), so it blocks what
    is made from it; ``production_id``: its producer (null for none), which explaining why
    needs (:func:`irreproducible_explained`). The walk goes on from the unavailable ones only;
    an output reached is judged available or not once per path that reaches it, and the flag
    and the producer, functions of the id, keep the union to one row per dataset. ``sqlite``:
    in the form SQLite runs fastest (SQLite only).
    """
    return f"""
irreproducible(id, unavailable, production_id) AS (
    SELECT s.id, NOT {available("s.id", gone)}, s.production_id
    FROM ({start_set(sqlite=sqlite)}) s
    UNION
    SELECT o.dataset_id, NOT {available("o.dataset_id", gone)}, o.production_id
    FROM irreproducible b {consumers("b.id")}
    WHERE b.unavailable
)"""


def irreproducible_sql(gone: str | None = None, *, sqlite: bool = False) -> str:
    """``WITH RECURSIVE irreproducible(id, unavailable, production_id) AS (...)``: every
    irreproducible dataset
    (``sqlite``: in the form SQLite runs fastest, SQLite only)."""
    return "WITH RECURSIVE " + irreproducible_cte(gone, sqlite=sqlite)


# the set's table (see materialize_irreproducible)
_SET_COLUMNS = "id INTEGER PRIMARY KEY, unavailable BOOLEAN NOT NULL, production_id INTEGER"
_SET_NAMES = tuple(column.split()[0] for column in _SET_COLUMNS.split(", "))

SetRow = tuple[int, bool, int | None]


def irreproducible_rows(conn: Connection, table: str = IRREPRODUCIBLE) -> list[SetRow]:
    """The rows of an irreproducible set ``table`` of ``conn`` (``id``, ``unavailable``,
    ``production_id``), to be handed to another connection reading the same snapshot
    (:func:`copied_irreproducible`)."""
    sql = f"SELECT {', '.join(_SET_NAMES)} FROM {table}"
    return [(int(i), bool(u), None if p is None else int(p)) for i, u, p in tuples(conn, sql)]


def copied_irreproducible(
    conn: Connection, found: list[SetRow], table: str = IRREPRODUCIBLE
) -> str:
    """The irreproducible set another connection on the same snapshot computed (its rows from
    :func:`irreproducible_rows`) as the temporary table ``table`` of ``conn``, as
    :func:`materialize_irreproducible` would have made it. Measured at 1 M datasets (264 k
    rows, SQLite): read 0.1 s and copied in 0.2 s, against 1.0-1.5 s to compute it again."""
    temporary_table(conn, table, _SET_COLUMNS)
    insert_rows(conn, table, _SET_NAMES, found)
    analyze(conn, table)
    return table


def materialize_irreproducible(
    conn: Connection, table: str = IRREPRODUCIBLE, gone: str | None = None
) -> str:
    """Compute the irreproducible set once into the temporary table ``table``: ``id`` (primary
    key), ``unavailable``, whether it has no available replica (not among ``gone``): the
    irreproducible datasets that block their consumers, and ``production_id``, the dataset's
    producer (null for none), both for :func:`irreproducible_explained`.

    Prefer :func:`irreproducible_table`, which also drops it. SQLite evaluates
    :func:`irreproducible_cte` directly. PostgreSQL plans that CTE's recursive step as a hash
    anti-join over every available replica, so there the same fixed point is computed in two
    steps: the start set (no producer, a production not done, or a transformation without
    release or digest) is inserted first; then only its *unavailable* members seed a downstream
    walk that continues through unavailable outputs, and every output that walk reaches is added.
    """
    temporary_table(conn, table, _SET_COLUMNS)
    two_steps = by_dialect(
        conn,
        # measured: SQLite runs the single recursive CTE fastest; PostgreSQL's plan of it hashes
        # every available replica at each step, the two-step walk reads only the few unavailable
        sqlite=False,
        postgresql=True,
    )
    if not two_steps:
        conn.exec_driver_sql(
            f"INSERT INTO {table} (id, unavailable, production_id) "
            f"{irreproducible_sql(gone, sqlite=True)} "
            "SELECT id, unavailable, production_id FROM irreproducible"
        )
        return table
    conn.exec_driver_sql(
        f"INSERT INTO {table} (id, unavailable, production_id) "
        f"SELECT s.id, NOT {available('s.id', gone)}, s.production_id FROM ({start_set()}) s"
    )
    analyze(conn, table)
    # The walk carries each dataset it reaches with its flag and goes on from the unavailable
    # ones, so every consumer edge is followed once. Planned by PostgreSQL's estimates (ten times
    # the seed per step) it hashes every unavailable output with its inputs, or merges all
    # input edges, at each step; an index lookup per dataset reached is what the walk needs.
    # Measured at 1 M datasets (35 k seeds, 118 k rows reached): 1.9 s with nested loops only,
    # against 4.3 s for the earlier walk-then-join form with the planner's choice. The walk
    # does not enter the start set (its unavailable members are the seeds, its available ones
    # stop a walk anyway), so what it reaches is new and distinct as it is: no DISTINCT, no
    # anti-join of the rows reached against the table afterwards (80 k rows: 1.08-1.16 s of
    # server CPU against 1.09-1.36 s, three pairs alternately, load 2-3). The statement reads
    # the table as it was when it began, not the rows it inserts.
    with planner_settings(conn, enable_hashjoin="off", enable_mergejoin="off"):
        conn.exec_driver_sql(
            f"""
            INSERT INTO {table} (id, unavailable, production_id)
            WITH RECURSIVE walk(id, unavailable, production_id, reached) AS (
                SELECT b.id, b.unavailable, b.production_id, FALSE
                FROM {table} b WHERE b.unavailable
                UNION
                SELECT o.dataset_id, NOT {available("o.dataset_id", gone)}, o.production_id, TRUE
                FROM walk w {consumers("w.id")}
                WHERE w.unavailable
                  AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.id = o.dataset_id)
            )
            SELECT w.id, w.unavailable, w.production_id FROM walk w WHERE w.reached
            """
        )
    return table


@contextmanager
def irreproducible_table(
    conn: Connection,
    table: str = IRREPRODUCIBLE,
    gone: str | None = None,
    existing: str | None = None,
) -> Iterator[str]:
    """The irreproducible set (with ``gone``: as it would be without those replicas) in a
    temporary table for the block; yields its name. The table, and the one
    :func:`newly_irreproducible` makes on top of it, are dropped afterwards.

    ``existing``: the name of a table a caller's own block already holds (of the catalog as it
    is, ``gone`` None), yielded as it is and left to that block; only the table
    :func:`newly_irreproducible` made on top of it is dropped. The report computes the set once
    this way for the audit, the reproducibility coverage and both expiry previews."""
    if existing is not None:
        if gone is not None:
            raise ValueError("an existing irreproducible set is of the catalog as it is")
        try:
            yield existing
        finally:
            drop_tables(conn, NEWLY_IRREPRODUCIBLE)
        return
    try:
        yield materialize_irreproducible(conn, table, gone)
    finally:
        drop_tables(conn, table, NEWLY_IRREPRODUCIBLE)


def irreproducible_reasons(
    conn: Connection,
    ids_table: str,
    where: str = "1 = 1",
    params: dict[str, Any] | None = None,
    gone: str | None = None,
) -> list[dict[str, Any]]:
    """Why each dataset in ``ids_table`` (restricted by ``where`` on ``d``) is irreproducible.

    Returns one dict per dataset with ``id, did, reason, production, transformation,
    blocking_input``; ``blocking_input`` is the first input (by DID) that is neither available
    nor reproducible.
    """
    flagged = f"""
        WITH flagged AS (
            SELECT d.id, d.did, o.production_id
            FROM {ids_table} b
            JOIN dataset d ON d.id = b.id
            LEFT JOIN production_output o ON o.dataset_id = d.id
            WHERE {where}
        )"""
    unavailable_inputs = f"""
        FROM production_input i
        JOIN {ids_table} x ON x.id = i.dataset_id
        JOIN dataset di ON di.id = i.dataset_id"""
    per_dataset = f"""{flagged}
        SELECT f.id, f.did, p.name AS production, p.status, t.tag AS transformation,
               t.release, t.image_digest,
               (SELECT MIN(di.did) {unavailable_inputs}
                 WHERE i.production_id = f.production_id
                   AND NOT {available("i.dataset_id", gone)}) AS blocking_input
        FROM flagged f
        LEFT JOIN production p ON p.id = f.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id"""
    aggregated = f"""{flagged},
        blocked AS (
            SELECT i.production_id, MIN(di.did) AS blocking_input {unavailable_inputs}
            WHERE i.production_id IN (SELECT production_id FROM flagged)
              AND NOT {available("i.dataset_id", gone)}
            GROUP BY i.production_id
        )
        SELECT f.id, f.did, p.name AS production, p.status, t.tag AS transformation,
               t.release, t.image_digest, blocked.blocking_input
        FROM flagged f
        LEFT JOIN production p ON p.id = f.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN blocked ON blocked.production_id = f.production_id"""
    # PostgreSQL plans a lookup per flagged dataset best; SQLite, one aggregate over the flagged
    # productions' unavailable inputs
    sql = by_dialect(conn, sqlite=aggregated, postgresql=per_dataset)
    found = rows(conn, sql, **(params or {}))
    for row in found:
        row["reason"] = _reason(row)
    return found


def irreproducible_explained(
    ids_table: str, where: str = "1 = 1", *, named_once: bool = False
) -> str:
    """SQL: why each dataset in ``ids_table`` (a :func:`materialize_irreproducible` table;
    restricted by ``where`` on ``d``) is irreproducible, in the words of
    :func:`irreproducible_reasons`, composed in SQL for sets of any size.

    Columns ``id, did, reason, production, transformation, blocking_input``, unordered. A
    production's blocking input, its first input by DID that is unavailable and irreproducible,
    comes from one grouped pass over the blocking datasets (the table's ``unavailable`` ones)
    and the productions reading them, rather than from every input of every flagged production
    (measured at 1 M datasets on SQLite: 0.5 s against 1.2 s). ``CROSS JOIN`` keeps SQLite's
    loops in the order written: from the irreproducible set to its datasets (not every dataset
    of a broad selection, by its index, to the set), from the blocking datasets to their
    consumers (not every input edge to them). :func:`_reason` is the same wording in Python.

    Each dataset's producer is the table's ``production_id``, kept when the set was computed,
    rather than joined again from every output edge: on PostgreSQL that join hashed all 887 k
    outputs, spilling (measured at 1 M datasets, the ``named_once`` form, two pairs
    alternately: 1.49-1.59 s of server CPU against 1.92-2.11 s, the same 151 k findings).

    ``named_once``: the set's DIDs (and whether ``where`` selects each) are read in one join
    with the dataset table, materialized, for both the blocking inputs and the findings, where
    the other form joins the dataset table twice. PostgreSQL hashes or merges every dataset in
    each of those joins: measured at 1 M datasets (264 k irreproducible, 151 k selected),
    2.5-2.6 s of server CPU against 2.8-3.0 s.
    """
    reason = f"""CASE WHEN b.production_id IS NULL THEN 'no producing production recorded'
                    WHEN p.status = 'failed' THEN 'production ' || p.name || ' failed'
                    WHEN p.status <> 'done' THEN 'production ' || p.name || ' is '
                         || COALESCE(NULLIF(p.status, ''), 'not done')
                    WHEN NOT ({recorded("t.release")})
                         THEN 'transformation ' || t.tag || ' records no software release'
                    WHEN NOT ({recorded("t.image_digest")})
                         THEN 'transformation ' || t.tag || ' records no image digest'
                    WHEN k.blocking_input IS NOT NULL THEN 'input ' || k.blocking_input
                         || ' has no available replica and is not reproducible'
                    ELSE 'not reproducible' END AS reason,
               p.name AS production, t.tag AS transformation, k.blocking_input"""
    producers = """
        LEFT JOIN production p ON p.id = b.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN blocked k ON k.production_id = b.production_id"""
    if named_once:
        return f"""
        WITH named AS MATERIALIZED (
            SELECT b.id, b.unavailable, b.production_id, d.did, ({where}) AS selected
            FROM {ids_table} b JOIN dataset d ON d.id = b.id
        ),
        blocked AS (
            SELECT i.production_id, MIN(u.did) AS blocking_input
            FROM named u JOIN production_input i ON i.dataset_id = u.id
            WHERE u.unavailable
            GROUP BY i.production_id
        )
        SELECT b.id, b.did, {reason}
        FROM named b {producers}
        WHERE b.selected"""
    return f"""
        WITH blocked AS (
            SELECT i.production_id, MIN(bd.did) AS blocking_input
            FROM {ids_table} u
            CROSS JOIN production_input i
            JOIN dataset bd ON bd.id = u.id
            WHERE u.unavailable AND i.dataset_id = u.id
            GROUP BY i.production_id
        )
        SELECT d.id, d.did, {reason}
        FROM {ids_table} b
        CROSS JOIN dataset d {producers}
        WHERE d.id = b.id AND {where}"""


def _reason(row: dict) -> str:
    """Why a dataset is irreproducible (:func:`irreproducible_explained` says it in SQL)."""
    problem = production_problem(
        row["production"], row["status"], row["transformation"], row["release"],
        row["image_digest"],
    )  # fmt: skip
    if problem is not None:
        return problem
    if row["blocking_input"] is not None:
        return f"input {row['blocking_input']} has no available replica and is not reproducible"
    return "not reproducible"


def reproducibility(
    conn: Connection, gone: str | None = None, *, irreproducible_only: bool = False
) -> pd.DataFrame:
    """Every dataset (or only the irreproducible ones) with ``reproducible`` and the reason."""

    with irreproducible_table(conn, gone=gone) as table:
        reasons = irreproducible_reasons(conn, table, gone=gone)
        if irreproducible_only:
            reasons.sort(key=lambda row: row["did"])
            rows = [(row["did"], False, row["reason"]) for row in reasons]
        else:
            why = {row["id"]: row["reason"] for row in reasons}
            rows = [
                (did, dataset_id not in why, why.get(dataset_id))
                for dataset_id, did in conn.exec_driver_sql(
                    "SELECT d.id, d.did FROM dataset d ORDER BY d.did"
                )
            ]
    return rows_frame(["did", "reproducible", "reason"], rows)


@dataclass(frozen=True)
class WhatIf:
    """Replicas to treat as gone: those of ``datasets``, on ``endpoints``, at ``sites``, and
    the ``replicas`` given by id (a guarded deletion's one replica)."""

    datasets: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    replicas: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.datasets or self.endpoints or self.sites or self.replicas)


GONE_TABLE = "tmp_gone_replica"


@contextmanager
def what_if(conn: Connection, scenario: WhatIf | None) -> Iterator[str | None]:
    """A temporary table of the replica ids ``scenario`` takes away (None: nothing is gone).

    Unknown DIDs, endpoints or sites are errors: a mistyped name must not answer "nothing
    changes". The catalog itself is not touched; the table is dropped afterwards.
    """
    if not scenario:
        yield None
        return
    checks = (
        ("dataset", "did", [normalize_did(d) for d in scenario.datasets]),
        ("endpoint", "name", list(scenario.endpoints)),
        ("site", "name", list(scenario.sites)),
    )
    temporary_table(conn, GONE_TABLE)
    try:
        for table, column, values in checks:
            if not values:
                continue
            known = {
                row[column] for row in rows(
                    conn, f"SELECT {column} FROM {table} WHERE {column} IN :v", v=values
                )
            }  # fmt: skip
            unknown = [v for v in values if v not in known]
            if unknown:
                raise UsageError(f"unknown {table} {unknown[0]!r}")
        clauses = []
        params: dict[str, Any] = {}
        if scenario.datasets:
            clauses.append("r.dataset_id IN (SELECT id FROM dataset WHERE did IN :datasets)")
            params["datasets"] = checks[0][2]
        if scenario.endpoints:
            clauses.append("r.endpoint_id IN (SELECT id FROM endpoint WHERE name IN :endpoints)")
            params["endpoints"] = list(scenario.endpoints)
        if scenario.sites:
            clauses.append(
                "r.endpoint_id IN (SELECT e.id FROM endpoint e JOIN site s ON s.id = e.site_id "
                "WHERE s.name IN :sites)"
            )
            params["sites"] = list(scenario.sites)
        if scenario.replicas:
            clauses.append("r.id IN :replicas")
            params["replicas"] = [int(r) for r in scenario.replicas]
        sql = f"INSERT INTO {GONE_TABLE} (id) SELECT r.id FROM replica r WHERE " + " OR ".join(
            clauses
        )
        conn.execute(statement(sql, params), params)
        analyze(conn, GONE_TABLE)
        yield GONE_TABLE
    finally:
        drop_tables(conn, GONE_TABLE)


def newly_irreproducible(
    conn: Connection,
    irreproducible: str,
    gone: str,
    table: str = NEWLY_IRREPRODUCIBLE,
) -> str:
    """Datasets reproducible now that would not be without the replicas in ``gone``.

    Exact and incremental, on top of the materialized ``irreproducible`` set of the catalog as
    it is: losing replicas only removes availability, so the set can only grow, and it grows
    only downstream of an irreproducible dataset that loses its last available replica, through
    datasets that are (or would become) unavailable. The walk starts at those few datasets
    rather than recomputing the whole fixed point. Returns ``table`` (``id`` primary key).
    """
    temporary_table(conn, table)
    conn.exec_driver_sql(
        f"""
        INSERT INTO {table} (id)
        WITH RECURSIVE losing(id) AS (
            SELECT DISTINCT r.dataset_id FROM {gone} g CROSS JOIN replica r
            WHERE r.id = g.id AND r.state = 'available'
        ),
        walk(id) AS (
            SELECT o.dataset_id
            FROM losing l
            CROSS JOIN {irreproducible} b
            {consumers("l.id")}
            WHERE b.id = l.id AND NOT {available("l.id", gone)}
              AND NOT EXISTS (SELECT 1 FROM {irreproducible} x WHERE x.id = o.dataset_id)
            UNION
            SELECT o.dataset_id
            FROM walk w {consumers("w.id")}
            WHERE NOT {available("w.id", gone)}
              AND NOT EXISTS (SELECT 1 FROM {irreproducible} x WHERE x.id = o.dataset_id)
        )
        SELECT DISTINCT id FROM walk
        """
    )
    return table
