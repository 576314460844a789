"""Expiry and pins: ``expire``, ``pin``, ``unpin`` and ``pins list``.

Mirrors :mod:`lifecycle.expiry` and :mod:`lifecycle.pins` through the ``Catalog`` facade.
"""

from __future__ import annotations

from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import count, human_bytes, number, printable

if TYPE_CHECKING:
    from lifecycle.api import ExpiryReport

KEPT_ROWS = 50  # kept datasets shown in a table (csv and json list every decision)
PIN_ROWS = 50  # pins shown in a table
SITE_ROWS = 20  # sites in the table of bytes freed per site, largest first
pins_app = typer.Typer(help="Pins: exemptions from expiry.")


def expire(
    ctx: typer.Context,
    policy: options.PolicyOption = None,
    now: Annotated[
        str | None,
        typer.Option(help="Preview as of this time (ISO 8601); refused with --apply."),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
    apply: options.ApplyOption = False,
) -> None:
    """Delete derived data past its end of life that can be regenerated; keep the rest, saying why.

    Without --apply, shows what would be deleted and kept and the bytes freed per site.
    """
    with options.closing(fmt) as closing:
        report = options.catalog(ctx).expire(
            options.policies(policy), options.parse_time(now, "--now"), apply=apply
        )
        expired = options.count(report.summary()["expired"], "dataset")
        closing.text = f"decided on {expired} past their end of life"
        people = partial(_expiry, report)
        options.emit(Report(report.decisions, document=report.to_dict, people=people), fmt)


def _expiry(report: ExpiryReport, out: IO[str]) -> None:
    """Summary first (counts, bytes by kind and data type, by site), then the kept datasets."""
    summary = report.summary()
    verb = "deleted" if report.applied else "would delete"
    options.line(
        out,
        f"{count(summary['expired'], 'dataset')} past their end of life: {verb} "
        f"{number(summary['delete'])} ({human_bytes(summary['bytes_freed'])}), "
        f"keep {number(summary['keep'])}"
        + (
            " ("
            + ", ".join(f"{number(n)} {printable(k)}" for k, n in summary["kept_by_reason"].items())
            + ")"
            if summary["kept_by_reason"]
            else ""
        ),
    )
    if summary["delete"]:
        write_table(report.deleted_by_type(), out, "deleted" if report.applied else "to delete")
    if len(report.freed_by_site):  # the summary by site, largest first, before the details
        title = "freed per site" if report.applied else "to free per site"
        by_site = report.freed_by_site.sort_values("bytes", ascending=False, kind="stable")
        options.bounded_table(by_site, out, title, SITE_ROWS)
    kept = report.kept[["did", "kind", "data_type", "end_of_life", "reason"]]
    if len(kept):
        options.bounded_table(kept, out, "kept", KEPT_ROWS)
    if not report.applied and summary["delete"]:
        options.note("dry run: nothing changed; run again with --apply to delete")


def pin(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to keep from expiry.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to whoever expires).")],
    until: Annotated[
        str | None, typer.Option(help="Until this time (ISO 8601) (default: no end).")
    ] = None,
) -> None:
    """Pin a dataset: expiry keeps it while the pin is in force."""

    typer.echo(
        printable(options.catalog(ctx).pin(did, reason, options.parse_time(until, "--until")))
    )


def unpin(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to unpin.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only the pin with this reason.")
    ] = None,
    policy: options.PolicyOption = None,
) -> None:
    """Remove the pins of a dataset, saying which, and whether expiry would now delete it.

    Acts directly: unpinning deletes nothing; it makes the dataset a candidate for 'expire'.
    """
    with options.optional_policies(policy, "what expiry would now decide is not checked") as found:
        for line in options.catalog(ctx).unpin(did, reason, found).lines():
            typer.echo(printable(line))


@pins_app.command("list")
def pins_list(
    ctx: typer.Context,
    did: Annotated[str | None, typer.Option("--did", help="Only the pins of this dataset.")] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Every pin: dataset, who, why, until when, and whether it is in force now (a table shows
    the first 50; json and csv list all)."""
    found = options.catalog(ctx).pins(did)
    people = lambda out: options.bounded_table(found, out, "pins", PIN_ROWS)  # noqa: E731
    options.emit(Report(found, title="pins", people=people, kind="pins"), fmt)


COMMANDS = {"expire": expire, "pin": pin, "unpin": unpin}
GROUPS = {"pins": pins_app}
