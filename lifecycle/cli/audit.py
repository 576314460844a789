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
from lifecycle.errors import UsageError
from lifecycle.output import Entries, Report, Rows
from lifecycle.output.tables import console
from lifecycle.text import printable
from lifecycle.values import envelope, records

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import AuditReport, PolicySet
    from lifecycle.audit import FindingRows

audit_app = typer.Typer(
    help="Evaluate the policies over the catalog; history and diff of runs.",
    invoke_without_command=True,
)
policy_app = typer.Typer(help="Policy documents: validate and show.")

PER_RULE_ON_SCREEN = 25


CAUSES_ON_SCREEN = 50


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    new = "new"
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
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding is at least this severe (new: when a finding appeared "
            "since the previous run).",
        ),
    ] = FailOn.error,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="For cron: print nothing when the findings are those of the previous run, else "
            "the summary line and what changed (the report goes only to --output).",
        ),
    ] = False,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary", help="Print one summary line (the report goes only to --output)."
        ),
    ] = False,
    no_record: Annotated[
        bool,
        typer.Option("--no-record", help="Do not keep this run in the history (reads only)."),
    ] = False,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="Count the findings by cause (rule and what its message says, without dates), "
            "by rule or by site (where the dataset's copies are), or a comma list (rule,site: "
            "by rule, then site), instead of listing them.",
            metavar="rule|cause|site[,site]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate every rule over the whole catalog; exit 1 when findings reach --fail-on."""
    if ctx.invoked_subcommand is not None:
        return
    rules = options.policies(policy)
    judged_at = options.parse_time(now, "--now")
    recording = not no_record and now is None
    if fail_on == FailOn.new and not recording:
        raise UsageError("--fail-on new: compares with the previous run, so the run is recorded")
    unrecorded = partial(_note_unrecorded, recorded_on_purpose=no_record or now is not None)
    brief = quiet or summary
    to_file = options.output_requested()
    keys = None if group_by is None else options.api().group_keys(group_by)
    shown = _show if keys is None else partial(_show_groups, keys)
    show = partial(shown, rules, fmt, unrecorded) if not brief or to_file else None
    if show is not None and keys is None:  # the table says what repair would do
        hints = partial(options.catalog(ctx).repair_hints, rules, judged_at)
        show = partial(shown, rules, fmt, unrecorded, hints=hints)
    with options.closing(fmt, quiet=quiet) as closing:
        # findings are written as they are read, inside the recorded run's transaction: machine
        # formats (large) are spooled and reach stdout after the commit; the table shows 25 a rule
        with options.spooled_stdout(recording and fmt != options.ListingFormat.table):
            report = options.catalog(ctx).audit(
                rules, judged_at, with_findings=False, record=not no_record, show=show
            )
        closing.text = (
            f"audited {options.count(report.summary['datasets'], 'dataset')} against "
            f"{options.count(report.summary['rules'], 'rule')}"
        )
        changes = _changes(ctx, report) if quiet or fail_on == FailOn.new else None
        changed = changes is None or changes[0] is None or any(changes[1:])
        if brief:
            if show is None:
                unrecorded(report)
            if summary or changed:
                typer.echo(report.summary_line())
            if quiet and changed and changes is not None and changes[0] is not None:
                previous, appeared, resolved, other = changes
                typer.echo(
                    f"since run {previous}: {options.count(appeared, 'finding')} appeared, "
                    f"{options.number(resolved)} resolved"
                    + (f", {options.number(other)} changed" if other else "")
                    + " (lifecycle audit diff)"
                )
        if fail_on == FailOn.new:
            if changes is not None and changes[1]:
                raise typer.Exit(1)
        elif report.fails(fail_on.value):
            raise typer.Exit(1)


