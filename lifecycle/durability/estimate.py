"""``lifecycle durability``: the annual probability of losing data nothing can regenerate.

For every dataset that cannot be regenerated (raw, calibration, metadata, and derived data that
is not reproducible: the reproducibility service's irreproducible set), the probability of losing
every copy of some of its data within one repair window, in a year, under the failure model
(:mod:`lifecycle.durability.model`, computed as :mod:`lifecycle.durability.patterns` says).

Set-based: one pass over the available replicas of those datasets writes each dataset's placement
pattern (its sites and media) into a temporary table; the patterns are grouped (a few thousand
for a million datasets), each computed once in Python, written back as two coefficients, and
joined to the datasets in one aggregate per kind and data type and one ordered query for the
least durable. The **repair window** is computed from the patterns too: detection, staging, and
copying the largest site's holdings of such data back from the rest of the grid, at the sum of
the other sites' bandwidths by tier (the transfer simulation's bandwidth model, ``efficiency``
of it), unless the model fixes ``window_days``. One window for every loss: pessimistic for the
small ones (a file, an operator error), which repair in a day or two.

Expected losses per year are ``windows x (a + files x b)`` summed over datasets, each at most 1
(a rate, an upper bound of the probability that is accurate while it is small); the least durable datasets and
``datasets show`` get the exact probability. Reproducible data is counted as *regenerable* with
the core-hours of its own production (events x ``cpu_seconds_per_event``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import analyze, by_dialect, drop_tables, rows, statement, temporary_table
from lifecycle.durability.model import FailureModel
from lifecycle.durability.montecarlo import sample, summary
from lifecycle.durability.patterns import (
    WindowModel,
    annual,
    coefficients,
    nines,
    parse,
    survivors,
    why,
    window_loss,
)
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance.reproducibility import irreproducible_table
from lifecycle.transfers import TIER_GBPS
from lifecycle.values import envelope

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

OF = "tmp_durability_of"  # dataset id -> pattern
PATTERN = "tmp_durability_pattern"  # pattern -> a, b
_IRREPRODUCIBLE = "tmp_durability_irreproducible"
LEAST = 50
COLUMNS = ["kind", "data_type", "status", "datasets", "bytes", "expected_lost",
           "expected_bytes_lost", "probability", "nines", "cpu_hours"]  # fmt: skip


@dataclass
class Placement:
    """What the estimate needs of the grid: sites (tier, country, name) and the window."""

    sites: dict[int, tuple[int, str]]
    names: dict[int, str]
    window: WindowModel
    window_basis: str


@dataclass
class DurabilityReport:
    """The durability of the catalog under ``model`` (see the module)."""

    model: FailureModel
    placement: Placement
    groups: list[dict[str, Any]]  # per kind / data type, non-regenerable then regenerable
    least: list[dict[str, Any]]  # the least durable datasets, with why and what repair gives
    unavailable: list[dict[str, Any]]  # non-regenerable datasets without an available replica
    summary: dict[str, Any] = field(default_factory=dict)
    monte_carlo: dict[str, Any] | None = None

    def records(self) -> pd.DataFrame:
        """One row per kind and data type (csv, parquet)."""
        import pandas as pd

        return pd.DataFrame(self.groups, columns=COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        parts = {"groups": self.groups, "least_durable": self.least,
                 "unavailable": self.unavailable, "model": self.model.as_dict()}  # fmt: skip
        if self.monte_carlo is not None:
            parts["monte_carlo"] = self.monte_carlo
        return envelope("durability", self.summary, parts)


def placement(conn: Connection, model: FailureModel, holdings: dict[int, int]) -> Placement:
    """The sites and the repair window (``holdings``: bytes of non-regenerable data per site)."""
    sites, names, gbps = {}, {}, {}
    for row in rows(conn, "SELECT id, name, tier, country FROM site"):
        sites[row["id"]] = (int(row["tier"]), row["country"])
        names[row["id"]] = row["name"]
        gbps[row["id"]] = TIER_GBPS.get(int(row["tier"]), 1.0)
    if model.window_days is not None:
        days, basis = model.window_days, "fixed by the model"
    else:
        copy_days, largest = 0.0, None
        total = sum(gbps.values())
        for site, size in holdings.items():
            others = max(total - gbps.get(site, 0.0), 1.0)  # the rest of the grid copies back
            seconds = size * 8 / (others * 1e9 * model.efficiency)
            if seconds / 86400 > copy_days:
                copy_days, largest = seconds / 86400, site
        staging = model.staging_hours / 24
        days = max(model.detection_days + staging + copy_days, 1 / 24)
        basis = f"detection {model.detection_days:g} d + staging {staging * 24:g} h + copying " + (
            f"{names[largest]}'s holdings {copy_days:.1f} d" if largest is not None else "nothing"
        )
    return Placement(sites, names, WindowModel.of(model, days), basis)


def durability(
    conn: Connection,
    model: FailureModel,
    *,
    least: int = LEAST,
    repair_targets: Any = None,
    monte_carlo: tuple[int, int] | None = None,
    progress: Progress = SILENT,
) -> DurabilityReport:
    """The durability report of the catalog on ``conn`` (only temporary tables are written).

    ``repair_targets``: a function ``(dids) -> {did: [(site id, media), ...]}`` giving the
    copies repair would add (the facade passes the repair planner's); None: not asked.
    ``monte_carlo``: (years, seed) of the sampled cross-check (:mod:`.montecarlo`);
    ``progress`` hears of each phase (the sampling, which cannot count, as a spinner)."""
    phases = 3 if monte_carlo is None else 4
    with progress.stages("durability", phases) as stage, ExitStack() as stack:
        with stage("the irreproducible set"):
            irreproducible = stack.enter_context(irreproducible_table(conn, _IRREPRODUCIBLE))
        try:
            return _durability(conn, model, irreproducible, least, repair_targets, monte_carlo,
                               stage=stage)  # fmt: skip
        finally:
            drop_tables(conn, OF, PATTERN)


def durability_of(
    conn: Connection, model: FailureModel, irreproducible: str, least: int = 10
) -> DurabilityReport:
    """:func:`durability` on the irreproducible set a caller already holds in the temporary
    table ``irreproducible`` (the report computes it once), without the regenerable data."""
    try:
        return _durability(conn, model, irreproducible, least, None, None, regenerable=False)
    finally:
        drop_tables(conn, OF, PATTERN)


@contextmanager
def _unreported(name: str) -> Iterator[None]:
    yield


def _durability(conn, model, irreproducible, least, repair_targets, monte_carlo, *,
                regenerable: bool = True, stage=_unreported):  # fmt: skip
    with stage("placement patterns and their probabilities"):
        write_patterns(conn, irreproducible)
        found = rows(
            conn,
            f"SELECT o.pattern, COUNT(*) AS n, SUM(CAST(d.bytes AS DOUBLE PRECISION)) AS size "
            f"FROM {OF} o JOIN dataset d ON d.id = o.id GROUP BY o.pattern",
        )
        holdings: dict[int, float] = {}
        for row in found:
            for site, _ in parse(row["pattern"]):
                holdings[site] = holdings.get(site, 0.0) + float(row["size"] or 0)
        where = placement(conn, model, holdings)
        w = where.window
        dists = {row["pattern"]: survivors(parse(row["pattern"]), where.sites, w) for row in found}
        temporary_table(conn, PATTERN, "pattern TEXT PRIMARY KEY, a DOUBLE PRECISION NOT NULL, "
                        "b DOUBLE PRECISION NOT NULL")  # fmt: skip
        if dists:
            conn.execute(
                statement(f"INSERT INTO {PATTERN} (pattern, a, b) VALUES (:pattern, :a, :b)"),
                [
                    dict(zip(("pattern", "a", "b"), (p, *coefficients(d, w)), strict=True))
                    for p, d in dists.items()
                ],  # fmt: skip
            )
        analyze(conn, PATTERN)
        groups = _groups(conn, w) + (_regenerable(conn, irreproducible) if regenerable else [])
    with stage("the least durable, and what repair would give them"):
        worst = _least(conn, where, dists, least, repair_targets)
    unavailable = _unavailable(conn, irreproducible)
    kept = [g for g in groups if g["status"] == "non-regenerable"]
    expected = sum(g["expected_lost"] for g in kept)
    datasets = sum(g["datasets"] for g in kept)
    summary = {
        "model": model.name,
        "repair_window_days": round(w.days, 4),
        "repair_window": where.window_basis,
        "patterns": len(dists),
        "non_regenerable": datasets,
        "expected_datasets_lost_per_year": expected,
        "expected_bytes_lost_per_year": sum(g["expected_bytes_lost"] for g in kept),
        "nines": nines(expected / datasets) if datasets else None,
        "regenerable": sum(g["datasets"] for g in groups if g["status"] == "regenerable"),
        "unavailable_now": len(unavailable),
    }
    report = DurabilityReport(model, where, groups, worst, unavailable, summary)
    if monte_carlo is not None:
        with stage(f"sampling {monte_carlo[0]:,} years (Monte Carlo)"):
            report.monte_carlo = _cross_check(conn, where, dists, *monte_carlo)
    return report


def _cross_check(conn, where: Placement, dists, years: int, seed: int) -> dict[str, Any]:
    """Sample ``years`` years and set the sampled losses per kind beside the exact
    expectation (the sum of every dataset's exact annual probability)."""
    found = conn.exec_driver_sql(
        f"SELECT d.did, d.kind, d.files, o.pattern FROM {OF} o JOIN dataset d ON d.id = o.id "
        "ORDER BY d.id"
    ).all()
    datasets = [(kind, int(files), pattern) for _, kind, files, pattern in found]
    w = where.window
    exact: dict[tuple[str, int], float] = {}
    expected: dict[str, float] = {}
    for kind, files, pattern in datasets:
        key = (pattern, files)
        if key not in exact:
            exact[key] = annual(window_loss(dists[pattern], w, files), w)
        expected[kind] = expected.get(kind, 0.0) + exact[key]
    sampled = sample(datasets, where.sites, w, years, seed)
    out = summary(sampled, expected, seed)
    out["datasets"] = [
        {
            "did": found[i][0],
            "lost_years": k,
            "sampled": k / years,
            "analytic": exact[(datasets[i][2], datasets[i][1])],
        }  # fmt: skip
        for i, k in sorted(sampled.lost_years.items())
    ]
    return out


def write_patterns(conn: Connection, irreproducible: str, only: str | None = None) -> None:
    """``OF``: each non-regenerable dataset with an available replica and its pattern, the
    (site id, media) of its available replicas in order (``only``: SQL of dataset ids)."""
    temporary_table(conn, OF, "id INTEGER PRIMARY KEY, pattern TEXT NOT NULL")
    scope = f"AND x.id IN ({only})" if only else ""
    concat = by_dialect(
        conn,
        # SQLite 3.40 has no ORDER BY inside an aggregate: the rows come ordered from the
        # subquery. An unusual order only splits one pattern in two: each is computed alike.
        sqlite=f"""
            SELECT id, group_concat(part, ',') FROM (
                SELECT r.dataset_id AS id, e.site_id || ':' || e.media AS part
                FROM {irreproducible} x
                CROSS JOIN replica r
                CROSS JOIN endpoint e
                CROSS JOIN dataset d
                WHERE r.dataset_id = x.id AND r.state = 'available' AND e.id = r.endpoint_id
                  AND d.id = x.id AND d.state <> 'deleted' {scope}
                ORDER BY r.dataset_id, e.site_id, e.media)
            GROUP BY id""",
        postgresql=f"""
            SELECT r.dataset_id, string_agg(e.site_id || ':' || e.media, ','
                                            ORDER BY e.site_id, e.media)
            FROM {irreproducible} x
            JOIN replica r ON r.dataset_id = x.id AND r.state = 'available'
            JOIN endpoint e ON e.id = r.endpoint_id
            JOIN dataset d ON d.id = x.id AND d.state <> 'deleted'
            WHERE TRUE {scope}
            GROUP BY r.dataset_id""",
    )
    conn.exec_driver_sql(f"INSERT INTO {OF} (id, pattern) {concat}")
    analyze(conn, OF)


def _groups(conn: Connection, w: WindowModel) -> list[dict[str, Any]]:
    found = rows(
        conn,
        f"""
        SELECT d.kind, d.data_type, COUNT(*) AS datasets, SUM(d.bytes) AS size,
               SUM(CASE WHEN p.a + p.b * d.files > :cap THEN :cap
                        ELSE p.a + p.b * d.files END) AS rate,
               SUM(CAST(d.bytes AS DOUBLE PRECISION) * (p.a + p.b)) AS bytes_rate
        FROM {OF} o
        CROSS JOIN dataset d
        CROSS JOIN {PATTERN} p
        WHERE d.id = o.id AND p.pattern = o.pattern
        GROUP BY d.kind, d.data_type
        """,
        cap=1.0 / w.windows,  # a dataset's expected losses a year count at most one
    )
    out = []
    for row in sorted(found, key=lambda r: (r["kind"], r["data_type"] or "")):
        expected = w.windows * float(row["rate"] or 0)
        n = int(row["datasets"])
        out.append({
            "kind": row["kind"], "data_type": row["data_type"], "status": "non-regenerable",
            "datasets": n, "bytes": int(row["size"] or 0), "expected_lost": expected,
            "expected_bytes_lost": w.windows * float(row["bytes_rate"] or 0),
            "probability": expected / n if n else 0.0,
            "nines": nines(expected / n) if n else None, "cpu_hours": None,
        })  # fmt: skip
    return out


def _regenerable(conn: Connection, irreproducible: str) -> list[dict[str, Any]]:
    """Reproducible datasets with an available replica, and the core-hours of their producers."""
    found = rows(
        conn,
        f"""
        SELECT d.kind, d.data_type, COUNT(*) AS datasets, SUM(d.bytes) AS size,
               SUM(COALESCE(d.events, 0) * COALESCE(t.cpu_seconds_per_event, 0)) / 3600.0
                   AS hours
        FROM production_output o
        CROSS JOIN dataset d
        CROSS JOIN production p
        CROSS JOIN transformation t
        LEFT JOIN {irreproducible} x ON x.id = o.dataset_id
        WHERE x.id IS NULL AND d.id = o.dataset_id AND p.id = o.production_id
          AND t.id = p.transformation_id AND d.state <> 'deleted'
          AND EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = d.id
                      AND r.state = 'available')
        GROUP BY d.kind, d.data_type
        """,
    )
    return [
        {
            "kind": r["kind"],
            "data_type": r["data_type"],
            "status": "regenerable",
            "datasets": int(r["datasets"]),
            "bytes": int(r["size"] or 0),
            "expected_lost": 0.0,
            "expected_bytes_lost": 0.0,
            "probability": None,
            "nines": None,
            "cpu_hours": float(r["hours"] or 0),
        }  # fmt: skip
        for r in sorted(found, key=lambda r: (r["kind"], r["data_type"] or ""))
    ]


def _unavailable(conn: Connection, irreproducible: str) -> list[dict[str, Any]]:
    """Non-regenerable datasets (not deleted) without any available replica now."""
    return rows(
        conn,
        f"""
        SELECT d.did, d.kind, d.bytes
        FROM {irreproducible} x
        LEFT JOIN {OF} o ON o.id = x.id
        CROSS JOIN dataset d
        WHERE o.id IS NULL AND d.id = x.id AND d.state <> 'deleted'
        ORDER BY d.did
        """,
    )


def _least(conn, where: Placement, dists, limit: int, repair_targets) -> list[dict[str, Any]]:
    """The ``limit`` least durable datasets: exact probability, why, what repair would give."""
    if limit <= 0:
        return []
    found = rows(
        conn,
        f"""
        SELECT d.did, d.kind, d.data_type, d.bytes, d.files, o.pattern
        FROM {OF} o
        CROSS JOIN dataset d
        CROSS JOIN {PATTERN} p
        WHERE d.id = o.id AND p.pattern = o.pattern
        ORDER BY p.a + p.b * d.files DESC, d.did
        LIMIT :limit
        """,
        limit=limit,
    )
    w = where.window
    added = repair_targets([r["did"] for r in found]) if repair_targets and found else {}
    out = []
    for row in found:
        copies = parse(row["pattern"])
        probability = annual(window_loss(dists[row["pattern"]], w, row["files"]), w)
        entry = {
            "did": row["did"], "kind": row["kind"], "data_type": row["data_type"],
            "bytes": int(row["bytes"]), "files": int(row["files"]), "copies": len(copies),
            "probability": probability, "nines": nines(probability),
            "why": why(copies, where.sites, where.names),
        }  # fmt: skip
        entry.update(_repaired(copies, added.get(row["did"]), where, row["files"]))
        out.append(entry)
    out.sort(key=lambda e: (-e["probability"], e["did"]))
    return out


def _repaired(copies, planned, where: Placement, files: int) -> dict[str, Any]:
    """What repair would raise a dataset to: the planner's copies if it plans any, else one
    more tape copy at a tier-0/1 site in a country the dataset does not use yet."""
    if planned:
        how = "repair plans " + ", ".join(f"{where.names[s]} ({m})" for s, m in planned)
        more = planned
    else:
        used = {where.sites[s][1] for s, _ in copies}
        options = sorted(
            (tier, where.names[s], s)
            for s, (tier, country) in where.sites.items()
            if tier <= 1 and country not in used
        )
        if not options:
            return {"repair": "policy satisfied; no site in another country", "repaired": None}
        site = options[0][2]
        how = f"policy satisfied; one more tape copy at {where.names[site]} (another country)"
        more = [(site, "tape")]
    after = annual(window_loss(survivors(copies + list(more), where.sites, where.window),
                               where.window, files), where.window)  # fmt: skip
    return {"repair": how, "repaired_probability": after, "repaired": nines(after)}


def dataset_durability(
    conn: Connection, model: FailureModel, did: str, reproducible: bool
) -> dict[str, Any]:
    """One dataset's durability (``datasets show``, which knows whether it is ``reproducible``):
    ``regenerable``, or its annual probability of loss, nines and why. The repair window's
    holdings are those of raw, calibration and metadata (one grouped pass; the catalog-wide
    estimate adds irreproducible derived data, which needs the whole irreproducible set)."""
    if reproducible:
        return {"status": "regenerable"}
    own = rows(
        conn,
        "SELECT e.site_id, e.media, d.files FROM dataset d "
        "JOIN replica r ON r.dataset_id = d.id AND r.state = 'available' "
        "JOIN endpoint e ON e.id = r.endpoint_id WHERE d.did = :did ORDER BY e.site_id, e.media",
        did=did,
    )
    if not own:
        return {"status": "non-regenerable", "probability": 1.0, "nines": 0.0,
                "why": "no available replica now"}  # fmt: skip
    holdings = {
        row["site_id"]: float(row["size"] or 0)
        for row in rows(
            conn,
            "SELECT e.site_id, SUM(CAST(d.bytes AS DOUBLE PRECISION)) AS size FROM dataset d "
            "JOIN replica r ON r.dataset_id = d.id AND r.state = 'available' "
            "JOIN endpoint e ON e.id = r.endpoint_id "
            "WHERE d.kind IN ('raw', 'calibration', 'metadata') AND d.state <> 'deleted' "
            "GROUP BY e.site_id",
        )
    }
    where = placement(conn, model, holdings)
    copies = [(row["site_id"], row["media"]) for row in own]
    dist = survivors(copies, where.sites, where.window)
    probability = annual(window_loss(dist, where.window, own[0]["files"]), where.window)
    return {
        "status": "non-regenerable",
        "probability": probability,
        "nines": nines(probability),
        "why": why(copies, where.sites, where.names),
        "repair_window_days": round(where.window.days, 4),
        "model": model.name,
    }
