"""``lifecycle report``: the catalog as one self-contained HTML page, for people and for cron.

Mirrors :mod:`lifecycle.report` through the ``Catalog`` facade.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import check_destination
from lifecycle.text import human_bytes


class FailOn(StrEnum):  # audit's, less ``new``: the report records no run to compare with
    error = "error"
    warning = "warning"
    never = "never"


def report(
    ctx: typer.Context,
    policy: options.PolicyOption = None,
    now: Annotated[
        str | None, typer.Option(help="Report as of this time (ISO 8601) instead of now.")
    ] = None,
    lineage: Annotated[
        list[str] | None,
        typer.Option("--lineage", help="Draw this dataset's lineage (repeatable).", metavar="DID"),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE|DIR/",
            help="Write the page here (default: stdout); DIR/ gets index.html and "
            "report-YYYY-MM-DD.html.",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe."),
    ] = FailOn.error,
    decade: Annotated[
        Path | None,
        typer.Option(
            "--decade",
            metavar="FILE",
            help="A run saved by 'simulate years --format json -o FILE': its curve (datasets "
            "lost for good, open findings, year by year) in the Durability section.",
        ),
    ] = None,  # fmt: skip
) -> None:
    """One HTML page of the catalog: overview, compliance and its trend, storage, preservation,
    lifetime, risk and lineages. Self-contained (no script, nothing fetched: offline and by
    e-mail); reads only (the audit it shows is not recorded). Exit 1 as audit --fail-on."""
    if output is not None:  # before the work: FILE's directory, or DIR/'s parent, must exist
        check_destination(Path(output.rstrip("/") or "/"))
    with options.closing() as closing:
        page = options.catalog(ctx).report(
            options.policies(policy),
            options.parse_time(now, "--now"),
            lineage=lineage or (),
            decade=decade,
        )
        closing.text = f"built the report ({human_bytes(page.summary['bytes'])})"
        if output is None:
            sys.stdout.write(page.html)
        else:
            written = page.write(output)
            size = human_bytes(page.summary["bytes"])
            options.note(f"report written to {', '.join(str(Path(p)) for p in written)} ({size})")
        if page.fails(fail_on.value):
            raise typer.Exit(1)


COMMANDS = {"report": report}
