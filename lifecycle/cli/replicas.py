"""``lifecycle replicas list|delete|mark-lost``: the copies of datasets on endpoints.

Mirrors :mod:`lifecycle.deletion` (guarded deletion of one replica, recording a lost one) and
the catalog's replica listing, through the ``Catalog`` facade.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import printable

if TYPE_CHECKING:
    from lifecycle.api import DeletionReport, LossOfReplica

replicas_app = typer.Typer(help="Copies of datasets on endpoints.")
DidArgument = Annotated[str, typer.Argument(help="Dataset.")]


@replicas_app.command("list")
def replicas_list(
    ctx: typer.Context, did: str, fmt: options.FormatOption = options.ListingFormat.table
) -> None:
    """List the replicas of one dataset."""
    found = options.catalog(ctx).replicas(did)
    title = f"replicas of {did}"

    def people(out: IO[str]) -> None:  # summary first: the count by state and media
        states = found.groupby(["state", "media"], sort=True).size()
        by_state = ", ".join(
            f"{options.number(n)} {state} on {media}" for (state, media), n in states.items()
        )
        options.line(out, f"{options.count(len(found), 'replica')} of {did}: {by_state or 'none'}")
        write_table(found, out, "replicas")

    options.emit(Report(found, title=title, people=people, kind="replicas"), fmt)


@replicas_app.command("delete")
def delete(
    ctx: typer.Context,
    did: DidArgument,
    endpoint: Annotated[str, typer.Argument(help="Endpoint (RSE) holding the replica.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (journaled).")],
    policy: options.PolicyOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Override the replication and reproducibility guards (never the last copy of "
            "raw, calibration or metadata).",
        ),
    ] = False,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
    apply: options.ApplyOption = False,
) -> None:
    """Delete one replica, after checking it breaks no guard; exit 1 when refused."""
    with options.optional_policies(policy, "the replication guard is not checked") as policies:
        report = options.catalog(ctx).delete_replica(
            did, endpoint, reason, policies, force=force, apply=apply
        )
    people = partial(_deletion, report)
    options.emit(Report(report.checks(), document=report.to_dict, people=people), fmt)
    if not report.allowed:
        sys.stdout.flush()
        raise typer.Exit(1)


def _deletion(report: DeletionReport, out: IO[str]) -> None:
    for refusal in report.refusals:
        overridden = report.forced and refusal.overridable
        label = "overridden by --force" if overridden else "refused"
        out.write(printable(f"{label} ({refusal.guard}): {refusal.message}") + "\n")
    replica = printable(f"the replica of {report.did} at {report.endpoint}")
    if report.applied:
        out.write(f"deleted {replica}\n")
    elif report.allowed:
        out.write(f"would delete {replica}\n")
        options.note("dry run: nothing changed; run again with --apply to delete")


@replicas_app.command("mark-lost")
def mark_lost(
    ctx: typer.Context,
    did: DidArgument,
    endpoint: Annotated[str, typer.Argument(help="Endpoint (RSE) whose copy is gone.")],
    policy: options.PolicyOption = None,
    *,
    reason: Annotated[str, typer.Option("--reason", help="What happened (journaled).")],
    fmt: options.DetailFormatOption = options.DetailFormat.table,
    apply: options.ApplyOption = False,
) -> None:
    """Record that a replica is lost (a failed disk or tape), saying what the loss means.

    Without --apply, only shows it: whether the dataset keeps a copy, can be regenerated or is
    lost for good, which datasets become irreproducible, which replication rules are newly
    violated. Exit 1 when data is lost for good (with or without --apply).
    """
    with options.optional_policies(
        policy, "newly violated replication rules are not checked"
    ) as found:
        report = options.catalog(ctx).mark_lost(did, endpoint, reason, found, apply=apply)
    people = partial(_loss, report)
    options.emit(Report(report.consequences(), document=report.to_dict, people=people), fmt)
    if report.loses_data:
        sys.stdout.flush()
        raise typer.Exit(1)


def _loss(report: LossOfReplica, out: IO[str]) -> None:
    for line in report.lines():
        out.write(printable(line) + "\n")
    if not report.applied:
        options.note("dry run: nothing changed; run again with --apply to record it")


GROUPS = {"replicas": replicas_app}
