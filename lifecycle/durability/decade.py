"""``lifecycle simulate years``: operations of the grid over years, on a copy of the catalog.

The caller (the facade) hands a **copy** (a temporary SQLite catalog, never the user's). The
simulated clock starts at the catalog's newest dataset and moves in steps of ``step_days``
(default 30 days: the pipeline runs once a step rather than every night, so ten years of a
100 k catalog take minutes; the price is that a new dataset waits up to a step for its second
copy, which makes the simulation pessimistic, never optimistic). Each step, in one transaction:

1. **new raw data** arrives at tier 0 (tape and disk of the first tier-0 site):
   ``raw_per_day`` x ``step_days`` datasets, by default at the catalog's own rate of the last
   year, of its mean size and files; the tape endpoints' capacities grow by twice their bytes
   (pledges grow with the data; at the start every endpoint gets 20 % more room than it
   holds, as a generated grid may be fuller than its capacities); a **production** per new raw
   dataset makes one derived dataset on the tier-0 disk, as the catalog's latest production
   that read raw data did (its transformation, data type and size ratio), so derived data
   grows and expires by the policy's lifetimes;
2. **failures** of the model happen, each with its probability over the step: a site's storage
   of one media lost (every replica there), a country's sites lost, an operator error at a
   site (each tape replica there lost with ``fraction``), and files lost on every copy of a
   dataset (the per-file loss rates of its copies' media, multiplied): those replicas become
   ``lost``. A dataset left without an available replica is **lost for good** when nothing
   regenerates it (raw, calibration, metadata, and irreproducible derived data), each with the
   event that caused it;
3. the **pipeline**, through the services users call: ``repair`` planned and applied as of the
   step's date, the simulated ``transfers`` run to the step's end, ``expire`` applied
   (``repair=False``: the counterfactual without repair and transfers; expiry still runs).

Draws come from one generator seeded with ``seed`` in a fixed order: a seed gives one history.
Each year reports volume by kind and media, open findings (the violations repair sees), transfers
and bytes moved, bytes expired, and the datasets lost for good (by kind, with their cause).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import (
    analyze,
    drop_tables,
    execute_named,
    rows,
    statement,
    temporary_table,
)
from lifecycle.catalog.store import utcnow
from lifecycle.durability.model import FailureModel
from lifecycle.durability.patterns import per_window
from lifecycle.expiry import expire
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance.reproducibility import irreproducible_table
from lifecycle.repair import plan_repair
from lifecycle.repair.apply import apply_repair
from lifecycle.transfers import clock, run_transfers
from lifecycle.values import envelope, utc_datetime

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Store
    from lifecycle.policy import PolicySet

GONE = "tmp_years_gone"  # replica id -> the event that lost it
NOT_REGENERATED = ("raw", "calibration", "metadata")
YEAR = 365.25


@dataclass
class YearReport:
    """One simulated year."""

    year: int
    new_raw: int = 0
    volume: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> media -> bytes
    findings: int = 0  # datasets violating a rule at the year's end
    transfers: int = 0
    moved_bytes: int = 0
    expired: int = 0
    expired_bytes: int = 0
    events: list[str] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)  # did, kind, bytes, cause
    irreproducible_derived: int = 0

    def row(self) -> dict[str, Any]:
        lost: dict[str, int] = {}
        for entry in self.lost:
            lost[entry["kind"]] = lost.get(entry["kind"], 0) + 1
        return {
            "year": self.year, "new_raw": self.new_raw,
            "bytes_disk": sum(v.get("disk", 0) for v in self.volume.values()),
            "bytes_tape": sum(v.get("tape", 0) for v in self.volume.values()),
            "findings": self.findings, "transfers": self.transfers,
            "moved_bytes": self.moved_bytes, "expired": self.expired,
            "expired_bytes": self.expired_bytes, "events": len(self.events),
            "lost": len(self.lost), "lost_raw": lost.get("raw", 0),
            "irreproducible_derived": self.irreproducible_derived,
        }  # fmt: skip


@dataclass
class Decade:
    """The simulated years (``repair``: with the pipeline's repair and transfers)."""

    years: list[YearReport]
    seed: int
    repair: bool
    model: str
    start: datetime
    step_days: float
    raw_per_day: float

    def records(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([y.row() for y in self.years])

    @property
    def lost(self) -> list[dict[str, Any]]:
        return [entry | {"year": y.year} for y in self.years for entry in y.lost]

    def summary(self) -> dict[str, Any]:
        lost: dict[str, int] = {}
        for entry in self.lost:
            lost[entry["kind"]] = lost.get(entry["kind"], 0) + 1
        return {
            "years": len(self.years), "seed": self.seed, "repair": self.repair,
            "model": self.model, "start": self.start, "step_days": self.step_days,
            "raw_per_day": self.raw_per_day, "lost": len(self.lost),
            "lost_by_kind": dict(sorted(lost.items())),
            "irreproducible_derived": sum(y.irreproducible_derived for y in self.years),
            "transfers": sum(y.transfers for y in self.years),
            "moved_bytes": sum(y.moved_bytes for y in self.years),
            "expired_bytes": sum(y.expired_bytes for y in self.years),
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        years = [y.row() | {"volume": y.volume, "events_list": y.events} for y in self.years]
        return envelope("simulate-years", self.summary(), {"years": years, "lost": self.lost})


def simulate_years(
    store: Store,
    model: FailureModel,
    policies: PolicySet,
    years: int,
    *,
    seed: int = 0,
    repair: bool = True,
    step_days: float = 30.0,
    raw_per_day: float | None = None,
    on_year: Any = None,
    progress: Progress = SILENT,
) -> Decade:
    """Simulate ``years`` years on the catalog of ``store`` (a copy: it is changed);
    ``on_year`` gets each year's report as it ends; ``progress`` hears of each step of
    simulated time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with store.atomic("simulate years: pledges") as (conn, change):
        start, arrivals = _history(conn)
        _pledges(conn)
        change.summary = "simulate years: every endpoint 20 % larger than what it holds"
    rate = arrivals["per_day"] if raw_per_day is None else raw_per_day
    step = timedelta(days=step_days)
    steps_per_year = max(1, round(YEAR / step_days))
    now, carry, sequence = start, 0.0, 0
    out: list[YearReport] = []
    with progress.phase(f"simulating {years} years ({step_days:g}-day steps)",
                        years * steps_per_year) as advanced:  # fmt: skip
        for year in range(1, years + 1):
            report = YearReport(year)
            for _ in range(steps_per_year):
                with store.atomic("simulate years: step") as (conn, change):
                    carry += rate * step_days
                    arriving, carry = int(carry), carry - int(carry)
                    sequence = _arrive(conn, now, arriving, sequence, arrivals)
                    report.new_raw += arriving
                    _fail(conn, rng, model, now, step_days, report)
                    transfer_seed = int(rng.integers(2**31))  # drawn either way: same histories
                    if repair:
                        plan = plan_repair(conn, policies, now)
                        apply_repair(conn, change, plan, now)
                        if _pending(conn):
                            moved = run_transfers(conn, change, until=now + step,
                                                  seed=transfer_seed)  # fmt: skip
                            report.transfers += moved.done
                            report.moved_bytes += moved.moved_bytes
                    expired = expire(conn, policies, now, change=change)
                    doomed = expired.to_delete
                    report.expired += len(doomed)
                    report.expired_bytes += sum(int(b) for b in doomed["bytes"])
                    change.summary = f"simulate years: {now:%Y-%m-%d}"
                now += step
                advanced.advance()
            with store.read() as conn:
                report.volume = _volume(conn)
                report.findings = int(plan_repair(conn, policies, now).summary["violating"])
            out.append(report)
            if on_year is not None:
                on_year(report)
    return Decade(out, seed, repair, model.name, start, step_days, rate)


def _history(conn: Connection) -> tuple[datetime, dict[str, Any]]:
    """The clock's start (the newest dataset's creation) and the raw arrival of the last year."""
    newest = rows(conn, "SELECT MAX(created_at) AS t FROM dataset")[0]["t"]
    start = utc_datetime(newest) if newest is not None else utcnow()
    grid = clock(conn)  # the simulated transfers' present, when the catalog has one
    if grid is not None and grid > start:
        start = grid
    year_ago = start - timedelta(days=YEAR)
    found = rows(
        conn,
        "SELECT COUNT(*) AS n, AVG(bytes) AS size, AVG(files) AS files FROM dataset "
        "WHERE kind = 'raw' AND created_at >= :since",
        since=year_ago,
    )[0]
    if not found["n"]:
        found = rows(conn, "SELECT COUNT(*) / 10.0 AS n, AVG(bytes) AS size, AVG(files) AS files "
                     "FROM dataset WHERE kind = 'raw'")[0]  # fmt: skip
    return start, {
        "per_day": float(found["n"] or 0) / YEAR,
        "bytes": int(found["size"] or 10**12),
        "files": max(1, int(found["files"] or 100)),
    }


def _pending(conn) -> bool:
    """Whether a transfer waits or runs (the simulated grid's clock starts with the first)."""
    return bool(rows(conn, "SELECT 1 AS x FROM transfer WHERE state IN ('queued', 'active') "
                     "LIMIT 1"))  # fmt: skip


def _pledges(conn) -> None:
    """Every endpoint with a capacity gets at least 20 % more than it holds (a generated grid
    may be fuller than its capacities; repair needs room, as a real grid's pledges give it)."""
    conn.exec_driver_sql(
        """
        UPDATE endpoint SET capacity_bytes = (
            SELECT CAST(SUM(d.bytes) * 1.2 AS INTEGER) FROM replica r
            JOIN dataset d ON d.id = r.dataset_id
            WHERE r.endpoint_id = endpoint.id AND r.state IN ('available', 'copying'))
        WHERE capacity_bytes IS NOT NULL AND capacity_bytes < (
            SELECT SUM(d.bytes) * 1.2 FROM replica r JOIN dataset d ON d.id = r.dataset_id
            WHERE r.endpoint_id = endpoint.id AND r.state IN ('available', 'copying'))
        """
    )


def _arrive(conn, now: datetime, n: int, sequence: int, arrivals: dict[str, Any]) -> int:
    """``n`` new raw datasets on the tape and disk of the first tier-0 site (else tier 1)."""
    if n <= 0:
        return sequence
    targets = rows(
        conn,
        """
        SELECT MIN(e.id) AS id, e.media FROM endpoint e JOIN site s ON s.id = e.site_id
        WHERE s.id = (SELECT s2.id FROM site s2 JOIN endpoint e2 ON e2.site_id = s2.id
                      WHERE e2.media = 'tape' ORDER BY s2.tier, s2.name LIMIT 1)
        GROUP BY e.media
        """,
    )
    # pledges grow with the data: every tape endpoint with a capacity gets room for the new
    # data's copies, shared equally (the generated grid is full)
    growth = {"grow": 2 * n * int(arrivals["bytes"])}
    conn.execute(statement(
        "UPDATE endpoint SET capacity_bytes = capacity_bytes + :grow / (SELECT COUNT(*) FROM "
        "endpoint WHERE media = 'tape' AND capacity_bytes IS NOT NULL) "
        "WHERE media = 'tape' AND capacity_bytes IS NOT NULL", growth), growth)  # fmt: skip
    values = []
    for i in range(n):
        run = 900000 + sequence + i
        name = f"sim{now:%y}_13p6TeV.{run:08d}.physics_Main.daq.RAW"
        values.append({"did": f"sim:{name}", "scope": "sim", "name": name, "kind": "raw",
                       "data_type": "RAW", "bytes": arrivals["bytes"], "files": arrivals["files"],
                       "events": arrivals["files"] * 1000, "created_at": now, "state": "closed"})  # fmt: skip
    sql = ("INSERT INTO dataset (did, scope, name, kind, data_type, bytes, files, events, "
           "created_at, state) VALUES (:did, :scope, :name, :kind, :data_type, :bytes, :files, "
           ":events, :created_at, :state)")  # fmt: skip
    conn.execute(statement(sql, values[0]), values)
    for target in targets:
        params = {"endpoint": target["id"], "now": now, "first": values[0]["did"],
                  "last": values[-1]["did"]}  # fmt: skip
        conn.execute(
            statement(
                "INSERT INTO replica (dataset_id, endpoint_id, state, created_at) "
                "SELECT d.id, :endpoint, 'available', :now FROM dataset d "
                "WHERE d.scope = 'sim' AND d.did BETWEEN :first AND :last",
                params,
            ),
            params,
        )
    _produce(conn, now, values[0]["did"], values[-1]["did"], targets)
    return sequence + n


def _produce(conn, now: datetime, first: str, last: str, targets: list[dict[str, Any]]) -> None:
    """A production per new raw dataset, as the catalog's latest production that read raw data
    made (its transformation and site, its output's data type and size ratio): one derived
    output each, on the tier-0 disk. Nothing when the catalog holds no such production."""
    model = rows(
        conn,
        """
        SELECT p.transformation_id, p.site_id, o_d.data_type,
               CAST(o_d.bytes AS DOUBLE PRECISION) / MAX(i_d.bytes, 1) AS ratio
        FROM production p
        JOIN production_input i ON i.production_id = p.id
        JOIN dataset i_d ON i_d.id = i.dataset_id AND i_d.kind = 'raw'
        JOIN production_output o ON o.production_id = p.id
        JOIN dataset o_d ON o_d.id = o.dataset_id AND o_d.kind = 'derived'
        WHERE p.status = 'done'
        ORDER BY p.finished_at DESC, p.id DESC LIMIT 1
        """,
    )
    disk = [t["id"] for t in targets if t["media"] == "disk"]
    if not model or not disk:
        return
    params = {**model[0], "first": first, "last": last, "now": now, "disk": disk[0],
              "ratio": min(float(model[0]["ratio"] or 0.5), 1.0)}  # fmt: skip
    new_raw = (
        "FROM dataset d WHERE d.scope = 'sim' AND d.kind = 'raw' AND d.did BETWEEN :first AND :last"
    )
    for sql in (
        "INSERT INTO production (name, transformation_id, site_id, started_at, finished_at, "
        f"status) SELECT 'sim-task-' || d.id, :transformation_id, :site_id, :now, :now, 'done' {new_raw}",
        "INSERT INTO dataset (did, scope, name, kind, data_type, bytes, files, events, created_at, "
        "state) SELECT 'sim:' || REPLACE(d.name, '.daq.RAW', '.recon.' || :data_type || '.sim'), "
        "'sim', REPLACE(d.name, '.daq.RAW', '.recon.' || :data_type || '.sim'), 'derived', "
        f":data_type, CAST(d.bytes * :ratio AS INTEGER), d.files, d.events, :now, 'closed' {new_raw}",
        "INSERT INTO production_input (production_id, dataset_id, role) SELECT p.id, d.id, "
        "'input' FROM production p JOIN dataset d ON p.name = 'sim-task-' || d.id "
        "WHERE d.scope = 'sim' AND d.kind = 'raw' AND d.did BETWEEN :first AND :last",
        "INSERT INTO production_output (dataset_id, production_id) SELECT o.id, p.id "
        "FROM dataset d JOIN production p ON p.name = 'sim-task-' || d.id "
        "JOIN dataset o ON o.did = 'sim:' || REPLACE(d.name, '.daq.RAW', '.recon.' || "
        ":data_type || '.sim') WHERE d.scope = 'sim' AND d.kind = 'raw' "
        "AND d.did BETWEEN :first AND :last",
        "INSERT INTO replica (dataset_id, endpoint_id, state, created_at) SELECT o.dataset_id, "
        ":disk, 'available', :now FROM production_output o JOIN production p "
        "ON p.id = o.production_id JOIN dataset d ON p.name = 'sim-task-' || d.id "
        "WHERE d.scope = 'sim' AND d.kind = 'raw' AND d.did BETWEEN :first AND :last",
    ):
        execute_named(conn, sql, params)


def _fail(conn, rng: np.random.Generator, model: FailureModel, now: datetime, days: float,
          report: YearReport) -> None:  # fmt: skip
    """The model's failures over one step (see the module); losses recorded in ``report``."""

    windows = YEAR / days  # the step as a window of the model
    temporary_table(conn, GONE, "id INTEGER PRIMARY KEY, cause TEXT NOT NULL")
    try:
        sites = rows(conn, "SELECT id, name, tier, country FROM site ORDER BY id")
        causes: list[tuple[str, str, dict[str, Any]]] = []  # (label, where, params)
        for site in sites:
            for media in ("disk", "tape"):
                p = per_window(model.site_loss.get((int(site["tier"]), media), 0.0), windows)
                if rng.random() < p:
                    label = f"{site['name']} lost its {media} storage ({now:%Y-%m-%d})"
                    causes.append((label, "e.site_id = :site AND e.media = :media",
                                   {"site": site["id"], "media": media}))  # fmt: skip
        for country in sorted({s["country"] for s in sites}):
            if rng.random() < per_window(model.country_loss, windows):
                label = f"every site in {country} lost ({now:%Y-%m-%d})"
                causes.append((label, "e.site_id IN (SELECT id FROM site WHERE country = :c)",
                               {"c": country}))  # fmt: skip
        for label, where, params in causes:
            report.events.append(label)
            params = params | {"label": label}
            sql = (f"INSERT INTO {GONE} (id, cause) SELECT r.id, :label FROM replica r "
                   f"JOIN endpoint e ON e.id = r.endpoint_id WHERE r.state IN ('available', "
                   f"'copying') AND {where} AND r.id NOT IN (SELECT id FROM {GONE})")  # fmt: skip
            conn.execute(statement(sql, params), params)
        for site in sites:
            if rng.random() < per_window(model.operator_error, windows):
                ids = [r["id"] for r in rows(
                    conn, "SELECT r.id FROM replica r JOIN endpoint e ON e.id = r.endpoint_id "
                    "WHERE e.site_id = :site AND e.media = 'tape' AND r.state = 'available' "
                    "ORDER BY r.id", site=site["id"])]  # fmt: skip
                chosen = [i for i, u in zip(ids, rng.random(len(ids)), strict=True)
                          if u < model.operator_fraction]  # fmt: skip
                label = f"operator error on {site['name']}'s tape pool ({now:%Y-%m-%d})"
                report.events.append(label)
                _mark(conn, chosen, label)
        _file_losses(conn, rng, model, windows, now)
        _record_losses(conn, report)
        conn.exec_driver_sql(
            f"UPDATE replica SET state = 'lost' WHERE id IN (SELECT id FROM {GONE})"
        )
    finally:
        drop_tables(conn, GONE)


def _mark(conn, ids: list[int], label: str) -> None:
    if ids:
        conn.execute(
            statement(f"INSERT OR IGNORE INTO {GONE} (id, cause) VALUES (:id, :cause)"),
            [{"id": i, "cause": label} for i in ids],
        )


def _file_losses(conn, rng, model: FailureModel, windows: float, now: datetime) -> None:
    """Datasets losing one file on every available copy in the step: all those copies lost."""
    import numpy as np

    found = conn.exec_driver_sql(
        """
        SELECT r.dataset_id, d.files, SUM(CASE WHEN e.media = 'disk' THEN 1 ELSE 0 END),
               SUM(CASE WHEN e.media = 'tape' THEN 1 ELSE 0 END)
        FROM replica r JOIN endpoint e ON e.id = r.endpoint_id JOIN dataset d ON d.id = r.dataset_id
        WHERE r.state = 'available'
        GROUP BY r.dataset_id, d.files ORDER BY r.dataset_id
        """
    ).all()
    if not found:
        return
    ids, files, disk, tape = (np.array(c, dtype=float) for c in zip(*found, strict=True))
    x_disk = per_window(model.media_loss.get("disk", 0.0), windows)
    x_tape = per_window(model.media_loss.get("tape", 0.0), windows)
    each = np.power(x_disk, disk) * np.power(x_tape, tape)
    p = -np.expm1(np.maximum(files, 1) * np.log1p(-np.minimum(each, 1 - 1e-16)))
    hit = ids[rng.random(ids.size) < p].astype(int).tolist()
    if hit:
        label = f"a file lost on every copy ({now:%Y-%m-%d})"
        temporary_table(conn, "tmp_years_hit")
        conn.execute(statement("INSERT INTO tmp_years_hit (id) VALUES (:id)"),
                     [{"id": i} for i in hit])  # fmt: skip
        conn.execute(statement(
            f"INSERT OR IGNORE INTO {GONE} (id, cause) SELECT r.id, :label FROM replica r "
            "WHERE r.dataset_id IN (SELECT id FROM tmp_years_hit) AND r.state = 'available'",
            {"label": label}), {"label": label})  # fmt: skip
        drop_tables(conn, "tmp_years_hit")


def _record_losses(conn, report: YearReport) -> None:
    """Datasets the step leaves without an available replica: lost for good unless reproducible
    (judged after the step's losses)."""
    analyze(conn, GONE)
    losing = rows(
        conn,
        f"""
        SELECT d.id, d.did, d.kind, d.bytes, MIN(g.cause) AS cause
        FROM {GONE} g JOIN replica r ON r.id = g.id JOIN dataset d ON d.id = r.dataset_id
        WHERE NOT EXISTS (SELECT 1 FROM replica k WHERE k.dataset_id = d.id
                          AND k.state = 'available'
                          AND k.id NOT IN (SELECT id FROM {GONE}))
          AND d.state <> 'deleted'
        GROUP BY d.id, d.did, d.kind, d.bytes
        ORDER BY d.did
        """,
    )
    if not losing:
        return
    irreproducible: set[int] = set()
    if any(row["kind"] not in NOT_REGENERATED for row in losing):
        with irreproducible_table(conn, "tmp_years_irreproducible", gone=GONE) as table:
            irreproducible = {r["id"] for r in rows(conn, f"SELECT id FROM {table}")}
    for row in losing:
        if row["kind"] in NOT_REGENERATED or row["id"] in irreproducible:
            report.lost.append({k: row[k] for k in ("did", "kind", "bytes", "cause")})
            if row["kind"] not in NOT_REGENERATED:
                report.irreproducible_derived += 1


def _volume(conn) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in rows(
        conn,
        "SELECT d.kind, e.media, SUM(d.bytes) AS size FROM replica r "
        "JOIN dataset d ON d.id = r.dataset_id JOIN endpoint e ON e.id = r.endpoint_id "
        "WHERE r.state = 'available' GROUP BY d.kind, e.media",
    ):
        out.setdefault(row["kind"], {})[row["media"]] = int(row["size"] or 0)
    return out
