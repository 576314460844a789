"""Named read queries of the catalog, each one SQL statement (or a few) returning DataFrames.

A listing that can run to the whole catalog (:func:`dataset_chunks`) is also read a frame of
rows at a time, so that it is written as it is read and never held in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.sql import (
    TIMESTAMP_COLUMNS,
    frame,
    rows,
    statement,
)
from lifecycle.errors import UnknownDataset, UsageError
from lifecycle.nomenclature import normalize_did
from lifecycle.values import envelope, records, rows_frame, to_utc, typed_text
from lifecycle.vocabulary import KINDS, MEDIA

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.grouped import Grouped


def sites(conn: Connection) -> pd.DataFrame:
    return frame(
        conn,
        """
        SELECT s.name, s.tier, s.country, s.cloud, s.status,
               COUNT(e.id) AS endpoints,
               SUM(CASE WHEN e.media = 'tape' THEN 1 ELSE 0 END) AS tape_endpoints,
               SUM(CASE WHEN e.media = 'disk' THEN 1 ELSE 0 END) AS disk_endpoints
        FROM site s LEFT JOIN endpoint e ON e.site_id = s.id
        GROUP BY s.id, s.name, s.tier, s.country, s.cloud, s.status
        ORDER BY s.tier, s.name
        """,
    )


def endpoint_records(conn: Connection) -> list[dict[str, Any]]:
    """Every endpoint as a dict of its attributes (built-in and its own), with ``_id``.

    Plain rows, no pandas: the audit needs these on its light ``--quiet`` path. Built-in
    attributes win over an endpoint's own attribute of the same name, as in :func:`endpoints`.
    """
    records = {
        row["_id"]: {k: v for k, v in row.items() if v is not None}
        for row in conn.execute(sa.text(_ENDPOINTS_SQL.format(where="", order="s.tier, e.name")))
        .mappings()
        .all()
    }
    for endpoint_id, key, value in conn.execute(
        sa.text("SELECT endpoint_id, key, value FROM endpoint_attribute ORDER BY endpoint_id, key")
    ):
        record = records.get(endpoint_id)
        if record is not None and value is not None and key not in _ENDPOINT_COLUMNS:
            record[key] = value
    return list(records.values())


_ENDPOINTS_SQL = """
    SELECT e.id AS _id, e.name, s.name AS site, e.media, e.capacity_bytes,
           s.tier, s.country, s.cloud, s.status AS site_status
    FROM endpoint e JOIN site s ON s.id = e.site_id
    {where}
    ORDER BY {order}
"""
_ENDPOINT_COLUMNS = (
    "_id", "name", "site", "media", "capacity_bytes", "tier", "country", "cloud", "site_status"
)  # fmt: skip


def endpoints(
    conn: Connection, site: str | None = None, media: str | None = None, keep_id: bool = False
):
    """Endpoints with their site's attributes and their own attributes as extra columns."""

    if media and media not in MEDIA:
        raise UsageError(f"--media: {media!r} is not one of {', '.join(MEDIA)}")
    if site:
        _known_site(conn, site)
    filters = {"s.name = :site": site, "e.media = :media": media}
    given = {condition: value for condition, value in filters.items() if value}
    where = "WHERE " + " AND ".join(given) if given else ""
    params = {condition.split(":")[-1]: value for condition, value in given.items()}
    out = frame(conn, _ENDPOINTS_SQL.format(where=where, order="s.tier, e.name"), **params)
    attrs = frame(conn, "SELECT endpoint_id AS _id, key, value FROM endpoint_attribute")
    if not attrs.empty and not out.empty:
        wide = attrs.pivot(index="_id", columns="key", values="value")
        wide = wide[[c for c in sorted(wide.columns) if c not in out.columns]]
        wide.columns.name = None
        wide = wide.apply(typed_text)  # booleans and numbers typed, for JSON
        out = out.merge(wide, left_on="_id", right_index=True, how="left")
    return out if keep_id else out.drop(columns="_id")


