"""Reprocessing plans: ``plan reprocess|list|show|export|delete|apply``.

Mirrors :mod:`lifecycle.planning` through the ``Catalog`` facade.
"""

from __future__ import annotations

from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    from lifecycle.api import ReprocessingPlan

STEP_ROWS = 50
plan_app = typer.Typer(help="Reprocessing plans: what to rebuild, with what, at what cost.")
PlanIdArgument = Annotated[int, typer.Argument(max=options.INT_MAX, help="Plan id.")]


@plan_app.command("reprocess")
def reprocess(
    ctx: typer.Context,
    chain: Annotated[
        str,
        typer.Option(
            "--chain",
            help="Transformation tags in order, e.g. r99999,p99998,p99999 "
            "(TAG:DATA_TYPE says what a tag produces).",
        ),
    ],
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            help="KEY=VALUE[,VALUE…] (repeatable; kind, data_type, scope, did; globs for "
            "data_type and did) (default: kind=raw).",
            show_default=False,
        ),
    ] = None,
    conditions: Annotated[
        str | None,
        typer.Option("--conditions", help="New conditions tag (default: each input's last)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the saved plan.")] = None,
    policy: options.PolicyOption = None,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """Plan (and save) the reprocessing of the selected inputs; exit 1 when it has blockers."""
    with options.optional_policies(
        policy, "outputs get one disk copy at the site that makes them"
    ) as p:
        plan = options.catalog(ctx).plan_reprocess(select or [], chain, conditions, name, p)
        _show_plan(plan, fmt)
    if len(plan.blockers):
        raise typer.Exit(1)


plan_app.command("list")(
    options.listing(
        "plans", "plans", "Saved plans, with their totals and whether they were applied."
    )
)


@plan_app.command("show")
def plan_show(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=options.INT_MAX, help="Plan id (see 'plan list').")],
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """One saved plan: summary, blockers, staging, supersessions and steps."""
    plan = options.catalog(ctx).plan(plan_id)
    _show_plan(plan, fmt)
    if len(plan.blockers):
        raise typer.Exit(1)


@plan_app.command("export")
def plan_export(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    fmt: Annotated[
        options.PlanFormat, typer.Option("--format", "-f", help="json (the whole plan) or parquet.")
    ] = options.PlanFormat.json,
) -> None:
    """Export a plan: JSON of everything, or Parquet of its steps (with their inputs)."""
    plan = options.catalog(ctx).plan(plan_id)
    options.emit(Report(document=plan.to_dict, records=plan.steps_with_inputs()), fmt)


@plan_app.command("delete")
def plan_delete(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    policy: options.PolicyOption = None,
) -> None:
    """Forget a saved plan, saying which inputs it no longer keeps from expiry.

    Acts directly (it deletes no data); with policies, says which freed inputs 'expire' would
    now delete.
    """
    with options.optional_policies(policy, "what expiry would now decide is not checked") as found:
        for line in options.catalog(ctx).delete_plan(plan_id, found).lines():
            typer.echo(printable(line))


@plan_app.command("apply")
def plan_apply(
    ctx: typer.Context,
    plan_id: PlanIdArgument,
    apply: options.ApplyOption = False,
) -> None:
    """Simulate the campaign: register its productions, datasets and replicas (with --apply)."""
    cat = options.catalog(ctx)
    if not apply:
        plan = cat.plan(plan_id)
        steps = len(plan.steps)
        typer.echo(
            f"plan {plan_id} ({printable(plan.name)}) would register {steps} "
            f"productions, {steps} datasets and {plan.replicas_placed()} replicas"
        )
        if len(plan.blockers):
            typer.echo(f"but it has {len(plan.blockers)} blockers: it cannot be applied")
            raise typer.Exit(1)
        options.note("dry run: nothing changed; run again with --apply to register them")
        return
    done = cat.apply_plan(plan_id)
    typer.echo(
        f"applied plan {plan_id}: {done['productions']} productions, {done['datasets']} "
        f"datasets, {done['replicas']} replicas"
    )


def _show_plan(plan: ReprocessingPlan, fmt: options.DetailFormat) -> None:
    options.emit(Report(document=plan.to_dict, people=partial(_plan, plan)), fmt)


def _plan(plan: ReprocessingPlan, out: IO[str]) -> None:
    s = plan.summary()
    chain = printable(",".join(c.tag for c in plan.chain))
    state = f"applied {plan.applied_at:%Y-%m-%d}" if plan.applied_at else "not applied"
    name = printable(plan.name)
    out.write(f"plan {plan.id if plan.id is not None else '(unsaved)'}: {name} [{state}]\n")
    out.write(
        f"  chain {chain}, conditions {printable(plan.conditions_tag or 'as last processed')}; "
        f"{s['inputs']} inputs, {s['steps']} steps, {s['events']:,} events, "
        f"{s['cpu_hours']:,.1f} CPU hours\n"
    )
    out.write(
        f"  stage {human_bytes(s['bytes_staged'])} from tape, write "
        f"{human_bytes(s['bytes_written'])}; supersedes {s['supersedes']} datasets; "
        f"{s['blockers']} blockers\n"
    )
    for part, title in ((plan.blockers, "blockers"), (plan.staging, "tape staging")):
        if len(part):
            write_table(part, out, title)
    if len(plan.supersedes):
        write_table(plan.supersedes.head(STEP_ROWS), out, "superseded")
    if len(plan.steps) > STEP_ROWS:
        options.note(f"showing {STEP_ROWS} of {len(plan.steps)} steps ('plan export' has all)")
    columns = ["seq", "transformation", "site", "output_did", "output_bytes", "cpu_hours"]
    write_table(plan.steps.head(STEP_ROWS)[[*columns, "placement"]], out, "steps")


GROUPS = {"plan": plan_app}
