"""``lifecycle simulate loss``: what losing sites, endpoints or a country would do to the data.

Mirrors :mod:`lifecycle.simulate` through the ``Catalog`` facade.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import Decade, LossReport

ROWS = 25  # rows per list in a table, largest first (json lists everything)
simulate_app = typer.Typer(help="What-if simulations; the catalog is never changed.")


@simulate_app.command("loss")
def loss(
    ctx: typer.Context,
    site: Annotated[
        list[str] | None,
        typer.Option(
            "--site", help="Lose every endpoint of this site (repeatable).", metavar="NAME"
        ),
    ] = None,
    endpoints: Annotated[
        str | None,
        typer.Option(
            "--endpoints", help="Lose the endpoints this expression selects.", metavar="EXPR"
        ),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country", help="Lose every site in this country (repeatable).", metavar="C"
        ),
    ] = None,
    policy: options.PolicyOption = None,
    now: Annotated[
        str | None, typer.Option(help="Judge replication rules as of this time (ISO 8601).")
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """What losing this storage (all of it together) would do, without changing the catalog.

    Lists the datasets that would keep no available replica: recoverable ones (reproducible
    after the loss) with the size of their recipe, and those lost for good; the replication
    violations the loss would create; and what to copy again, from where. Exit 1 when anything
    would be lost for good. csv and parquet: one row per dataset keeping no available replica,
    its 'outcome' lost or recoverable.
    """
    report = options.catalog(ctx).simulate_loss(
        sites=tuple(site or ()),
        endpoints=endpoints,
        countries=tuple(country or ()),
        policies=options.policies(policy),
        now=options.parse_time(now, "--now"),
    )
    people = partial(_print_report, report)
    found = report.outcomes()
    options.emit(Report(found, document=report.to_dict, people=people, compact_entries=True), fmt)
    if report.loses_data:
        sys.stdout.flush()
        raise typer.Exit(1)


def _print_report(report: LossReport, out: IO[str]) -> None:
    """Summary first (what is lost, recoverable, violated, to copy again, and from which sites),
    then the datasets, largest first."""
    import pandas as pd

    def echo(line: str) -> None:
        options.line(out, line)  # folded to the width of the tables

    s = report.summary
    shown = printable(", ".join(report.endpoints[:6])) + (
        " ..." if len(report.endpoints) > 6 else ""
    )
    echo(
        f"losing {options.count(len(report.endpoints), 'endpoint')} ({shown}): "
        f"{options.number(s['replicas_lost'])} available "
        f"replicas, {human_bytes(s['bytes_lost'])}"
    )
    kinds = ", ".join(f"{options.number(v['datasets'])} {k}" for k, v in s["lost_by_kind"].items())
    echo(
        f"lost for good: {options.number(s['lost'])} datasets ({human_bytes(s['lost_bytes'])})"
        + (f": {kinds}" if kinds else "")
    )
    echo(
        f"recoverable by regeneration: {options.number(s['recoverable'])} datasets "
        f"({human_bytes(s['recoverable_bytes'])}), {options.number(s['productions_to_rerun'])} productions "
        "to run again"
    )
    by_rule = printable(
        ", ".join(f"{r}: {options.number(n)}" for r, n in s["violations_by_rule"].items())
    )
    echo(
        f"replication violations created: {options.number(s['violations'])}"
        + (f" ({by_rule})" if by_rule else "")
    )
    copies = s["re_replicate"]
    echo(
        f"to re-replicate: {options.count(copies['replicas'], 'replica')} of "
        f"{options.count(copies['datasets'], 'dataset')} "
        f"({human_bytes(copies['bytes'])})"
    )
    _table(pd.DataFrame(copies["by_source_site"]), "re-replication sources (sites)", out)
    lost = pd.DataFrame(report.lost, columns=["did", "kind", "bytes", "reason"])
    _table(lost.sort_values("bytes", ascending=False, kind="stable"), "lost for good", out)
    recoverable = pd.DataFrame(report.recoverable, columns=["did", "kind", "bytes", "steps"])
    _table(recoverable.sort_values("bytes", ascending=False, kind="stable"), "recoverable", out)
    columns = ["rule", "did", "distinct", "before", "after", "required"]
    _table(pd.DataFrame(report.violations, columns=columns), "violations created", out)
    options.note("simulation only: the catalog is unchanged")


def _table(frame: pd.DataFrame, title: str, out: IO[str]) -> None:
    if not frame.empty:
        options.bounded_table(frame, out, title, ROWS)


@simulate_app.command("years")
def years(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, max=100, help="Years to simulate.", metavar="N")],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Failure model (TOML; see 'lifecycle durability').", metavar="FILE"
        ),
    ] = None,
    policy: options.PolicyOption = None,
    seed: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="Seed of every random draw.")
    ] = 0,
    no_repair: Annotated[
        bool, typer.Option("--no-repair", help="The counterfactual: no repair, no transfers.")
    ] = False,
    step_days: Annotated[
        float, typer.Option("--step-days", min=0.01, max=366, help="Days per pipeline run.")
    ] = 30.0,
    raw_per_day: Annotated[
        float | None,
        typer.Option(
            "--raw-per-day",
            min=0,
            max=1e6,
            help="New raw datasets a day (default: the catalog's last year).",
        ),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Simulate N years of operations on a copy of the catalog (never this catalog).

    New raw data arrives at tier 0; the failure model's events happen (site storage, countries,
    operator errors, files lost on every copy); each step the pipeline runs repair --apply,
    the simulated transfers and expire --apply through the same services. Per year: volume by
    media, open findings, transfers and bytes moved, bytes expired, datasets lost for good
    (with their cause). Deterministic for a seed. Exit 1 when anything is lost for good.
    """
    with options.closing(fmt) as closing:
        decade = options.catalog(ctx).simulate_years(
            count, options.policies(policy), model, seed=seed, repair=not no_repair,
            step_days=step_days, raw_per_day=raw_per_day,
            on_year=lambda y: options.note(f"year {y.year}: {len(y.lost)} lost for good"),
        )  # fmt: skip
        closing.text = f"simulated {count} years ({len(decade.lost):,} datasets lost for good)"
        people = partial(_print_years, decade)
        options.emit(Report(decade.records(), document=decade.to_dict, people=people), fmt)
        if decade.lost:
            sys.stdout.flush()
            raise typer.Exit(1)


def _print_years(decade: Decade, out: IO[str]) -> None:
    s = decade.summary()
    options.line(out, f"{s['years']} years from {s['start']:%Y-%m-%d}, seed {s['seed']}, "
                 f"model {s['model']}, {'with' if s['repair'] else 'WITHOUT'} repair; "
                 f"{s['raw_per_day']:.2f} new raw a day, a pipeline run every "
                 f"{s['step_days']:g} days")  # fmt: skip
    options.bounded_table(decade.records(), out, "per year", 100)
    kinds = ", ".join(f"{options.number(n)} {k}" for k, n in s["lost_by_kind"].items())
    options.line(
        out, f"lost for good: {options.number(s['lost'])}" + (f" ({kinds})" if kinds else "")
    )
    import pandas as pd

    lost = pd.DataFrame(decade.lost, columns=["year", "did", "kind", "bytes", "cause"])
    _table(lost, "lost for good", out)
    options.note("simulated on a copy: the catalog is unchanged")


GROUPS = {"simulate": simulate_app}
