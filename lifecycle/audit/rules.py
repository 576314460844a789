"""Rule evaluation: one set-based query per rule over the whole catalog.

Each evaluator returns a DataFrame with ``did, message, details`` (details a dict) for the datasets
that break the rule. Messages are built for the flagged datasets only, from one extra query each,
so the cost is one pass over the catalog per rule plus work proportional to the findings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.models import Dataset
from lifecycle.catalog.queries import glob_to_like
from lifecycle.policy import Rule, format_duration

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

_UNIT_COLUMN = {"endpoint": "e.name", "site": "s.name", "country": "s.country", "cloud": "s.cloud"}
_TIME = Dataset.__table__.c.created_at.type  # binds datetimes the way the catalog stores them


def selection(rule: Rule, alias: str = "d") -> tuple[str, dict[str, Any]]:
    """SQL condition on dataset ``alias`` for the rule's ``select`` (all given keys must match)."""
    clauses, params = [], {}
    sel = rule.select
    if sel.kind:
        clauses.append(f"{alias}.kind IN :sel_kind")
        params["sel_kind"] = list(sel.kind)
    if sel.scope:
        clauses.append(f"{alias}.scope IN :sel_scope")
        params["sel_scope"] = list(sel.scope)
    for key, column in (("data_type", f"{alias}.data_type"), ("did", f"{alias}.did")):
        globs = getattr(sel, key)
        if globs:
            ors = []
            for i, pattern in enumerate(globs):
                ors.append(f"{column} LIKE :sel_{key}_{i} ESCAPE '\\'")
                params[f"sel_{key}_{i}"] = glob_to_like(pattern)
            clauses.append("(" + " OR ".join(ors) + ")")
    return (" AND ".join(clauses) or "1 = 1"), params


def _judged(rule: Rule, now: datetime, alias: str = "d") -> tuple[str, dict[str, Any]]:
    """Selection plus grace: datasets created after ``now - grace`` are not judged yet."""
    where, params = selection(rule, alias)
    if rule.grace is not None:
        where += f" AND {alias}.created_at <= :grace_cutoff"
        params["grace_cutoff"] = now - rule.grace
    return where, params


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    statement = sa.text(sql)
    for name, value in params.items():
        if isinstance(value, list):
            statement = statement.bindparams(sa.bindparam(name, expanding=True))
        elif isinstance(value, datetime):
            statement = statement.bindparams(sa.bindparam(name, type_=_TIME))
    result = conn.execute(statement, params)
    import pandas as pd

    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


# -- replication ---------------------------------------------------------------------------------


def replication(conn: Connection, rule: Rule, now: datetime, endpoint_ids: list[int] | None):
    """Datasets with fewer than ``copies`` distinct units holding an available matching replica."""
    where, params = _judged(rule, now)
    endpoint_filter = ""
    if endpoint_ids is not None:
        endpoint_filter = "AND r.endpoint_id IN :endpoint_ids"
        params["endpoint_ids"] = endpoint_ids
    params["copies"] = rule.copies
    unit = _UNIT_COLUMN[rule.distinct]
    flagged = f"""
        SELECT d.id, d.did, COUNT(DISTINCT {unit}) AS units
        FROM dataset d
        LEFT JOIN replica r ON r.dataset_id = d.id AND r.state = 'available' {endpoint_filter}
        LEFT JOIN endpoint e ON e.id = r.endpoint_id
        LEFT JOIN site s ON s.id = e.site_id
        WHERE {where} AND d.state <> 'deleted'
        GROUP BY d.id, d.did
        HAVING COUNT(DISTINCT {unit}) < :copies
    """
    replicas = _run(
        conn,
        f"""
        SELECT f.did, f.units, e.name AS endpoint, s.name AS site, s.country, s.cloud,
               e.media, r.state
        FROM ({flagged}) f
        LEFT JOIN replica r ON r.dataset_id = f.id {endpoint_filter}
        LEFT JOIN endpoint e ON e.id = r.endpoint_id
        LEFT JOIN site s ON s.id = e.site_id
        ORDER BY f.did, e.name
        """,
        params,
    )
    return _findings(replicas, lambda did, rows: _replication_message(rule, rows))


