"""A repair plan as Rucio replication rules, for teams that let Rucio move the data.

One rule per dataset: ``copies`` the number of new replicas the plan makes of it, its
``rse_expression`` the union of their targets (``A|B``: Rucio then places exactly there), its
``source_replica_expression`` the union of the sources the plan chose, and a ``comment`` with
the plan's reasons; ``findings`` names the policy rules it repairs (``rucio push`` journals
them next to the rule it creates). As JSON lines (:func:`rule_lines`) and as the equivalent ``rucio add-rule``
command lines (:func:`command_lines`), every value shell-quoted (catalog text is untrusted).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

COMMENT_LIMIT = 250  # Rucio keeps a rule's comment in a VARCHAR(255)


def rules(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's transfers grouped into one rule per dataset, in DID order."""
    by_did: dict[str, list[dict[str, Any]]] = {}
    for transfer in transfers:
        by_did.setdefault(transfer["did"], []).append(transfer)
    out = []
    for did in sorted(by_did):
        mine = by_did[did]
        targets = list(dict.fromkeys(t["target"] for t in mine))
        sources = sorted({t["source"] for t in mine})
        comment = "lifecycle repair: " + " | ".join(t["reason"] for t in mine)
        if len(comment) > COMMENT_LIMIT:
            comment = comment[: COMMENT_LIMIT - 1] + "…"
        out.append(
            {
                "did": did,
                "copies": len(targets),
                "rse_expression": "|".join(targets),
                "source_replica_expression": "|".join(sources),
                "comment": comment,
                "findings": sorted({r for t in mine for r in t["rules"].split(",") if r}),
            }
        )
    return out


def rule_lines(transfers: list[dict[str, Any]]) -> list[str]:
    """The rules as JSON lines (keys sorted; ASCII: nothing in a line can break it or reach a
    terminal as a command)."""
    return [json.dumps(rule, sort_keys=True) for rule in rules(transfers)]


def command_lines(transfers: list[dict[str, Any]]) -> list[str]:
    """The rules as ``rucio add-rule`` command lines (a shell script)."""
    lines = ["#!/bin/sh", "# lifecycle repair: one Rucio replication rule per dataset", "set -e"]
    for rule in rules(transfers):
        words = [
            "rucio", "add-rule",
            "--source-replica-expression", rule["source_replica_expression"],
            "--comment", rule["comment"],
            rule["did"], str(rule["copies"]), rule["rse_expression"],
        ]  # fmt: skip
        lines.append(" ".join(shlex.quote(word) for word in words))
    return lines
