"""One dataset's status (``datasets show``): what a data manager asks of it, like ``rucio
list-rules DID`` and more.

Every rule that selects it and its verdict (the audit's own evaluation, run for this dataset
alone, as a preview that records nothing); its end of life and where it comes from (its
``expires_at``, or the longest lifetime rule selecting it) with what expiry would decide;
whether it can be rebuilt and, if not, what is missing (the recipe's answer); the saved plans
that read it. Pins, replicas (with their endpoints' media, site and tier) and provenance are the
dataset's details.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.audit import run_audit
from lifecycle.catalog.queries import DatasetDetails, dataset_details, dataset_id, frame
from lifecycle.catalog.sql import statement
from lifecycle.expiry import expire
from lifecycle.policy import PolicySet
from lifecycle.policy.selection import selection
from lifecycle.provenance.recipe import recipe
from lifecycle.values import envelope, json_value, records, utc_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


@dataclass
class DatasetStatus:
    """``datasets show``: the dataset's details and its status under the policies."""

    details: DatasetDetails
    rules: list[dict[str, Any]] = field(default_factory=list)
    end_of_life: dict[str, Any] = field(default_factory=dict)
    reproducible: bool = True
    missing: list[dict[str, Any]] = field(default_factory=list)
    plans: pd.DataFrame | None = None
    durability: dict[str, Any] = field(default_factory=dict)  # see lifecycle.durability

    def summary(self) -> dict[str, Any]:
        failing = [r for r in self.rules if r["verdict"] == "fails"]
        return {
            "rules": len(self.rules),
            "failing": len(failing),
            "reproducible": self.reproducible,
            "end_of_life": self.end_of_life.get("at"),
            "pinned": bool(self.details.pins is not None and len(self.details.pins)),
            "plans": 0 if self.plans is None else len(self.plans),
            "available_replicas": int((self.details.replicas["state"] == "available").sum()),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``datasets show``: the status summary, the dataset's fields
        (``dataset``), the rules that select it, its end of life, why it cannot be rebuilt
        (``missing``), the plans that read it, then its replicas, producer, consumers, pins."""
        details = self.details.to_dict()
        fields = {k: details.pop(k) for k in (*self.details.dataset, "metadata")}
        return envelope(
            "dataset",
            self.summary(),
            dataset=fields,
            rules=self.rules,
            end_of_life={k: json_value(v) for k, v in self.end_of_life.items()},
            missing=self.missing,
            plans=records(self.plans),
            durability=self.durability,
            **details,
        )


def dataset_status(
    conn: Connection, did: str, policies: PolicySet | None, now: datetime
) -> DatasetStatus:
    """The status of ``did`` under ``policies`` (None: details, reproducibility and plans only)."""
    details = dataset_details(conn, did)
    ident = dataset_id(conn, did)
    status = DatasetStatus(details)
    made = recipe(conn, details.dataset["did"])
    status.reproducible = made.reproducible
    status.missing = [vars(m) for m in made.missing]
    status.plans = frame(
        conn,
        """
        SELECT p.id, p.name, p.created_at, p.applied_at, p.blockers
        FROM plan p WHERE p.id IN (SELECT i.plan_id FROM plan_input i WHERE i.dataset_id = :id)
        ORDER BY p.id
        """,
        id=ident,
    )
    if policies is None:
        return status
    selecting = [rule for rule in policies.rules if _selects(conn, rule, ident)]
    findings = _findings(conn, policies, selecting, details.dataset["did"], now)
    created = utc_datetime(details.dataset["created_at"])
    for rule in selecting:
        grace_until = created + rule.grace if rule.grace is not None else None
        found = findings.get(rule.name)
        if found is not None:
            verdict, message = "fails", found
        elif grace_until is not None and grace_until > now:
            verdict, message = "grace", f"not judged before {json_value(grace_until)}"
        else:
            verdict, message = "passes", None
        status.rules.append(
            {
                "rule": rule.name,
                "type": rule.type,
                "policy": rule.policy,
                "severity": rule.severity,
                "verdict": verdict,
                "message": message,
            }
        )
    status.end_of_life = _end_of_life(conn, details, selecting, policies, ident, now)
    return status


def _selects(conn: Connection, rule, ident: int) -> bool:
    where, params = selection(rule)
    params["status_id"] = ident
    sql = f"SELECT 1 FROM dataset d WHERE d.id = :status_id AND {where}"
    return conn.execute(statement(sql, params), params).first() is not None


def _findings(
    conn: Connection, policies: PolicySet, selecting: list, did: str, now: datetime
) -> dict[str, str]:
    """rule -> message of the audit's findings for ``did``: the audit of the rules selecting
    it, each narrowed to this one dataset (a preview: nothing recorded)."""
    if not selecting:
        return {}
    names = {rule.name for rule in selecting}
    narrowed = PolicySet(
        tuple(
            replace(
                policy,
                rules=tuple(
                    replace(rule, select=replace(rule.select, did=(did,)))
                    for rule in policy.rules
                    if rule.name in names
                ),
            )
            for policy in policies.policies
        )
    )
    report = run_audit(conn, None, narrowed, now, preview=True)
    found = report.findings
    if found is None or found.empty:
        return {}
    mine = found[found["did"] == did]
    return dict(zip(mine["rule"], mine["message"], strict=True))


def _end_of_life(
    conn: Connection,
    details: DatasetDetails,
    selecting: list,
    policies: PolicySet,
    ident: int,
    now: datetime,
) -> dict[str, Any]:
    """When the dataset reaches its end of life and why, and what expiry decides then."""
    dataset = details.dataset
    expires = utc_datetime(dataset.get("expires_at"))
    lifetimes = [rule for rule in selecting if rule.type == "lifetime"]
    if expires is not None:
        out: dict[str, Any] = {"at": expires, "from": "expires_at"}
    elif lifetimes:
        longest = max(lifetimes, key=lambda rule: rule.lifetime or timedelta(0))
        out = {
            "at": utc_datetime(dataset["created_at"]) + longest.lifetime,
            "from": f"lifetime rule {longest.name}",
        }
    else:
        return {"at": None, "from": "no lifetime rule selects it and it has no expires_at"}
    if out["at"] < now and dataset.get("state") != "deleted":
        decisions = expire(conn, policies, now, only=f"SELECT {int(ident)}").decisions
        if len(decisions):
            row = decisions.iloc[0]
            out["decision"], out["reason"] = str(row["decision"]), str(row["reason"])
    return out
