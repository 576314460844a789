"""``lifecycle repair``: the plan that restores every replication and preservation rule.

Mirrors :mod:`lifecycle.repair` through the ``Catalog`` facade.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.errors import UsageError
from lifecycle.output.lines import LinedReport
from lifecycle.text import human_bytes

if TYPE_CHECKING:
    from lifecycle.api import RepairPlan

ROWS = 25  # transfers and unrepaired violations shown to people (json and csv list all)
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(B|kB|KB|MB|GB|TB|PB)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}


def parse_size(text: str | None, option: str) -> int | None:
    """``50TB``, ``1.5PB`` or a number of bytes, as bytes (decimal units, as storage is sold)."""
    if text is None:
        return None
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise UsageError(f"{option}: {text!r} is not a size (bytes, or e.g. 500TB, 1.5PB)")
    value = float(found[1]) * _UNITS[(found[2] or "b").lower()]
    if value > options.INT_MAX:
        raise UsageError(f"{option}: {text!r} is out of range")
    return int(value)


def repair(
    ctx: typer.Context,
    policy: options.PolicyOption = None,
    now: Annotated[
        str | None, typer.Option(help="Judge the rules as of this time (ISO 8601): a preview.")
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            help="Repair only these datasets: KEY=VALUE[,VALUE…] (repeatable; kind, data_type, "
            "scope, did; globs for data_type and did).",
            show_default=False,
        ),
    ] = None,
    drain: Annotated[
        list[str] | None,
        typer.Option("--drain", help="Empty this site's storage (repeatable).", metavar="SITE"),
    ] = None,
    drain_endpoints: Annotated[
        str | None,
        typer.Option(
            "--drain-endpoints", help="Empty the endpoints this expression selects.", metavar="EXPR"
        ),
    ] = None,
    max_per_site: Annotated[
        str | None,
        typer.Option(
            "--max-per-site",
            help="Bytes one destination site may receive in this plan (e.g. 500TB).",
            metavar="SIZE",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="Seed of the spread over targets.")
    ] = 0,
    apply: options.ApplyOption = False,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            help="With --apply: record the plan only if its digest is this one (the preview's).",
            metavar="DIGEST",
        ),
    ] = None,
    fmt: Annotated[
        options.RepairFormat,  # type: ignore[valid-type]
        typer.Option(
            "--format",
            "-f",
            help="table for people; json or csv for scripts; rucio (JSON lines) or rucio-shell "
            "(rucio add-rule commands) for Rucio.",
        ),
    ] = options.RepairFormat.table,  # type: ignore[attr-defined]
) -> None:
    """Plan the new replicas that restore every replication and preservation rule.

    For each violating dataset, the fewest new copies satisfying every rule it breaks, on
    endpoints with room, each with its source and why; what cannot be repaired, and why. With
    --drain, every replica on that storage moves so that every rule still holds. Without
    --apply, a preview: nothing changes. --apply plans again under the lock and records each
    new replica as copying with a queued transfer ('lifecycle transfers'); --expect DIGEST
    refuses if that plan is not the one previewed. Exit 1 when some violation cannot be
    repaired.
    """
    with options.closing(fmt) as closing:
        plan = options.catalog(ctx).repair(
            options.policies(policy),
            options.parse_time(now, "--now"),
            select=select,
            drain_sites=tuple(drain or ()),
            drain_endpoints=drain_endpoints,
            max_per_site=parse_size(max_per_site, "--max-per-site"),
            seed=seed,
            apply=apply,
            expect=expect,
        )
        closing.text = f"planned {options.count(len(plan.transfers), 'transfer')}"
        options.emit(_report(plan, fmt.value), fmt)
        if plan.blocked:
            sys.stdout.flush()
            raise typer.Exit(1)


def _report(plan: RepairPlan, fmt: str) -> LinedReport:
    """The plan in every format; its rows (pandas) only for csv, the one format writing them."""
    rucio = options.api().rucio_lines
    return LinedReport(
        plan.records() if fmt == "csv" else None,
        document=plan.to_dict,
        people=partial(_people, plan),
        lines={"rucio": partial(rucio, plan, "json"), "rucio-shell": partial(rucio, plan, "shell")},
    )


def _people(plan: RepairPlan, out: IO[str]) -> None:
    """The summary, then each transfer and each violation left as a DID and an indented line
    saying what and why (the reasons are sentences: a table column would fold them to bits)."""
    for text in plan.lines():
        options.line(out, text)
    _listed(out, "new replicas", [
        (t["did"], f"-> {t['target']} ({human_bytes(t['bytes'])}): {t['reason']}")
        for t in plan.transfers
    ])  # fmt: skip
    _listed(out, "cannot be repaired", [
        (u["did"], f"{u['rule']}: {u['reason']}") for u in plan.unrepaired
    ])  # fmt: skip
    if plan.applied:
        options.note("recorded: see 'lifecycle transfers list'")
    else:
        options.note(f"a preview: nothing changed; --apply --expect {plan.digest} records it")


def _listed(out: IO[str], title: str, entries: list[tuple[str, str]]) -> None:
    if not entries:
        return
    options.line(out, f"{title}:")
    for did, text in entries[:ROWS]:
        options.line(out, f"    {did}")
        options.line(out, f"        {text}")
    if len(entries) > ROWS:
        options.line(out, f"    ... and {options.number(len(entries) - ROWS)} more "
                          "(--format json or csv lists all)")  # fmt: skip


COMMANDS = {"repair": repair}
