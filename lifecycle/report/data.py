"""The numbers of the report, gathered through the services on one read connection.

Every part is aggregated in SQL or from a service's own aggregate (counts per rule, cause, site,
endpoint, data type, month): the report holds top-N lists and groups, never a row per dataset,
so its size does not grow with the catalog. Nothing is written to the catalog: the audit is run
without recording (the history is read as cron's ``audit`` left it), loss simulations and
expiry previews write temporary tables only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.accounting import Usage, usage
from lifecycle.audit import FINDINGS_TABLE, AuditReport, FindingRows, run_audit
from lifecycle.audit.grouping import cause_of, causes, site_totals
from lifecycle.audit.history import diff, runs
from lifecycle.catalog import queries
from lifecycle.catalog.grouped import group_catalog
from lifecycle.catalog.queries import Overview
from lifecycle.catalog.sql import by_dialect, drop_tables, frame, rows, temporary_table
from lifecycle.durability import load_model
from lifecycle.durability.estimate import durability_of
from lifecycle.durability.patterns import nines
from lifecycle.errors import InvalidModel
from lifecycle.expiry import outlook_counts
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance import irreproducible_table
from lifecycle.provenance.graph import MAX_NODES, ProvenanceGraph, lineage
from lifecycle.provenance.reproducibility import irreproducible_explained
from lifecycle.report.repairs import Repair, repair_section
from lifecycle.report.schedule import Group, SharedSet, side_by_side
from lifecycle.simulate import simulate_sites

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.audit.grouping import Cause
    from lifecycle.catalog.arrow_reader import ArrowReader
    from lifecycle.policy import PolicySet

TOP = 20  # rows of a top-N list (causes, sites, endpoints, reasons, examples)
TREND_RUNS = 30  # stored audit runs the trend covers, the newest
MONTHS = 12  # the lifetime outlook
FULL = 0.9  # an endpoint above this share of its capacity is flagged
DERIVED = ("derived", "simulated")  # the kinds whose reproducibility the report covers
# a reason without the dataset it blocks on (one per input otherwise): its class
BLOCKED = "an input has no available replica and is not reproducible"
# connections (and threads) the parts are shared out to: one a core, at most one a group of parts
CONNECTIONS = max(1, min(os.cpu_count() or 1, 4))


@dataclass
class Compliance:
    """The audit now, its causes and sites, and the stored history's trend and last change."""

    audit: AuditReport
    causes: list[Cause]
    by_site: pd.DataFrame  # site, findings (of datasets with a copy there), rules; top N
    history: pd.DataFrame  # the stored runs, newest first (at most TREND_RUNS)
    trend: pd.DataFrame  # run, as_of, rule, findings: per stored run and rule it evaluated
    changes: dict[str, Any] | None  # from, to, appeared/resolved per rule; None: < 2 runs


@dataclass
class Preservation:
    raw_tape_copies: pd.DataFrame  # copies (tape copies at distinct sites, 0/1/2+), datasets, bytes
    raw_short: pd.DataFrame  # examples of raw data with fewer than 2: did, copies, bytes (top N)
    coverage: pd.DataFrame  # data_type, datasets, reproducible, share
    reasons: list[tuple[str, int]]  # why not reproducible, most datasets first (top N)


@dataclass
class Lifetime:
    months: pd.DataFrame  # month (YYYY-MM), decision, datasets, bytes: end of life in the month
    kept: dict[str, int]  # datasets expired now and kept, by reason (pinned, plan, ...)
    expired_now: dict[str, int]  # summary of expire now: expired, delete, keep, bytes_freed


@dataclass
class ReportData:
    """Everything the page shows."""

    catalog: str
    now: datetime
    policies: PolicySet
    overview: Overview
    compliance: Compliance
    storage: Usage  # per endpoint
    sites: pd.DataFrame  # per site and media, from the endpoints: site, tier, media, endpoints, ...
    preservation: Preservation
    lifetime: Lifetime
    risk: list[dict[str, Any]]  # one per tier-0/1 site: what its loss would mean
    lineages: list[ProvenanceGraph]
    repair: Repair  # transfers on record and what repair would do now
    durability: dict[str, Any] | None = None  # None: no failure model could be read
    decade: dict[str, Any] | None = None  # a saved simulate years run (report --decade)
    timings: dict[str, float] = field(default_factory=dict)


