"""Rule evaluation: one set-based query per rule over the whole catalog.

Each evaluator returns the findings of its rule: either a :class:`SqlFindings` query (rules that
can flag a large share of the catalog compose their explanations in SQL) or a list of
``(did, message, details)`` tuples in DID order, with details as JSON text (as
``json.dumps(..., sort_keys=True)`` writes it: the JSON output splices it in). Messages are built
for the flagged datasets only, from one extra query each, so the cost is one pass over the
catalog per rule plus work proportional to the findings. No pandas here: ``audit --quiet`` from
cron stays light.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import by_dialect, rows, statement
from lifecycle.policy import (
    UNIT_COLUMN,
    Rule,
    counted_endpoints,
    format_duration,
    judged,
    selected_datasets,
)
from lifecycle.provenance.reproducibility import (
    IRREPRODUCIBLE,
    LATEST_PRODUCTION_ORDER,
    available,
    irreproducible_explained,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Finding = tuple[str, str, str]  # did, message, details as JSON text


@dataclass(frozen=True)
class SqlFindings:
    """A rule's findings as a query of ``did, message, details``, written without a round trip
    through Python (for rules that can flag a large share of the catalog).

    ``details`` is JSON text as ``json.dumps(..., sort_keys=True)`` writes it, except that
    text values may be quoted by the database (:func:`json_text`), which leaves characters
    from U+007F on as they are: :func:`lifecycle.audit.canonical_details` rewrites those few.
    """

    sql: str
    params: dict[str, Any]

    def insert_into(self, conn: Connection, table: str, constants: dict[str, str]) -> int:
        """Insert the findings into ``table`` in DID order (the order of its index and of the
        output: appended in order, the index is built and read without jumping about); returns
        how many."""
        names = list(constants)
        sql = (
            f"INSERT INTO {table} (did, message, details, {', '.join(names)}) "
            f"SELECT f.did, f.message, f.details, {', '.join(':c_' + n for n in names)} "
            f"FROM ({self.sql}) f ORDER BY {did_order(conn, 'f.did')}"
        )
        params = {**self.params, **{f"c_{n}": v for n, v in constants.items()}}
        return conn.execute(statement(sql, self.params), params).rowcount

    def fetch(self, conn: Connection) -> list[Finding]:
        """The findings as ``(did, message, details)`` rows in DID order (to be inserted by
        another connection: :func:`lifecycle.audit._evaluate`)."""
        sql = (
            f"SELECT f.did, f.message, f.details FROM ({self.sql}) f "
            f"ORDER BY {did_order(conn, 'f.did')}"
        )
        return [tuple(row) for row in conn.execute(statement(sql, self.params), self.params)]


def did_order(conn: Connection, column: str = "did") -> str:
    """SQL ordering ``column`` (a DID) by code points, as Python sorts strings."""
    return by_dialect(
        conn,
        sqlite=column,  # BINARY collation: UTF-8 bytes, the order of code points
        postgresql=f'{column} COLLATE "C"',  # the database's collation may sort otherwise
    )


def json_text(conn: Connection, column: str) -> str:
    """SQL: the text ``column`` (or null) as a JSON value, as ``json.dumps`` writes it for
    characters below U+007F (both engines escape quotes, backslashes and control characters
    as Python does, and leave the others as they are)."""
    quoted = by_dialect(conn, sqlite=f"json_quote({column})", postgresql=f"to_json({column})::text")
    return f"COALESCE({quoted}, 'null')"


# -- replication ---------------------------------------------------------------------------------


def replication(conn: Connection, rule: Rule, now: datetime, endpoint_ids: list[int] | None):
    """Datasets with fewer than ``copies`` distinct units holding an available matching replica.

    One grouped pass finds them (joining sites only when counting countries or clouds); their
    replicas are then read by id to explain each finding.
    """
    where, params = judged(rule, now)
    endpoint_filter = counted_endpoints(endpoint_ids, params)
    params["copies"] = rule.copies
    unit = UNIT_COLUMN[rule.distinct]
    site_join = (
        "LEFT JOIN site s ON s.id = e.site_id" if rule.distinct in ("country", "cloud") else ""
    )
    flagged = rows(
        conn,
        f"""
        SELECT d.id, d.did, COUNT(DISTINCT {unit}) AS units
        FROM dataset d
        LEFT JOIN replica r ON r.dataset_id = d.id AND r.state = 'available' {endpoint_filter}
        LEFT JOIN endpoint e ON e.id = r.endpoint_id
        {site_join}
        WHERE {where} AND d.state <> 'deleted'
        GROUP BY d.id, d.did
        HAVING COUNT(DISTINCT {unit}) < :copies
        """,
        **params,
    )
    if not flagged:
        return []
    ids = [int(row["id"]) for row in flagged]
    detail_params = {k: v for k, v in params.items() if k == "endpoint_ids"}
    replicas: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), 500):
        for row in rows(
            conn,
            f"""
            SELECT r.dataset_id AS id, e.name AS endpoint, s.name AS site, s.country, s.cloud,
                   e.media, r.state
            FROM replica r JOIN endpoint e ON e.id = r.endpoint_id
            JOIN site s ON s.id = e.site_id
            WHERE r.dataset_id IN :ids {endpoint_filter}
            """,
            **detail_params,
            ids=ids[i : i + 500],
        ):
            replicas.setdefault(row["id"], []).append(row)
    findings = []
    for row in sorted(flagged, key=lambda r: r["did"]):
        mine = sorted(replicas.get(row["id"], []), key=lambda r: r["endpoint"])
        message, details = _replication_message(rule, int(row["units"]), mine)
        findings.append((row["did"], message, json.dumps(details, sort_keys=True)))
    return findings


def _replication_message(
    rule: Rule, units: int, present: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """Explain one finding from the dataset's replicas (plain dicts: this runs per finding)."""
    available = [r for r in present if r["state"] == "available"]
    other = [r for r in present if r["state"] != "available"]
    media = {r["media"] for r in present}
    noun = f"{media.pop()} " if len(media) == 1 else ""
    unit_values = sorted({str(r[rule.distinct]) for r in available if r[rule.distinct] is not None})
    n = len(available)
    if n >= (rule.copies or 0) and n > 0:  # enough copies, too few distinct places
        where = ", ".join(unit_values)
        both = "both" if n == 2 else "all"
        message = f"{n} {noun}copies, {both} at {where}" if units == 1 else (
            f"{n} {noun}copies at only {units} distinct {rule.distinct}s ({where})"
        )  # fmt: skip
    else:
        copy_word = "copy" if n == 1 else "copies"
        message = f"{n} available {noun}{copy_word}"
        if n:
            message += f" (at {', '.join(r['endpoint'] for r in available)})"
        for r in other:
            message += f"; the one at {r['endpoint']} is {r['state']}"
    message += f"; needs {rule.copies} at distinct {rule.distinct}s"
    if rule.endpoints != "*":
        message += f" matching {rule.endpoints!r}"
    details = {
        "required": rule.copies,
        "distinct": rule.distinct,
        "units": units,
        "available": [r["endpoint"] for r in available],
        "not_available": {r["endpoint"]: r["state"] for r in other},
    }
    return message, details


