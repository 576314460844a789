"""What if storage burned down: the loss of sites, endpoints or countries, without changing the catalog.

The lost storage is a set of endpoints (every endpoint of the ``sites``, of the sites in the
``countries``, and those an endpoint expression selects); every replica on them is gone, all at
once. The simulation answers, set-based over temporary tables:

- **lost**: datasets that had an available replica and would have none left (datasets without
  one before are not the loss's doing). Raw, calibration and metadata are lost for good (nothing
  regenerates them); derived, simulated and outreach data are **recoverable** when reproducible
  on the catalog as it would be after the loss (all the lost storage taken together: an input
  that burns with its output does not count as available), else lost for good, with what their
  recipe lacks.
- **recoverable** datasets carry the size of their recipe (``steps``): the number of productions
  to run again, counted exactly as :func:`lifecycle.provenance.recipe.recipe` would on the
  catalog after the loss (from the dataset's own producer upstream through the inputs without an
  available replica). One recursive walk over (dataset, needed dataset) pairs answers, for every
  losing dataset at once, both the recipe size and reproducibility: a dataset is reproducible
  exactly when every dataset its recipe needs has a producer that finished (``done``) and whose
  transformation records a release and an image digest (DESIGN.md invariant 4 unrolled along
  the walk; :func:`lifecycle.provenance.reproducibility.cannot_regenerate`), so no fixed point
  over the whole catalog is needed.
- **violations**: the replication-rule findings the loss would create: datasets that satisfy a
  loaded ``replication`` rule now and would not afterwards (judged as the audit judges them:
  selection, grace at ``now``, deleted datasets skipped). Findings that exist already are not
  listed: they are not the loss's doing.
- **re-replication**: every dataset that loses a replica but keeps another available one needs
  the lost copies made again: its bytes times the replicas lost, from a surviving replica (disk
  before tape, then by endpoint name, so staging from tape is only proposed when it must be).

Every temporary table is keyed by a **scenario** number first: one statement per step answers
for several losses taken each on its own (:func:`simulate_scenarios`, the report's risk section:
every tier-0/1 site), and a single loss (:func:`simulate_loss`) is scenario 0 of the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import endpoint_records
from lifecycle.catalog.sql import analyze, by_dialect, drop_tables, statement, temporary_table
from lifecycle.catalog.store import utcnow
from lifecycle.errors import UsageError
from lifecycle.expressions import select
from lifecycle.policy import UNIT_COLUMN, counted_endpoints, endpoint_sets, judged
from lifecycle.provenance.reproducibility import (
    WhatIf,
    cannot_regenerate,
    production_problem,
    what_if,
)
from lifecycle.text import number
from lifecycle.values import envelope

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet, Rule

RECOVERABLE_KINDS = ("derived", "simulated", "outreach")  # when reproducible after the loss

SCENARIOS = "tmp_loss_scenario"  # (scenario, endpoint name): the storage each scenario loses
SOURCES = "tmp_loss_source"  # endpoints ranked as re-replication sources
GONE = "tmp_loss_gone"  # (scenario, replica id): the replicas each scenario loses
TOUCHED = "tmp_loss_touched"  # datasets losing an available replica: id, lost, kept, source
LOSING = "tmp_loss_losing"  # those keeping none
NEED = "tmp_loss_need"  # (losing dataset, dataset its recipe needs)
MISSING = "tmp_loss_missing"  # the needed datasets no production can make
_TABLES = (SOURCES, GONE, TOUCHED, LOSING, NEED, MISSING)  # each keyed by scenario first
NOTHING_TO_LOSE = "nothing to lose: give --site, --endpoints or --country"


@dataclass(frozen=True)
class LossScenario:
    """The storage to lose: every endpoint of ``sites``, of the sites in ``countries``, and the
    endpoints the expression ``endpoints`` selects (all of them together)."""

    sites: tuple[str, ...] = ()
    endpoints: str | None = None
    countries: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sites or self.endpoints or self.countries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sites": list(self.sites),
            "endpoints": self.endpoints,
            "countries": list(self.countries),
        }


@dataclass
class LossReport:
    """What losing the storage of ``scenario`` would do; ``lost`` is lost for good."""

    scenario: LossScenario
    endpoints: list[str]  # the endpoints lost
    lost: list[dict[str, Any]]  # did, kind, bytes, reason
    recoverable: list[dict[str, Any]]  # did, kind, bytes, steps
    violations: list[dict[str, Any]]  # rule, policy, severity, did, required, ..., message
    re_replicate: list[dict[str, Any]]  # did, replicas, bytes, source, source_site, source_media
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def loses_data(self) -> bool:
        """Whether anything would be lost for good (the CLI exits 1)."""
        return bool(self.lost)

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``simulate loss``: the summary, the datasets lost for good and
        recoverable, the violations created, and what to copy again (the scenario and the
        endpoints lost are in the summary)."""
        parts = ("lost", "recoverable", "violations", "re_replicate")
        return envelope("simulate-loss", self.summary, {p: getattr(self, p) for p in parts})

    def outcomes(self) -> pd.DataFrame:
        """One row per dataset that would keep no available replica (csv, parquet): its
        ``outcome`` (``lost`` for good, else ``recoverable``), then ``reason`` (lost) or
        ``steps`` (recoverable); lost first, each part in DID order."""
        import pandas as pd

        rows = [{"outcome": "lost", **row, "steps": None} for row in self.lost] + [
            {"outcome": "recoverable", **row, "reason": None} for row in self.recoverable
        ]
        columns = ["outcome", "did", "kind", "bytes", "reason", "steps"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["bytes"] = frame["bytes"].astype("Int64")
        frame["steps"] = frame["steps"].astype("Int64")
        return frame


def simulate_loss(
    conn: Connection,
    scenario: LossScenario,
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> LossReport:
    """Simulate losing the storage of ``scenario`` on ``conn``; only temporary tables are written.

    ``policies``: the replication rules whose new violations are reported (None: none);
    ``now``: the time rules are judged at (grace periods), by default the current time.
    Raises :class:`~lifecycle.errors.UsageError` for an unknown site or country, an expression
    that selects nothing (:class:`~lifecycle.errors.InvalidExpression`), or an empty scenario.
    """
    endpoints = lost_endpoints(conn, scenario)
    with what_if(conn, WhatIf(endpoints=tuple(endpoints))) as gone:
        assert gone is not None
        return simulate_gone(conn, gone, policies, now, scenario, endpoints)


def simulate_gone(
    conn: Connection,
    gone: str,
    policies: PolicySet | None = None,
    now: datetime | None = None,
    scenario: LossScenario | None = None,
    endpoints: list[str] | None = None,
) -> LossReport:
    """Simulate losing the replicas whose ids the temporary table ``gone`` holds.

    The core of :func:`simulate_loss`, for callers that name the lost replicas themselves
    (``replicas mark-lost`` previews the loss of one replica with it). ``scenario`` and
    ``endpoints`` only label the report.
    """
    scenario = scenario or LossScenario()
    endpoints = endpoints or []
    rules = [r for r in policies.rules if r.type == "replication"] if policies else []
    try:
        _gone(conn, f"SELECT 0, g.id FROM {gone} g")
        storage = _touched(conn)
        _losing(conn)
        _recipes(conn)
        lost = _lost(conn)
        recoverable, productions = _recoverable(conn)
        violations = _violations(conn, policies, now or utcnow())
        copies = _re_replication(conn)
    finally:
        drop_tables(conn, *_TABLES)
    summary = _summary(scenario, endpoints, storage, lost, recoverable, productions, violations,
                       copies, rules)  # fmt: skip
    return LossReport(scenario, endpoints, lost, recoverable, violations, copies, summary)


def simulate_sites(
    conn: Connection,
    sites: Sequence[str],
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, int]]:
    """The loss of each site of ``sites`` on its own, in counts (see
    :func:`simulate_scenarios`), by site name."""
    found = simulate_scenarios(conn, [LossScenario(sites=(site,)) for site in sites], policies, now)
    return dict(zip(sites, found, strict=True))


def simulate_scenarios(
    conn: Connection,
    scenarios: Sequence[LossScenario],
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> list[dict[str, int]]:
    """Each loss of ``scenarios`` on its own, in counts, in the order given: the numbers
    :func:`simulate_loss` of that scenario puts in its summary (``lost``, ``lost_bytes``,
    ``recoverable``, ``recoverable_bytes``, ``violations``, and ``re_replicate``: the datasets
    to copy again), from the same steps over tables keyed by scenario, every scenario in one
    statement a step, counted in SQL without reading a row per dataset.

    The report's risk section: 13 tier-0/1 sites at 1 M datasets, 6.1-6.5 s of CPU as one
    simulation per site, 4.7 s here (same load): the steps' row work is the same, but the
    lost and kept replicas are counted without reading each touched dataset's replicas for a
    source (counts need none), and nothing is summed that the counts do not show."""
    now = now or utcnow()
    kinds = ", ".join(f"'{k}'" for k in RECOVERABLE_KINDS)
    numbered = [(i, lost_endpoints(conn, scenario)) for i, scenario in enumerate(scenarios)]
    out = {i: dict.fromkeys(_COUNTS, 0) for i, _ in numbered}
    if not numbered:
        return []
    temporary_table(conn, SCENARIOS, "scenario INTEGER NOT NULL, name TEXT NOT NULL")
    try:
        conn.execute(
            statement(f"INSERT INTO {SCENARIOS} (scenario, name) VALUES (:scenario, :name)"),
            [{"scenario": i, "name": name} for i, names in numbered for name in names],
        )
        # only available replicas count in any step: the others are left out of GONE
        _gone(
            conn,
            f"SELECT x.scenario, r.id FROM {SCENARIOS} x CROSS JOIN endpoint e "
            "CROSS JOIN replica r WHERE e.name = x.name AND r.endpoint_id = e.id "
            "AND r.state = 'available'",
        )
        _touched(conn, sources=False)
        _losing(conn)
        _recipes(conn)
        missing = (
            f"EXISTS (SELECT 1 FROM {MISSING} m WHERE m.scenario = l.scenario AND m.root = l.id)"
        )
        for scenario, *counts in conn.exec_driver_sql(
            f"""
            SELECT l.scenario,
                   SUM(CASE WHEN d.kind NOT IN ({kinds}) OR {missing} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN d.kind NOT IN ({kinds}) OR {missing} THEN d.bytes ELSE 0 END),
                   SUM(CASE WHEN d.kind NOT IN ({kinds}) OR {missing} THEN 0 ELSE 1 END),
                   SUM(CASE WHEN d.kind NOT IN ({kinds}) OR {missing} THEN 0 ELSE d.bytes END)
            FROM {LOSING} l CROSS JOIN dataset d WHERE d.id = l.id
            GROUP BY l.scenario
            """
        ):
            out[scenario].update(zip(_COUNTS[:4], (int(c or 0) for c in counts), strict=True))
        for _, sql, params in _violation_queries(conn, policies, now):
            counted = f"SELECT v.scenario, COUNT(*) FROM ({sql}) v GROUP BY v.scenario"
            for scenario, n in conn.execute(statement(counted, params), params):
                out[scenario]["violations"] += int(n)
        # the datasets keeping a replica: each has a source (every endpoint is ranked), so
        # _COPIES's joins to the source's endpoint and site leave the count as it is
        for scenario, n in conn.exec_driver_sql(
            f"SELECT t.scenario, COUNT(*) FROM {TOUCHED} t WHERE t.kept > 0 GROUP BY t.scenario"
        ):
            out[scenario]["re_replicate"] = int(n)
    finally:
        drop_tables(conn, SCENARIOS, *_TABLES)
    return [out[i] for i, _ in numbered]


_COUNTS = ("lost", "lost_bytes", "recoverable", "recoverable_bytes", "violations", "re_replicate")


def lost_endpoints(conn: Connection, scenario: LossScenario) -> list[str]:
    """The names of the endpoints ``scenario`` loses, sorted; unknown names are usage errors."""
    if not scenario:
        raise UsageError(NOTHING_TO_LOSE)
    records = endpoint_records(conn)
    sites = {row[0]: row[1] for row in conn.exec_driver_sql("SELECT name, country FROM site")}
    for name in scenario.sites:
        if name not in sites:
            raise UsageError(f"--site: unknown site {name!r} (see 'lifecycle sites list')")
    countries = set(sites.values())
    for country in scenario.countries:
        if country not in countries:
            known = ", ".join(sorted(countries)) or "none"
            raise UsageError(
                f"--country: no site in country {country!r} (countries are case-sensitive; "
                f"known: {known})"
            )
    chosen = set(scenario.sites) | {s for s, c in sites.items() if c in scenario.countries}
    names = {e["name"] for e in records if e["site"] in chosen}
    if scenario.endpoints:
        names |= set(select(scenario.endpoints, records))
    if not names:
        raise UsageError("the sites and countries given hold no endpoint: nothing to lose")
    return sorted(names)


def _gone(conn: Connection, select: str) -> None:
    """``GONE``: the (scenario, replica id) rows ``select`` gives."""
    temporary_table(conn, GONE, "scenario INTEGER NOT NULL, id INTEGER NOT NULL, "
                    "PRIMARY KEY (scenario, id)")  # fmt: skip
    conn.exec_driver_sql(f"INSERT INTO {GONE} (scenario, id) {select}")
    analyze(conn, GONE)


def _touched(conn: Connection, sources: bool = True) -> dict[str, int]:
    """Datasets losing an available replica, per scenario: how many they lose and keep, and the
    best source.

    One grouped pass over their available replicas. ``source`` is the rank (in ``SOURCES``) of
    the best surviving replica: disk before tape, then by endpoint name. Returns the replicas
    and bytes lost (of every scenario together). ``sources`` False: the counts only (no source,
    and the replicas and bytes lost not summed: zeros), see :func:`_touched_counts`.
    """
    if not sources:
        _touched_counts(conn)
        return {"replicas": 0, "bytes": 0}
    temporary_table(conn, SOURCES, "id INTEGER PRIMARY KEY, rank INTEGER NOT NULL UNIQUE")
    conn.exec_driver_sql(
        f"INSERT INTO {SOURCES} (id, rank) SELECT e.id, ROW_NUMBER() OVER "
        "(ORDER BY CASE WHEN e.media = 'disk' THEN 0 ELSE 1 END, e.name) FROM endpoint e"
    )
    analyze(conn, SOURCES)
    temporary_table(
        conn,
        TOUCHED,
        "scenario INTEGER NOT NULL, id INTEGER NOT NULL, lost INTEGER NOT NULL, "
        "kept INTEGER NOT NULL, source INTEGER, PRIMARY KEY (scenario, id)",
    )
    counts = f"""
        INSERT INTO {TOUCHED} (scenario, id, lost, kept, source)
        SELECT x.scenario, x.id,
               SUM(CASE WHEN g.id IS NULL THEN 0 ELSE 1 END),
               SUM(CASE WHEN g.id IS NULL THEN 1 ELSE 0 END),
               MIN(CASE WHEN g.id IS NULL THEN k.rank END)"""
    # the (scenario, dataset) pairs first, then each dataset's replicas by index, each looked up
    # in the scenario's gone replicas. PostgreSQL: joins it plans itself (hashed for a large
    # loss, index lookups for a small one); SQLite: CROSS JOIN fixes that order
    touched = by_dialect(
        conn,
        postgresql=f"""{counts}
            FROM (SELECT DISTINCT g0.scenario, r0.dataset_id AS id FROM {GONE} g0
                  JOIN replica r0 ON r0.id = g0.id WHERE r0.state = 'available') x
            JOIN replica r ON r.dataset_id = x.id AND r.state = 'available'
            JOIN {SOURCES} k ON k.id = r.endpoint_id
            LEFT JOIN {GONE} g ON g.scenario = x.scenario AND g.id = r.id
            GROUP BY x.scenario, x.id
            """,
        sqlite=f"""{counts}
            FROM (SELECT DISTINCT g0.scenario, r0.dataset_id AS id FROM {GONE} g0
                  CROSS JOIN replica r0 WHERE r0.id = g0.id AND r0.state = 'available') x
            CROSS JOIN replica r
            CROSS JOIN {SOURCES} k
            LEFT JOIN {GONE} g ON g.scenario = x.scenario AND g.id = r.id
            WHERE r.dataset_id = x.id AND r.state = 'available' AND k.id = r.endpoint_id
            GROUP BY x.scenario, x.id
            """,
    )
    conn.exec_driver_sql(touched)
    analyze(conn, TOUCHED)
    replicas, size = conn.exec_driver_sql(
        f"SELECT SUM(t.lost), SUM(t.lost * d.bytes) FROM {TOUCHED} t CROSS JOIN dataset d "
        "WHERE d.id = t.id"
    ).one()
    return {"replicas": int(replicas or 0), "bytes": int(size or 0)}


def _touched_counts(conn: Connection) -> None:
    """``TOUCHED`` without sources: per scenario and dataset, the available replicas lost (its
    gone replicas grouped) and kept (the dataset's available replicas, counted along the index
    of available replicas without reading a row, less those lost).

    For counts (:func:`simulate_scenarios`), where no source is shown: reading every available
    replica of each touched dataset for its endpoint's rank, once per scenario, was the largest
    step of the report's risk section (2.2 s of CPU for 13 sites at 1 M datasets)."""
    temporary_table(
        conn,
        TOUCHED,
        "scenario INTEGER NOT NULL, id INTEGER NOT NULL, lost INTEGER NOT NULL, "
        "kept INTEGER NOT NULL, source INTEGER, PRIMARY KEY (scenario, id)",
    )
    conn.exec_driver_sql(
        f"""
        INSERT INTO {TOUCHED} (scenario, id, lost, kept)
        SELECT x.scenario, x.id, x.lost,
               (SELECT COUNT(*) FROM replica r WHERE r.dataset_id = x.id
                AND r.state = 'available') - x.lost
        FROM (SELECT g.scenario, r.dataset_id AS id, COUNT(*) AS lost
              FROM {GONE} g CROSS JOIN replica r WHERE r.id = g.id AND r.state = 'available'
              GROUP BY g.scenario, r.dataset_id) x
        """
    )
    analyze(conn, TOUCHED)


def _losing(conn: Connection) -> None:
    """The datasets that would keep no available replica, per scenario."""
    temporary_table(
        conn, LOSING, "scenario INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (scenario, id)"
    )
    conn.exec_driver_sql(
        f"INSERT INTO {LOSING} (scenario, id) SELECT t.scenario, t.id FROM {TOUCHED} t "
        "WHERE t.kept = 0"
    )
    analyze(conn, LOSING)


def _unavailable_after(conn: Connection, dataset: str, scenario: str) -> str:
    """SQL: the dataset with id ``dataset`` would have no available replica after the loss of
    scenario ``scenario``."""
    fence = by_dialect(
        conn,
        # PostgreSQL: OFFSET 0 keeps the check a lookup per row; as a semi-join the planner
        # hashes every available replica of the catalog for each step of a walk
        sqlite="",
        postgresql=" OFFSET 0",
    )
    return (
        f"NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = {dataset} "
        f"AND r.state = 'available' AND NOT EXISTS (SELECT 1 FROM {GONE} g "
        f"WHERE g.scenario = {scenario} AND g.id = r.id){fence})"
    )


# on production_output o, production p, transformation t of a needed dataset
_NO_RECIPE = f"o.production_id IS NULL OR {cannot_regenerate('p', 't')}"


def _recipes(conn: Connection) -> None:
    """What the recipe of every losing dataset of a regenerable kind needs, in one walk (every
    scenario's, each walking the catalog as that scenario leaves it).

    ``NEED`` gets (dataset, needed dataset) pairs, exactly as a recipe walks
    (:func:`lifecycle.provenance.recipe.recipe`): the dataset itself and, through each needed
    dataset's producer, every input without an available replica after the loss. ``MISSING``
    gets the needed datasets that cannot be made: no producer, a producer not done, or a
    transformation without a release or image digest. A dataset is reproducible after the loss
    exactly when nothing it needs is missing (DESIGN.md invariant 4, unrolled along the walk).
    """
    kinds = ", ".join(f"'{k}'" for k in RECOVERABLE_KINDS)
    for table in (NEED, MISSING):
        temporary_table(
            conn, table, "scenario INTEGER NOT NULL, root INTEGER NOT NULL, "
            "id INTEGER NOT NULL, PRIMARY KEY (scenario, root, id)"
        )  # fmt: skip
    unavailable = _unavailable_after(conn, "i.dataset_id", "n.scenario")
    step = by_dialect(
        conn,
        # PostgreSQL: a lookup per walked dataset (else each step hashes every producer edge)
        postgresql=f"""
            SELECT n.scenario, n.root, x.id
            FROM need n CROSS JOIN LATERAL (
                SELECT i.dataset_id AS id
                FROM production_output o
                JOIN production_input i ON i.production_id = o.production_id
                WHERE o.dataset_id = n.id AND {unavailable}
                OFFSET 0) x""",
        sqlite=f"""
            SELECT n.scenario, n.root, i.dataset_id
            FROM need n
            CROSS JOIN production_output o
            CROSS JOIN production_input i
            WHERE o.dataset_id = n.id AND i.production_id = o.production_id AND {unavailable}""",
    )
    conn.exec_driver_sql(
        f"""
        INSERT INTO {NEED} (scenario, root, id)
        WITH RECURSIVE need(scenario, root, id) AS (
            SELECT l.scenario, l.id, l.id FROM {LOSING} l CROSS JOIN dataset d
            WHERE d.id = l.id AND d.kind IN ({kinds})
            UNION
            {step}
        )
        SELECT scenario, root, id FROM need
        """
    )
    analyze(conn, NEED)
    conn.exec_driver_sql(
        f"""
        INSERT INTO {MISSING} (scenario, root, id)
        SELECT n.scenario, n.root, n.id FROM {NEED} n
        LEFT JOIN production_output o ON o.dataset_id = n.id
        LEFT JOIN production p ON p.id = o.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id
        WHERE {_NO_RECIPE}
        """
    )
    analyze(conn, MISSING)


def _lost(conn: Connection) -> list[dict[str, Any]]:
    """The datasets lost for good, by DID, each with why nothing can bring it back (one
    scenario's: the tables hold scenario 0 only)."""
    kinds = ", ".join(f"'{k}'" for k in RECOVERABLE_KINDS)
    rows = conn.exec_driver_sql(
        f"""
        SELECT d.id, d.did, d.kind, d.bytes FROM {LOSING} l CROSS JOIN dataset d
        WHERE d.id = l.id
          AND (d.kind NOT IN ({kinds}) OR EXISTS (SELECT 1 FROM {MISSING} m
                                                  WHERE m.scenario = l.scenario AND m.root = l.id))
        """
    ).all()
    missing: dict[int, list[tuple]] = {}
    for root, *row in conn.exec_driver_sql(
        f"""
        SELECT m.root, m.root = m.id, d.did, p.name, p.status, t.tag, t.release,
               t.image_digest
        FROM {MISSING} m
        CROSS JOIN dataset d
        LEFT JOIN production_output o ON o.dataset_id = m.id
        LEFT JOIN production p ON p.id = o.production_id
        LEFT JOIN transformation t ON t.id = p.transformation_id
        WHERE d.id = m.id
        """
    ):
        missing.setdefault(root, []).append(tuple(row))
    lost = [
        {
            "did": did,
            "kind": kind,
            "bytes": int(size),
            "reason": _missing_reason(missing[dataset_id])
            if dataset_id in missing
            else f"no replica would remain and {kind} data cannot be regenerated",
        }
        for dataset_id, did, kind, size in rows
    ]
    lost.sort(key=lambda row: row["did"])
    return lost


def _missing_reason(missing: list[tuple]) -> str:
    """Why a recipe cannot be run: the dataset's own problem first, else the first input's."""
    missing = sorted(missing, key=lambda m: (not m[0], m[1]))
    is_root, did, production, status, tag, release, digest = missing[0]
    problem = production_problem(production, status, tag, release, digest)
    reason = f"not reproducible after the loss: {problem}"
    if not is_root:
        reason = (
            f"not reproducible after the loss: its recipe needs {did}, which would have no "
            f"available replica and cannot be regenerated ({problem})"
        )
    if len(missing) > 1:
        reason += f"; {number(len(missing) - 1)} more needed dataset(s) cannot be regenerated"
    return reason


def _recoverable(conn: Connection) -> tuple[list[dict[str, Any]], int]:
    """The recoverable datasets with the size of their recipes, and the productions all need
    (one scenario's: the tables hold scenario 0 only).

    A recipe's steps are the distinct producers of what it needs. Upstream work shared by
    several recipes counts in each; ``productions`` counts it once, for the whole campaign.
    """
    recoverable_roots = (
        f"NOT EXISTS (SELECT 1 FROM {MISSING} m WHERE m.scenario = n.scenario AND m.root = n.root)"
    )
    rows = conn.exec_driver_sql(
        f"""
        SELECT d.did, d.kind, d.bytes, s.steps
        FROM (SELECT n.root, COUNT(DISTINCT o.production_id) AS steps
              FROM {NEED} n CROSS JOIN production_output o
              WHERE o.dataset_id = n.id AND {recoverable_roots}
              GROUP BY n.root) s
        CROSS JOIN dataset d
        WHERE d.id = s.root
        """
    ).all()
    recoverable = [
        {"did": did, "kind": kind, "bytes": int(size), "steps": int(steps)}
        for did, kind, size, steps in rows
    ]
    recoverable.sort(key=lambda row: row["did"])
    productions = conn.exec_driver_sql(
        f"SELECT COUNT(DISTINCT o.production_id) FROM {NEED} n CROSS JOIN production_output o "
        f"WHERE o.dataset_id = n.id AND {recoverable_roots}"
    ).scalar_one()
    return recoverable, int(productions or 0)


def _violations(
    conn: Connection, policies: PolicySet | None, now: datetime
) -> list[dict[str, Any]]:
    """Replication findings the loss creates: satisfied now, broken afterwards (rule, then DID).

    Only datasets losing an available replica can change, so each rule groups their available
    replicas once, counting distinct units before and after the loss. Datasets are judged as
    the audit judges them: the rule's selection, not within its grace period, not deleted.
    """
    out: list[dict[str, Any]] = []
    for rule, sql, params in _violation_queries(conn, policies, now):
        rows = [row[1:] for row in conn.execute(statement(sql, params), params)]
        matching = f" matching {rule.endpoints!r}" if rule.endpoints != "*" else ""
        out.extend(
            {
                "rule": rule.name,
                "policy": rule.policy,
                "severity": rule.severity,
                "did": did,
                "required": rule.copies,
                "distinct": rule.distinct,
                "before": int(before),
                "after": int(after),
                "message": f"{number(before)} -> {number(after)} distinct {rule.distinct}s "
                f"holding an available replica{matching}; needs {rule.copies}",
            }
            for did, before, after in sorted(rows, key=itemgetter(0))
        )
    return out


def _violation_queries(
    conn: Connection, policies: PolicySet | None, now: datetime
) -> Iterator[tuple[Rule, str, dict[str, Any]]]:
    """Per replication rule, the query of the datasets whose finding the loss creates (scenario,
    did, units before, units after) and its parameters."""
    rules = [r for r in policies.rules if r.type == "replication"] if policies else []
    if not rules:
        return
    endpoint_ids = endpoint_sets(conn, policies)
    for rule in rules:
        where, params = judged(rule, now)
        endpoint_filter = counted_endpoints(endpoint_ids[rule.name], params)
        params["copies"] = rule.copies
        unit = UNIT_COLUMN[rule.distinct]
        joins = ""
        if rule.distinct != "endpoint":
            joins += " JOIN endpoint e ON e.id = r.endpoint_id"
        if rule.distinct in ("country", "cloud"):
            joins += " JOIN site s ON s.id = e.site_id"
        yield (
            rule,
            f"""
                SELECT t.scenario, MIN(d.did) AS did, COUNT(DISTINCT {unit}) AS units_before,
                       COUNT(DISTINCT CASE WHEN g.id IS NULL THEN {unit} END) AS units_after
                FROM {TOUCHED} t
                CROSS JOIN dataset d
                CROSS JOIN replica r
                {joins}
                LEFT JOIN {GONE} g ON g.scenario = t.scenario AND g.id = r.id
                WHERE d.id = t.id AND r.dataset_id = t.id AND r.state = 'available'
                  {endpoint_filter} AND {where} AND d.state <> 'deleted'
                GROUP BY t.scenario, t.id
                HAVING COUNT(DISTINCT {unit}) >= :copies
                   AND COUNT(DISTINCT CASE WHEN g.id IS NULL THEN {unit} END) < :copies
                """,
            params,
        )


# the datasets keeping an available replica, with their best source (see _re_replication)
_COPIES = f"""
    FROM {TOUCHED} t
    CROSS JOIN dataset d
    CROSS JOIN {SOURCES} k
    CROSS JOIN endpoint e
    CROSS JOIN site s
    WHERE t.kept > 0 AND d.id = t.id AND k.rank = t.source AND e.id = k.id
      AND s.id = e.site_id"""


def _re_replication(conn: Connection) -> list[dict[str, Any]]:
    """For each dataset keeping an available replica: the copies to make again and their source.

    The source is the surviving available replica on disk if there is one, else on tape (it
    needs staging), the first by endpoint name.
    """
    rows = conn.exec_driver_sql(
        f"SELECT d.did, t.lost, t.lost * d.bytes, e.name, s.name, e.media {_COPIES}"
    ).all()
    rows.sort(key=itemgetter(0))
    return [
        {
            "did": did,
            "replicas": int(replicas),
            "bytes": int(size),
            "source": source,
            "source_site": site,
            "source_media": media,
        }
        for did, replicas, size, source, site, media in rows
    ]


def _summary(
    scenario: LossScenario,
    endpoints: list[str],
    storage: dict[str, int],
    lost: list[dict[str, Any]],
    recoverable: list[dict[str, Any]],
    productions: int,
    violations: list[dict[str, Any]],
    copies: list[dict[str, Any]],
    rules: list[Rule],
) -> dict[str, Any]:
    lost_by_kind: dict[str, dict[str, int]] = {}
    for row in lost:
        entry = lost_by_kind.setdefault(row["kind"], {"datasets": 0, "bytes": 0})
        entry["datasets"] += 1
        entry["bytes"] += row["bytes"]
    by_rule = {rule.name: 0 for rule in rules}
    for row in violations:
        by_rule[row["rule"]] += 1
    by_site: dict[str, dict[str, Any]] = {}
    for row in copies:
        entry = by_site.setdefault(
            row["source_site"],
            {"site": row["source_site"], "datasets": 0, "replicas": 0, "bytes": 0, "tape_bytes": 0},
        )
        entry["datasets"] += 1
        entry["replicas"] += row["replicas"]
        entry["bytes"] += row["bytes"]
        if row["source_media"] == "tape":
            entry["tape_bytes"] += row["bytes"]
    return {
        "scenario": scenario.as_dict(),
        "endpoints": endpoints,
        "replicas_lost": storage["replicas"],
        "bytes_lost": storage["bytes"],
        "datasets_losing_every_replica": len(lost) + len(recoverable),
        "lost": len(lost),
        "lost_bytes": sum(row["bytes"] for row in lost),
        "lost_by_kind": dict(sorted(lost_by_kind.items())),
        "recoverable": len(recoverable),
        "recoverable_bytes": sum(row["bytes"] for row in recoverable),
        "recipe_steps": sum(row["steps"] for row in recoverable),
        "productions_to_rerun": productions,
        "violations": len(violations),
        "violations_by_rule": by_rule,
        "re_replicate": {
            "datasets": len(copies),
            "replicas": sum(row["replicas"] for row in copies),
            "bytes": sum(row["bytes"] for row in copies),
            "by_source_site": sorted(by_site.values(), key=lambda e: (-e["bytes"], e["site"])),
        },
    }
