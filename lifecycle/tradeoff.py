"""Compute vs storage: per data type, keeping derived data for a year against regenerating it.

The 2015 policy's talk names the trade-off ("Trade-off: Compute vs Storage"): derived and
simulated data are reproducible, so each format can either stay on storage or be deleted and
regenerated from its recipe when someone needs it. For every data type of the derived and
simulated datasets kept now (those with an available replica):

- **keeping** costs, per year, the bytes of every available replica times the price of its media:
  ``storage_cost`` per TB-year of disk, ``tape_cost`` per TB-year of tape (TB = 10^12 bytes);
- **regenerating on demand** costs the core-hours of the dataset's recipe (what
  :mod:`lifecycle.provenance.recipe` lists: its producer, and upstream through the inputs that
  have no available replica) times ``cpu_cost`` per core-hour, times ``accesses_per_year`` (how
  many times a year it would be regenerated). A production's core-hours are the events it read
  (the ``events`` of its ``input`` datasets; for one without any, such as event generation, the
  events it wrote) times its transformation's ``cpu_seconds_per_event`` / 3600. Each dataset is
  regenerated on its own, so a production two kept datasets need is paid by both.

Only reproducible datasets can be deleted and regenerated: the others are counted apart as
``irreproducible`` ("must keep"). A reproducible dataset whose recipe holds a production without
a cost model (no ``cpu_seconds_per_event``, or no events recorded) is counted as ``uncosted`` and
left out of the comparison. The verdict compares, for the regenerable datasets of the type, their
yearly storage cost with their yearly regeneration cost; each type is judged with the rest of the
catalog as it is (deleting AOD *and* DAOD together makes DAOD dearer to regenerate).

Default prices (:class:`Costs`) are order-of-magnitude WLCG figures in CHF, to be overridden
with a site's own: disk 25 per TB-year (hardware over five years with redundancy, power and
operations), tape 5 per TB-year (cartridges, library and drives), CPU 0.01 per core-hour (a
grid worker node over five years with power), one regeneration a year.

Set-based: one grouped pass over the available replicas, one recursive walk (pairs of kept
dataset and dataset its recipe rebuilds) for the whole catalog, one aggregate per data type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import analyze, by_dialect, drop_tables, temporary_table
from lifecycle.errors import UsageError
from lifecycle.provenance.reproducibility import available, irreproducible_table
from lifecycle.text import number
from lifecycle.values import envelope, json_value, records, rows_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

TB = 10**12
COLUMNS = [
    "data_type",
    "datasets",
    "bytes",
    "stored_bytes",
    "storage_cost",
    "irreproducible",
    "uncosted",
    "regenerable",
    "regenerable_storage_cost",
    "cpu_hours",
    "regeneration_cost",
    "ratio",
    "verdict",
]
"""Columns of :func:`tradeoff`: ``datasets`` kept (with an available replica); ``bytes`` their
size once, ``stored_bytes`` over every available replica; ``storage_cost`` a year of keeping them
all; ``regenerable`` the reproducible, costed ones, whose storage costs
``regenerable_storage_cost`` a year and whose recipes take ``cpu_hours`` core-hours, i.e.
``regeneration_cost`` a year; ``ratio`` = regeneration / regenerable storage cost (below 1:
cheaper to delete and regenerate)."""

_KEPT = "tmp_tradeoff_kept"
_STEP = "tmp_tradeoff_step"
_HOURS = "tmp_tradeoff_hours"
_IRREPRODUCIBLE = "tmp_tradeoff_irreproducible"


@dataclass(frozen=True)
class Costs:
    """Prices of the trade-off, in one currency (defaults: rough WLCG figures in CHF)."""

    storage_cost: float = 25.0  # per TB-year of disk
    tape_cost: float = 5.0  # per TB-year of tape
    cpu_cost: float = 0.01  # per core-hour
    accesses_per_year: float = 1.0  # regenerations on demand a year

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not 0 <= value < float("inf"):
                option = "--" + name.replace("_", "-").replace("accesses", "access")
                shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
                raise UsageError(f"{option}: must be a number >= 0, got {shown}")

    @classmethod
    def with_overrides(cls, **values: float | None) -> Costs:
        """The defaults, with every value given (not None) in its place."""
        return cls(**{k: v for k, v in values.items() if v is not None})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_COSTS = Costs()


@dataclass(frozen=True)
class TradeoffReport:
    """The trade-off at ``costs``: the rows of :func:`tradeoff` (``data_types``), the data
    types cheaper to delete and regenerate, and what doing so would save a year."""

    costs: Costs
    data_types: pd.DataFrame
    cheaper_to_regenerate: list[Any]  # data types (None: datasets without one)
    savings: float  # a year: their regenerable storage cost less their regeneration cost

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``tradeoff``: the data types, what deleting the cheaper ones
        would save, the prices used."""
        summary = {
            "data_types": len(self.data_types),
            "cheaper_to_regenerate": len(self.cheaper_to_regenerate),
            "savings": round(self.savings, 2),
        }
        return envelope(
            "tradeoff",
            summary,
            data_types=records(self.data_types),
            cheaper_to_regenerate=[json_value(t) for t in self.cheaper_to_regenerate],
            costs=self.costs.as_dict(),
        )