def _changes(ctx: typer.Context, report: AuditReport) -> tuple[int | None, int, int, int] | None:
    """(previous run, findings appeared, resolved, changed) between the previous run and this
    recorded one, as ``audit diff`` counts them (by rule and DID; changed: another message or
    details for the same rule and DID); everything appeared when there is no
    previous run; None when this run was not recorded (nothing to compare)."""
    run = report.run["id"]
    if run is None:
        return None
    found = options.catalog(ctx).audit_changes(run)
    return found["previous"], found["appeared"], found["resolved"], found["changed"]


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
    hints: Callable[[list[str]], dict[tuple[str, str], str]] | None = None,
) -> None:
    """Write the report in ``fmt`` while its findings are read, a chunk at a time (JSON: one
    compact finding a line, composed without the generic encoder; the table for people reads
    only the findings it shows, and under each replication or preservation finding, what
    ``lifecycle repair`` would do: ``hints`` of the DIDs shown)."""
    unrecorded(report)

    def document() -> dict:  # AuditReport.to_dict's envelope, its findings streamed
        findings = Entries(chunks.json_texts(), encoded=True)
        return envelope("audit", report.summary, run=report.run, findings=findings)

    people = partial(_print_report, report, rules, chunks, hints=hints)
    findings = Rows(report.columns, chunks, csv_lines=chunks.csv_lines)
    options.emit(Report(findings, document=document, people=people, compact_entries=True), fmt)


def _show_groups(
    keys: tuple[str, ...],
    rules: PolicySet,
    fmt: options.ListingFormat,
    unrecorded: Callable[[AuditReport], None],
    report: AuditReport,
    chunks: FindingRows,
) -> None:
    """The findings counted by cause, rule or site: summary first, then the biggest groups."""
    unrecorded(report)
    frame = options.api().finding_groups(chunks, rules, keys)
    kind = {("cause",): "causes", ("rule",): "rules"}.get(keys, "groups")
    nouns = {"causes": "cause", "rules": "rule", "groups": "group"}

    def document() -> dict:
        summary = {**report.summary, kind: len(frame)}
        return envelope(f"audit-{kind}", summary, {kind: records(frame), "run": report.run})

    def people(out: IO[str]) -> None:
        options.line(out, report.summary_line())
        options.line(
            out,
            f"{options.count(report.summary['findings'], 'finding')} from "
            f"{options.count(len(frame), nouns[kind])}"
            + (" (a dataset counts at each site holding a copy)" if "site" in keys else ""),
        )
        if kind != "rules":  # per rule, in the policies' order: summary first
            per_rule = frame.groupby("rule", sort=False).agg(groups=("rule", "size"))
            for rule in [r.name for r in rules.rules if r.name in per_rule.index]:
                n = report.summary["by_rule"][rule]
                groups = int(per_rule.loc[rule, "groups"])
                options.line(
                    out,
                    f"  {rule}: {options.count(n, 'finding')}, {options.count(groups, nouns[kind])}",
                )
        title = f"findings by {','.join(keys)}"
        options.bounded_table(frame, out, title, CAUSES_ON_SCREEN)

    options.emit(Report(frame, document=document, people=people), fmt)


