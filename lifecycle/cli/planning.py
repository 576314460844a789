"""Reprocessing plans: ``plan reprocess|list|show|export|delete|apply``.

Mirrors :mod:`lifecycle.planning` through the ``Catalog`` facade.
"""

from __future__ import annotations

from enum import Enum
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import human_bytes, printable

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import ReprocessingPlan

# rows of each part of a plan shown to people (json, csv and parquet list all)
STEP_ROWS = 20
STAGING_ROWS = 20
SUPERSEDED_ROWS = 10
BLOCKER_CAUSES = 10
BLOCKED_SUBJECTS = 3  # datasets named under each cause
PLAN_ROWS = 100
PLAN_COLUMNS_HIDDEN = ("actor", "conditions_tag", "events", "applied_by")  # plan list table
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
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the plan (unique among saved plans).")
    ] = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Save the plan (then its inputs are kept from expiry until it is applied or "
            "deleted); without it, only show it.",
        ),
    ] = False,
    policy: options.PolicyOption = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Plan the reprocessing of the selected inputs, and save it with --save; exit 1 when it has
    blockers (csv, parquet: the steps)."""
    with options.closing(fmt) as closing:
        with options.optional_policies(
            policy, "outputs get one disk copy at the site that makes them"
        ) as p:
            cat = options.catalog(ctx)
            plan = cat.plan_reprocess(select or [], chain, conditions, name, p, save=save)
            _show_plan(plan, fmt)
            closing.text = f"planned {options.count(len(plan.steps), 'step')}"
        if not save:
            for note in plan.notes:
                options.note(printable(note))
            options.note(
                "preview: nothing saved; run again with --save to save the plan "
                "(a saved plan keeps its inputs from expiry)"
            )
        if len(plan.blockers):
            raise typer.Exit(1)


@plan_app.command("list")
def plan_list(ctx: typer.Context, fmt: options.FormatOption = options.ListingFormat.table) -> None:
    """Saved plans, with their totals and whether they were applied."""
    found = options.catalog(ctx).plans()
    options.emit(Report(found, title="plans", people=partial(_plans, found), kind="plans"), fmt)


def _plans(found: pd.DataFrame, out: IO[str]) -> None:
    """The plans for people: the columns that tell them apart (json and csv have all)."""
    shown = found[[c for c in found.columns if c not in PLAN_COLUMNS_HIDDEN]].copy()
    shown["cpu_hours"] = shown["cpu_hours"].round(1)
    options.bounded_table(shown, out, "plans", PLAN_ROWS)


@plan_app.command("show")
def plan_show(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=options.INT_MAX, help="Plan id (see 'plan list').")],
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """One saved plan: summary, blockers by cause, staging, supersessions and steps (csv,
    parquet: the steps); exit 1 when it has blockers."""
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
            f"plan {plan_id} ({printable(plan.name)}) would register "
            f"{options.count(steps, 'production')}, {options.count(steps, 'dataset')} and "
            f"{options.count(plan.replicas_placed(), 'replica')}"
        )
        if len(plan.blockers):
            blockers = options.count(len(plan.blockers), "blocker")
            typer.echo(f"but it has {blockers}: it cannot be applied")
            raise typer.Exit(1)
        options.note("dry run: nothing changed; run again with --apply to register them")
        return
    with options.closing() as closing:
        done = cat.apply_plan(plan_id)
        typer.echo(
            f"applied plan {plan_id}: {options.count(done['productions'], 'production')}, "
            f"{options.count(done['datasets'], 'dataset')}, "
            f"{options.count(done['replicas'], 'replica')}"
        )
        closing.text = f"applied plan {plan_id}"


def _show_plan(plan: ReprocessingPlan, fmt: Enum) -> None:
    people = partial(_plan, plan)
    options.emit(Report(plan.steps, document=plan.to_dict, people=people), fmt)


def _plan(plan: ReprocessingPlan, out: IO[str]) -> None:
    """The plan for people: summary first, then blockers by cause, what each tag makes, tape
    staging, supersessions and steps, each bounded (json lists all)."""
    s = plan.summary()
    chain = ",".join(f"{c.tag}:{c.data_type}" if c.data_type else c.tag for c in plan.chain)
    if plan.id is None:
        options.line(out, f"plan (preview, not saved): {plan.name}")
    else:
        state = f"applied {plan.applied_at:%Y-%m-%d}" if plan.applied_at else "not applied"
        options.line(out, f"plan {plan.id}: {plan.name} [{state}]")
    options.line(
        out,
        f"  chain {chain}, conditions {plan.conditions_tag or 'as last processed'}; "
        f"{options.count(s['inputs'], 'input')}, {options.count(s['steps'], 'step')}, "
        f"{options.count(s['events'], 'event')}, {s['cpu_hours']:,.1f} CPU hours",
    )
    options.line(
        out,
        f"  stage {human_bytes(s['bytes_staged'])} from tape, write "
        f"{human_bytes(s['bytes_written'])}; supersedes {options.count(s['supersedes'], 'dataset')}"
        f"; {options.count(s['blockers'], 'blocker')}",
    )
    _blockers(plan, out)
    write_table(plan.by_transformation(), out, "by transformation")
    if len(plan.staging):
        options.bounded_table(plan.staging, out, "tape staging", STAGING_ROWS)
    if len(plan.supersedes):
        options.bounded_table(plan.supersedes, out, "superseded", SUPERSEDED_ROWS)
    columns = ["seq", "transformation", "site", "output_did", "output_bytes", "cpu_hours"]
    options.bounded_table(plan.steps[[*columns, "placement"]], out, "steps", STEP_ROWS)


def _blockers(plan: ReprocessingPlan, out: IO[str]) -> None:
    """Identical blockers once, with how many datasets (or tags) they block and the first few."""
    causes = plan.blocker_causes()
    if not causes:
        return
    total, kinds = options.count(len(plan.blockers), "blocker"), options.count(len(causes), "cause")
    options.line(out, f"{total} ({kinds}): the plan cannot be applied")
    for detail, subjects in causes[:BLOCKER_CAUSES]:
        if len(subjects) == 1:
            options.line(out, f"  {detail}: {subjects[0]}")
            continue
        noun = "dataset" if all(":" in subject for subject in subjects) else "subject"
        options.line(out, f"  {detail}: {options.count(len(subjects), noun)}")
        for subject in subjects[:BLOCKED_SUBJECTS]:
            options.line(out, f"    {subject}")
        if len(subjects) > BLOCKED_SUBJECTS:
            more = len(subjects) - BLOCKED_SUBJECTS
            options.line(out, f"    … and {options.number(more)} more (--format json lists all)")
    if len(causes) > BLOCKER_CAUSES:
        more = len(causes) - BLOCKER_CAUSES
        options.line(out, f"  … and {options.count(more, 'more cause')} (--format json lists all)")


GROUPS = {"plan": plan_app}
