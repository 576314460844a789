"""``lifecycle tradeoff``: per data type, a year of storage against regeneration on demand.

Mirrors :mod:`lifecycle.tradeoff` through the ``Catalog`` facade.
"""

from __future__ import annotations

from functools import partial
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import printable

if TYPE_CHECKING:
    from lifecycle.api import TradeoffReport

# Defaults repeated here (the CLI must not import the service at start-up); a test keeps them
# equal to lifecycle.tradeoff.Costs.
_STORAGE, _TAPE, _CPU, _ACCESSES = 25.0, 5.0, 0.01, 1.0


def _price(option: str, metavar: str, text: str, default: float) -> Any:
    """A price option: None (not given) takes the service's default, shown in the help."""
    shown = f"{text} \\[default: {default:g}]."
    return Annotated[
        float | None, typer.Option(option, metavar=metavar, help=shown, show_default=False)
    ]


StorageCost = _price("--storage-cost", "X", "Price of one TB-year of disk", _STORAGE)
TapeCost = _price("--tape-cost", "X", "Price of one TB-year of tape", _TAPE)
CpuCost = _price("--cpu-cost", "Y", "Price of one core-hour", _CPU)
AccessPerYear = _price("--access-per-year", "N", "Regenerations on demand a year", _ACCESSES)


def tradeoff(
    ctx: typer.Context,
    storage_cost: StorageCost = None,
    tape_cost: TapeCost = None,
    cpu_cost: CpuCost = None,
    access_per_year: AccessPerYear = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Per data type of derived and simulated data: keep it a year, or delete and regenerate it?

    Keeping costs the bytes of every available replica at the disk or tape price (TB = 10^12
    bytes). Regenerating costs the core-hours of each dataset's recipe (its producer, and
    upstream through inputs without an available replica: events read x cpu_seconds_per_event
    of the transformation) at the CPU price, times --access-per-year. Irreproducible datasets
    must be kept; datasets whose recipe lacks a cost model are counted apart. The default prices
    are rough WLCG figures in CHF (disk 25 and tape 5 per TB-year, CPU 0.01 per core-hour):
    give your own. JSON: {"costs": {...}, "data_types": [...]}.
    """
    report = options.catalog(ctx).tradeoff_report(
        storage_cost=storage_cost,
        tape_cost=tape_cost,
        cpu_cost=cpu_cost,
        accesses_per_year=access_per_year,
    )
    people = partial(_for_people, report)
    options.emit(Report(report.data_types, document=report.to_dict, people=people), fmt)


def _for_people(report: TradeoffReport, out: IO[str]) -> None:
    """Prices and hours to the cent, the ratio to three digits, one column fewer; then the
    prices used and what deleting the cheaper data types would save."""
    people = report.data_types.drop(columns=["regenerable_storage_cost"])
    people = people.round({"storage_cost": 2, "regeneration_cost": 2, "cpu_hours": 2, "ratio": 3})
    write_table(people, out, "compute vs storage, per year")
    costs = report.costs
    options.note(
        f"prices: disk {costs.storage_cost:g} and tape {costs.tape_cost:g} per TB-year, "
        f"CPU {costs.cpu_cost:g} per core-hour, {costs.accesses_per_year:g} regeneration(s) "
        "a year (override with --storage-cost, --tape-cost, --cpu-cost, --access-per-year)"
    )
    if report.cheaper_to_regenerate:
        options.note(
            "cheaper to delete and regenerate: "
            f"{printable(', '.join(map(str, report.cheaper_to_regenerate)))} "
            f"(saves {report.savings:,.2f} a year)"
        )


COMMANDS = {"tradeoff": tradeoff}