# -- lifetime ---------------------------------------------------------------------------------------


def lifetime(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Datasets past their end of life: ``expires_at`` if set, else ``created_at + lifetime``.

    Datasets already deleted, and datasets with a pin in force, are not reported. A policy can
    flag a large share of the catalog here, so the explanation is composed in SQL.
    """
    where, params = judged(rule, now)
    params.update(now=now, lifetime_cutoff=now - rule.lifetime)
    seconds = f"{rule.lifetime.total_seconds():.0f}"
    # the day of a timestamp, as text: PostgreSQL stores timestamptz and formats it; SQLite
    # stores the text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, whose first ten characters are the day
    expires_day, created_day, end_day = by_dialect(
        conn,
        sqlite=(
            "substr(d.expires_at, 1, 10)",
            "substr(d.created_at, 1, 10)",
            f"date(d.created_at, '+{seconds} seconds')",
        ),
        postgresql=(
            "to_char(d.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            "to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            f"to_char((d.created_at + interval '{seconds} seconds') AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD')",
        ),
    )
    span = format_duration(rule.lifetime)
    return SqlFindings(
        f"""
        SELECT d.did,
               CASE WHEN d.expires_at IS NOT NULL
                    THEN 'expired on ' || {expires_day} || ' (its expires_at)'
                    ELSE 'past its {span} lifetime since ' || {end_day} || ' (created '
                         || {created_day} || ')' END AS message,
               CASE WHEN d.expires_at IS NOT NULL
                    THEN '{{"end_of_life": "' || {expires_day} || '", "explicit": true}}'
                    ELSE '{{"end_of_life": "' || {end_day} || '", "explicit": false}}'
                    END AS details
        FROM {selected_datasets(conn, rule)}
        WHERE {where} AND d.state <> 'deleted'
          AND ((d.expires_at IS NOT NULL AND d.expires_at < :now)
               OR (d.expires_at IS NULL AND d.created_at < :lifetime_cutoff))
          AND NOT EXISTS (SELECT 1 FROM pin n WHERE n.dataset_id = d.id
                          AND (n.until IS NULL OR n.until > :now))
        """,
        params,
    )


# -- reproducibility ---------------------------------------------------------------------------


def reproducibility(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Selected datasets that are not reproducible, with the reason.

    The irreproducible set is the reproducibility service's table, filled once per audit run by
    the caller (:func:`lifecycle.provenance.reproducibility.irreproducible_table`). A catalog
    can flag hundreds of thousands of datasets here, so message and details are composed in SQL
    (the details as ``json.dumps({...}, sort_keys=True)`` of three texts)."""
    where, params = judged(rule, now)
    # PostgreSQL: the set's DIDs read once (see irreproducible_explained); SQLite's loops go
    # from the set to each dataset by its key, a lookup per dataset either way
    explained = irreproducible_explained(
        IRREPRODUCIBLE, where, named_once=by_dialect(conn, sqlite=False, postgresql=True)
    )
    details = (
        f"""'{{"blocking_input": ' || {json_text(conn, "x.blocking_input")} """
        f"""|| ', "production": ' || {json_text(conn, "x.production")} """
        f"""|| ', "transformation": ' || {json_text(conn, "x.transformation")} || '}}'"""
    )
    return SqlFindings(
        f"SELECT x.did, x.reason AS message, {details} AS details FROM ({explained}) x", params
    )


# -- preservation ------------------------------------------------------------------------------


def preservation(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Selected datasets deleted, lost, or without an available replica."""
    where, params = judged(rule, now)
    found = rows(
        conn,
        f"""
        SELECT d.did, d.state,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = d.id
                  AND r.state = 'available') AS available,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = d.id
                  AND r.state = 'lost') AS lost,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = d.id) AS replicas
        FROM dataset d
        WHERE {where}
          AND (d.state IN ('deleted', 'lost') OR NOT EXISTS (
                SELECT 1 FROM replica r WHERE r.dataset_id = d.id AND r.state = 'available'))
        """,
        **params,
    )
    findings = []
    for row in found:
        available, lost, replicas = (
            int(row["available"] or 0),
            int(row["lost"] or 0),
            int(row["replicas"]),
        )
        parts = []
        if row["state"] in ("deleted", "lost"):
            parts.append(f"dataset is {row['state']}")
        if available == 0:
            parts.append(
                "no replica at all" if replicas == 0 else
                f"no available replica ({replicas} recorded" + (f", {lost} lost)" if lost else ")")
            )  # fmt: skip
        details = {"available_replicas": available, "replicas": replicas, "state": row["state"]}
        findings.append((row["did"], "; ".join(parts), json.dumps(details, sort_keys=True)))
    findings.sort()  # in DID order, as the findings table and the output are
    return findings


# -- reprocessability --------------------------------------------------------------------------


def reprocessability(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Selected datasets that cannot be reprocessed now (meant for raw data).

    A dataset can be reprocessed when it has an available replica and every ``calibration``
    input of its latest production is available too. Its latest production is, among the
    productions that read it with role ``input`` and finished (``done``), the one started last
    (undated ones count as oldest; ties go to the greatest production name, the later task id).
    A failed production proves nothing, and a running one has not shown its calibration works:
    only a done production counts, as only a done production makes anything reproducible
    (:mod:`lifecycle.provenance.reproducibility`).
    A dataset never processed is judged on its replicas alone.

    Only candidates are judged: the selected datasets without an available replica, and the
    datasets read (role ``input``) by a production whose calibration input has none. Each
    candidate's latest production is then found by an index lookup (a scalar subquery on
    SQLite, a lateral join on PostgreSQL), and its unavailable calibrations come as extra
    joined rows, so a dataset missing two calibrations yields two rows (one finding).
    Measured at 1 M datasets (102 k raw, 10 k calibration datasets read by 266 k edges, 5.8 k
    productions reading an unavailable one) on SQLite: 0.3 s, against 1.35 s for finding the
    latest production of every selected dataset first.
    """
    where, params = judged(rule, now)
    latest_order = LATEST_PRODUCTION_ORDER
    # SQLite: the calibration edges are read in one pass over the edge table; through the
    # (dataset, production) index it looked every edge's row up for its role (0.6 s against 0.15 s)
    edges = by_dialect(
        conn, sqlite="production_input c NOT INDEXED", postgresql="production_input c"
    )
    candidates = f"""
        unavailable_calibration AS MATERIALIZED (
            SELECT x.dataset_id
            FROM (SELECT DISTINCT c.dataset_id FROM {edges} WHERE c.role = 'calibration') x
            WHERE NOT {available("x.dataset_id")}
        ),
        blocked AS MATERIALIZED (
            SELECT DISTINCT c.production_id
            FROM unavailable_calibration u CROSS JOIN production_input c
            WHERE c.dataset_id = u.dataset_id AND c.role = 'calibration'
        ),
        candidate(id) AS MATERIALIZED (
            SELECT i.dataset_id
            FROM blocked b CROSS JOIN production_input i
            WHERE i.production_id = b.production_id AND i.role = 'input'
            UNION
            SELECT d.id FROM dataset d WHERE {where} AND NOT {available("d.id")}
        )"""
    latest = by_dialect(
        conn,
        # PostgreSQL: a lateral lookup per candidate (its input edges, their productions).
        # Measured at 1 M datasets (102 k raw) when every selected dataset was looked up: 1.4 s,
        # against 2.4 s for one DISTINCT ON pass, which sorted every done production's input
        # edges (978 k), and 1.8 s for SQLite's form (a scalar subquery), after which
        # PostgreSQL hashed every production to join the latest one
        postgresql=f"""
        WITH {candidates},
        latest AS (
            SELECT d.id, d.did, k.production_id
            FROM candidate x
            JOIN dataset d ON d.id = x.id
            LEFT JOIN LATERAL (
                SELECT i.production_id
                FROM production_input i JOIN production p ON p.id = i.production_id
                WHERE i.dataset_id = d.id AND i.role = 'input' AND p.status = 'done'
                ORDER BY {latest_order}
                LIMIT 1
            ) k ON true
            WHERE {where}
        )""",
        sqlite=f"""
        WITH {candidates},
        latest AS MATERIALIZED (
            SELECT d.id, d.did, (
                SELECT i.production_id
                FROM production_input i JOIN production p ON p.id = i.production_id
                WHERE i.dataset_id = d.id AND i.role = 'input' AND p.status = 'done'
                ORDER BY {latest_order}
                LIMIT 1
            ) AS production_id
            FROM candidate x CROSS JOIN dataset d
            WHERE d.id = x.id AND {where}
        )""",
    )
    found = rows(
        conn,
        f"""
        {latest}
        SELECT l.did,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = l.id
                  AND r.state = 'available') AS available,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = l.id
                  AND r.state = 'lost') AS lost,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = l.id) AS replicas,
               p.name AS production, cd.did AS calibration
        FROM latest l
        LEFT JOIN production p ON p.id = l.production_id
        LEFT JOIN production_input c ON c.production_id = l.production_id
             AND c.role = 'calibration'
             AND NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = c.dataset_id
                             AND r.state = 'available')
        LEFT JOIN dataset cd ON cd.id = c.dataset_id
        WHERE c.dataset_id IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = l.id
                          AND r.state = 'available')
        """,
        **params,
    )
    by_did: dict[str, dict[str, Any]] = {}
    for row in found:
        entry = by_did.setdefault(row["did"], {**row, "calibrations": []})
        if row["calibration"] is not None:
            entry["calibrations"].append(row["calibration"])
    return [_reprocessability_finding(did, by_did[did]) for did in sorted(by_did)]


def _reprocessability_finding(did: str, row: dict[str, Any]) -> Finding:
    available, lost, replicas = (
        int(row["available"] or 0),
        int(row["lost"] or 0),
        int(row["replicas"] or 0),
    )
    parts = []
    if available == 0:
        parts.append(
            "no replica at all" if replicas == 0 else
            f"no available replica ({replicas} recorded" + (f", {lost} lost)" if lost else ")")
        )  # fmt: skip
    calibrations = sorted(row["calibrations"])
    if calibrations:
        parts.append(
            f"calibration {calibrations[0]} used by {row['production']} has no available replica"
            if len(calibrations) == 1 else
            f"calibrations {', '.join(calibrations)} used by {row['production']} have no "
            "available replica"
        )  # fmt: skip
    details = {
        "available_replicas": available,
        "replicas": replicas,
        "latest_production": row["production"],
        "missing_calibrations": calibrations,
    }
    return did, "; ".join(parts), json.dumps(details, sort_keys=True)


EVALUATORS: dict[str, Callable[..., SqlFindings | list[Finding]]] = {
    "replication": replication,
    "lifetime": lifetime,
    "reproducibility": reproducibility,
    "preservation": preservation,
    "reprocessability": reprocessability,
}
