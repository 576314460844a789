"""``lifecycle tradeoff``: per data type, a year of storage against regeneration on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from lifecycle.cli.options import FormatOption, ListingFormat, catalog, emit_json, note, show
from lifecycle.text import printable
from lifecycle.values import records

# Defaults repeated here (the CLI must not import the service at start-up); a test keeps them
# equal to lifecycle.tradeoff.Costs.
_STORAGE, _TAPE, _CPU, _ACCESSES = 25.0, 5.0, 0.01, 1.0


def register(app: typer.Typer) -> None:
    app.command("tradeoff")(tradeoff)


def tradeoff(
    ctx: typer.Context,
    storage_cost: Annotated[
        float | None,
        typer.Option(
            "--storage-cost",
            metavar="X",
            help=f"Price of one TB-year of disk \\[default: {_STORAGE:g}].",
            show_default=False,
        ),
    ] = None,
    tape_cost: Annotated[
        float | None,
        typer.Option(
            "--tape-cost",
            metavar="X",
            help=f"Price of one TB-year of tape \\[default: {_TAPE:g}].",
            show_default=False,
        ),
    ] = None,
    cpu_cost: Annotated[
        float | None,
        typer.Option(
            "--cpu-cost",
            metavar="Y",
            help=f"Price of one core-hour \\[default: {_CPU:g}].",
            show_default=False,
        ),
    ] = None,
    access_per_year: Annotated[
        float | None,
        typer.Option(
            "--access-per-year",
            metavar="N",
            help=f"Regenerations on demand a year \\[default: {_ACCESSES:g}].",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = ListingFormat.table,
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
    from lifecycle.tradeoff import Costs

    costs = Costs.with_overrides(
        storage_cost=storage_cost,
        tape_cost=tape_cost,
        cpu_cost=cpu_cost,
        accesses_per_year=access_per_year,
    )
    frame = catalog(ctx).tradeoff(
        costs.storage_cost,
        costs.cpu_cost,
        tape_cost=costs.tape_cost,
        accesses_per_year=costs.accesses_per_year,
    )
    if fmt is ListingFormat.json:
        emit_json({"costs": costs.as_dict(), "data_types": records(frame)})
        return
    if fmt is ListingFormat.csv:
        show(frame, fmt)
        return
    show(_for_people(frame), fmt, title="compute vs storage, per year")
    note(
        f"prices: disk {costs.storage_cost:g} and tape {costs.tape_cost:g} per TB-year, "
        f"CPU {costs.cpu_cost:g} per core-hour, {costs.accesses_per_year:g} regeneration(s) "
        "a year (override with --storage-cost, --tape-cost, --cpu-cost, --access-per-year)"
    )
    cheaper = frame[frame["verdict"].str.startswith("cheaper to regenerate")]
    if not cheaper.empty:
        saved = (cheaper["regenerable_storage_cost"] - cheaper["regeneration_cost"]).sum()
        note(
            "cheaper to delete and regenerate: "
            f"{printable(', '.join(map(str, cheaper['data_type'])))} "
            f"(saves {saved:,.2f} a year)"
        )


def _for_people(frame):
    """Prices and hours to the cent, the ratio to three digits, one column fewer."""
    people = frame.drop(columns=["regenerable_storage_cost"])
    return people.round({"storage_cost": 2, "regeneration_cost": 2, "cpu_hours": 2, "ratio": 3})