def gather(
    conn: Connection,
    policies: PolicySet,
    now: datetime,
    catalog: str,
    lineage_dids: tuple[str, ...] = (),
    clock: Any = None,
    others: Sequence[Connection] = (),
    progress: Progress = SILENT,
    idle: Callable[[dict[str, Any]], None] | None = None,
    arrow: ArrowReader | None = None,
) -> ReportData:
    """Every number of the report, read on ``conn`` as of ``now`` (``clock``: a
    ``time.perf_counter``-like function to time each part, for the benchmark; ``progress``
    hears of each part).

    ``others``: more connections reading the same snapshot as ``conn`` (see
    :func:`~lifecycle.catalog.snapshots.read_together`): the parts are independent reads, shared
    out in groups to one thread per connection; none: one after the other on ``conn``.
    ``idle``: work for the first thread to run out of groups, given the parts of the groups
    done by then (the page's imports, and the sections it can render already), while the others
    read on (with one connection, not done).
    ``arrow``: an Arrow reader of the same snapshot (see
    :func:`~lifecycle.catalog.snapshots.read_snapshot`), for the counts of every replica."""
    timings: dict[str, float] = {}
    with progress.stages("building the report: parts", REPORT_PARTS) as stage:

        def timed(name: str, work):
            with stage(name):
                if clock is None:
                    return work()
                start = clock()
                out = work()
                timings[name] = round(clock() - start, 3)
                return out

        return _gather(
            conn, others, policies, now, catalog, lineage_dids, timed, timings, idle, arrow
        )


REPORT_PARTS = 13  # the parts :func:`_gather` times, one stage of the progress each


def _gather(
    conn, others, policies, now, catalog, lineage_dids, timed, timings, idle=None, arrow=None
) -> ReportData:
    """:func:`gather`'s work, each part through ``timed(name, work)``."""
    # the irreproducible set once (it does not depend on the time judged at), for the audit,
    # the reproducibility coverage, both expiry previews and the durability: each computed its
    # own; copied to the other connections whose parts read it
    found = SharedSet(timed, shared=bool(others))

    def reproducibility(conn: Connection) -> dict[str, Any]:
        table = found.on(conn)
        audit = timed("compliance", lambda: compliance(conn, policies, now, table))
        kept = timed("preservation", lambda: reproducibility_coverage(conn, table))
        return {"compliance": audit, "coverage": kept}

    def replicas(conn: Connection) -> dict[str, Any]:
        # the replicas and datasets counted once for the overview and the storage (three passes
        # over them otherwise), in Arrow where the snapshot has an Arrow reader
        grouped = timed("replicas", lambda: group_catalog(conn, "tmp_report", arrow))
        overview = timed("overview", lambda: queries.overview(conn, grouped))
        storage = timed("storage", lambda: usage(conn, "endpoint", grouped=grouped.replicas))
        drop_tables(conn, *grouped.tables())
        sites = timed("sites", lambda: by_site(conn, storage))
        return {"overview": overview, "storage": storage, "sites": sites}

    def ends(conn: Connection) -> dict[str, Any]:
        return {
            "lifetime": timed("lifetime", lambda: lifetime(conn, policies, now, found.on(conn)))
        }

    def durable(conn: Connection) -> dict[str, Any]:
        return {"durability": timed("durability", lambda: durability(conn, found.on(conn)))}

    # the longest first, each taken by the first connection free, but the first runs on the
    # connection that computed the set, which it reads (measured at 1 M datasets,
    # thread CPU: the audit with its groupings and the coverage ~5.5 s after the set's 1 s,
    # the loss simulations ~4.4 s, lifetime ~2.7 s, durability ~1.5 s, the replicas and
    # datasets counted ~1.4 s, repair ~0.8 s, the raw data's tape copies ~0.7 s; the page's
    # imports, ``idle``, last: ~0.9 s)
    groups: list[Group] = [
        reproducibility,
        replicas,
        lambda conn: {"risk": timed("risk", lambda: risk(conn, policies, now))},
        ends,
        durable,
        lambda conn: {
            "repair": timed("repair", lambda: repair_section(conn, policies, now, TOP)),
            "lineages": timed(
                "provenance", lambda: [lineage(conn, d, None, MAX_NODES) for d in lineage_dids]
            ),
        },
        lambda conn: {"tape": timed("tape copies", lambda: raw_tape_copies(conn))},
    ]
    done: dict[str, Any] = {}  # the parts of the groups finished so far, for ``idle``

    def recorded(group: Group) -> Group:
        def run(conn: Connection) -> dict[str, Any]:
            out = group(conn)
            done.update(out)
            if "tape" in done and "coverage" in done:  # both halves of preservation's part
                done.setdefault("preservation", Preservation(*done["tape"], *done["coverage"]))
            return out

        return run

    groups = [recorded(group) for group in groups]
    if others and idle is not None:
        groups.append(lambda conn: idle(dict(done)) or {})
    # the set computed first, on ``conn``, while another thread imports pandas and pyarrow
    parts = side_by_side(groups, [conn, *others], first=found.compute)
    found.drop()
    del parts["tape"], parts["coverage"]  # assembled into preservation's part as they came
    parts["preservation"] = done["preservation"]
    return ReportData(catalog=catalog, now=now, policies=policies, **parts, timings=timings)


