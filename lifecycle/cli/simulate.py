"""``lifecycle simulate loss``: what losing sites, endpoints or a country would do to the data."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.cli.options import (
    DetailFormat,
    DetailFormatOption,
    PolicyOption,
    catalog,
    note,
    parse_time,
    show,
)
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    from lifecycle.simulate import LossReport

ROWS = 50  # rows per list in a table, largest first (json lists everything)
simulate_app = typer.Typer(help="What-if simulations; the catalog is never changed.")


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")


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
    policy: PolicyOption = None,
    now: Annotated[
        str | None, typer.Option(help="Judge replication rules as of this time (ISO 8601).")
    ] = None,
    fmt: DetailFormatOption = DetailFormat.table,
) -> None:
    """What losing this storage (all of it together) would do, without changing the catalog.

    Lists the datasets that would keep no available replica: recoverable ones (reproducible
    after the loss) with the size of their recipe, and those lost for good; the replication
    violations the loss would create; and what to copy again, from where. Exit 1 when anything
    would be lost for good.
    """
    from lifecycle.errors import UsageError
    from lifecycle.policy import load_policies
    from lifecycle.simulate import NOTHING_TO_LOSE

    if not (site or endpoints or country):
        raise UsageError(NOTHING_TO_LOSE)
    report = catalog(ctx).simulate_loss(
        sites=tuple(site or ()),
        endpoints=endpoints,
        countries=tuple(country or ()),
        policies=load_policies(policy),
        now=parse_time(now, "--now"),
    )
    if fmt is DetailFormat.json:
        _emit_json(report.to_dict())
    else:
        _print_report(report)
    if report.loses_data:
        sys.stdout.flush()
        raise typer.Exit(1)


def _emit_json(document: dict) -> None:
    """The report as JSON with one list entry per line.

    Losing a large site lists hundreds of thousands of datasets: entries are encoded compactly
    by the C encoder (``indent`` would fall back to the pure-Python one, several times slower),
    the rest is indented as every other command's JSON.
    """
    import json

    encode = json.JSONEncoder().encode
    out = sys.stdout
    out.write("{\n")
    for n, (key, value) in enumerate(document.items()):
        out.write(f"  {json.dumps(key)}: ")
        if isinstance(value, list) and value:
            out.write("[\n")
            last = len(value) - 1
            for i, entry in enumerate(value):
                out.write(f"    {encode(entry)}{',' if i < last else ''}\n")
            out.write("  ]")
        else:
            out.write(json.dumps(value, indent=2).replace("\n", "\n  "))
        out.write(",\n" if n < len(document) - 1 else "\n")
    out.write("}\n")


def _print_report(report: LossReport) -> None:
    import pandas as pd

    s = report.summary
    shown = printable(", ".join(report.endpoints[:6])) + (
        " ..." if len(report.endpoints) > 6 else ""
    )
    typer.echo(
        f"losing {len(report.endpoints)} endpoint(s) ({shown}): {s['replicas_lost']:,} available "
        f"replicas, {human_bytes(s['bytes_lost'])}"
    )
    kinds = ", ".join(f"{v['datasets']:,} {k}" for k, v in s["lost_by_kind"].items())
    typer.echo(
        f"lost for good: {s['lost']:,} datasets ({human_bytes(s['lost_bytes'])})"
        + (f": {kinds}" if kinds else "")
    )
    lost = pd.DataFrame(report.lost, columns=["did", "kind", "bytes", "reason"])
    _table(lost.sort_values("bytes", ascending=False, kind="stable"), "lost for good")
    typer.echo(
        f"recoverable by regeneration: {s['recoverable']:,} datasets "
        f"({human_bytes(s['recoverable_bytes'])}), {s['productions_to_rerun']:,} productions "
        "to run again"
    )
    recoverable = pd.DataFrame(report.recoverable, columns=["did", "kind", "bytes", "steps"])
    _table(recoverable.sort_values("bytes", ascending=False, kind="stable"), "recoverable")
    by_rule = printable(", ".join(f"{r}: {n:,}" for r, n in s["violations_by_rule"].items()))
    typer.echo(
        f"replication violations created: {s['violations']:,}"
        + (f" ({by_rule})" if by_rule else "")
    )
    columns = ["rule", "did", "distinct", "before", "after", "required"]
    _table(pd.DataFrame(report.violations, columns=columns), "violations created")
    copies = s["re_replicate"]
    typer.echo(
        f"to re-replicate: {copies['replicas']:,} replicas of {copies['datasets']:,} datasets "
        f"({human_bytes(copies['bytes'])})"
    )
    _table(pd.DataFrame(copies["by_source_site"]), "re-replication sources (sites)")
    note("simulation only: the catalog is unchanged")


def _table(frame, title: str) -> None:
    if frame.empty:
        return
    if len(frame) > ROWS:
        note(f"{title}: showing {ROWS} of {len(frame):,} (--format json lists all)")
    show(frame.head(ROWS), "table", title)
