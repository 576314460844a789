"""Provenance questions answered set-based over the whole catalog.

**Reproducible** (DESIGN.md invariant 4): a dataset has a generating production whose
transformation records a release and an image digest, and every input of that production (any
role: input, calibration, config) either has an available replica or is itself reproducible.

On a DAG that is the complement of the least fixed point of *irreproducible*:

    irreproducible(d) = no producer(d)
                        or the transformation of producer(d) lacks a release or an image digest
                        or some input i of producer(d) is unavailable and irreproducible(i)

which a recursive CTE computes with joins only (no negation of the recursive table): start from
every dataset without a producer (an anti-join on the output edge's primary key) and every output
of a transformation that lacks a release or digest (few), then walk downstream through inputs that
have no available replica. Raw data enter the start set but, being available, stop there. Starting
from "no producer" plus "bad transformation" rather than "no good producer" halves the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def _timestamp_type():
    from lifecycle.catalog.models import Dataset

    return Dataset.__table__.c.created_at.type


AVAILABLE = "EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = {d} AND r.state = 'available')"
# Datasets irreproducible on their own: no producer, or a transformation without release or digest.
_START_SET = """
    SELECT d.id FROM dataset d
    WHERE NOT EXISTS (SELECT 1 FROM production_output o WHERE o.dataset_id = d.id)
    UNION
    SELECT o.dataset_id
    FROM production p
    JOIN production_output o ON o.production_id = p.id
    WHERE p.transformation_id IN (
        SELECT t.id FROM transformation t
        WHERE t.release IS NULL OR t.release = '' OR t.image_digest IS NULL OR t.image_digest = ''
    )
"""
IRREPRODUCIBLE_CTE = f"""
irreproducible(id) AS (
    {_START_SET}
    UNION
    SELECT o.dataset_id
    FROM irreproducible b
    JOIN production_input i ON i.dataset_id = b.id
    JOIN production_output o ON o.production_id = i.production_id
    WHERE NOT {AVAILABLE.format(d="b.id")}
)"""


def irreproducible_sql() -> str:
    """``WITH RECURSIVE irreproducible(id) AS (...)``: ids of every irreproducible dataset."""
    return "WITH RECURSIVE " + IRREPRODUCIBLE_CTE


def materialize_irreproducible(conn: Connection, table: str = "tmp_irreproducible") -> str:
    """Compute the irreproducible set once into a temporary table (with a primary key).

    SQLite evaluates :data:`IRREPRODUCIBLE_CTE` directly. PostgreSQL plans that CTE's recursive
    step as a hash anti-join over every available replica, so there the same fixed point is
    computed in two steps: the start set (no producer, or a transformation without release or
    digest) is inserted first; then only its *unavailable* members, usually a few, seed a
    downstream walk that continues through unavailable outputs, and every output that walk
    reaches is added.
    """
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} (id INTEGER PRIMARY KEY)")
    if conn.dialect.name == "sqlite":  # SQLite runs the single recursive CTE fastest
        conn.exec_driver_sql(
            f"INSERT INTO {table} (id) {irreproducible_sql()} SELECT id FROM irreproducible"
        )
        return table
    conn.exec_driver_sql(f"INSERT INTO {table} (id) {_START_SET}")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table}")  # temporary tables get no statistics otherwise
    consumers = (
        "JOIN production_input i ON i.dataset_id = w.id "
        "JOIN production_output o ON o.production_id = i.production_id"
    )
    conn.exec_driver_sql(
        f"""
        INSERT INTO {table} (id)
        WITH RECURSIVE walk(id) AS (
            SELECT b.id FROM {table} b WHERE NOT {AVAILABLE.format(d="b.id")}
            UNION
            SELECT o.dataset_id FROM walk w {consumers}
            WHERE NOT {AVAILABLE.format(d="o.dataset_id")}
        )
        SELECT DISTINCT o.dataset_id FROM walk w {consumers}
        WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE x.id = o.dataset_id)
        """
    )
    return table


def irreproducible_reasons(conn: Connection, ids_table: str, where: str = "1 = 1", params=None):
    """Why each dataset in ``ids_table`` (restricted by ``where`` on ``d``) is irreproducible.

    Returns one dict per dataset with ``id, did, reason, production, transformation,
    blocking_input``; ``blocking_input`` is the first input (by DID) that is neither available
    nor reproducible.
    """
    import sqlalchemy as sa

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
    if conn.dialect.name == "postgresql":  # a lookup per flagged dataset plans best here
        sql = f"""{flagged}
        SELECT f.id, f.did, p.name AS production, t.tag AS transformation,
               t.release, t.image_digest,
               (SELECT MIN(di.did) {unavailable_inputs}
                 WHERE i.production_id = f.production_id
                   AND NOT {AVAILABLE.format(d="i.dataset_id")}) AS blocking_input
        FROM flagged f
        LEFT JOIN production p ON p.id = f.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id"""
    else:  # SQLite: one aggregate over the flagged productions' unavailable inputs
        sql = f"""{flagged},
        blocked AS (
            SELECT i.production_id, MIN(di.did) AS blocking_input {unavailable_inputs}
            WHERE i.production_id IN (SELECT production_id FROM flagged)
              AND NOT {AVAILABLE.format(d="i.dataset_id")}
            GROUP BY i.production_id
        )
        SELECT f.id, f.did, p.name AS production, t.tag AS transformation,
               t.release, t.image_digest, blocked.blocking_input
        FROM flagged f
        LEFT JOIN production p ON p.id = f.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN blocked ON blocked.production_id = f.production_id"""
    params = params or {}
    statement = sa.text(sql)
    for name, value in params.items():
        if isinstance(value, list):
            statement = statement.bindparams(sa.bindparam(name, expanding=True))
        elif hasattr(value, "tzinfo"):  # a datetime: bind it the way the catalog stores it
            statement = statement.bindparams(sa.bindparam(name, type_=_timestamp_type()))
    rows = [dict(row) for row in conn.execute(statement, params).mappings()]
    for row in rows:
        row["reason"] = _reason(row)
    return rows


def _reason(row: dict) -> str:
    if row["production"] is None:
        return "no producing production recorded"
    if not row["release"]:
        return f"transformation {row['transformation']} records no software release"
    if not row["image_digest"]:
        return f"transformation {row['transformation']} has no image digest"
    if row["blocking_input"] is not None:
        return f"input {row['blocking_input']} has no available replica and is not reproducible"
    return "not reproducible"


def reproducibility(conn: Connection) -> pd.DataFrame:
    """Every dataset with ``reproducible`` (bool) and, where it is not, the reason."""
    from lifecycle.catalog.queries import frame

    table = materialize_irreproducible(conn)
    try:
        everything = frame(conn, "SELECT d.id, d.did FROM dataset d ORDER BY d.did")
        reasons = {row["id"]: row["reason"] for row in irreproducible_reasons(conn, table)}
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    everything["reason"] = everything["id"].map(reasons).astype(object)
    everything["reason"] = everything["reason"].where(everything["reason"].notna(), None)
    everything["reproducible"] = everything["reason"].isna()
    return everything