def tradeoff_report(conn: Connection, costs: Costs = DEFAULT_COSTS) -> TradeoffReport:
    """:func:`tradeoff` at ``costs``, with the data types cheaper to delete and regenerate and
    what that would save a year."""
    frame = _judge(_totals(conn), costs)
    cheaper = frame[_cheaper_to_regenerate(frame)]
    savings = (cheaper["regenerable_storage_cost"] - cheaper["regeneration_cost"]).sum()
    return TradeoffReport(costs, frame, list(cheaper["data_type"]), float(savings))


def tradeoff(
    conn: Connection,
    storage_cost: float | None = None,
    cpu_cost: float | None = None,
    *,
    tape_cost: float | None = None,
    accesses_per_year: float | None = None,
) -> pd.DataFrame:
    """Per data type, a year of storage against regeneration on demand (see the module doc).

    Prices not given take the :class:`Costs` defaults. One row per data type of the kept
    derived and simulated datasets (``data_type`` None for those without one), in data type
    order; columns :data:`COLUMNS`.
    """
    costs = Costs.with_overrides(
        storage_cost=storage_cost,
        cpu_cost=cpu_cost,
        tape_cost=tape_cost,
        accesses_per_year=accesses_per_year,
    )
    totals = _totals(conn)
    return _judge(totals, costs)


def _totals(conn: Connection) -> list[dict[str, Any]]:
    """Per data type: sizes by media, counts, and recipe core-hours of the regenerable ones."""
    with irreproducible_table(conn, _IRREPRODUCIBLE):
        try:
            return _totals_of_kept(conn)
        finally:
            drop_tables(conn, _KEPT, _STEP, _HOURS)


