"""``lifecycle transfers list|run``: the copies ``repair --apply`` queued, on the simulated grid.

Mirrors :mod:`lifecycle.transfers` through the ``Catalog`` facade.
"""

from __future__ import annotations

from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.errors import UsageError
from lifecycle.output import Report

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import TransferRun

ROWS = 50  # transfers shown to people (json, csv and parquet list all)
transfers_app = typer.Typer(help="Copies queued by 'repair --apply', on the simulated grid.")


@transfers_app.command("list")
def transfers_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="Only this state: queued, active, done, failed.")
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """List the transfers, oldest first, with their state and progress."""
    found = options.catalog(ctx).transfers(state)
    document = partial(options.api().transfers_document, found)
    options.emit(Report(found, document=document, people=partial(_people, found)), fmt)


def _people(found: pd.DataFrame, out: IO[str]) -> None:
    by_state = found.groupby("state", sort=True).size()
    shown = ", ".join(f"{options.number(n)} {s}" for s, n in by_state.items())
    options.line(out, f"{options.count(len(found), 'transfer')}: {shown or 'none'}")
    columns = ["id", "did", "source", "target", "bytes", "state", "attempts", "finished_at"]
    if len(found):
        options.bounded_table(found[columns], out, "transfers", ROWS)


@transfers_app.command("run")
def run(
    ctx: typer.Context,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Move the data on the simulated grid (required).")
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Stop the simulated clock at this time (ISO 8601).")
    ] = None,
    hours: Annotated[
        float | None, typer.Option(help="Advance the simulated clock by this many hours.")
    ] = None,
    failure_rate: Annotated[
        float, typer.Option("--failure-rate", help="Probability that an attempt fails.")
    ] = 0.0,
    seed: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="Seed of the failures drawn.")
    ] = 0,
    attempts: Annotated[
        int,
        typer.Option(
            min=1, max=options.INT_MAX, help="Attempts before a transfer is failed for good."
        ),
    ] = 3,
    apply: options.ApplyOption = False,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """Advance the simulated grid: transfers move at their sites' shared bandwidth, tape is
    staged first, attempts fail at --failure-rate and are retried with backoff; completed
    copies become available. Without --until or --hours, until every transfer is done or
    failed. A preview unless --apply, which records it (journaled)."""
    if not simulate:
        raise UsageError("transfers run: only the simulated grid moves data here; give --simulate")
    with options.closing(fmt) as closing:
        report = options.catalog(ctx).run_transfers(
            until=options.parse_time(until, "--until"),
            hours=hours,
            failure_rate=failure_rate,
            seed=seed,
            attempts=attempts,
            apply=apply,
        )
        closing.text = (
            f"simulated the grid from {report.started:%Y-%m-%d %H:%M} to "
            f"{report.ended:%Y-%m-%d %H:%M}: {options.count(report.done, 'transfer')} done"
        )
        options.emit(Report(None, document=report.to_dict, people=partial(_run, report)), fmt)


def _run(report: TransferRun, out: IO[str]) -> None:
    for text in report.lines():
        options.line(out, text)


GROUPS = {"transfers": transfers_app}
