"""The facade's durability operations: the estimate (``lifecycle durability``), one dataset's
durability (``datasets show``) and the simulated years (``lifecycle simulate years``).

:class:`DurabilityOperations` is a part of :class:`lifecycle.api.Catalog` (a base class), kept
in a module of its own so the facade stays readable; it uses the catalog's ``read``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import rows
from lifecycle.catalog.store import utcnow
from lifecycle.durability import DurabilityReport, dataset_durability, durability, load_model
from lifecycle.durability.decade import Decade, simulate_years
from lifecycle.errors import UsageError
from lifecycle.policy import PolicySet
from lifecycle.repair import plan_repair

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MAX_YEARS = 1_000_000  # of the Monte Carlo cross-check
MAX_SIMULATED_YEARS = 100


class DurabilityOperations:
    """Durability (see :class:`lifecycle.api.Catalog` and :mod:`lifecycle.durability`)."""

    def durability(
        self,
        model: str | Path | None = None,
        policies: PolicySet | None = None,
        *,
        monte_carlo: int | None = None,
        seed: int = 0,
        least: int = 50,
    ) -> DurabilityReport:
        """The annual probability of loss of the data nothing regenerates, under the failure
        ``model`` (a TOML file; default: ``LIFECYCLE_MODEL``, ``./models/durability.toml``, the
        shipped one); ``policies``: what repair plans for the least durable datasets (None: not
        asked); ``monte_carlo``: years to sample as a cross-check, from ``seed``."""
        if monte_carlo is not None and not 1 <= monte_carlo <= MAX_YEARS:
            raise UsageError(f"--monte-carlo: a number of years from 1 to {MAX_YEARS:,}")
        found = load_model(model)
        sampled = (monte_carlo, seed) if monte_carlo is not None else None
        with self.read() as conn:  # type: ignore[attr-defined]
            targets = _repair_targets(conn, policies) if policies is not None else None
            return durability(conn, found, least=least, repair_targets=targets,
                              monte_carlo=sampled, progress=self.progress)  # type: ignore[attr-defined]  # fmt: skip

    def dataset_durability(
        self, did: str, reproducible: bool, model: str | Path | None = None
    ) -> dict[str, Any]:
        """One dataset's durability: ``regenerable`` (when ``reproducible``), or its annual
        probability of loss, nines and why."""
        found = load_model(model)
        with self.read() as conn:  # type: ignore[attr-defined]
            return dataset_durability(conn, found, did, reproducible)

    def simulate_years(
        self,
        years: int,
        policies: PolicySet,
        model: str | Path | None = None,
        *,
        seed: int = 0,
        repair: bool = True,
        step_days: float = 30.0,
        raw_per_day: float | None = None,
        on_year: Any = None,
    ) -> Decade:
        """Simulate ``years`` years of operations on a copy of the catalog (a temporary
        SQLite catalog, removed afterwards; this catalog is only read). See
        :mod:`lifecycle.durability.decade`. ``on_year`` gets each year's report as it ends."""
        import tempfile

        if not 1 <= years <= MAX_SIMULATED_YEARS:
            raise UsageError(f"years: from 1 to {MAX_SIMULATED_YEARS}")
        if not 0 < step_days <= 366:
            raise UsageError("--step-days: more than 0 and at most 366")
        if raw_per_day is not None and not 0 <= raw_per_day <= 1e6:
            raise UsageError("--raw-per-day: from 0 to 1000000")
        found = load_model(model)
        with tempfile.TemporaryDirectory(prefix="lifecycle-years-") as tmp:
            self.export_directory(Path(tmp) / "export", "parquet")  # type: ignore[attr-defined]
            copy = type(self)(Path(tmp) / "copy.db", progress=self.progress)  # type: ignore[call-arg]
            try:
                copy.import_directory(Path(tmp) / "export")  # type: ignore[attr-defined]
                return simulate_years(copy.store, found, policies, years, seed=seed,
                                      repair=repair, step_days=step_days,
                                      raw_per_day=raw_per_day, on_year=on_year,
                                      progress=self.progress)  # type: ignore[attr-defined]  # fmt: skip
            finally:
                copy.close()  # type: ignore[attr-defined]


def _repair_targets(conn: Connection, policies: PolicySet):
    """``(dids) -> {did: [(site id, media), ...]}``: the copies the repair planner would make."""

    def targets(dids: list[str]) -> dict[str, list[tuple[int, str]]]:
        plan = plan_repair(conn, policies, utcnow(), dids=dids)
        if not plan.transfers:
            return {}
        where = {r["name"]: (r["site_id"], r["media"])
                 for r in rows(conn, "SELECT name, site_id, media FROM endpoint")}  # fmt: skip
        out: dict[str, list[tuple[int, str]]] = {}
        for t in plan.transfers:
            out.setdefault(t["did"], []).append(where[t["target"]])
        return out

    return targets
