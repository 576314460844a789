"""What a repair starts from, read set-based: the violations, the endpoints, their free space.

The violations are judged as the audit judges them, through the same translation of a rule to
SQL (:func:`lifecycle.policy.judged`, :func:`~lifecycle.policy.counted_endpoints`,
:data:`~lifecycle.policy.UNIT_COLUMN`): one grouped pass per rule writes the violating datasets
into a temporary table, then one query reads those datasets and one their replicas. A
``preservation`` rule is, for the planner, a replication rule asking for one available replica
anywhere (a dataset deleted or lost cannot be repaired by a copy and is listed as such).

A drain (``--drain``) judges the catalog as it would be without the drained endpoints'
replicas, and adds a requirement of its own: every dataset keeps, per media, as many available
replicas as it has now (the drained ones move, tape to tape and disk to disk).

Everything here is read in a handful of statements whatever the number of violations; the
greedy choice over what they return is :mod:`lifecycle.repair.planner`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import endpoint_records
from lifecycle.catalog.sql import analyze, drop_tables, rows, statement, temporary_table
from lifecycle.policy import (
    UNIT_COLUMN,
    Rule,
    counted_endpoints,
    endpoint_sets,
    judged,
    selection,
)
from lifecycle.simulate import LossScenario, lost_endpoints

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet, Selector

VIOLATION = "tmp_repair_violation"  # dataset_id, requirement: the violations to repair
DRAINED = "tmp_repair_drained"  # id: the endpoints being drained
UNITS = ("endpoint", "site", "country", "cloud")
DRAIN_RULE = "drain"  # the name of the drain's own requirement (keep the copies per media)


@dataclass(frozen=True)
class Requirement:
    """One rule as the planner sees it: ``copies`` available replicas at distinct ``distinct``
    units among the endpoints ``allowed`` (None: every endpoint); ``rule`` is the policy's rule
    (None for a drain's own requirement)."""

    name: str
    policy: str
    type: str
    copies: int
    distinct: str
    expression: str
    allowed: frozenset[int] | None
    rule: Rule | None = None
    media: str | None = None  # a drain's requirement: the media its copies keep


@dataclass
class Endpoints:
    """Every endpoint, as parallel lists indexed by position (sorted by name): the planner's
    arrays. ``used`` is the bytes of available and copying replicas; ``capacity`` None means
    unlimited."""

    ids: list[int]
    names: list[str]
    sites: list[str]
    site_status: list[str]
    media: list[str]
    country: list[str | None]
    cloud: list[str | None]
    capacity: list[int | None]
    used: list[int]
    drained: list[bool]
    position: dict[int, int] = field(default_factory=dict)  # endpoint id -> index

    def unit(self, index: int, distinct: str) -> Any:
        """The value a rule counting ``distinct`` units counts for endpoint ``index``."""
        if distinct == "endpoint":
            return self.ids[index]
        if distinct == "site":
            return self.sites[index]
        return self.country[index] if distinct == "country" else self.cloud[index]


@dataclass
class Violations:
    """The datasets to repair: their rows (id, did, kind, state, bytes), the requirements each
    violates (requirement indices), and each one's replicas ((endpoint index, state) pairs)."""

    datasets: list[tuple[int, str, str, str, int]]
    broken: dict[int, list[int]]
    replicas: dict[int, list[tuple[int, str]]]
    failed: dict[int, set[int]] = field(default_factory=dict)  # endpoint ids of failed copies


def read_endpoints(conn: Connection, drained: set[int]) -> Endpoints:
    """Every endpoint with its site, media and capacity (``used`` is filled by
    :func:`fill_used`, for the endpoints a plan may write to)."""
    records = sorted(endpoint_records(conn), key=lambda e: e["name"])
    used: dict[int, int] = {}
    out = Endpoints(
        ids=[int(e["_id"]) for e in records],
        names=[e["name"] for e in records],
        sites=[e["site"] for e in records],
        site_status=[e.get("site_status", "active") for e in records],
        media=[e["media"] for e in records],
        country=[e.get("country") for e in records],
        cloud=[e.get("cloud") for e in records],
        capacity=[
            None if e.get("capacity_bytes") is None else int(e["capacity_bytes"]) for e in records
        ],  # fmt: skip
        used=[used.get(int(e["_id"]), 0) for e in records],
        drained=[int(e["_id"]) in drained for e in records],
    )
    out.position = {endpoint_id: i for i, endpoint_id in enumerate(out.ids)}
    return out


def fill_used(
    conn: Connection, endpoints: Endpoints, needs: list[Requirement], found: Violations
) -> None:
    """The bytes of available and copying replicas on every endpoint with a capacity that some
    violation with a source may write to: one grouped statement over those endpoints' replicas
    (through the (endpoint, state) index), not over the whole replica table. Measured at 100 k
    datasets: 1.1 s for every endpoint, against 0.1 s for the tape endpoints raw data needs."""
    with_source = {
        dataset_id for dataset_id, replicas in found.replicas.items()
        if any(state == "available" for _, state in replicas)
    }  # fmt: skip
    wanted = {r for dataset_id in with_source for r in found.broken.get(dataset_id, ())}
    if any(needs[r].allowed is None for r in wanted):
        ids = set(endpoints.ids)
    else:
        ids = {i for r in wanted for i in (needs[r].allowed or ())}
    ids = sorted(i for i in ids if endpoints.capacity[endpoints.position[i]] is not None)
    if not ids:
        return
    for row in rows(
        conn,
        """
        SELECT r.endpoint_id, SUM(d.bytes) AS used
        FROM replica r JOIN dataset d ON d.id = r.dataset_id
        WHERE r.endpoint_id IN :ids AND r.state IN ('available', 'copying')
        GROUP BY r.endpoint_id
        """,
        ids=ids,
    ):
        endpoints.used[endpoints.position[int(row["endpoint_id"])]] = int(row["used"] or 0)


def drained_endpoints(conn: Connection, sites: tuple[str, ...], expression: str | None) -> set[int]:
    """The ids of the endpoints a drain empties: those of ``sites`` and those ``expression``
    selects (an unknown site is a usage error, as in ``simulate loss``)."""
    if not sites and not expression:
        return set()
    names = set(lost_endpoints(conn, LossScenario(sites=sites, endpoints=expression)))
    return {int(e["_id"]) for e in endpoint_records(conn) if e["name"] in names}


def requirements(
    conn: Connection, policies: PolicySet, drain: bool, media: tuple[str, ...] = ()
) -> list[Requirement]:
    """The replication and preservation rules of ``policies`` (and, for a drain, one
    requirement per media: keep its copies), in policy order."""
    allowed_by_rule = endpoint_sets(conn, policies)
    out = []
    for rule in policies.rules:
        if rule.type == "replication":
            allowed = allowed_by_rule.get(rule.name)
            out.append(
                Requirement(rule.name, rule.policy, rule.type, int(rule.copies or 0),
                            rule.distinct, rule.endpoints,
                            None if allowed is None else frozenset(allowed), rule)
            )  # fmt: skip
        elif rule.type == "preservation":
            out.append(Requirement(rule.name, rule.policy, rule.type, 1, "endpoint", "*", None,
                                   rule))  # fmt: skip
    if drain:
        records = endpoint_records(conn)
        for kind in media:
            allowed = frozenset(int(e["_id"]) for e in records if e["media"] == kind)
            out.append(
                Requirement(f"{DRAIN_RULE}:{kind}", "", DRAIN_RULE, 0, "endpoint",
                            f"media={kind}", allowed, None, kind)
            )  # fmt: skip
    return out


def read_violations(
    conn: Connection,
    needs: list[Requirement],
    now: datetime,
    chosen: Selector | None,
    drained: set[int],
    dids: list[str] | None = None,
) -> Violations:
    """The datasets violating each requirement (judged without the ``drained`` endpoints'
    replicas), with their replicas; ``chosen`` narrows the datasets (``--select``), and so do
    ``dids`` (exactly these)."""
    temporary_table(conn, VIOLATION, "dataset_id BIGINT NOT NULL, requirement INTEGER NOT NULL")
    temporary_table(conn, DRAINED)
    if drained:
        conn.exec_driver_sql(
            f"INSERT INTO {DRAINED} (id) VALUES " + ", ".join(f"({int(i)})" for i in drained)
        )
    not_drained = f"AND r.endpoint_id NOT IN (SELECT id FROM {DRAINED})" if drained else ""
    extra, extra_params = ("1 = 1", {})
    if chosen is not None:  # --select: a selection as a rule's, its parameters renamed
        extra, extra_params = selection(Rule("select", "", "", "replication", select=chosen), "d")
        for key in sorted(extra_params, key=len, reverse=True):
            extra = extra.replace(f":{key}", f":extra_{key}")
        extra_params = {f"extra_{k}": v for k, v in extra_params.items()}
    if dids is not None:
        extra += " AND d.did IN :extra_dids"
        extra_params["extra_dids"] = list(dids) or [""]
    for index, need in enumerate(needs):
        _insert_violations(conn, index, need, now, extra, extra_params, not_drained)
    analyze(conn, VIOLATION)
    datasets = [
        (int(i), did, kind, state, int(size))
        for i, did, kind, state, size in conn.exec_driver_sql(
            f"SELECT d.id, d.did, d.kind, d.state, d.bytes FROM dataset d "
            f"WHERE d.id IN (SELECT dataset_id FROM {VIOLATION})"
        ).fetchall()
    ]
    datasets.sort(key=lambda row: row[1])  # DID order: code points, as everywhere
    broken: dict[int, list[int]] = {}
    # fetchall: fetching row by row cost more than the query (1.3 s for 60 k rows at 100 k)
    for dataset_id, requirement in conn.exec_driver_sql(
        f"SELECT dataset_id, requirement FROM {VIOLATION} ORDER BY requirement"
    ).fetchall():
        broken.setdefault(int(dataset_id), []).append(int(requirement))
    replicas: dict[int, list[tuple[int, str]]] = {}
    for dataset_id, endpoint_id, state in conn.exec_driver_sql(
        f"SELECT r.dataset_id, r.endpoint_id, r.state FROM replica r "
        f"WHERE r.dataset_id IN (SELECT DISTINCT dataset_id FROM {VIOLATION})"
    ).fetchall():
        replicas.setdefault(int(dataset_id), []).append((int(endpoint_id), state))
    failed: dict[int, set[int]] = {}
    for dataset_id, endpoint_id in conn.exec_driver_sql(
        f"SELECT t.dataset_id, t.target_endpoint_id FROM transfer t WHERE t.state = 'failed' "
        f"AND t.dataset_id IN (SELECT DISTINCT dataset_id FROM {VIOLATION})"
    ):
        failed.setdefault(int(dataset_id), set()).add(int(endpoint_id))
    drop_tables(conn, VIOLATION, DRAINED)
    return Violations(datasets, broken, replicas, failed)


def _insert_violations(
    conn: Connection,
    index: int,
    need: Requirement,
    now: datetime,
    extra: str,
    extra_params: dict[str, Any],
    not_drained: str,
) -> None:
    """Write the datasets violating requirement ``index`` into :data:`VIOLATION`: the audit's
    grouped count of distinct units (for a drain's requirement: fewer available copies on its
    media, outside the drained storage, than it has now anywhere)."""
    if need.rule is not None:
        where, params = judged(need.rule, now)
    else:
        where, params = "1 = 1", {}
    params.update(extra_params, requirement=index)
    if need.type == DRAIN_RULE:
        params["media"] = need.media
        sql = f"""
            INSERT INTO {VIOLATION} (dataset_id, requirement)
            SELECT DISTINCT r.dataset_id, :requirement
            FROM {DRAINED} x
            JOIN replica r ON r.endpoint_id = x.id
            JOIN endpoint e ON e.id = r.endpoint_id
            JOIN dataset d ON d.id = r.dataset_id
            WHERE r.state = 'available' AND e.media = :media AND d.state <> 'deleted'
              AND {extra}
            """
    elif need.type == "preservation":
        sql = f"""
            INSERT INTO {VIOLATION} (dataset_id, requirement)
            SELECT d.id, :requirement FROM dataset d
            WHERE {where} AND {extra}
              AND (d.state IN ('deleted', 'lost') OR NOT EXISTS (
                    SELECT 1 FROM replica r WHERE r.dataset_id = d.id
                    AND r.state = 'available' {not_drained}))
            """
    else:
        endpoint_filter = counted_endpoints(
            None if need.allowed is None else sorted(need.allowed), params
        )
        unit = UNIT_COLUMN[need.distinct]
        site_join = (
            "LEFT JOIN site s ON s.id = e.site_id" if need.distinct in ("country", "cloud") else ""
        )
        params["copies"] = need.copies
        sql = f"""
            INSERT INTO {VIOLATION} (dataset_id, requirement)
            SELECT d.id, :requirement
            FROM dataset d
            LEFT JOIN replica r ON r.dataset_id = d.id AND r.state = 'available'
                 {endpoint_filter} {not_drained}
            LEFT JOIN endpoint e ON e.id = r.endpoint_id
            {site_join}
            WHERE {where} AND {extra} AND d.state <> 'deleted'
            GROUP BY d.id
            HAVING COUNT(DISTINCT {unit}) < :copies
            """
    conn.execute(statement(sql, params), params)
