"""Storage accounting: used, capacity and free bytes per endpoint, site, tier, country or cloud.

**Used** bytes are the bytes of the datasets with an *available* replica on an endpoint (a
replica being copied, unavailable, lost or deleted occupies nothing the pledge counts).
**Capacity** is the endpoints' recorded capacity; an endpoint without one counts towards used
bytes but not towards capacity or free bytes, and ``endpoints_without_capacity`` says how many
there are, so a total is never silently an underestimate. **Free** is capacity less the used
bytes of the endpoints with a capacity (negative when an endpoint holds more than it should).
Tape and disk are never added together: every row is one group and one media.

Each answer is two GROUP BY statements over the replica, dataset, endpoint and site tables,
whatever the catalog's size (never a query per dataset or endpoint); the endpoints an endpoint
expression selects are bound as one list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import endpoint_records
from lifecycle.catalog.sql import frame, rows
from lifecycle.errors import UsageError
from lifecycle.expressions import select
from lifecycle.values import envelope, json_value, records
from lifecycle.vocabulary import MEDIA

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

# --by: the columns a row is keyed by, and the GROUP BY that yields them (the media is always
# part of the key: tape and disk bytes answer different pledges)
GROUPINGS: dict[str, tuple[str, str]] = {
    "endpoint": ("e.name AS endpoint, s.name AS site", "e.id, e.name, s.name, s.tier"),
    "site": (
        "s.name AS site, s.tier, s.country, s.cloud",
        "s.id, s.name, s.tier, s.country, s.cloud",
    ),
    "tier": ("s.tier", "s.tier"),
    "country": ("s.country", "s.country"),
    "cloud": ("s.cloud", "s.cloud"),
}
ORDER = {
    "endpoint": "s.tier, s.name, e.name",
    "site": "s.tier, s.name",
    "tier": "s.tier",
    "country": "s.country",
    "cloud": "s.cloud",
}


def _total(values: pd.Series) -> int:
    """An integer column's sum as an exact Python int (pandas' int64 sum wraps past 2**63)."""
    return sum(map(int, values.dropna()))


@dataclass
class Usage:
    """Storage use per group and media (``usage``), and per group, media, kind and data type
    (``shares``: each one's fraction of its group's used bytes on that media)."""

    by: str
    usage: pd.DataFrame
    shares: pd.DataFrame

    @property
    def summary(self) -> dict[str, Any]:
        """Totals over every group, per media, and the used bytes of each kind."""
        media = {}
        for name, part in self.usage.groupby("media", sort=True):
            media[name] = _totals(part)
        kinds = {
            kind: _total(part["used_bytes"])
            for kind, part in self.shares.groupby("kind", sort=True)
        }
        return {"by": self.by, "groups": int(len(self.usage)), **_totals(self.usage),
                "media": media, "used_bytes_by_kind": kinds}  # fmt: skip

    def overall_shares(self) -> pd.DataFrame:
        """The share of each kind and data type of every group's used bytes, per media."""
        found = self.shares.groupby(["media", "kind", "data_type"], dropna=False, sort=True)
        found = found.agg(replicas=("replicas", "sum"), used_bytes=("used_bytes", "sum"))
        found = found.reset_index()
        return _with_share(found, ["media"])

    def to_dict(self) -> dict[str, Any]:
        return envelope(
            "usage", self.summary, usage=records(self.usage), shares=records(self.shares)
        )


def _totals(part: pd.DataFrame) -> dict[str, Any]:
    capacity = part["capacity_bytes"].dropna()
    known = _total(capacity)
    free = _total(part["free_bytes"])
    return {
        "endpoints": _total(part["endpoints"]),
        "endpoints_without_capacity": _total(part["endpoints_without_capacity"]),
        "replicas": _total(part["replicas"]),
        "used_bytes": _total(part["used_bytes"]),
        "capacity_bytes": known if len(capacity) else None,
        "free_bytes": free if len(capacity) else None,
        "used_fraction": round((known - free) / known, 6) if known else None,
    }


