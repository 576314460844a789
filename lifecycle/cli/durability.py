"""``lifecycle durability``: how likely is the loss of data nothing can regenerate.

Mirrors :mod:`lifecycle.durability` through the ``Catalog`` facade.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report
from lifecycle.text import human_bytes

if TYPE_CHECKING:
    from lifecycle.api import DurabilityReport

ROWS = 20  # least durable datasets in a table (json lists every one computed)

ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="Failure model (TOML; default: LIFECYCLE_MODEL, ./models/durability.toml, the "
        "shipped one).",
        metavar="FILE",
    ),
]


def durability(
    ctx: typer.Context,
    model: ModelOption = None,
    policy: options.PolicyOption = None,
    monte_carlo: Annotated[
        int | None,
        typer.Option(
            "--monte-carlo",
            min=1,
            max=1_000_000,
            help="Cross-check: sample this many years of the model's events.",
            metavar="YEARS",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="Seed of the Monte Carlo sampling.")
    ] = 0,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """The annual probability of losing data that nothing can regenerate, under a failure model.

    For raw, calibration, metadata and irreproducible derived data: the probability a year of
    losing every copy (of some file) within one repair window, from the replica placement
    (copies, sites, countries, media) and the model's independent and correlated events. Per
    kind and data type: nines, expected datasets and bytes lost a year; the least durable
    datasets with why and what repair would raise them to. Reproducible data is 'regenerable',
    with the core-hours of its production. csv: one row per kind and data type.
    """
    with options.closing(fmt) as closing:
        with options.optional_policies(
            policy, "the least durable are shown without repair's plan"
        ) as found:
            report = options.catalog(ctx).durability(
                model, found, monte_carlo=monte_carlo, seed=seed
            )
        s = report.summary
        closing.text = (
            f"estimated the durability of {s['non_regenerable'] + s['regenerable']:,} datasets"
            + (f" and sampled {monte_carlo:,} years" if monte_carlo else "")
        )
        people = partial(_print_report, report)
        options.emit(Report(report.records(), document=report.to_dict, people=people), fmt)


def _nines(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _print_report(report: DurabilityReport, out: IO[str]) -> None:
    import pandas as pd

    s = report.summary
    options.line(out, f"model {s['model']}; repair window {s['repair_window_days']:.2f} days "
                 f"({s['repair_window']})")  # fmt: skip
    options.line(
        out,
        f"{options.number(s['non_regenerable'])} datasets nothing regenerates "
        f"({options.number(s['patterns'])} placement patterns): {_nines(s['nines'])} nines; "
        f"expected lost a year: {s['expected_datasets_lost_per_year']:.3g} datasets, "
        f"{human_bytes(round(s['expected_bytes_lost_per_year']))}",
    )
    groups = pd.DataFrame(report.groups)
    if not groups.empty:
        kept = groups[groups["status"] == "non-regenerable"].copy()
        if not kept.empty:
            kept["nines"] = kept["nines"].map(_nines)
            kept["expected_lost"] = kept["expected_lost"].map(lambda v: f"{v:.3g}")
            kept["expected_bytes_lost"] = kept["expected_bytes_lost"].round().astype("int64")
            columns = ["kind", "data_type", "datasets", "bytes", "nines", "expected_lost",
                       "expected_bytes_lost"]  # fmt: skip
            options.bounded_table(kept[columns], out, "durability per kind and data type", 40)
        again = groups[groups["status"] == "regenerable"].copy()
        if not again.empty:
            again["cpu_hours"] = again["cpu_hours"].round(1)
            columns = ["kind", "data_type", "datasets", "bytes", "cpu_hours"]
            options.bounded_table(again[columns], out, "regenerable (core-hours to regenerate)", 40)
    if report.least:
        least = pd.DataFrame(report.least)
        least["nines"] = least["nines"].map(_nines)
        least["repaired"] = least["repaired"].map(_nines)
        columns = ["did", "kind", "nines", "why", "repaired"]
        options.bounded_table(
            least[columns], out, "least durable (repaired: the nines after repair's copies, or "
            "one more tape copy in another country; json says which)", ROWS,
        )  # fmt: skip
    if report.unavailable:
        options.line(out, f"{options.number(len(report.unavailable))} datasets nothing regenerates "
                     "have no available replica now (see 'lifecycle audit')")  # fmt: skip
    if report.monte_carlo:
        mc = report.monte_carlo
        frame = pd.DataFrame(mc["by_kind"])
        if not frame.empty:
            options.bounded_table(
                frame, out, f"Monte Carlo: {options.number(mc['years'])} years, seed {mc['seed']}"
                " (datasets lost a year, 95 % interval)", 20,
            )  # fmt: skip


COMMANDS = {"durability": durability}
