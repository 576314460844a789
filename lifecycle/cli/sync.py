"""``lifecycle sync DIR``: follow the grid, merging a snapshot into the catalog.

Mirrors :mod:`lifecycle.exchange.sync` through the ``Catalog`` facade.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table

if TYPE_CHECKING:
    from lifecycle.api import SyncReport

EXAMPLE_ROWS = 3  # example changes shown per table and kind of change


def sync(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Snapshot: an exchange-format directory.")],
    complete: Annotated[
        list[str] | None,
        typer.Option(
            "--complete",
            help="replicas:EXPR (an endpoint expression) or datasets:GLOB (scopes): the "
            "snapshot lists all of them there; what it lacks is marked deleted (repeatable).",
        ),
    ] = None,
    max_change: Annotated[
        float,
        typer.Option(
            "--max-change",
            help="Refuse when more than this per cent of an endpoint's replicas would change "
            "state or disappear.",
        ),
    ] = 10.0,
    force: Annotated[bool, typer.Option("--force", help="Go past --max-change.")] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="When the snapshot was taken (default: its newest time)."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (journaled).")] = None,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
    apply: options.ApplyOption = False,
) -> None:
    """Merge a snapshot of the grid: add new rows, update mutable fields, refuse changed history.

    Without --apply, shows what would change. Exit 1 when a change leaves data lost for good
    (it is applied all the same: the grid says so), 2 when the snapshot is refused.
    """
    with options.closing(fmt) as closing:
        report = options.catalog(ctx).sync(
            directory, complete or (), max_change, force=force,
            as_of=options.parse_time(as_of, "--as-of"), apply=apply, reason=reason,
        )  # fmt: skip
        verb = "synced" if report.applied else "compared"
        rows = sum(report.added.values()) + sum(report.unchanged.values())
        closing.text = f"{verb} {options.count(rows, 'row')} of the snapshot"
        people = partial(_sync, report)
        options.emit(Report(report.records(), document=report.to_dict, people=people), fmt)
        if report.loses_data:
            sys.stdout.flush()
            raise typer.Exit(1)


def _sync(report: SyncReport, out: IO[str]) -> None:
    """The loss first, then counts per table and kind of change with a few examples."""
    for text in report.lines():
        options.line(out, text)
    options.line(out, report.summary_line())
    if report.changes:
        write_table(_examples(report), out, "changes (examples)")
    if not report.applied and report.changed:
        options.note("dry run: nothing changed; run again with --apply to sync")


def _examples(report: SyncReport):
    """Up to :data:`EXAMPLE_ROWS` changes per table and field, with how many there are."""
    records = report.records()
    groups = records.groupby(["table", "field", "reason"], sort=True, dropna=False)
    shown = groups.head(EXAMPLE_ROWS).copy()
    shown["of"] = groups["key"].transform("size").loc[shown.index]
    return shown[["table", "field", "key", "old", "new", "reason", "of"]]


COMMANDS = {"sync": sync}
