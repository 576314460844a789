"""``lifecycle audit`` (with ``history`` and ``diff``) and ``lifecycle policy check|show``.

Mirrors :mod:`lifecycle.audit` (and the policy documents of :mod:`lifecycle.policy`) through
the ``Catalog`` facade and :mod:`lifecycle.api`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Entries, Report, Rows, write_table
from lifecycle.output.tables import console
from lifecycle.text import printable
from lifecycle.values import records

if TYPE_CHECKING:
    from lifecycle.api import AuditReport, PolicySet
    from lifecycle.audit import FindingRows

audit_app = typer.Typer(
    help="Evaluate the policies over the catalog; history and diff of runs.",
    invoke_without_command=True,
)
policy_app = typer.Typer(help="Policy documents: validate and show.")

PER_RULE_ON_SCREEN = 25


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    never = "never"


@audit_app.callback()
def audit(
    ctx: typer.Context,
    policy: options.PolicyOption = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="Judge as of this time (ISO 8601) instead of now: a preview, not recorded."
        ),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
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
    rules = options.policies(policy)
    judged_at = options.parse_time(now, "--now")
    unrecorded = partial(_note_unrecorded, recorded_on_purpose=no_record or now is not None)
    show = None if quiet else partial(_show, rules, fmt, unrecorded)
    # findings are written as they are read, inside the recorded run's transaction: machine
    # formats (large) are spooled and reach stdout after the commit; the table shows 25 a rule
    recording = not no_record and now is None
    with options.spooled_stdout(recording and fmt != options.ListingFormat.table):
        report = options.catalog(ctx).audit(
            rules, judged_at, with_findings=not quiet, record=not no_record, show=show
        )
    if quiet:
        unrecorded(report)
        typer.echo(report.summary_line())
    if report.fails(fail_on.value):
        raise typer.Exit(1)


def _note_unrecorded(report: AuditReport, *, recorded_on_purpose: bool) -> None:
    if report.run["id"] is None and not recorded_on_purpose:
        options.note(
            "the catalog is read-only: this audit run was not recorded (--no-record: on purpose)"
        )


def _show(
    rules: PolicySet,
    fmt: options.ListingFormat,
    unrecorded: Callable[[AuditReport], None],
    report: AuditReport,
    chunks: FindingRows,
) -> None:
    """Write the report in ``fmt`` while its findings are read, a chunk at a time (JSON: one
    compact finding a line, composed without the generic encoder; the table for people reads
    only the findings it shows)."""
    unrecorded(report)

    def document() -> dict:
        return {
            "run": report.run,
            "summary": report.summary,
            "findings": Entries(chunks.json_texts(), encoded=True),
        }

    people = partial(_print_report, report, rules, chunks)
    findings = Rows(report.columns, chunks)
    options.emit(Report(findings, document=document, people=people, compact_entries=True), fmt)


def _print_report(report: AuditReport, rules: PolicySet, chunks: FindingRows, out: IO[str]) -> None:
    """Rules and findings for people; rule names, descriptions, DIDs and messages literally."""
    from rich.text import Text

    first: dict[str, list[tuple[str, str]]] = defaultdict(list)  # rule -> (DID, message)
    for chunk in chunks.first(PER_RULE_ON_SCREEN):
        for rule_name, _, did, _, message, _ in chunk:
            if len(first[rule_name]) < PER_RULE_ON_SCREEN:
                first[rule_name].append((did, message))
    screen = console(out, 160)
    for rule in rules.rules:
        found = report.summary["by_rule"][rule.name]
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}[rule.severity]
        mark = "ok" if not found else f"{found} finding{'s' if found != 1 else ''}"
        line = Text.assemble(
            (f"{rule.severity:<7}", style),
            " ",
            (printable(rule.name), "bold"),
            f" ({printable(rule.type)}): {mark}",
        )
        if rule.description:
            line.append(f"  {printable(rule.description)}", style="dim")
        screen.print(line)
        for did, message in first[rule.name]:
            screen.print(Text(f"    {printable(did)}\n        {printable(message)}"))
        if found > PER_RULE_ON_SCREEN:
            screen.print(
                f"    ... and {found - PER_RULE_ON_SCREEN} more (--format json or csv lists all)"
            )
    screen.print(report.summary_line(), highlight=False, markup=False)


@audit_app.command("history")
def history(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="The most recent N runs; 0 for all.")
    ] = 20,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """List past audit runs, newest first."""
    options.show(options.catalog(ctx).audit_history(limit or None), fmt, "audit runs")


@audit_app.command("diff")
def diff(
    ctx: typer.Context,
    run_a: Annotated[int | None, typer.Argument(max=options.INT_MAX, help="Older run id.")] = None,
    run_b: Annotated[int | None, typer.Argument(max=options.INT_MAX, help="Newer run id.")] = None,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """Findings that appeared and that were resolved between two runs (default: the last two)."""
    result = options.catalog(ctx).audit_diff(run_a, run_b)
    options.emit(
        Report(document=partial(_diff_document, result), people=partial(_diff, result)), fmt
    )


def _diff_document(result: dict) -> dict:
    appeared, resolved = records(result["appeared"]), records(result["resolved"])
    return {"from": result["from"], "to": result["to"], "appeared": appeared, "resolved": resolved}


def _diff(result: dict, out: IO[str]) -> None:
    options.note(f"audit runs {result['from']} -> {result['to']}")
    write_table(result["appeared"], out, f"appeared in run {result['to']}")
    write_table(result["resolved"], out, f"resolved since run {result['from']}")


@policy_app.command("check")
def policy_check(
    files: Annotated[list[Path], typer.Argument(help="Policy documents to validate.")],
) -> None:
    """Validate policy documents; exit 2 naming file, rule and field on the first problem."""
    for p in options.api().load_policies(files, given_as="FILE").policies:
        typer.echo(f"ok: {p.file}: policy {p.name!r}, {len(p.rules)} rules")


@policy_app.command("show")
def policy_show(
    policy: options.PolicyOption = None, fmt: options.FormatOption = options.ListingFormat.table
) -> None:
    """Print the loaded rules (json: each rule's fields, typed, as the policy gives them)."""
    rules = options.policies(policy)
    frame = options.api().policy_rules(rules)
    options.emit(Report(frame, title="rules", document=rules.to_dict), fmt)


GROUPS = {"audit": audit_app, "policy": policy_app}