def _listed(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """Filters take one value or several."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _known_site(conn: Connection, site: str) -> None:
    if not rows(conn, "SELECT name FROM site WHERE name = :n", n=site):
        raise UsageError(f"--site: unknown site {site!r} (see 'lifecycle sites list')")


def globs_condition(column: str, patterns, prefix: str, params: dict[str, Any]) -> str:
    """SQL matching ``column`` against any of the shell globs; adds the bound values to params."""
    ors = []
    for i, pattern in enumerate(patterns):
        ors.append(f"{column} LIKE :{prefix}{i} ESCAPE '\\'")
        params[f"{prefix}{i}"] = glob_to_like(pattern)
    return "(" + " OR ".join(ors) + ")"


def glob_to_like(pattern: str) -> str:
    """A shell glob (``*``, ``?``) as an SQL LIKE pattern with ``\\`` as escape."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def datasets(conn: Connection, **filters: Any) -> pd.DataFrame:
    """Datasets matching every filter given, ordered by DID, with their available replicas:
    filters ``kind``, ``data_type`` (globs), ``scope``, ``name`` (glob), ``site``; at most
    ``limit`` rows (default 1000; None: all).

    An unknown kind or site is an error (a typo must not look like "nothing there").
    """
    sql, params = _datasets_query(conn, **filters)
    return frame(conn, sql, **params)


LISTING_CHUNK = 50_000  # rows of a long listing read (and written) at a time


def dataset_chunks(conn: Connection, **filters: Any) -> Iterator[pd.DataFrame]:
    """:func:`datasets` a frame of at most :data:`LISTING_CHUNK` rows at a time (at least one
    frame, empty when nothing matches), read through a server-side cursor on PostgreSQL (else
    psycopg would hold every row). The filters are checked before the first frame is yielded."""
    sql, params = _datasets_query(conn, **filters)
    result = conn.execute(statement(sql, params).execution_options(stream_results=True), params)
    columns, empty = list(result.keys()), True
    for part in result.partitions(LISTING_CHUNK):
        empty = False
        yield _timestamps_in_utc(rows_frame(columns, part))
    if empty:
        yield _timestamps_in_utc(rows_frame(columns, []))


def _timestamps_in_utc(found: pd.DataFrame) -> pd.DataFrame:
    for column in found.columns:
        if column in TIMESTAMP_COLUMNS:
            found[column] = to_utc(found[column])
    return found


def _datasets_query(
    conn: Connection,
    *,
    kind: list[str] | None = None,
    data_type: list[str] | None = None,
    scope: list[str] | None = None,
    name: str | None = None,
    site: str | None = None,
    limit: int | None = 1000,
) -> tuple[str, dict[str, Any]]:
    """The SQL of :func:`datasets` and its parameters (the filters checked)."""
    kind, data_type, scope = _listed(kind), _listed(data_type), _listed(scope)
    for value in kind or ():
        if value not in KINDS:
            raise UsageError(f"--kind: {value!r} is not one of {', '.join(KINDS)}")
    if site:
        _known_site(conn, site)
    where, params = [], {}
    if kind:
        where.append("d.kind IN :kind")
        params["kind"] = list(kind)
    if data_type:
        where.append(globs_condition("d.data_type", data_type, "dt", params))
    if scope:
        where.append("d.scope IN :scope")
        params["scope"] = list(scope)
    if name:
        column = "d.did" if ":" in name else "d.name"
        where.append(f"{column} LIKE :name ESCAPE '\\'")
        params["name"] = glob_to_like(name)
    if site:
        where.append(
            "EXISTS (SELECT 1 FROM replica r JOIN endpoint e ON e.id = r.endpoint_id "
            "JOIN site s ON s.id = e.site_id WHERE r.dataset_id = d.id AND s.name = :site "
            "AND r.state <> 'deleted')"
        )
        params["site"] = site
    if limit is not None and limit < 0:
        raise UsageError("--limit: must be 0 (no limit) or more")
    sql = f"""
        SELECT d.did, d.kind, d.data_type, d.bytes, d.files, d.events, d.state,
               d.created_at, d.expires_at,
               (SELECT COUNT(*) FROM replica r
                 WHERE r.dataset_id = d.id AND r.state = 'available') AS available_replicas
        FROM dataset d
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY d.did
        {f"LIMIT {int(limit)}" if limit else ""}
        """
    return sql, params


def count_datasets(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar() or 0)


def dataset_id(conn: Connection, did: str) -> int:
    """The surrogate id of ``did`` (given with or without its scope)."""
    found = rows(conn, "SELECT id FROM dataset WHERE did = :did", did=normalize_did(did))
    if not found:
        raise UnknownDataset(did)
    return int(found[0]["id"])


def existing_dids(conn: Connection, dids: list[str]) -> list[str]:
    """Those of ``dids`` the catalog holds (asked 500 at a time)."""
    found = []
    for i in range(0, len(dids), 500):
        chunk = {"d": list(dids[i : i + 500])}
        found += [did for (did,) in conn.execute(statement(_DIDS_IN, chunk), chunk)]
    return found


_DIDS_IN = "SELECT did FROM dataset WHERE did IN :d"


def replicas(conn: Connection, did: str) -> pd.DataFrame:
    """Replicas of one dataset with where they are."""
    return frame(
        conn,
        """
        SELECT e.name AS endpoint, s.name AS site, e.media, r.state, r.created_at,
               r.accessed_at, s.tier, s.country
        FROM replica r JOIN endpoint e ON e.id = r.endpoint_id JOIN site s ON s.id = e.site_id
        WHERE r.dataset_id = :id
        ORDER BY s.tier, e.name
        """,
        id=dataset_id(conn, did),
    )


@dataclass
class DatasetDetails:
    """Everything ``datasets show`` prints about one dataset."""

    dataset: dict[str, Any]
    metadata: dict[str, str]
    replicas: pd.DataFrame
    producer: dict[str, Any] | None
    producer_inputs: pd.DataFrame
    consumers: pd.DataFrame
    pins: pd.DataFrame = field(repr=False, default=None)
    rules: pd.DataFrame = field(repr=False, default=None)  # Rucio's replication rules on it

    def to_dict(self) -> dict[str, Any]:

        return {
            **self.dataset,
            "metadata": self.metadata,
            "replicas": records(self.replicas),
            "producer": None
            if self.producer is None
            else {**self.producer, "inputs": records(self.producer_inputs)},
            "consumers": records(self.consumers),
            "pins": records(self.pins),
            "replication_rules": records(self.rules),
        }


def dataset_details(conn: Connection, did: str) -> DatasetDetails:
    ident = dataset_id(conn, did)
    row = frame(
        conn,
        "SELECT did, scope, name, kind, data_type, bytes, files, events, created_at, "
        "expires_at, state FROM dataset WHERE id = :id",
        id=ident,
    )
    meta = frame(
        conn,
        "SELECT key, value FROM dataset_metadata WHERE dataset_id = :id ORDER BY key",
        id=ident,
    )
    producer = frame(
        conn,
        """
        SELECT p.id AS _pid, p.name AS production, t.tag AS transformation, t.name AS
               transformation_name, t.release, t.image, t.image_digest, t.code_commit,
               t.command, p.conditions_tag, s.name AS site, p.started_at, p.finished_at,
               p.status
        FROM production_output o JOIN production p ON p.id = o.production_id
        JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN site s ON s.id = p.site_id
        WHERE o.dataset_id = :id
        """,
        id=ident,
    )
    inputs = None
    if not producer.empty:
        inputs = frame(
            conn,
            """
            SELECT d.did, i.role, d.kind, d.data_type, d.state
            FROM production_input i JOIN dataset d ON d.id = i.dataset_id
            WHERE i.production_id = :pid ORDER BY i.role, d.did
            """,
            pid=int(producer["_pid"].iloc[0]),
        )
    consumers = frame(
        conn,
        """
        SELECT p.name AS production, i.role, t.tag AS transformation, d.did AS output,
               d.data_type AS output_data_type
        FROM production_input i JOIN production p ON p.id = i.production_id
        JOIN transformation t ON t.id = p.transformation_id
        LEFT JOIN production_output o ON o.production_id = p.id
        LEFT JOIN dataset d ON d.id = o.dataset_id
        WHERE i.dataset_id = :id ORDER BY p.name, d.did
        """,
        id=ident,
    )
    pins = frame(
        conn, "SELECT reason, until, actor FROM pin WHERE dataset_id = :id ORDER BY actor", id=ident
    )
    rules = frame(
        conn,
        "SELECT rule_id, state, rse_expression, copies, locks_ok, locks_replicating, "
        "locks_stuck, account, finding, created_at, seen_at FROM replication_rule "
        "WHERE dataset_id = :id ORDER BY rule_id",
        id=ident,
    )

    return DatasetDetails(
        dataset=records(row)[0],
        metadata=dict(zip(meta["key"], meta["value"], strict=True)),
        replicas=replicas(conn, row["did"].iloc[0]),
        producer=None if producer.empty else records(producer.drop(columns="_pid"))[0],
        producer_inputs=inputs if inputs is not None else frame(conn, "SELECT 1 AS did WHERE 1=0"),
        consumers=consumers,
        pins=pins,
        rules=rules,
    )


@dataclass
class Overview:
    """The catalog at a glance: sites by tier, datasets by kind and data type, replicas."""

    sites_by_tier: pd.DataFrame
    datasets_by_kind: pd.DataFrame
    replicas_by_state: pd.DataFrame

    def summary(self) -> dict[str, int]:
        """Totals: sites, endpoints, datasets and their bytes, replicas (any state)."""
        return {
            "sites": int(self.sites_by_tier["sites"].sum()),
            "endpoints": int(self.sites_by_tier["endpoints"].sum()),
            "datasets": int(self.datasets_by_kind["datasets"].sum()),
            "bytes": int(self.datasets_by_kind["bytes"].fillna(0).sum()),
            "replicas": int(self.replicas_by_state["replicas"].sum()),
        }

    def rows(self) -> pd.DataFrame:
        """The three tables as one, a row per group, ``section`` naming its table (csv)."""
        import pandas as pd

        parts = [
            frame.assign(section=section)
            for section, frame in (
                ("sites_by_tier", self.sites_by_tier),
                ("datasets_by_kind", self.datasets_by_kind),
                ("replicas_by_state", self.replicas_by_state),
            )
        ]
        joined = pd.concat(parts, ignore_index=True)
        columns = ["section", *dict.fromkeys(c for p in parts for c in p.columns if c != "section")]
        return joined[columns].convert_dtypes()

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``overview``: totals, then the three tables."""
        return envelope(
            "overview",
            self.summary(),
            sites_by_tier=records(self.sites_by_tier),
            datasets_by_kind=records(self.datasets_by_kind),
            replicas_by_state=records(self.replicas_by_state),
        )


def overview(conn: Connection, grouped: Grouped | None = None) -> Overview:
    """The catalog in numbers: sites and capacity per tier, datasets per kind and data type,
    replicas per media and state (``grouped``: from the tables of
    :func:`~lifecycle.catalog.grouped.group_catalog`, the same numbers)."""
    by_tier = frame(
        conn,
        """
        SELECT s.tier, COUNT(DISTINCT s.id) AS sites,
               COUNT(e.id) AS endpoints,
               COALESCE(SUM(CASE WHEN e.media = 'tape' THEN e.capacity_bytes END), 0)
                   AS tape_capacity_bytes,
               COALESCE(SUM(CASE WHEN e.media = 'disk' THEN e.capacity_bytes END), 0)
                   AS disk_capacity_bytes
        FROM site s LEFT JOIN endpoint e ON e.site_id = s.id
        GROUP BY s.tier ORDER BY s.tier
        """,
    )
    datasets, count = "dataset", "COUNT(*)"
    if grouped is not None:
        datasets, count = grouped.datasets, "CAST(SUM(datasets) AS BIGINT)"
    by_kind = frame(
        conn,
        f"""
        SELECT kind, COALESCE(data_type, '') AS data_type, {count} AS datasets,
               SUM(bytes) AS bytes, SUM(files) AS files
        FROM {datasets} GROUP BY kind, COALESCE(data_type, '') ORDER BY kind, data_type
        """,
    )
    source, count, size = "replica r JOIN dataset d ON d.id = r.dataset_id", "COUNT(*)", "d.bytes"
    if grouped is not None:
        source, count, size = f"{grouped.replicas} r", "CAST(SUM(r.replicas) AS BIGINT)", "r.bytes"
    by_state = frame(
        conn,
        f"""
        SELECT e.media, r.state, {count} AS replicas, SUM({size}) AS bytes
        FROM {source} JOIN endpoint e ON e.id = r.endpoint_id
        GROUP BY e.media, r.state ORDER BY e.media, r.state
        """,
    )
    return Overview(by_tier, by_kind, by_state)


def journal(
    conn: Connection,
    limit: int | None = 50,
    since: datetime | None = None,
    did: str | None = None,
) -> pd.DataFrame:
    """Journal entries, newest first: all, those at or after ``since``, those touching ``did``."""
    where, params = [], {}
    if since is not None:
        where.append("j.at >= :since")
        params["since"] = since
    if did is not None:
        where.append(
            "j.id IN (SELECT jd.journal_id FROM journal_dataset jd WHERE jd.dataset_id = :dataset)"
        )
        params["dataset"] = dataset_id(conn, did)
    sql = (
        "SELECT j.id, j.at, j.actor, j.command, j.summary, j.reason, "
        "(SELECT COUNT(*) FROM journal_dataset jd WHERE jd.journal_id = j.id) AS datasets "
        f"FROM journal j {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY j.id DESC"
        f"{f' LIMIT {int(limit)}' if limit else ''}"
    )
    result = conn.execute(statement(sql, params), params)
    out = rows_frame(result.keys(), result.fetchall())

    if not out.empty:
        out["at"] = to_utc(out["at"])
    return out


# What a journal_change row's entity_id names, as text a person reads (a replica: DID@endpoint)
_CHANGED_ROW = """
    CASE c.entity
        WHEN 'replica' THEN rd.did || '@' || re.name
        WHEN 'dataset' THEN d.did
        WHEN 'pin' THEN pd.did
        WHEN 'site' THEN s.name
        WHEN 'production' THEN p.name
        WHEN 'transformation' THEN t.tag
        WHEN 'transfer' THEN td.did || '->' || te.name
        ELSE e.name
    END
"""


def journal_changes(conn: Connection, entry: int) -> pd.DataFrame:
    """The values journal entry ``entry`` changed: table, row, field, old and new value."""
    return frame(
        conn,
        f"""
        SELECT c.entity, {_CHANGED_ROW} AS row_key, c.field, c.old_value, c.new_value
        FROM journal_change c
        LEFT JOIN replica r ON c.entity = 'replica' AND r.id = c.entity_id
        LEFT JOIN dataset rd ON rd.id = r.dataset_id
        LEFT JOIN endpoint re ON re.id = r.endpoint_id
        LEFT JOIN dataset d ON c.entity = 'dataset' AND d.id = c.entity_id
        LEFT JOIN pin pn ON c.entity = 'pin' AND pn.id = c.entity_id
        LEFT JOIN dataset pd ON pd.id = pn.dataset_id
        LEFT JOIN site s ON c.entity = 'site' AND s.id = c.entity_id
        LEFT JOIN production p ON c.entity = 'production' AND p.id = c.entity_id
        LEFT JOIN transformation t ON c.entity = 'transformation' AND t.id = c.entity_id
        LEFT JOIN endpoint e ON c.entity IN ('endpoint', 'endpoint_attribute')
            AND e.id = c.entity_id
        LEFT JOIN transfer tr ON c.entity = 'transfer' AND tr.id = c.entity_id
        LEFT JOIN dataset td ON td.id = tr.dataset_id
        LEFT JOIN endpoint te ON te.id = tr.target_endpoint_id
        WHERE c.journal_id = :entry
        ORDER BY c.id
        """,
        entry=int(entry),
    )
