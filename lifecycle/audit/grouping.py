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

**Sites.** ``--group-by site`` (alone or in a list: ``rule,site``, ``cause,site``, ``site,rule``)
counts the findings per rule (or cause) and site: the sites of a finding are those holding a
replica of its dataset that is not deleted (available, copying, unavailable or lost: a
replication finding names those copies, and a lost one is where the data went missing); a
finding whose dataset has none counts under no site (``site`` empty). A dataset with copies at
three sites counts at each of them, so the counts per site add up to more than the findings.
Counted in one SQL statement over the run's findings joined to replicas, endpoints and sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import frame, tuples
from lifecycle.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet

CAUSE_COLUMNS = ["rule", "type", "severity", "cause", "datasets", "example"]
GROUP_KEYS = ("rule", "cause", "site")
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
    # the findings read once and counted by message here: SQLite sorted the 206 k findings of
    # 1 M datasets by rule and message (64 k distinct) to group them, 0.56 s of the 0.83 s this
    # took, against 0.17 s to read them and 0.06 s to count them in a dict
    per_message: dict[tuple[str, str, str], list[Any]] = {}
    for rule, severity, message, did in tuples(
        conn, f"SELECT rule, severity, message, did FROM {table}"
    ):
        entry = per_message.get((rule, severity, message))
        if entry is None:
            per_message[(rule, severity, message)] = [1, did]
        else:
            entry[0] += 1
            if did < entry[1]:  # code point order, on either engine
                entry[1] = did
    merged: dict[tuple[str, str, str], list[Any]] = {}
    for (rule, severity, message), (n, example) in per_message.items():
        key = (rule, severity, cause_of(types.get(rule, ""), message))
        entry = merged.setdefault(key, [0, example])
        entry[0] += n
        entry[1] = min(entry[1], example)
    out = [
        Cause(rule, types.get(rule, ""), severity, cause, n, example)
        for (rule, severity, cause), (n, example) in merged.items()
    ]
    out.sort(key=lambda c: (-c.datasets, order.get(c.rule, len(order)), c.rule, c.cause))
    return out


def group_keys(text: str) -> tuple[str, ...]:
    """``--group-by``: ``rule``, ``cause``, ``site`` or a comma list of them (``rule,site``: by
    rule, then by site); ``cause`` holds its rule, so ``rule`` and ``cause`` are not combined."""
    keys = tuple(part.strip() for part in text.split(","))
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown or not keys:
        raise UsageError(
            f"--group-by: {unknown[0] if unknown else text!r} is not one of "
            f"{', '.join(GROUP_KEYS)} (or a comma list: rule,site)"
        )
    if len(set(keys)) < len(keys) or {"rule", "cause"} <= set(keys):
        raise UsageError(f"--group-by: {text!r} names a key twice (a cause holds its rule)")
    return keys


def _site_counts(
    conn: Connection, table: str, policies: PolicySet, with_cause: bool
) -> list[dict[str, Any]]:
    """Findings counted per rule (and cause) and site: one statement over the run's findings
    joined to the replicas of their datasets (not deleted), their endpoints and sites."""
    types = {rule.name: rule.type for rule in policies.rules}
    message = ", f.message" if with_cause else ""
    found = conn.exec_driver_sql(
        f"SELECT f.rule, f.severity{message}, s.name, COUNT(DISTINCT f.did), MIN(f.did) "
        f"FROM {table} f LEFT JOIN dataset d ON d.did = f.did "
        "LEFT JOIN replica r ON r.dataset_id = d.id AND r.state <> 'deleted' "
        "LEFT JOIN endpoint e ON e.id = r.endpoint_id LEFT JOIN site s ON s.id = e.site_id "
        f"GROUP BY f.rule, f.severity{message}, s.name"
    ).all()
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for row in found:
        rule, severity, site, n, example = (*row[:2], *row[-3:])
        # a dataset has one finding per rule, so the counts of a cause's messages add up
        cause = (cause_of(types.get(rule, ""), row[2]),) if with_cause else ()
        entry = merged.setdefault((rule, severity, *cause, site), [0, example])
        entry[0] += int(n)
        entry[1] = min(entry[1], example)
    return [
        {
            "rule": key[0],
            "type": types.get(key[0], ""),
            "severity": key[1],
            **({"cause": key[2]} if with_cause else {}),
            "site": key[-1],
            "datasets": n,
            "example": example,
        }
        for key, (n, example) in merged.items()
    ]


