"""Expiry and deletion: ``expire``, ``pin``/``unpin``/``pins list``, ``replicas delete|mark-lost``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lifecycle.cli.options import (
    ApplyOption,
    FormatOption,
    ListingFormat,
    PolicyOption,
    catalog,
    emit_json,
    no_policies,
    note,
    optional_policies,
    parse_time,
    show,
)
from lifecycle.text import human_bytes, printable

KEPT_ROWS = 200  # kept datasets shown in a table (csv and json list every decision)
pins_app = typer.Typer(help="Pins: exemptions from expiry.")


def register(app: typer.Typer) -> None:
    from lifecycle.cli.catalog import replicas_app

    app.command("expire")(expire)
    app.command("pin")(pin)
    app.command("unpin")(unpin)
    app.add_typer(pins_app, name="pins")
    replicas_app.command("delete")(delete)
    replicas_app.command("mark-lost")(mark_lost)


def expire(
    ctx: typer.Context,
    policy: PolicyOption = None,
    now: Annotated[
        str | None,
        typer.Option(help="Preview as of this time (ISO 8601); refused with --apply."),
    ] = None,
    fmt: FormatOption = ListingFormat.table,
    apply: ApplyOption = False,
) -> None:
    """Delete derived data past its end of life that can be regenerated; keep the rest, saying why.

    Without --apply, shows what would be deleted and kept and the bytes freed per site.
    """
    from lifecycle.policy import load_policies

    report = catalog(ctx).expire(load_policies(policy), parse_time(now, "--now"), apply=apply)
    if fmt is ListingFormat.json:
        emit_json(report.to_dict())
        return
    if fmt is ListingFormat.csv:
        show(report.decisions, fmt)
        return
    summary = report.summary()
    verb = "deleted" if report.applied else "would delete"
    typer.echo(
        f"{summary['expired']} datasets past their end of life: {verb} {summary['delete']} "
        f"({human_bytes(summary['bytes_freed'])}), keep {summary['keep']}"
        + (
            " (" + ", ".join(f"{n} {k}" for k, n in summary["kept_by_reason"].items()) + ")"
            if summary["kept_by_reason"]
            else ""
        )
    )
    if summary["delete"]:
        show(report.deleted_by_type(), fmt, "deleted" if apply else "to delete")
    kept = report.kept[["did", "kind", "data_type", "end_of_life", "reason"]]
    if len(kept):
        if len(kept) > KEPT_ROWS:
            note(f"showing {KEPT_ROWS} of {len(kept)} kept datasets (--format csv lists all)")
        show(kept.head(KEPT_ROWS), fmt, "kept")
    if len(report.freed_by_site):
        show(report.freed_by_site, fmt, "freed per site" if apply else "to free per site")
    if not apply and summary["delete"]:
        note("dry run: nothing changed; run again with --apply to delete")


def pin(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to keep from expiry.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to whoever expires).")],
    until: Annotated[
        str | None, typer.Option(help="Until this time (ISO 8601) [default: no end].")
    ] = None,
) -> None:
    """Pin a dataset: expiry keeps it while the pin is in force."""

    typer.echo(printable(catalog(ctx).pin(did, reason, parse_time(until, "--until"))))


def unpin(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to unpin.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only the pin with this reason.")
    ] = None,
    policy: PolicyOption = None,
) -> None:
    """Remove the pins of a dataset, saying which, and whether expiry would now delete it.

    Acts directly: unpinning deletes nothing; it makes the dataset a candidate for 'expire'.
    """

    policies = optional_policies(policy)
    for line in catalog(ctx).unpin(did, reason, policies).lines():
        typer.echo(printable(line))
    if policies is None:
        no_policies("what expiry would now decide is not checked")


@pins_app.command("list")
def pins_list(
    ctx: typer.Context,
    did: Annotated[str | None, typer.Option("--did", help="Only the pins of this dataset.")] = None,
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """Every pin: dataset, who, why, until when, and whether it is in force now."""
    show(catalog(ctx).pins(did), fmt, "pins")


def delete(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset.")],
    endpoint: Annotated[str, typer.Argument(help="Endpoint (RSE) holding the replica.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (journaled).")],
    policy: PolicyOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Override the replication and reproducibility guards (never the last copy of "
            "raw, calibration or metadata).",
        ),
    ] = False,
    fmt: Annotated[
        ListingFormat, typer.Option("--format", "-f", help="table (text) or json.")
    ] = ListingFormat.table,
    apply: ApplyOption = False,
) -> None:
    """Delete one replica, after checking it breaks no guard; exit 1 when refused."""
    policies = optional_policies(policy)
    report = catalog(ctx).delete_replica(did, endpoint, reason, policies, force=force, apply=apply)
    if policies is None:
        no_policies("the replication guard is not checked")
    if fmt is ListingFormat.json:
        emit_json(report.to_dict())
    else:
        for refusal in report.refusals:
            overridden = report.forced and refusal.overridable
            label = "overridden by --force" if overridden else "refused"
            typer.echo(printable(f"{label} ({refusal.guard}): {refusal.message}"))
        replica = printable(f"the replica of {report.did} at {report.endpoint}")
        if report.applied:
            typer.echo(f"deleted {replica}")
        elif report.allowed:
            typer.echo(f"would delete {replica}")
            note("dry run: nothing changed; run again with --apply to delete")
    if not report.allowed:
        sys.stdout.flush()
        raise typer.Exit(1)


def mark_lost(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset.")],
    endpoint: Annotated[str, typer.Argument(help="Endpoint (RSE) whose copy is gone.")],
    reason: Annotated[str, typer.Option("--reason", help="What happened (journaled).")],
    policy: PolicyOption = None,
    fmt: Annotated[
        ListingFormat, typer.Option("--format", "-f", help="table (text) or json.")
    ] = ListingFormat.table,
    apply: ApplyOption = False,
) -> None:
    """Record that a replica is lost (a failed disk or tape), saying what the loss means.

    Without --apply, only shows it: whether the dataset keeps a copy, can be regenerated or is
    lost for good, which datasets become irreproducible, which replication rules are newly
    violated. Exit 1 when data is lost for good (with or without --apply).
    """
    policies = optional_policies(policy)
    report = catalog(ctx).mark_lost(did, endpoint, reason, policies, apply=apply)
    if policies is None:
        no_policies("newly violated replication rules are not checked")
    if fmt is ListingFormat.json:
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            typer.echo(printable(line))
        if not report.applied:
            note("dry run: nothing changed; run again with --apply to record it")
    if report.loses_data:
        sys.stdout.flush()
        raise typer.Exit(1)
