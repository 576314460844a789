"""The audit: every rule of the loaded policies evaluated over the whole catalog, kept as history.

``run_audit`` evaluates and records one audit run (one transaction, one journal entry);
``lifecycle.audit.rules`` holds one evaluator per rule type; ``lifecycle.audit.history`` stores
runs, lists them and diffs two of them for nightly cron reports. A service: it may import
``provenance``, ``policy``, ``catalog`` and the leaf modules; never the api or the CLI.
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.audit.history import record_run
from lifecycle.audit.rules import EVALUATORS, SqlFindings
from lifecycle.catalog.sql import frame, statement, temporary_table
from lifecycle.catalog.store import current_actor, utcnow
from lifecycle.policy import SEVERITIES, PolicySet, endpoint_sets
from lifecycle.provenance.reproducibility import irreproducible_table
from lifecycle.values import json_value, records

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
    findings: pd.DataFrame | None = field(repr=False)  # None when run without findings

    def fails(self, fail_on: str = "error") -> bool:
        """Whether a finding at or above ``fail_on`` exists (``never``: never fails)."""
        if fail_on == "never":
            return False
        threshold = SEVERITY_RANK[fail_on]
        counts = self.summary["by_severity"]
        return any(n and SEVERITY_RANK[severity] >= threshold for severity, n in counts.items())

    def to_dict(self) -> dict[str, Any]:

        findings = [] if self.findings is None else records(self.findings)
        for finding in findings:
            finding["details"] = json.loads(finding["details"])
        return {"run": self.run, "summary": self.summary, "findings": findings}

    def summary_line(self) -> str:
        counts = self.summary["by_severity"]
        if self.run.get("recorded", True):
            run = f"audit run {self.run['id']}"
        elif self.run.get("preview"):
            run = f"audit as of {self.run['as_of']} (a preview, not recorded)"
        else:
            run = "audit run not recorded"
        return (
            f"{run}: {self.summary['findings']} findings "
            f"({counts['error']} errors, {counts['warning']} warnings, {counts['info']} info) "
            f"from {self.summary['rules']} rules over {self.summary['datasets']} datasets"
        )


def run_audit(
    conn: Connection,
    change: Change | None,
    policies: PolicySet,
    now: datetime,
    *,
    with_findings: bool = True,
    preview: bool = False,
) -> AuditReport:
    """Evaluate every rule on ``conn`` and, with ``change`` (the caller's write transaction),
    record the run; without it nothing is recorded and the run has no id (``preview``: because
    it is judged as of another time than the present, which the summary line says).

    Without ``record`` the run is not kept (its id is None) and a read transaction will do.

    Findings gather in a temporary table: rules that can flag a large part of the catalog write
    there straight from SQL, the others insert their (few) explained rows. Counts, history and,
    when ``with_findings``, the report's findings are read from it.
    """
    started = time.perf_counter()
    started_at = utcnow()
    endpoints_by_rule = endpoint_sets(conn, policies)
    needs_repro = any(rule.type == "reproducibility" for rule in policies.rules)
    temporary_table(conn, FINDINGS_TABLE, _FINDINGS_COLUMNS)
    with irreproducible_table(conn) if needs_repro else nullcontext():
        for rule in policies.rules:
            found = EVALUATORS[rule.type](conn, rule, now, endpoints_by_rule.get(rule.name))
            constants = {"rule": rule.name, "policy": rule.policy, "severity": rule.severity}
            if isinstance(found, SqlFindings):
                found.insert_into(conn, FINDINGS_TABLE, constants)
            elif found:
                conn.execute(
                    statement(
                        f"INSERT INTO {FINDINGS_TABLE} ({', '.join(FINDING_COLUMNS)}) VALUES "
                        "(:rule, :policy, :did, :severity, :message, :details)"
                    ),
                    [
                        {**constants, "did": did, "message": message, "details": details}
                        for did, message, details in found
                    ],
                )
    counts = conn.exec_driver_sql(
        f"SELECT rule, severity, COUNT(*) FROM {FINDINGS_TABLE} GROUP BY rule, severity"
    ).all()
    by_rule = {rule.name: 0 for rule in policies.rules}
    by_severity = {s: 0 for s in SEVERITIES}
    for rule_name, severity, n in counts:
        by_rule[rule_name] += int(n)
        by_severity[severity] += int(n)
    total = sum(by_rule.values())
    summary = {
        "findings": total,
        "by_severity": by_severity,
        "by_rule": by_rule,
        "rules": len(policies.rules),
        "datasets": int(conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar() or 0),
    }
    run = {
        "started_at": started_at,
        "as_of": now,
        "actor": change.actor if change is not None else current_actor(),
        "policy_hash": policies.content_hash,
        "policies": ",".join(p.name for p in policies.policies),
        "rule_names": [rule.name for rule in policies.rules],
        "seconds": round(time.perf_counter() - started, 3),
    }
    run["id"] = record_run(conn, run, summary, FINDINGS_TABLE) if change is not None else None
    run["recorded"] = change is not None
    run["preview"] = preview
    findings = _read_findings(conn, policies) if with_findings else None
    conn.exec_driver_sql(f"DROP TABLE {FINDINGS_TABLE}")
    if change is not None:
        change.summary = f"audit run {run['id']}: {total} findings"

    return AuditReport({k: json_value(v) for k, v in run.items()}, summary, findings)


FINDINGS_TABLE = "tmp_audit_finding"
_FINDINGS_COLUMNS = ", ".join(f"{column} TEXT NOT NULL" for column in FINDING_COLUMNS)


def _read_findings(conn: Connection, policies: PolicySet) -> pd.DataFrame:
    """The run's findings in rule order, then DID order."""
    found = frame(conn, f"SELECT {', '.join(FINDING_COLUMNS)} FROM {FINDINGS_TABLE}")
    if found.empty:
        return _no_findings()
    order = {rule.name: i for i, rule in enumerate(policies.rules)}
    found["_order"] = found["rule"].map(order)
    found = found.sort_values(["_order", "did"], kind="stable").drop(columns="_order")
    return found.reset_index(drop=True)


def _no_findings() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=FINDING_COLUMNS)