def _with_share(found: pd.DataFrame, within: list[str]) -> pd.DataFrame:
    """``found`` with ``share``: each row's used bytes over those of its rows alike in
    ``within`` (0 when those hold no bytes)."""
    totals = found.groupby(within, dropna=False, sort=False)["used_bytes"].transform("sum")
    found["share"] = (found["used_bytes"].astype(float) / totals.where(totals > 0)).round(6)
    found["share"] = found["share"].fillna(0.0)
    return found


def usage(
    conn: Connection,
    by: str = "endpoint",
    *,
    site: list[str] | None = None,
    media: str | None = None,
    expression: str | None = None,
    grouped: str | None = None,
) -> Usage:
    """Storage use grouped ``by`` endpoint, site, tier, country or cloud (and media), of the
    endpoints at ``site`` (any of them), of ``media``, selected by the endpoint ``expression``.
    ``grouped``: the replicas already counted per endpoint, state, kind and data type in a
    temporary table (:func:`lifecycle.catalog.grouped.group_catalog`), read instead of the
    replicas themselves (the same numbers)."""
    if by not in GROUPINGS:
        raise UsageError(f"--by: {by!r} is not one of {', '.join(GROUPINGS)}")
    if media and media not in MEDIA:
        raise UsageError(f"--media: {media!r} is not one of {', '.join(MEDIA)}")
    where, params = ["1 = 1"], {}
    if site:
        known = {r["name"] for r in rows(conn, "SELECT name FROM site WHERE name IN :s", s=site)}
        unknown = [s for s in site if s not in known]
        if unknown:
            raise UsageError(f"--site: unknown site {unknown[0]!r} (see 'lifecycle sites list')")
        where.append("s.name IN :sites")
        params["sites"] = list(site)
    if media:
        where.append("e.media = :media")
        params["media"] = media
    if expression is not None:
        where.append("e.name IN :endpoints")
        params["endpoints"] = sorted(set(select(expression, endpoint_records(conn))))
    columns, group = GROUPINGS[by]
    condition = " AND ".join(where)
    source = "FROM replica r JOIN dataset d ON d.id = r.dataset_id"
    count, size, kinds = "COUNT(*)", "d.bytes", "d.kind, d.data_type"
    if grouped is not None:  # rows of endpoint_id, state, kind, data_type, replicas, bytes
        source = f"FROM {grouped} r"
        count, size, kinds = "CAST(SUM(r.replicas) AS BIGINT)", "r.bytes", "r.kind, r.data_type"
    totals = frame(
        conn,
        f"""
        SELECT {columns}, e.media, COUNT(*) AS endpoints,
               SUM(CASE WHEN e.capacity_bytes IS NULL THEN 1 ELSE 0 END)
                   AS endpoints_without_capacity,
               COALESCE(SUM(u.replicas), 0) AS replicas,
               COALESCE(SUM(u.used_bytes), 0) AS used_bytes,
               SUM(e.capacity_bytes) AS capacity_bytes,
               SUM(e.capacity_bytes - COALESCE(u.used_bytes, 0)) AS free_bytes
        FROM endpoint e JOIN site s ON s.id = e.site_id
        LEFT JOIN (SELECT r.endpoint_id, {count} AS replicas, SUM({size}) AS used_bytes
                   {source} WHERE r.state = 'available' GROUP BY r.endpoint_id) u
               ON u.endpoint_id = e.id
        WHERE {condition}
        GROUP BY {group}, e.media
        ORDER BY {ORDER[by]}, e.media
        """,
        **params,
    )
    shares = frame(
        conn,
        f"""
        SELECT {columns}, e.media, {kinds}, {count} AS replicas,
               SUM({size}) AS used_bytes
        {source}
        JOIN endpoint e ON e.id = r.endpoint_id JOIN site s ON s.id = e.site_id
        WHERE r.state = 'available' AND {condition}
        GROUP BY {group}, e.media, {kinds}
        ORDER BY {ORDER[by]}, e.media, {kinds}
        """,
        **params,
    )
    capacity = totals["capacity_bytes"]
    used_with_capacity = capacity - totals["free_bytes"]
    totals["used_fraction"] = [
        None if json_value(c) in (None, 0) else round(int(u) / int(c), 6)
        for u, c in zip(used_with_capacity, capacity, strict=True)
    ]
    keys = [*totals.columns[: list(totals.columns).index("media") + 1]]
    return Usage(by, totals, _with_share(shares, keys))
