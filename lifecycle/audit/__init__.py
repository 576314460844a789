"""The audit: every rule of the loaded policies evaluated over the whole catalog, kept as history.

``run_audit`` evaluates and records one audit run (one transaction, one journal entry);
``lifecycle.audit.history`` lists runs and diffs two of them for nightly cron reports.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.audit.rules import EVALUATORS
from lifecycle.policy import SEVERITIES, PolicySet

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}
FAIL_ON = ("error", "warning", "never")
FINDING_COLUMNS = ["rule", "policy", "did", "severity", "message", "details"]


@dataclass
class AuditReport:
    """One audit run: what was judged, the counts, and every finding."""

    run: dict[str, Any]
    summary: dict[str, Any]
    findings: pd.DataFrame = field(repr=False)

    def fails(self, fail_on: str = "error") -> bool:
        """Whether a finding at or above ``fail_on`` exists (``never``: never fails)."""
        if fail_on == "never" or self.findings.empty:
            return False
        threshold = SEVERITY_RANK[fail_on]
        return bool(self.findings["severity"].map(SEVERITY_RANK).ge(threshold).any())

    def to_dict(self) -> dict[str, Any]:
        from lifecycle.formats import records

        findings = records(self.findings)
        for finding in findings:
            finding["details"] = json.loads(finding["details"])
        return {"run": self.run, "summary": self.summary, "findings": findings}

    def summary_line(self) -> str:
        counts = self.summary["by_severity"]
        return (
            f"audit run {self.run['id']}: {self.summary['findings']} findings "
            f"({counts['error']} errors, {counts['warning']} warnings, {counts['info']} info) "
            f"from {self.summary['rules']} rules over {self.summary['datasets']} datasets"
        )


def run_audit(conn: Connection, change: Change, policies: PolicySet, now: datetime) -> AuditReport:
    """Evaluate every rule on ``conn`` (inside the caller's write transaction) and record the run."""
    import pandas as pd

    from lifecycle.audit.history import record_run
    from lifecycle.catalog.store import utcnow
    from lifecycle.provenance import materialize_irreproducible

    started = time.perf_counter()
    started_at = utcnow()
    endpoint_sets = _endpoint_sets(conn, policies)
    needs_repro = any(rule.type == "reproducibility" for rule in policies.rules)
    if needs_repro:
        materialize_irreproducible(conn)
    parts = []
    try:
        for rule in policies.rules:
            found = EVALUATORS[rule.type](conn, rule, now, endpoint_sets.get(rule.name))
            found.insert(0, "rule", rule.name)
            found.insert(1, "policy", rule.policy)
            found.insert(3, "severity", rule.severity)
            parts.append(found[FINDING_COLUMNS])
    finally:
        if needs_repro:
            conn.exec_driver_sql("DROP TABLE IF EXISTS tmp_irreproducible")
    findings = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FINDING_COLUMNS)
    )
    datasets = int(conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar() or 0)
    by_severity = {s: int((findings["severity"] == s).sum()) for s in SEVERITIES}
    by_rule = {rule.name: int((findings["rule"] == rule.name).sum()) for rule in policies.rules}
    summary = {
        "findings": len(findings),
        "by_severity": by_severity,
        "by_rule": by_rule,
        "rules": len(policies.rules),
        "datasets": datasets,
    }
    run = {
        "started_at": started_at,
        "as_of": now,
        "actor": change.actor,
        "policy_hash": policies.content_hash,
        "policies": ",".join(p.name for p in policies.policies),
        "seconds": round(time.perf_counter() - started, 3),
    }
    run["id"] = record_run(conn, run, summary, findings)
    change.summary = f"audit run {run['id']}: {len(findings)} findings"
    from lifecycle.formats import json_value

    return AuditReport({k: json_value(v) for k, v in run.items()}, summary, findings)


def _endpoint_sets(conn: Connection, policies: PolicySet) -> dict[str, list[int] | None]:
    """Endpoint ids each replication rule counts (None: every endpoint)."""
    from lifecycle.catalog.queries import endpoint_records
    from lifecycle.errors import InvalidPolicy
    from lifecycle.expressions import select

    rules = [r for r in policies.rules if r.type == "replication"]
    if not rules:
        return {}
    endpoints = endpoint_records(conn)
    ids = {e["name"]: e["_id"] for e in endpoints}
    out: dict[str, list[int] | None] = {}
    for rule in rules:
        if rule.endpoints == "*":
            out[rule.name] = None
            continue
        try:
            names = select(rule.endpoints, endpoints)
        except Exception as exc:  # InvalidExpression: say which rule and file
            message = getattr(exc, "message", str(exc))
            raise InvalidPolicy(rule.file, message, rule=rule.name, field="endpoints") from exc
        out[rule.name] = sorted(ids[n] for n in names)
    return out
