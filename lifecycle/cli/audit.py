"""``lifecycle audit`` (with ``history`` and ``diff``) and ``lifecycle policy check|show``."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli.options import (
    INT_MAX,
    DetailFormat,
    DetailFormatOption,
    FormatOption,
    ListingFormat,
    PolicyOption,
    catalog,
    emit_json,
    note,
    parse_time,
    show,
)
from lifecycle.text import printable
from lifecycle.values import records

audit_app = typer.Typer(
    help="Evaluate the policies over the catalog; history and diff of runs.",
    invoke_without_command=True,
)
policy_app = typer.Typer(help="Policy documents: validate and show.")

PER_RULE_ON_SCREEN = 25


class AuditFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    parquet = "parquet"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    never = "never"


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.add_typer(policy_app, name="policy")


def _parse_now(value: str | None) -> datetime | None:
    return parse_time(value, "--now")


@audit_app.callback()
def audit(
    ctx: typer.Context,
    policy: PolicyOption = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="Judge as of this time (ISO 8601) instead of now: a preview, not recorded."
        ),
    ] = None,
    fmt: Annotated[AuditFormat, typer.Option("--format", "-f", help="Output.")] = (
        AuditFormat.table
    ),
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe.")
    ] = FailOn.error,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print one summary line.")] = False,
    no_record: Annotated[
        bool,
        typer.Option("--no-record", help="Do not keep this run in the history (reads only)."),
    ] = False,
) -> None:
    """Evaluate every rule over the whole catalog; exit 1 when findings reach --fail-on."""
    if ctx.invoked_subcommand is not None:
        return
    from lifecycle.policy import load_policies

    policies = load_policies(policy)
    cat = catalog(ctx)
    report = cat.audit(policies, _parse_now(now), with_findings=not quiet, record=not no_record)
    if report.run["id"] is None and not no_record and now is None:
        note("the catalog is read-only: this audit run was not recorded (--no-record: on purpose)")
    if quiet:
        typer.echo(report.summary_line())
    elif fmt is AuditFormat.json:
        emit_json(report.to_dict())
    elif fmt is AuditFormat.csv:
        show(_flat(report.findings), "csv")
    elif fmt is AuditFormat.parquet:
        _write_parquet(_flat(report.findings))
    else:
        _print_report(report, policies)
    if report.fails(fail_on.value):
        raise typer.Exit(1)


def _flat(findings):
    return findings  # details are JSON text already


def _write_parquet(frame) -> None:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    sys.stdout.flush()
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()


def _print_report(report, policies) -> None:
    """Rules and findings for people; rule names, descriptions, DIDs and messages literally."""
    from rich.console import Console
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)
    findings = report.findings
    for rule in policies.rules:
        mine = findings[findings["rule"] == rule.name]
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}[rule.severity]
        mark = "ok" if mine.empty else f"{len(mine)} finding{'s' if len(mine) != 1 else ''}"
        line = Text.assemble(
            (f"{rule.severity:<7}", style),
            " ",
            (printable(rule.name), "bold"),
            f" ({printable(rule.type)}): {mark}",
        )
        if rule.description:
            line.append(f"  {printable(rule.description)}", style="dim")
        console.print(line)
        for did, message in zip(
            mine["did"][:PER_RULE_ON_SCREEN], mine["message"][:PER_RULE_ON_SCREEN], strict=True
        ):
            console.print(Text(f"    {printable(did)}\n        {printable(message)}"))
        if len(mine) > PER_RULE_ON_SCREEN:
            console.print(
                f"    ... and {len(mine) - PER_RULE_ON_SCREEN} more (--format json or csv lists all)"
            )
    console.print(report.summary_line(), highlight=False, markup=False)


@audit_app.command("history")
def history(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=0, max=INT_MAX, help="The most recent N runs; 0 for all.")
    ] = 20,
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """List past audit runs, newest first."""
    show(catalog(ctx).audit_history(limit or None), fmt, "audit runs")


@audit_app.command("diff")
def diff(
    ctx: typer.Context,
    run_a: Annotated[int | None, typer.Argument(max=INT_MAX, help="Older run id.")] = None,
    run_b: Annotated[int | None, typer.Argument(max=INT_MAX, help="Newer run id.")] = None,
    fmt: DetailFormatOption = DetailFormat.table,
) -> None:
    """Findings that appeared and that were resolved between two runs (default: the last two)."""
    result = catalog(ctx).audit_diff(run_a, run_b)
    if fmt is DetailFormat.json:
        emit_json(
            {
                "from": result["from"],
                "to": result["to"],
                "appeared": records(result["appeared"]),
                "resolved": records(result["resolved"]),
            }
        )
        return
    note(f"audit runs {result['from']} -> {result['to']}")
    show(result["appeared"], fmt, f"appeared in run {result['to']}")
    show(result["resolved"], fmt, f"resolved since run {result['from']}")


@policy_app.command("check")
def policy_check(
    files: Annotated[list[Path], typer.Argument(help="Policy documents to validate.")],
) -> None:
    """Validate policy documents; exit 2 naming file, rule and field on the first problem."""
    from lifecycle.policy import load_policies

    policies = load_policies(files)
    for p in policies.policies:
        typer.echo(f"ok: {p.file}: policy {p.name!r}, {len(p.rules)} rules")


@policy_app.command("show")
def policy_show(policy: PolicyOption = None, fmt: FormatOption = ListingFormat.table) -> None:
    """Print the loaded rules."""
    import pandas as pd

    from lifecycle.policy import load_policies

    rules = load_policies(policy).rules
    rows = []
    for rule in rules:
        data = rule.as_dict()
        rows.append(
            {
                "policy": data.pop("policy"),
                "rule": data.pop("name"),
                "type": data.pop("type"),
                "severity": data.pop("severity"),
                "select": ", ".join(f"{k}={'|'.join(v)}" for k, v in data.pop("select").items())
                or "*",
                "requirement": _requirement(data),
            }
        )
    show(pd.DataFrame(rows), fmt, "rules")


def _requirement(data: dict) -> str:
    data.pop("description", None)
    return ", ".join(f"{k}={v}" for k, v in data.items() if v is not None)
