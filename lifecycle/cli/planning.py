"""Reprocessing plans: ``plan reprocess|list|show|export|apply``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli.options import (
    INT_MAX,
    ApplyOption,
    DetailFormat,
    DetailFormatOption,
    FormatOption,
    ListingFormat,
    PolicyOption,
    catalog,
    emit_json,
    no_policies,
    note,
    optional_policies,
    show,
)
from lifecycle.text import human_bytes, printable

STEP_ROWS = 50
plan_app = typer.Typer(help="Reprocessing plans: what to rebuild, with what, at what cost.")


class PlanExportFormat(StrEnum):
    json = "json"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")


def _selector(values: list[str]):
    from lifecycle.policy import SELECT_KEYS, Selector

    found: dict[str, list[str]] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or key not in SELECT_KEYS or not text:
            raise _usage(
                f"--select: {value!r} is not KEY=VALUE[,VALUE…] with KEY one of "
                f"{', '.join(SELECT_KEYS)}"
            )
        found.setdefault(key, []).extend(v for v in text.split(",") if v)
    found.setdefault("kind", ["raw"])
    return Selector(**{k: tuple(v) for k, v in found.items()})


def _usage(message: str):
    from lifecycle.errors import UsageError

    return UsageError(message)


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
            "data_type and did) [default: kind=raw].",
            show_default=False,
        ),
    ] = None,
    conditions: Annotated[
        str | None,
        typer.Option("--conditions", help="New conditions tag [default: each input's last]."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the saved plan.")] = None,
    policy: PolicyOption = None,
    fmt: DetailFormatOption = DetailFormat.table,
) -> None:
    """Plan (and save) the reprocessing of the selected inputs; exit 1 when it has blockers."""
    policies = optional_policies(policy)
    plan = catalog(ctx).plan_reprocess(_selector(select or []), chain, conditions, name, policies)
    _show_plan(plan, fmt)
    if policies is None:
        no_policies("outputs get one disk copy at the site that makes them")
    if len(plan.blockers):
        raise typer.Exit(1)


@plan_app.command("list")
def plan_list(ctx: typer.Context, fmt: FormatOption = ListingFormat.table) -> None:
    """Saved plans, with their totals and whether they were applied."""
    show(catalog(ctx).plans(), fmt, "plans")


@plan_app.command("show")
def plan_show(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=INT_MAX, help="Plan id (see 'plan list').")],
    fmt: DetailFormatOption = DetailFormat.table,
) -> None:
    """One saved plan: summary, blockers, staging, supersessions and steps."""
    plan = catalog(ctx).plan(plan_id)
    _show_plan(plan, fmt)
    if len(plan.blockers):
        raise typer.Exit(1)


@plan_app.command("export")
def plan_export(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=INT_MAX, help="Plan id.")],
    fmt: Annotated[
        PlanExportFormat, typer.Option("--format", "-f", help="json (the whole plan) or parquet.")
    ] = PlanExportFormat.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: stdout].")
    ] = None,
) -> None:
    """Export a plan: JSON of everything, or Parquet of its steps (with their inputs)."""
    if output is not None and not output.parent.is_dir():
        raise _usage(f"--output: directory of {str(output)!r} does not exist")
    plan = catalog(ctx).plan(plan_id)
    if fmt is PlanExportFormat.json:
        if output is None:
            emit_json(plan.to_dict())
        else:
            import json

            output.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
        return
    import io

    steps = plan.steps.copy()
    grouped = plan.step_inputs.groupby("seq")
    steps["inputs"] = steps["seq"].map(grouped["did"].apply(list))
    steps["input_roles"] = steps["seq"].map(grouped["role"].apply(list))
    buffer = io.BytesIO()
    steps.to_parquet(buffer, index=False)
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(buffer.getvalue())


@plan_app.command("delete")
def plan_delete(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=INT_MAX, help="Plan id.")],
    policy: PolicyOption = None,
) -> None:
    """Forget a saved plan, saying which inputs it no longer keeps from expiry.

    Acts directly (it deletes no data); with policies, says which freed inputs 'expire' would
    now delete.
    """

    policies = optional_policies(policy)
    for line in catalog(ctx).delete_plan(plan_id, policies).lines():
        typer.echo(printable(line))
    if policies is None:
        no_policies("what expiry would now decide is not checked")


@plan_app.command("apply")
def plan_apply(
    ctx: typer.Context,
    plan_id: Annotated[int, typer.Argument(max=INT_MAX, help="Plan id.")],
    apply: ApplyOption = False,
) -> None:
    """Simulate the campaign: register its productions, datasets and replicas (with --apply)."""

    cat = catalog(ctx)
    if not apply:
        plan = cat.plan(plan_id)
        summary = plan.summary()
        placed = sum(len([e for e in p.split(",") if e]) for p in plan.steps["placement"])
        typer.echo(
            f"plan {plan_id} ({printable(plan.name)}) would register {summary['steps']} "
            f"productions, {summary['steps']} datasets and {placed} replicas"
        )
        if len(plan.blockers):
            typer.echo(f"but it has {len(plan.blockers)} blockers: it cannot be applied")
            raise typer.Exit(1)
        note("dry run: nothing changed; run again with --apply to register them")
        return
    done = cat.apply_plan(plan_id)
    typer.echo(
        f"applied plan {plan_id}: {done['productions']} productions, {done['datasets']} "
        f"datasets, {done['replicas']} replicas"
    )


def _show_plan(plan, fmt: DetailFormat) -> None:

    if fmt is DetailFormat.json:
        emit_json(plan.to_dict())
        return
    s = plan.summary()
    chain = printable(",".join(c.tag for c in plan.chain))
    state = f"applied {plan.applied_at:%Y-%m-%d}" if plan.applied_at else "not applied"
    name = printable(plan.name)
    typer.echo(f"plan {plan.id if plan.id is not None else '(unsaved)'}: {name} [{state}]")
    typer.echo(
        f"  chain {chain}, conditions {printable(plan.conditions_tag or 'as last processed')}; "
        f"{s['inputs']} inputs, {s['steps']} steps, {s['events']:,} events, "
        f"{s['cpu_hours']:,.1f} CPU hours"
    )
    typer.echo(
        f"  stage {human_bytes(s['bytes_staged'])} from tape, write "
        f"{human_bytes(s['bytes_written'])}; supersedes {s['supersedes']} datasets; "
        f"{s['blockers']} blockers"
    )
    if len(plan.blockers):
        show(plan.blockers, "table", "blockers")
    if len(plan.staging):
        show(plan.staging, "table", "tape staging")
    if len(plan.supersedes):
        show(plan.supersedes.head(STEP_ROWS), "table", "superseded")
    steps = plan.steps.head(STEP_ROWS)
    if len(plan.steps) > STEP_ROWS:
        note(f"showing {STEP_ROWS} of {len(plan.steps)} steps ('plan export' has all)")
    show(
        steps[["seq", "transformation", "site", "output_did", "output_bytes", "cpu_hours",
               "placement"]],
        "table",
        "steps",
    )  # fmt: skip
