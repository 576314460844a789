"""``rucio push``: a repair plan as replication rules on a Rucio server.

The plan is ``lifecycle repair --format rucio`` output (JSON lines: did, copies, rse_expression,
source_replica_expression, comment, findings) or a saved ``repair --format json`` document (its
transfers, grouped into rules as :mod:`lifecycle.repair.rucio` groups them). Each rule is
checked against the rules Rucio already has on its DID (``list_did_rules``): one with the same
RSE expression is not made again. Without ``apply`` a preview; with it, each new rule is created
(``add_replication_rule``) and its state read back; a rule Rucio refuses is reported with why
and the others still go. The caller records the created rules in the catalog, each next to the
finding it repairs (:func:`lifecycle.rucio.rules.record_pushed`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.errors import RucioUnavailable, UsageError
from lifecycle.repair.rucio import rules as plan_rules
from lifecycle.rucio.client import RucioSettings, connect, rucio_errors
from lifecycle.rucio.mapping import rule_row
from lifecycle.text import count
from lifecycle.values import envelope

COLUMNS = ["did", "copies", "rse_expression", "source_replica_expression", "status", "rule_id",
           "findings", "comment", "error"]  # fmt: skip


@dataclass
class PushResult:
    """Each rule of the plan: ``status`` new (previewed), created, exists (Rucio has a rule of
    the same DID and expression: ``rule_id`` is it) or failed (``error`` says why)."""

    plan: str
    rules: list[dict[str, Any]]
    applied: bool = False
    recorded: int = 0  # rules recorded in the catalog
    created_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        out = {"new": 0, "created": 0, "exists": 0, "failed": 0}
        for rule in self.rules:
            out[rule["status"]] += 1
        return out

    @property
    def failed(self) -> bool:
        return any(r["status"] == "failed" for r in self.rules)

    def summary_line(self) -> str:
        c = self.counts()
        if self.applied:
            return (
                f"rucio push {self.plan}: {count(c['created'], 'rule')} created, "
                f"{c['exists']} already there, {c['failed']} failed"
            )
        return (
            f"rucio push {self.plan}: {count(c['new'], 'rule')} to create, {c['exists']} "
            "already there (a preview: --apply creates them)"
        )

    def to_dict(self) -> dict[str, Any]:
        summary = {"plan": self.plan, "applied": self.applied, "counts": self.counts(),
                   "recorded": self.recorded}  # fmt: skip
        return envelope("rucio-push", summary, rules=self.rules)

    def records(self):
        import pandas as pd

        shown = [{**r, "findings": ",".join(r.get("findings") or [])} for r in self.rules]
        return pd.DataFrame(shown, columns=COLUMNS)


def read_plan(path: str) -> list[dict[str, Any]]:
    """The rules of a plan file (``-``: standard input); see the module."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the plan: {getattr(exc, 'strerror', exc)}") from None
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("{") and "\n{" not in stripped:
        document = _json(stripped, path, 1)
        transfers = document.get("transfers")
        if transfers is None and isinstance(document.get("data"), dict):
            transfers = document["data"].get("transfers")
        if isinstance(transfers, list):
            return [_checked(r, path, 1) for r in plan_rules(transfers)]
        return [_checked(document, path, 1)]
    return [
        _checked(_json(line, path, number), path, number)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _json(text: str, path: str, number: int) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}:{number}: not a rule (JSON): {exc.msg}; give 'repair --format rucio' "
            "output or a saved 'repair --format json' plan"
        ) from None
    if not isinstance(found, dict):
        raise UsageError(f"{path}:{number}: not a rule: a JSON object is expected")
    return found


def _checked(rule: dict[str, Any], path: str, number: int) -> dict[str, Any]:
    for key in ("did", "copies", "rse_expression"):
        if rule.get(key) in (None, ""):
            raise UsageError(f"{path}:{number}: {key}: missing")
    did = str(rule["did"])
    if ":" not in did:
        raise UsageError(f"{path}:{number}: did: {did!r} is not scope:name")
    copies = rule["copies"]
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 1000:
        raise UsageError(f"{path}:{number}: copies: {copies!r} is not a number of copies")
    findings = rule.get("findings") or []
    if not isinstance(findings, list):
        findings = [str(findings)]
    return {
        "did": did,
        "copies": copies,
        "rse_expression": str(rule["rse_expression"]),
        "source_replica_expression": rule.get("source_replica_expression") or None,
        "comment": str(rule.get("comment") or "lifecycle repair")[:250],
        "findings": [str(f) for f in findings],
    }


def push(settings: RucioSettings, plan: str, *, apply: bool = False) -> PushResult:
    """Preview (or with ``apply`` create) the rules of the plan file ``plan`` on Rucio."""
    rules = read_plan(plan)
    result = PushResult(plan, [])
    with connect(settings) as client, rucio_errors(settings, "rucio push"):
        for rule in rules:
            scope, name = rule["did"].split(":", 1)
            there = next(
                (r for r in client.list_did_rules(scope, name)
                 if r.get("rse_expression") == rule["rse_expression"]),
                None,
            )  # fmt: skip
            entry = {**rule, "status": "new", "rule_id": None, "error": None}
            if there is not None:
                entry.update(status="exists", rule_id=there["id"])
            elif apply:
                _create(client, settings, entry, result)
            result.rules.append(entry)
    result.applied = apply
    return result


def _create(client, settings: RucioSettings, entry: dict[str, Any], result: PushResult) -> None:
    """Create one rule; a refusal is kept as the entry's error (the other rules still go)."""
    scope, name = entry["did"].split(":", 1)
    try:
        with rucio_errors(settings, f"add_replication_rule {entry['did']}"):
            ids = client.add_replication_rule(
                dids=[{"scope": scope, "name": name}],
                copies=entry["copies"],
                rse_expression=entry["rse_expression"],
                source_replica_expression=entry["source_replica_expression"],
                comment=entry["comment"],
            )
            rule = client.get_replication_rule(ids[0])
    except RucioUnavailable as exc:  # one line, kept with the rule
        entry.update(status="failed", error=str(exc))
        return
    entry.update(status="created", rule_id=ids[0])
    row = rule_row(rule)
    row["finding"] = (
        f"{entry['did']}: " + ", ".join(entry["findings"]) if entry["findings"] else entry["did"]
    )
    result.created_rows.append(row)
