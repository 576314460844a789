"""What the catalog holds of transformations and productions: listings and one of each in full.

The questions a data manager asks before ``plan reprocess --chain``: which tags exist, which
software release and image each records, whether each records an image digest (without one its
outputs are not reproducible), how many productions and outputs used it, and when last. Every
answer is a few set-based statements (aggregates joined to the rows they count), never a query
per transformation or production; catalog values are bound, never spliced into SQL.

"Last used" is the latest time a production of the transformation finished, or started when it
has not finished (``MAX(COALESCE(finished_at, started_at))``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import glob_to_like, globs_condition
from lifecycle.catalog.sql import frame, rows
from lifecycle.errors import UnknownProduction, UnknownTransformation
from lifecycle.provenance.reproducibility import recorded
from lifecycle.values import envelope, json_value, records, to_utc, utc_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

TRANSFORMATION_FIELDS = (
    "tag", "name", "release", "image", "image_digest", "code_repo", "code_commit", "command",
    "platform", "cpu_seconds_per_event", "output_ratio",
)  # fmt: skip
ROLE_ORDER = "CASE {} WHEN 'input' THEN 0 WHEN 'calibration' THEN 1 WHEN 'config' THEN 2 ELSE 3 END"


def _total(values: pd.Series) -> int:
    """An integer column's sum as an exact Python int (pandas' int64 sum wraps past 2**63)."""
    return sum(map(int, values.dropna()))


def _latest(values: pd.Series) -> Any:
    present = values.dropna()
    return json_value(present.max()) if len(present) else None


# -- transformations list --------------------------------------------------------------------


@dataclass
class TransformationListing:
    """Transformations with their use: one row each (``transformations list``)."""

    transformations: pd.DataFrame

    @property
    def summary(self) -> dict[str, int]:
        found = self.transformations
        return {
            "transformations": len(found),
            "without_image_digest": int((~found["has_image_digest"].astype(bool)).sum()),
            "unused": int((found["productions"] == 0).sum()),
            "productions": _total(found["productions"]),
            "outputs": _total(found["outputs"]),
            "output_bytes": _total(found["output_bytes"]),
        }

    def to_dict(self) -> dict[str, Any]:
        items = records(self.transformations)
        for item in items:
            types = item["output_data_types"]
            item["output_data_types"] = types.split(",") if types else []
        return envelope("transformations", self.summary, transformations=items)


def transformations(
    conn: Connection,
    *,
    tag: list[str] | None = None,
    name: str | None = None,
    release: str | None = None,
    data_type: list[str] | None = None,
    missing_digest: bool = False,
) -> TransformationListing:
    """Transformations matching every filter given, by tag: their release, whether they record
    an image digest, how many productions and outputs used them, output bytes and data types,
    and when they were last used.

    Filters: ``tag`` (globs), ``name`` and ``release`` (a glob each), ``data_type`` (globs: an
    output of that data type was produced), ``missing_digest`` (no image digest recorded).
    """
    where, params = [], {}
    if tag:
        where.append(globs_condition("t.tag", tag, "tag", params))
    for column, value in (("t.name", name), ("t.release", release)):
        if value:
            key = column.split(".")[1]
            where.append(f"{column} LIKE :{key} ESCAPE '\\'")
            params[key] = glob_to_like(value)
    if data_type:
        where.append(
            "EXISTS (SELECT 1 FROM production px JOIN production_output ox "
            "ON ox.production_id = px.id JOIN dataset dx ON dx.id = ox.dataset_id "
            "WHERE px.transformation_id = t.id AND "
            f"{globs_condition('dx.data_type', data_type, 'dt', params)})"
        )
    if missing_digest:
        where.append(f"NOT ({recorded('t.image_digest')})")
    found = frame(
        conn,
        f"""
        SELECT t.id AS _id, t.tag, t.name, t.release,
               CASE WHEN {recorded("t.image_digest")} THEN 1 ELSE 0 END AS has_image_digest,
               COALESCE(p.productions, 0) AS productions, COALESCE(o.outputs, 0) AS outputs,
               COALESCE(o.output_bytes, 0) AS output_bytes, p.last_used
        FROM transformation t
        LEFT JOIN (SELECT transformation_id, COUNT(*) AS productions,
                          MAX(COALESCE(finished_at, started_at)) AS last_used
                   FROM production GROUP BY transformation_id) p ON p.transformation_id = t.id
        LEFT JOIN (SELECT pp.transformation_id, COUNT(*) AS outputs, SUM(d.bytes) AS output_bytes
                   FROM production_output op JOIN production pp ON pp.id = op.production_id
                   JOIN dataset d ON d.id = op.dataset_id
                   GROUP BY pp.transformation_id) o ON o.transformation_id = t.id
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY t.tag
        """,
        **params,
    )
    types = frame(
        conn,
        """
        SELECT DISTINCT p.transformation_id AS _id, d.data_type
        FROM production_output o JOIN production p ON p.id = o.production_id
        JOIN dataset d ON d.id = o.dataset_id
        WHERE d.data_type IS NOT NULL
        """,
    )
    joined = types.groupby("_id")["data_type"].agg(lambda v: ",".join(sorted(v)))
    found.insert(
        found.columns.get_loc("last_used"),
        "output_data_types",
        found["_id"].map(joined).fillna("").astype(object),
    )
    found["has_image_digest"] = found["has_image_digest"].astype(int).astype(bool)
    found["last_used"] = to_utc(found["last_used"])
    return TransformationListing(found.drop(columns="_id"))


# -- one transformation ------------------------------------------------------------------------


@dataclass
class TransformationDetails:
    """One transformation in full (``transformations show TAG``): its fields, its parameters,
    the productions that ran it (newest first) and what they made, by kind and data type."""

    transformation: dict[str, Any]
    parameters: dict[str, str]
    productions: pd.DataFrame
    outputs_by_data_type: pd.DataFrame

    @property
    def summary(self) -> dict[str, Any]:
        found = self.productions
        started = found["started_at"].dropna()
        return {
            "has_image_digest": bool(self.transformation["has_image_digest"]),
            "productions": len(found),
            "by_status": dict(sorted(Counter(found["status"]).items())),
            "sites": int(found["site"].nunique()),
            "inputs": _total(found["inputs"]),
            "outputs": _total(found["outputs"]),
            "output_bytes": _total(found["output_bytes"]),
            "first_used": json_value(started.min()) if len(started) else None,
            "last_used": self.transformation["last_used"],
        }

    def to_dict(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.transformation.items() if k != "has_image_digest"}
        return envelope(
            "transformation",
            self.summary,
            transformation={**fields, "parameters": self.parameters},
            productions=records(self.productions),
            outputs_by_data_type=records(self.outputs_by_data_type),
        )


def transformation_details(conn: Connection, tag: str) -> TransformationDetails:
    """The transformation of ``tag`` in full (an :class:`UnknownTransformation` if none)."""
    found = rows(
        conn,
        f"SELECT id, {', '.join(TRANSFORMATION_FIELDS)}, "
        f"CASE WHEN {recorded('image_digest')} THEN 1 ELSE 0 END AS has_image_digest "
        "FROM transformation WHERE tag = :tag",
        tag=tag,
    )
    if not found:
        raise UnknownTransformation(tag)
    row = found[0]
    ident = row.pop("id")
    parameters = rows(
        conn,
        "SELECT key, value FROM transformation_parameter WHERE transformation_id = :id "
        "ORDER BY key",
        id=ident,
    )
    productions = frame(
        conn,
        f"""
        SELECT p.name AS production, p.status, s.name AS site, p.conditions_tag,
               p.started_at, p.finished_at, COALESCE(i.inputs, 0) AS inputs,
               COALESCE(o.outputs, 0) AS outputs, COALESCE(o.output_bytes, 0) AS output_bytes
        FROM production p LEFT JOIN site s ON s.id = p.site_id
        LEFT JOIN (SELECT pi.production_id, COUNT(*) AS inputs
                   FROM production_input pi JOIN production pp ON pp.id = pi.production_id
                   WHERE pp.transformation_id = :id GROUP BY pi.production_id) i
               ON i.production_id = p.id
        LEFT JOIN (SELECT po.production_id, COUNT(*) AS outputs, SUM(d.bytes) AS output_bytes
                   FROM production_output po JOIN production pp ON pp.id = po.production_id
                   JOIN dataset d ON d.id = po.dataset_id
                   WHERE pp.transformation_id = :id GROUP BY po.production_id) o
               ON o.production_id = p.id
        WHERE p.transformation_id = :id
        ORDER BY {_newest_first("COALESCE(p.finished_at, p.started_at)")}, p.name
        """,
        id=ident,
    )
    by_type = frame(
        conn,
        """
        SELECT d.kind, d.data_type, COUNT(*) AS datasets, SUM(d.bytes) AS bytes
        FROM production_output o JOIN production p ON p.id = o.production_id
        JOIN dataset d ON d.id = o.dataset_id
        WHERE p.transformation_id = :id
        GROUP BY d.kind, d.data_type ORDER BY d.kind, d.data_type
        """,
        id=ident,
    )
    used = to_utc(productions["finished_at"].fillna(productions["started_at"]))
    row["has_image_digest"] = bool(row["has_image_digest"])
    row["last_used"] = _latest(used)
    return TransformationDetails(
        transformation={k: json_value(v) for k, v in row.items()},
        parameters={p["key"]: p["value"] for p in parameters},
        productions=productions,
        outputs_by_data_type=by_type,
    )


def _newest_first(column: str) -> str:
    """ORDER BY terms: ``column`` descending with missing values last on both engines (SQLite
    sorts NULL lowest, PostgreSQL highest)."""
    return f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} DESC"


# -- one production ------------------------------------------------------------------------------


@dataclass
class ProductionDetails:
    """One production in full (``productions show ID``): its transformation, status, site and
    times, and the datasets it read (by role) and wrote (role ``output``)."""

    production: dict[str, Any]
    datasets: pd.DataFrame  # did, role, kind, data_type, bytes, events, state, available_replicas

    @property
    def inputs(self) -> pd.DataFrame:
        return self.datasets[self.datasets["role"] != "output"].reset_index(drop=True)

    @property
    def outputs(self) -> pd.DataFrame:
        return self.datasets[self.datasets["role"] == "output"].reset_index(drop=True)

    @property
    def summary(self) -> dict[str, Any]:
        inputs, outputs = self.inputs, self.outputs
        return {
            "inputs": len(inputs),
            "inputs_by_role": dict(sorted(Counter(inputs["role"]).items())),
            "input_bytes": _total(inputs["bytes"]),
            "inputs_without_available_replica": int((inputs["available_replicas"] == 0).sum()),
            "outputs": len(outputs),
            "output_bytes": _total(outputs["bytes"]),
        }

    def to_dict(self) -> dict[str, Any]:
        return envelope(
            "production",
            self.summary,
            production=self.production,
            inputs=records(self.inputs),
            outputs=records(self.outputs.drop(columns="role")),
        )


def production_details(conn: Connection, production: str) -> ProductionDetails:
    """The production ``production`` (its exchange-format id) in full (an
    :class:`UnknownProduction` if none)."""
    found = rows(
        conn,
        f"""
        SELECT p.id, p.name AS production, t.tag AS transformation,
               t.name AS transformation_name, t.release,
               CASE WHEN {recorded("t.image_digest")} THEN 1 ELSE 0 END AS has_image_digest,
               p.status, s.name AS site, p.conditions_tag, p.started_at, p.finished_at
        FROM production p JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN site s ON s.id = p.site_id
        WHERE p.name = :name
        """,
        name=production,
    )
    if not found:
        raise UnknownProduction(production)
    row = found[0]
    ident = row.pop("id")
    row["has_image_digest"] = bool(row["has_image_digest"])
    datasets = frame(
        conn,
        f"""
        SELECT did, role, kind, data_type, bytes, events, state, available_replicas FROM (
            SELECT d.did, i.role, d.kind, d.data_type, d.bytes, d.events, d.state, d.id AS _d
            FROM production_input i JOIN dataset d ON d.id = i.dataset_id
            WHERE i.production_id = :id
            UNION ALL
            SELECT d.did, 'output', d.kind, d.data_type, d.bytes, d.events, d.state, d.id
            FROM production_output o JOIN dataset d ON d.id = o.dataset_id
            WHERE o.production_id = :id
        ) io LEFT JOIN (
            SELECT r.dataset_id, COUNT(*) AS available_replicas FROM replica r
            WHERE r.state = 'available' AND r.dataset_id IN (
                SELECT dataset_id FROM production_input WHERE production_id = :id
                UNION SELECT dataset_id FROM production_output WHERE production_id = :id)
            GROUP BY r.dataset_id
        ) r ON r.dataset_id = io._d
        ORDER BY {ROLE_ORDER.format("role")}, did
        """,
        id=ident,
    )
    datasets["available_replicas"] = datasets["available_replicas"].fillna(0).astype("int64")
    times = {k: json_value(utc_datetime(row[k])) for k in ("started_at", "finished_at")}
    return ProductionDetails(production={**row, **times}, datasets=datasets)