def site_totals(conn: Connection, table: str) -> pd.DataFrame:
    """Per site holding a copy (not deleted) of a dataset with a finding in ``table``:
    ``findings``, those findings (a dataset with copies at three sites counts at each), and
    ``rules``, how many rules they are of; the most findings first. What ``--group-by site``
    counts, summed per site, without its examples and its findings at no site."""
    # the join in the order written (SQLite keeps the order of a CROSS JOIN): SQLite's own
    # choice began at the endpoints and read every replica, 1.75 s at 1 M datasets (206 k
    # findings) against 0.75 s; the distinct datasets counted by id, not by DID
    found = frame(
        conn,
        f"""
        SELECT s.name AS site, SUM(g.datasets) AS findings, COUNT(*) AS rules
        FROM (
            SELECT f.rule, e.site_id, COUNT(DISTINCT d.id) AS datasets
            FROM {table} f CROSS JOIN dataset d CROSS JOIN replica r CROSS JOIN endpoint e
            WHERE d.did = f.did AND r.dataset_id = d.id AND r.state <> 'deleted'
              AND e.id = r.endpoint_id
            GROUP BY f.rule, e.site_id
        ) g JOIN site s ON s.id = g.site_id
        GROUP BY s.name
        """,
    )
    # the names in code point order on either engine (PostgreSQL's ORDER BY uses a collation)
    order = found.sort_values(["findings", "site"], ascending=[False, True], kind="stable")
    return order.reset_index(drop=True)


def group_findings(
    conn: Connection, table: str, policies: PolicySet, keys: tuple[str, ...]
) -> pd.DataFrame:
    """The findings of ``table`` counted by ``keys`` (see :func:`group_keys`), one row per
    group: its keys (a rule with its type and severity), ``datasets`` (how many datasets have
    such a finding; ``causes`` too when grouped by rule alone) and an ``example`` DID.

    Order: the groups of the first key by their datasets (the biggest first; rules then in the
    policies' order), within each the next key's the same way.
    """
    import pandas as pd

    order = {rule.name: n for n, rule in enumerate(policies.rules)}
    if "site" not in keys:
        frame = pd.DataFrame([c.row() for c in causes(conn, table, policies)],
                             columns=CAUSE_COLUMNS)  # fmt: skip
        if keys == ("rule",):
            frame = (
                frame.groupby(["rule", "type", "severity"], sort=False)
                .agg(
                    causes=("cause", "size"),
                    datasets=("datasets", "sum"),
                    example=("example", "min"),
                )  # fmt: skip
                .reset_index()
            )
        return frame
    with_cause = "cause" in keys
    rule_columns = ["rule", "type", "severity", *(["cause"] if with_cause else [])]
    found = pd.DataFrame(
        _site_counts(conn, table, policies, with_cause),
        columns=[*rule_columns, "site", "datasets", "example"],
    )
    by_site = keys[0] == "site"
    first = ["site"] if by_site else ["rule", *(["cause"] if with_cause else [])]
    found["_first"] = found.groupby(first, dropna=False)["datasets"].transform("sum")
    found["_rule"] = found["rule"].map(order).fillna(len(order))
    found["_nowhere"] = found["site"].isna()  # findings at no site: last
    sort = {"_nowhere": True} if by_site else {}
    sort |= {"_first": False, **({} if by_site else {"_rule": True}), **dict.fromkeys(first, True)}
    sort |= {"datasets": False, "_nowhere": True, "_rule": True, "rule": True, "site": True}
    sort |= {"cause": True} if with_cause else {}
    found = found.sort_values(list(sort), ascending=list(sort.values()), kind="stable")
    columns = ["site", *rule_columns] if by_site else [*rule_columns, "site"]
    return found[[*columns, "datasets", "example"]].reset_index(drop=True)