def _totals_of_kept(conn: Connection) -> list[dict[str, Any]]:
    """The totals over the kept derived datasets (the temporary tables are the caller's)."""
    temporary_table(
        conn,
        _KEPT,
        "id INTEGER PRIMARY KEY, data_type TEXT, bytes BIGINT NOT NULL, "
        "disk_bytes BIGINT NOT NULL, tape_bytes BIGINT NOT NULL, irreproducible INTEGER NOT NULL",
    )
    conn.exec_driver_sql(
        f"""
        INSERT INTO {_KEPT} (id, data_type, bytes, disk_bytes, tape_bytes, irreproducible)
        SELECT d.id, d.data_type, d.bytes, d.bytes * a.disk, d.bytes * a.tape,
               CASE WHEN EXISTS (SELECT 1 FROM {_IRREPRODUCIBLE} x WHERE x.id = d.id)
                    THEN 1 ELSE 0 END
        FROM (
            SELECT r.dataset_id,
                   SUM(CASE WHEN e.media = 'tape' THEN 0 ELSE 1 END) AS disk,
                   SUM(CASE WHEN e.media = 'tape' THEN 1 ELSE 0 END) AS tape
            FROM replica r JOIN endpoint e ON e.id = r.endpoint_id
            WHERE r.state = 'available'
            GROUP BY r.dataset_id
        ) a
        JOIN dataset d ON d.id = a.dataset_id
        WHERE d.kind IN ('derived', 'simulated')
        """
    )
    analyze(conn, _KEPT)
    # (kept dataset, production its recipe runs): the dataset's producer, and upstream
    # through inputs without an available replica, as lifecycle.provenance.recipe walks it.
    # Most recipes are the producer alone: the walk starts at the unavailable inputs only.
    temporary_table(
        conn,
        _STEP,
        "target INTEGER NOT NULL, production_id INTEGER NOT NULL, "
        "PRIMARY KEY (target, production_id)",
    )
    unavailable_inputs = f"""
        JOIN production_output o ON o.dataset_id = {{d}}
        JOIN production_input i ON i.production_id = o.production_id
        WHERE NOT {available("i.dataset_id")}"""
    conn.exec_driver_sql(
        f"""
        INSERT INTO {_STEP} (target, production_id)
        WITH RECURSIVE need(target, id) AS (
            SELECT k.id, i.dataset_id FROM {_KEPT} k
            {unavailable_inputs.format(d="k.id")} AND k.irreproducible = 0
            UNION
            SELECT n.target, i.dataset_id FROM need n
            {unavailable_inputs.format(d="n.id")}
        )
        SELECT k.id, o.production_id
        FROM {_KEPT} k JOIN production_output o ON o.dataset_id = k.id
        WHERE k.irreproducible = 0
        UNION
        SELECT n.target, o.production_id
        FROM need n JOIN production_output o ON o.dataset_id = n.id
        """
    )
    analyze(conn, _STEP)
    # core-hours of each production a recipe runs (NULL: no cost model)
    temporary_table(conn, _HOURS, "production_id INTEGER PRIMARY KEY, hours DOUBLE PRECISION")
    conn.exec_driver_sql(f"INSERT INTO {_HOURS} (production_id, hours) {_hours(conn)}")
    recipe_hours = f"""
        SELECT st.target, SUM(h.hours) AS hours,
               MAX(CASE WHEN h.hours IS NULL THEN 1 ELSE 0 END) AS uncosted
        FROM {_STEP} st JOIN {_HOURS} h ON h.production_id = st.production_id
        GROUP BY st.target"""
    regenerable = "k.irreproducible = 0 AND c.uncosted = 0"
    result = conn.exec_driver_sql(
        f"""
        SELECT k.data_type, COUNT(*) AS datasets, SUM(k.bytes) AS bytes,
               SUM(k.disk_bytes) AS disk_bytes, SUM(k.tape_bytes) AS tape_bytes,
               SUM(k.irreproducible) AS irreproducible,
               SUM(CASE WHEN k.irreproducible = 0 AND (c.uncosted IS NULL OR c.uncosted = 1)
                        THEN 1 ELSE 0 END) AS uncosted,
               SUM(CASE WHEN {regenerable} THEN 1 ELSE 0 END) AS regenerable,
               SUM(CASE WHEN {regenerable} THEN k.disk_bytes ELSE 0 END)
                   AS regenerable_disk_bytes,
               SUM(CASE WHEN {regenerable} THEN k.tape_bytes ELSE 0 END)
                   AS regenerable_tape_bytes,
               SUM(CASE WHEN {regenerable} THEN c.hours ELSE 0 END) AS cpu_hours
        FROM {_KEPT} k LEFT JOIN ({recipe_hours}) c ON c.target = k.id
        GROUP BY k.data_type
        """
    )
    return [dict(row) for row in result.mappings()]