def _replication_message(rule: Rule, rows: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    present = rows[rows["endpoint"].notna()]
    available = present[present["state"] == "available"]
    other = present[present["state"] != "available"]
    units = int(rows["units"].iloc[0])
    media = set(present["media"])
    noun = f"{media.pop()} " if len(media) == 1 else ""
    unit_column = {"endpoint": "endpoint", "site": "site", "country": "country", "cloud": "cloud"}[
        rule.distinct
    ]
    unit_values = sorted({str(v) for v in available[unit_column].dropna()})
    n = len(available)
    if n >= (rule.copies or 0) and n > 0:  # enough copies, too few distinct places
        where = unit_values[0] if units == 1 else ", ".join(unit_values)
        both = "both" if n == 2 else "all"
        message = f"{n} {noun}copies, {both} at {where}" if units == 1 else (
            f"{n} {noun}copies at only {units} distinct {rule.distinct}s ({where})"
        )  # fmt: skip
    else:
        copy_word = "copy" if n == 1 else "copies"
        message = f"{n} available {noun}{copy_word}"
        if n:
            message += f" (at {', '.join(available['endpoint'])})"
        for endpoint, state in zip(other["endpoint"], other["state"], strict=True):
            message += f"; the one at {endpoint} is {state}"
    message += f"; needs {rule.copies} at distinct {rule.distinct}s"
    if rule.endpoints != "*":
        message += f" matching {rule.endpoints!r}"
    details = {
        "required": rule.copies,
        "distinct": rule.distinct,
        "units": units,
        "available": list(available["endpoint"]),
        "not_available": dict(zip(other["endpoint"], other["state"], strict=True)),
    }
    return message, details


# -- lifetime ---------------------------------------------------------------------------------------


def lifetime(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Datasets past their end of life: ``expires_at`` if set, else ``created_at + lifetime``.

    Datasets already deleted, and datasets with a pin in force, are not reported.
    """
    where, params = _judged(rule, now)
    params.update(now=now, lifetime_cutoff=now - rule.lifetime)
    rows = _run(
        conn,
        f"""
        SELECT d.did, d.created_at, d.expires_at,
               (SELECT COUNT(*) FROM replica r
                 WHERE r.dataset_id = d.id AND r.state = 'available') AS available
        FROM dataset d
        WHERE {where} AND d.state <> 'deleted'
          AND ((d.expires_at IS NOT NULL AND d.expires_at < :now)
               OR (d.expires_at IS NULL AND d.created_at < :lifetime_cutoff))
          AND NOT EXISTS (SELECT 1 FROM pin n WHERE n.dataset_id = d.id
                          AND (n.until IS NULL OR n.until > :now))
        ORDER BY d.did
        """,
        params,
    )
    from lifecycle.exchange.exporter import to_utc

    if rows.empty:
        return _empty()
    created = to_utc(rows["created_at"])
    expires = to_utc(rows["expires_at"])
    explicit = expires.notna()
    end = expires.where(explicit, created + rule.lifetime)
    end_day, created_day = _day(end), _day(created)
    available = rows["available"].astype("int64")
    plural = available.ne(1).map({True: "s", False: ""})
    span = format_duration(rule.lifetime)
    message = ("expired on " + end_day + " (its expires_at)").where(
        explicit, f"past its {span} lifetime since " + end_day + " (created " + created_day + ")"
    ) + ("; " + available.astype(str) + " available replica" + plural)
    details = {
        "available_replicas": available,
        "end_of_life": end.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "explicit": explicit,
    }
    return _frame(rows["did"], message, details)


def _day(values: pd.Series) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    days = pc.strftime(pa.array(values), format="%Y-%m-%d")
    return days.to_pandas(types_mapper={pa.string(): pd_string()}.get).set_axis(values.index)


def pd_string():
    import pandas as pd

    return pd.StringDtype("pyarrow")


# -- reproducibility ---------------------------------------------------------------------------


def reproducibility(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Selected datasets that are not reproducible, with the reason."""
    from lifecycle.provenance import irreproducible_reasons

    where, params = _judged(rule, now)
    rows = irreproducible_reasons(conn, _IRREPRODUCIBLE, where, params)
    details = {c: rows[c] for c in ("blocking_input", "production", "transformation")}
    return _frame(rows["did"], rows["reason"], details)


_IRREPRODUCIBLE = "tmp_irreproducible"  # materialized once per audit run by the caller


# -- preservation ------------------------------------------------------------------------------


def preservation(conn: Connection, rule: Rule, now: datetime, endpoint_ids=None):
    """Selected datasets deleted, lost, or without an available replica."""
    where, params = _judged(rule, now)
    rows = _run(
        conn,
        f"""
        SELECT d.did, d.state,
               SUM(CASE WHEN r.state = 'available' THEN 1 ELSE 0 END) AS available,
               SUM(CASE WHEN r.state = 'lost' THEN 1 ELSE 0 END) AS lost,
               COUNT(r.id) AS replicas
        FROM dataset d LEFT JOIN replica r ON r.dataset_id = d.id
        WHERE {where}
        GROUP BY d.id, d.did, d.state
        HAVING d.state IN ('deleted', 'lost')
            OR SUM(CASE WHEN r.state = 'available' THEN 1 ELSE 0 END) = 0
        ORDER BY d.did
        """,
        params,
    )
    messages = []
    for state, available, lost, replicas in zip(
        rows["state"], rows["available"], rows["lost"], rows["replicas"], strict=True
    ):
        available, lost, replicas = int(available or 0), int(lost or 0), int(replicas)
        parts = []
        if state in ("deleted", "lost"):
            parts.append(f"dataset is {state}")
        if available == 0:
            parts.append(
                "no replica at all" if replicas == 0 else
                f"no available replica ({replicas} recorded" + (f", {lost} lost)" if lost else ")")
            )  # fmt: skip
        messages.append("; ".join(parts))
    details = {
        "available_replicas": rows["available"].fillna(0).astype("int64"),
        "replicas": rows["replicas"].astype("int64"),
        "state": rows["state"],
    }
    return _frame(rows["did"], messages, details)


EVALUATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "replication": replication,
    "lifetime": lifetime,
    "reproducibility": reproducibility,
    "preservation": preservation,
}


# -- helpers -----------------------------------------------------------------------------------


def _findings(rows: pd.DataFrame, build) -> pd.DataFrame:
    """Findings from rows grouped by DID; ``build(did, rows)`` gives (message, details dict)."""
    import json

    if rows.empty:
        return _empty()
    dids, messages, details = [], [], []
    for did, group in rows.groupby("did", sort=True):
        message, detail = build(did, group)
        dids.append(did)
        messages.append(message)
        details.append(json.dumps(detail, sort_keys=True))
    return _frame(dids, messages, details)


def _frame(dids, messages, details) -> pd.DataFrame:
    """A findings frame; ``details`` is a list of JSON texts or a dict of columns to encode."""
    import pandas as pd

    if isinstance(details, dict):
        details = _json_lines(pd.DataFrame(details))
    return pd.DataFrame({"did": list(dids), "message": list(messages), "details": list(details)})


def _json_lines(columns: pd.DataFrame) -> list[str]:
    """One JSON object per row, keys sorted, encoded by pandas in C rather than row by row."""
    if columns.empty:
        return []
    columns = columns[sorted(columns.columns)].reset_index(drop=True)
    return columns.to_json(orient="records", lines=True).rstrip("\n").split("\n")


def _empty() -> pd.DataFrame:
    return _frame([], [], [])