def _print_report(
    report: AuditReport,
    rules: PolicySet,
    chunks: FindingRows,
    out: IO[str],
    hints: Callable[[list[str]], dict[tuple[str, str], str]] | None = None,
) -> None:
    """Rules and findings for people; rule names, descriptions, DIDs and messages literally;
    under a replication or preservation finding, what repair would do (``hints``)."""
    from rich.text import Text

    first: dict[str, list[tuple[str, str]]] = defaultdict(list)  # rule -> (DID, message)
    for chunk in chunks.first(PER_RULE_ON_SCREEN):
        for rule_name, _, did, _, message, _ in chunk:
            if len(first[rule_name]) < PER_RULE_ON_SCREEN:
                first[rule_name].append((did, message))
    repairable = {r.name for r in rules.rules if r.type in ("replication", "preservation")}
    shown = sorted({did for name in repairable for did, _ in first.get(name, [])})
    said = hints(shown) if hints is not None and shown else {}
    screen = console(out, 160)
    for rule in rules.rules:
        found = report.summary["by_rule"][rule.name]
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}[rule.severity]
        mark = "ok" if not found else options.count(found, "finding")
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
            hint = said.get((did, rule.name))
            if hint:
                screen.print(Text(f"        -> {printable(hint)}", style="dim"))
        if found > PER_RULE_ON_SCREEN:
            screen.print(
                f"    ... and {options.number(found - PER_RULE_ON_SCREEN)} more "
                "(--format json or csv lists all)"
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
    runs = options.catalog(ctx).audit_history(limit or None)
    options.show(runs, fmt, "audit runs", kind="audit-history", items="runs")


@audit_app.command("diff")
def diff(
    ctx: typer.Context,
    run_a: Annotated[int | None, typer.Argument(max=options.INT_MAX, help="Older run id.")] = None,
    run_b: Annotated[int | None, typer.Argument(max=options.INT_MAX, help="Newer run id.")] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Findings that appeared and that were resolved between two runs (default: the last two);
    the table shows the first few of each rule, json and csv list all."""
    result = options.catalog(ctx).audit_diff(run_a, run_b)
    options.emit(
        Report(
            _diff_rows(result),
            document=partial(_diff_document, result),
            people=partial(_diff, result),
        ),
        fmt,
    )


def _diff_rows(result: dict) -> pd.DataFrame:
    """One row per finding that changed: ``change`` (appeared or resolved), then its columns."""
    import pandas as pd

    parts = [
        result[change].assign(change=change)[["change", *result[change].columns]]
        for change in ("appeared", "resolved")
    ]
    return pd.concat(parts, ignore_index=True)


def _diff_document(result: dict) -> dict:
    appeared, resolved = records(result["appeared"]), records(result["resolved"])
    summary = {"from": result["from"], "to": result["to"], **_diff_counts(result)}
    sections = {"from": result["from"], "to": result["to"]}
    return envelope("audit-diff", summary, sections, appeared=appeared, resolved=resolved)


def _diff_counts(result: dict) -> dict[str, int]:
    return {change: len(result[change]) for change in ("appeared", "resolved")}


def _diff(result: dict, out: IO[str]) -> None:
    """Summary first (counts per rule), then the first few findings of each rule and change."""
    counts = _diff_counts(result)
    options.line(
        out,
        f"audit runs {result['from']} -> {result['to']}: "
        f"{options.count(counts['appeared'], 'finding')} appeared, "
        f"{options.number(counts['resolved'])} resolved",
    )
    per_rule: dict[str, dict[str, int]] = defaultdict(lambda: {"appeared": 0, "resolved": 0})
    for change in ("appeared", "resolved"):
        for rule, n in result[change].groupby("rule", sort=True).size().items():
            per_rule[str(rule)][change] = int(n)
    for rule in sorted(per_rule):
        c = per_rule[rule]
        options.line(
            out,
            f"  {rule}: {options.number(c['appeared'])} appeared, {options.number(c['resolved'])} resolved",
        )
    for change, caption in (
        ("appeared", f"appeared in run {result['to']}"),
        ("resolved", f"resolved since run {result['from']}"),
    ):
        found = result[change]
        for rule in sorted(per_rule):
            of_rule = found[found["rule"] == rule]
            if len(of_rule):
                options.bounded_table(
                    of_rule.drop(columns="rule"), out, f"{caption}: {rule}", PER_RULE_ON_SCREEN
                )


@policy_app.command("check")
def policy_check(
    files: Annotated[list[Path], typer.Argument(help="Policy documents to validate.")],
) -> None:
    """Validate policy documents; exit 2 naming file, rule and field on the first problem."""
    for p in options.api().load_policies(files, given_as="FILE").policies:
        typer.echo(f"ok: {p.file}: policy {p.name!r}, {options.count(len(p.rules), 'rule')}")


@policy_app.command("show")
def policy_show(
    policy: options.PolicyOption = None, fmt: options.FormatOption = options.ListingFormat.table
) -> None:
    """Print the loaded rules (json: each rule's fields, typed, as the policy gives them)."""
    rules = options.policies(policy)
    frame = options.api().policy_rules(rules)
    options.emit(Report(frame, title="rules", document=rules.to_dict), fmt)


GROUPS = {"audit": audit_app, "policy": policy_app}
