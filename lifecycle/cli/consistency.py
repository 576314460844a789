"""``lifecycle consistency ENDPOINT DUMP`` and ``lifecycle dark list``: storage dumps against the
catalog, and the dark data they found.

Mirrors :mod:`lifecycle.consistency` and :mod:`lifecycle.dark` through the ``Catalog`` facade.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report

if TYPE_CHECKING:
    from lifecycle.api import ConsistencyReport

ROWS = 50  # lost replicas and dark entries shown in a table (json and csv list all)
dark_app = typer.Typer(help="Dark data: files storage holds that the catalog does not know.")


def consistency(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="Endpoint (RSE) the dump lists.")],
    dump: Annotated[
        Path,
        typer.Argument(help="Storage dump: CSV or Parquet with did, files, bytes[, checksum]."),
    ],
    dump_time: Annotated[
        str | None,
        typer.Option(
            "--dump-time",
            help="When the dump was taken (ISO 8601) (default: the Parquet metadata "
            "'dump_time', else a date in the file name, as 00:00 UTC).",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        float, typer.Option(help="Days before and after the dump time the catalog is read at.")
    ] = 1.0,
    max_change: Annotated[
        float, typer.Option(help="Refuse when more than this percentage of replicas is lost.")
    ] = 10.0,
    force: Annotated[bool, typer.Option("--force", help="Override --max-change.")] = False,
    confirm_after: Annotated[
        float, typer.Option(help="Days between two dumps that confirm dark data.")
    ] = 7.0,
    policy: options.PolicyOption = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (journaled).")] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
    apply: options.ApplyOption = False,
) -> None:
    """Compare an endpoint's storage dump with the catalog before and after the dump's time.

    Lost: replicas available before and after that the dump misses (or lists with fewer files
    or bytes); dark: entries the catalog holds no replica of there. With --apply, marks the lost
    replicas lost (saying what that means) and keeps dark data in quarantine ('lifecycle dark
    list'); nothing is deleted from storage. Exit 1 when lost or dark data is found.
    """
    with options.closing(fmt) as closing:
        with options.optional_policies(
            policy, "newly violated replication rules are not checked"
        ) as found:
            report = options.catalog(ctx).consistency(
                endpoint, dump, dump_time=options.parse_time(dump_time, "--dump-time"),
                window_days=window, max_change=max_change, force=force,
                confirm_after_days=confirm_after, policies=found, reason=reason, apply=apply,
            )  # fmt: skip
        closing.text = (
            f"checked {options.count(report.checked, 'replica')} against "
            f"{options.count(report.entries, 'dump entry', 'dump entries')}"
        )
        people = partial(_consistency, report)
        options.emit(Report(report.findings(), document=report.to_dict, people=people), fmt)
        if report.inconsistent:
            sys.stdout.flush()
            raise typer.Exit(1)


def _consistency(report: ConsistencyReport, out: IO[str]) -> None:
    for text in report.lines():
        options.line(out, text)
    if len(report.lost):
        options.bounded_table(report.lost, out, "lost", ROWS)
    if len(report.dark):
        columns = ["did", "files", "bytes", "known", "replica_state", "quarantine", "first_seen"]
        dark = options.yes_no(report.dark[columns], "known")
        options.bounded_table(dark, out, "dark", ROWS)
    if not report.applied and report.inconsistent:
        options.note("dry run: nothing changed; run again with --apply to record it")


@dark_app.command("list")
def dark_list(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only the dark data of this endpoint.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only 'quarantined' or 'confirmed' (reported for deletion)."),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Dark data in quarantine: endpoint, DID, size, status, first and last seen (a table shows
    the first 50; json and csv list all)."""
    found = options.catalog(ctx).dark_data(endpoint, status)
    shown = ["endpoint", "did", "files", "bytes", "status", "first_seen", "last_seen"]
    people = lambda out: options.bounded_table(found[shown], out, "dark data", ROWS)  # noqa: E731
    options.emit(Report(found, title="dark data", people=people, kind="dark"), fmt)


COMMANDS = {"consistency": consistency}
GROUPS = {"dark": dark_app}