def _hours(conn: Connection) -> str:
    """SQL: the core-hours of every production in the step table (NULL: no cost model).

    The events a production read are those of its ``input`` datasets; without any (event
    generation), those it wrote. SQLite runs index lookups per production fastest, PostgreSQL
    hash aggregates over the edge tables.
    """
    hours = "t.cpu_seconds_per_event * COALESCE({read}, {wrote}) / 3600.0"
    postgresql = f"""
            SELECT p.id, {hours.format(read="r.events", wrote="w.events")}
            FROM production p JOIN transformation t ON t.id = p.transformation_id
            LEFT JOIN (
                SELECT i.production_id, SUM(d.events) AS events
                FROM production_input i JOIN dataset d ON d.id = i.dataset_id
                WHERE i.role = 'input' GROUP BY i.production_id
            ) r ON r.production_id = p.id
            LEFT JOIN (
                SELECT o.production_id, SUM(d.events) AS events
                FROM production_output o JOIN dataset d ON d.id = o.dataset_id
                GROUP BY o.production_id
            ) w ON w.production_id = p.id
            WHERE p.id IN (SELECT production_id FROM {_STEP})"""
    read = """(SELECT SUM(d.events) FROM production_input i JOIN dataset d ON d.id = i.dataset_id
               WHERE i.production_id = p.id AND i.role = 'input')"""
    wrote = """(SELECT SUM(d.events) FROM production_output o JOIN dataset d ON d.id = o.dataset_id
                WHERE o.production_id = p.id)"""
    sqlite = f"""
        SELECT p.id, {hours.format(read=read, wrote=wrote)}
        FROM production p JOIN transformation t ON t.id = p.transformation_id
        WHERE p.id IN (SELECT production_id FROM {_STEP})"""
    # measured: SQLite's correlated index lookups beat its hash-less GROUP BYs over the edge
    # tables; PostgreSQL's hash aggregates beat a subquery per production
    return by_dialect(conn, sqlite=sqlite, postgresql=postgresql)


def _judge(totals: list[dict[str, Any]], costs: Costs) -> pd.DataFrame:
    """Prices on the totals, and a verdict per data type."""

    rows = []
    for t in sorted(totals, key=lambda t: (t["data_type"] is None, t["data_type"] or "")):
        n = {k: int(t[k] or 0) for k in t if k != "data_type" and k != "cpu_hours"}
        hours = float(t["cpu_hours"] or 0)
        storage = _storage(n["disk_bytes"], n["tape_bytes"], costs)
        regenerable_storage = _storage(
            n["regenerable_disk_bytes"], n["regenerable_tape_bytes"], costs
        )
        regeneration = hours * costs.cpu_cost * costs.accesses_per_year
        ratio = regeneration / regenerable_storage if regenerable_storage else None
        rows.append(
            (
                t["data_type"],
                n["datasets"],
                n["bytes"],
                n["disk_bytes"] + n["tape_bytes"],
                storage,
                n["irreproducible"],
                n["uncosted"],
                n["regenerable"],
                regenerable_storage,
                hours,
                regeneration,
                ratio,
                _verdict(n, regenerable_storage, regeneration),
            )
        )
    return rows_frame(COLUMNS, rows)


def _cheaper_to_regenerate(frame: pd.DataFrame) -> pd.Series:
    """Rows whose regenerable datasets cost less to regenerate than to keep (as the verdict)."""
    return (frame["regenerable"] > 0) & (
        frame["regeneration_cost"] < frame["regenerable_storage_cost"]
    )


def _storage(disk_bytes: int, tape_bytes: int, costs: Costs) -> float:
    return disk_bytes / TB * costs.storage_cost + tape_bytes / TB * costs.tape_cost


def _verdict(n: dict[str, int], storage: float, regeneration: float) -> str:
    """``cheaper to regenerate`` / ``cheaper to keep`` for the regenerable datasets (a tie keeps:
    deleting is the step that can go wrong), then what must stay whatever the prices."""
    parts = []
    if n["regenerable"]:
        parts.append("cheaper to regenerate" if regeneration < storage else "cheaper to keep")
    if n["irreproducible"]:
        parts.append(f"must keep: {number(n['irreproducible'])} irreproducible")
    if n["uncosted"]:
        parts.append(f"unknown: {number(n['uncosted'])} without cost model")
    return "; ".join(parts)
