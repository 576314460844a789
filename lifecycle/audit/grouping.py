"""An audit run's findings grouped by cause: the few causes behind thousands of findings.

A finding's message says why a dataset fails its rule without naming the dataset, except the
dates of a lifetime finding: the cause of a finding is its rule and its message (for lifetime
rules, the message without its dates). The findings are counted in SQL over the run's findings
table, one row per rule and message, and those rows merged by cause here (a few hundred at most:
one per end-of-life day for a lifetime rule).

Cause for each rule type, from the message its evaluator writes (:mod:`lifecycle.audit.rules`):
replication: the copies and where they are ("2 tape copies, both at CERN-PROD; ..."),
reproducibility: the blocking production, transformation (no release or image digest) or input,
(a production's state without its name: "production is running"), lifetime: "past its 5y
lifetime" or "expired (its expires_at)", preservation: the dataset's state or its replicas,
reprocessability: missing replicas, or the missing calibrations (without the production).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet

CAUSE_COLUMNS = ["rule", "type", "severity", "cause", "datasets", "example"]
_LIFETIME = re.compile(r"^(past its \S+ lifetime) since .*$")
_PRODUCTION = re.compile(r"^production \S+ (failed|is .*)$")  # one per production: their state
_USED_BY = re.compile(
    r" used by \S+ (has|have) no available replica"
)  # the calibration is the cause


@dataclass(frozen=True)
class Cause:
    rule: str
    type: str
    severity: str
    cause: str
    datasets: int
    example: str  # the first DID (code point order) with this cause

    def row(self) -> tuple[Any, ...]:
        return (self.rule, self.type, self.severity, self.cause, self.datasets, self.example)


def cause_of(rule_type: str, message: str) -> str:
    """The cause a finding's message states (for lifetime rules, without the finding's dates)."""
    if rule_type == "lifetime":
        if message.startswith("expired on "):
            return "expired (its expires_at)"
        found = _LIFETIME.match(message)
        return found.group(1) if found else message
    if rule_type == "reproducibility":
        found = _PRODUCTION.match(message)
        return f"production {found.group(1)}" if found else message
    if rule_type == "reprocessability":
        return _USED_BY.sub(r" \1 no available replica", message)
    return message


def causes(conn: Connection, table: str, policies: PolicySet) -> list[Cause]:
    """The findings of ``table`` (a run's findings, as :func:`lifecycle.audit.run_audit`
    gathers them) counted by rule and cause: the most datasets first (then in the policies'
    rule order, then by cause)."""
    types = {rule.name: rule.type for rule in policies.rules}
    order = {name: n for n, name in enumerate(types)}
    merged: dict[tuple[str, str, str], list[Any]] = {}
    found = conn.exec_driver_sql(
        f"SELECT rule, severity, message, COUNT(*), MIN(did) FROM {table} "
        "GROUP BY rule, severity, message"
    ).all()
    for rule, severity, message, n, example in found:
        key = (rule, severity, cause_of(types.get(rule, ""), message))
        entry = merged.setdefault(key, [0, example])
        entry[0] += int(n)
        entry[1] = min(entry[1], example)
    out = [
        Cause(rule, types.get(rule, ""), severity, cause, n, example)
        for (rule, severity, cause), (n, example) in merged.items()
    ]
    out.sort(key=lambda c: (-c.datasets, order.get(c.rule, len(order)), c.rule, c.cause))
    return out