def durability(conn: Connection, irreproducible: str) -> dict[str, Any] | None:
    """Nines per kind and the least durable datasets under the default failure model
    (:mod:`lifecycle.durability`); None when no model can be read."""
    try:
        model = load_model()
    except InvalidModel:
        return None
    found = durability_of(conn, model, irreproducible, least=TOP // 2)
    kinds: dict[str, dict[str, Any]] = {}
    for group in found.groups:
        entry = kinds.setdefault(group["kind"], {"kind": group["kind"], "datasets": 0,
                                                 "bytes": 0, "expected_lost": 0.0})  # fmt: skip
        entry["datasets"] += group["datasets"]
        entry["bytes"] += group["bytes"]
        entry["expected_lost"] += group["expected_lost"]
    for entry in kinds.values():
        entry["nines"] = nines(entry["expected_lost"] / entry["datasets"])
    return {"summary": found.summary, "kinds": sorted(kinds.values(), key=lambda k: k["kind"]),
            "least": found.least}  # fmt: skip


def by_site(conn: Connection, storage: Usage) -> pd.DataFrame:
    """The endpoints' usage summed per site and media (as ``usage --by site`` counts it, without
    a second pass over the replicas), with each site's tier."""
    tiers = {r["name"]: int(r["tier"]) for r in rows(conn, "SELECT name, tier FROM site")}
    found = storage.usage.groupby(["site", "media"], as_index=False).agg(
        endpoints=("endpoints", "sum"),
        used_bytes=("used_bytes", lambda b: sum(int(v) for v in b)),
        capacity_bytes=("capacity_bytes", lambda b: sum(int(v) for v in b.dropna()) or None),
    )
    found.insert(1, "tier", found["site"].map(tiers))
    return found


def compliance(
    conn: Connection, policies: PolicySet, now: datetime, irreproducible: str | None = None
) -> Compliance:
    """The audit as of ``now`` (not recorded), grouped while its findings table exists
    (``irreproducible``: the set already computed, see :func:`run_audit`)."""
    grouped: dict[str, Any] = {}

    def show(report: AuditReport, found: FindingRows) -> None:
        grouped["causes"] = causes(found.conn, FINDINGS_TABLE, policies)
        grouped["by_site"] = site_totals(found.conn, FINDINGS_TABLE)

    report = run_audit(conn, None, policies, now, with_findings=False, show=show,
                       irreproducible=irreproducible)  # fmt: skip
    by_site = grouped["by_site"]
    history = runs(conn, TREND_RUNS)
    return Compliance(
        audit=report,
        causes=grouped["causes"],
        by_site=by_site.head(TOP).reset_index(drop=True),
        history=history,
        trend=trend(conn, history),
        changes=last_changes(conn, history),
    )


def trend(conn: Connection, history: pd.DataFrame) -> pd.DataFrame:
    """Findings per stored run and rule, from the findings' intervals (first_run, last_run):
    those present at the first run shown, then each run's opened and closed counts, in three
    GROUP BY statements whatever the number of runs (a join of runs and findings would read
    every finding once per run)."""
    import pandas as pd

    columns = ["run", "as_of", "rule", "findings"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    ids = sorted(int(i) for i in history["id"])
    first = ids[0]
    present = rows(
        conn,
        "SELECT rule, COUNT(*) AS n FROM audit_finding WHERE first_run <= :r "
        "AND (last_run IS NULL OR last_run >= :r) GROUP BY rule",
        r=first,
    )
    opened = rows(
        conn,
        "SELECT first_run AS run, rule, COUNT(*) AS n FROM audit_finding WHERE first_run > :r "
        "GROUP BY first_run, rule",
        r=first,
    )
    closed = rows(  # last_run: the last run that found it; gone from the next run on
        conn,
        "SELECT last_run AS run, rule, COUNT(*) AS n FROM audit_finding WHERE last_run >= :r "
        "GROUP BY last_run, rule",
        r=first,
    )
    evaluated = {
        int(r["id"]): json.loads(r["rule_names"])
        for r in rows(conn, "SELECT id, rule_names FROM audit_run WHERE id >= :r", r=first)
    }
    as_of = dict(zip(history["id"].astype(int), history["as_of"], strict=True))
    counts = {r["rule"]: int(r["n"]) for r in present}
    opened_at: dict[int, list[tuple[str, int]]] = {}
    for r in opened:
        opened_at.setdefault(int(r["run"]), []).append((r["rule"], int(r["n"])))
    closed_at: dict[int, list[tuple[str, int]]] = {}
    for r in closed:
        closed_at.setdefault(int(r["run"]), []).append((r["rule"], int(r["n"])))
    out = []
    previous = None
    for run in ids:
        if previous is not None:
            for rule, n in closed_at.get(previous, []):
                counts[rule] = counts.get(rule, 0) - n
            for rule, n in opened_at.get(run, []):
                counts[rule] = counts.get(rule, 0) + n
        for rule in evaluated.get(run, []):
            out.append((run, as_of.get(run), rule, counts.get(rule, 0)))
        previous = run
    return pd.DataFrame(out, columns=columns)


def last_changes(conn: Connection, history: pd.DataFrame) -> dict[str, Any] | None:
    """Findings appeared and resolved between the last two stored runs, counted by rule."""
    if len(history) < 2:
        return None
    found = diff(conn)
    per_rule: dict[str, dict[str, int]] = {}
    for what in ("appeared", "resolved"):
        for rule, n in found[what].groupby("rule").size().items() if len(found[what]) else ():
            per_rule.setdefault(rule, {"appeared": 0, "resolved": 0})[what] = int(n)
    return {
        "from": found["from"],
        "to": found["to"],
        "appeared": len(found["appeared"]),
        "resolved": len(found["resolved"]),
        "by_rule": dict(sorted(per_rule.items())),
    }


def preservation(conn: Connection, irreproducible: str | None = None) -> Preservation:
    """Raw data by its tape copies at distinct sites; reproducibility of derived data by type
    (``irreproducible``: the set already in a temporary table, else computed here)."""
    return Preservation(*raw_tape_copies(conn), *reproducibility_coverage(conn, irreproducible))


def raw_tape_copies(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw data counted by its tape copies at distinct sites (0, 1, 2+), and the largest with
    fewer than 2 (top N)."""
    # each raw dataset's copies counted once, into a temporary table both reads scan: as a
    # CTE of each, the replicas of the 100 k raw datasets of 1 M were read twice (0.9 s)
    table = temporary_table(
        conn, "tmp_report_raw_copies",
        "id INTEGER PRIMARY KEY, did TEXT NOT NULL, bytes BIGINT NOT NULL, copies INTEGER NOT NULL",
    )  # fmt: skip
    try:
        conn.exec_driver_sql(
            f"""
            INSERT INTO {table} (id, did, bytes, copies)
            SELECT d.id, d.did, d.bytes, COUNT(DISTINCT e.site_id)
            FROM dataset d
            LEFT JOIN replica r ON r.dataset_id = d.id AND r.state = 'available'
            LEFT JOIN endpoint e ON e.id = r.endpoint_id AND e.media = 'tape'
            WHERE d.kind = 'raw' AND d.state NOT IN ('deleted', 'lost')
            GROUP BY d.id, d.did, d.bytes
            """
        )
        bucket = "CASE WHEN copies >= 2 THEN '2+' ELSE CAST(copies AS VARCHAR(2)) END"
        tape = frame(
            conn,
            f"SELECT {bucket} AS copies, COUNT(*) AS datasets, COALESCE(SUM(bytes), 0) AS bytes "
            f"FROM {table} GROUP BY {bucket} ORDER BY 1",
        )
        short = frame(
            conn,
            f"SELECT did, copies, bytes FROM {table} WHERE copies < 2 "
            f"ORDER BY bytes DESC, did LIMIT {TOP}",
        )
    finally:
        drop_tables(conn, table)
    return tape, short


def reproducibility_coverage(
    conn: Connection, irreproducible: str | None = None
) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """The reproducibility of derived and simulated data by data type, and why not (top N
    reasons; ``irreproducible``: the set already in a temporary table, else computed here)."""
    # SQLite: the dataset table read in order (nine in ten datasets are derived or simulated);
    # along the (kind, data type) index it looked each row up out of order: 0.95 -> 0.3 s at 1 M
    scan = by_dialect(conn, sqlite=" NOT INDEXED", postgresql="")
    with irreproducible_table(conn, "tmp_report_irreproducible", existing=irreproducible) as table:
        coverage = frame(
            conn,
            f"""
            SELECT COALESCE(d.data_type, '') AS data_type, COUNT(*) AS datasets,
                   SUM(CASE WHEN x.id IS NULL THEN 1 ELSE 0 END) AS reproducible
            FROM dataset d{scan} LEFT JOIN {table} x ON x.id = d.id
            WHERE d.kind IN :kinds AND d.state NOT IN ('deleted', 'lost')
            GROUP BY COALESCE(d.data_type, '') ORDER BY 2 DESC, 1
            """,
            kinds=list(DERIVED),
        )
        # why, counted per reason in SQL (the reasons composed there, as the audit's rule does:
        # a row per irreproducible dataset read and explained in Python took 2-3 s at 1 M)
        explained = irreproducible_explained(
            table, "d.kind IN :kinds AND d.state NOT IN ('deleted', 'lost')",
            named_once=by_dialect(conn, sqlite=False, postgresql=True),
        )  # fmt: skip
        found = rows(
            conn,
            f"""
            SELECT reason, COUNT(*) AS datasets FROM (
                SELECT CASE WHEN x.blocking_input IS NOT NULL AND x.reason LIKE 'input %'
                            THEN :general ELSE x.reason END AS reason
                FROM ({explained}) x
            ) y GROUP BY reason
            """,
            kinds=list(DERIVED),
            general=BLOCKED,
        )
    reasons: dict[str, int] = {}
    for row in found:
        cause = cause_of("reproducibility", row["reason"])
        reasons[cause] = reasons.get(cause, 0) + int(row["datasets"])
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    if not coverage.empty:
        coverage["share"] = coverage["reproducible"] / coverage["datasets"]
    else:
        coverage["share"] = []
    return coverage, top


def lifetime(
    conn: Connection, policies: PolicySet, now: datetime, irreproducible: str | None = None
) -> Lifetime:
    """What reaches its end of life in each of the next months (expiry previewed at the end of
    the outlook) and what expiry keeps now, and why (``irreproducible``: the set already in a
    temporary table, read by both previews; the two previews share their work and are counted
    without a row per decision, see :func:`~lifecycle.expiry.outlook_counts`)."""
    horizon = _add_months(now, MONTHS)
    summary, months = outlook_counts(conn, policies, now, horizon, irreproducible=irreproducible)
    kept = summary.pop("kept_by_reason")
    return Lifetime(months, kept, {k: summary[k] for k in ("expired", "delete", "keep")}
                    | {"bytes_freed": summary["bytes_freed"]})  # fmt: skip


def _add_months(when: datetime, months: int) -> datetime:
    year, month = divmod(when.month - 1 + months, 12)
    try:
        return when.replace(year=when.year + year, month=month + 1)
    except ValueError:  # the 29th-31st of a month the target lacks
        return when.replace(year=when.year + year, month=month + 1, day=1) - timedelta(days=1)


def risk(conn: Connection, policies: PolicySet, now: datetime) -> list[dict[str, Any]]:
    """For each tier-0/1 site with endpoints: what losing it would do (the loss simulation),
    most datasets lost for good first."""
    sites = rows(
        conn,
        "SELECT s.name, s.tier FROM site s WHERE s.tier <= 1 AND s.status <> 'decommissioned' "
        "AND EXISTS (SELECT 1 FROM endpoint e WHERE e.site_id = s.id) ORDER BY s.tier, s.name",
    )
    found = simulate_sites(conn, [site["name"] for site in sites], policies, now)
    out = [
        {"site": site["name"], "tier": int(site["tier"])} | found[site["name"]] for site in sites
    ]
    out.sort(key=lambda r: (-r["lost"], -r["lost_bytes"], r["site"]))
    return out
