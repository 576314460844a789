"""Repair: the plan that restores every replication and preservation rule at once, and drains.

For every dataset violating a ``replication`` or ``preservation`` rule, as the audit judges it,
the fewest new replicas that satisfy all the rules it breaks together, each on an endpoint the
rule counts, at a unit not yet counted, at an active site with room, copied from the best
available source; what cannot be repaired is listed with why (no source: lost for good for
data nothing regenerates). ``--drain`` plans moving every replica off storage being
decommissioned so that every rule still holds after.

- ``candidates``: the violations, endpoints and free space, read set-based;
- ``planner``: the greedy choice over them (deterministic: same catalog, same plan);
- ``explain``: the words of each transfer and of each violation left;
- ``plan``: the plan as a value (summary, JSON, rows, digest);
- ``rucio``: the plan as Rucio replication rules;
- ``apply``: recording a plan (replicas ``copying`` and queued transfers).

A service: it may import ``simulate`` (a peer), ``provenance``, ``policy``, ``catalog`` and the
leaf modules; never the api or the CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lifecycle.progress import SILENT, Progress
from lifecycle.repair.candidates import (
    drained_endpoints,
    fill_used,
    read_endpoints,
    read_violations,
    requirements,
)
from lifecycle.repair.plan import RepairPlan, summarize
from lifecycle.repair.planner import place

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from lifecycle.policy import PolicySet, Selector

__all__ = ["RepairPlan", "plan_repair", "repair_hints"]


def plan_repair(
    conn: Connection,
    policies: PolicySet,
    now: datetime,
    *,
    chosen: Selector | None = None,
    drain_sites: tuple[str, ...] = (),
    drain_endpoints: str | None = None,
    max_per_site: int | None = None,
    seed: int = 0,
    dids: list[str] | None = None,
    progress: Progress = SILENT,
) -> RepairPlan:
    """The repair plan of the catalog on ``conn`` under ``policies`` judged at ``now``
    (``chosen``: only these datasets; ``drain_*``: storage to empty; ``max_per_site``: bytes
    one destination site may receive; ``seed``: of the weighted spread; ``dids``: only these
    datasets, exactly; ``progress`` hears of each phase)."""
    with progress.stages("repair planning", 4) as stage:
        with stage("reading endpoints and rules"):
            drained = drained_endpoints(conn, drain_sites, drain_endpoints)
            endpoints = read_endpoints(conn, drained)
            media = tuple(sorted({endpoints.media[endpoints.position[i]] for i in drained}))
            needs = requirements(conn, policies, bool(drained), media)
        with stage("finding the datasets short of copies"):
            found = read_violations(conn, needs, now, chosen, drained, dids)
        with stage("reading the space used"):
            fill_used(conn, endpoints, needs, found)
        with stage("placing the new copies"):
            placement = place(endpoints, needs, found, max_per_site=max_per_site, seed=seed)
    drain = sorted(endpoints.names[endpoints.position[i]] for i in drained)
    return RepairPlan(
        placement.transfers,
        placement.unrepaired,
        placement.in_flight,
        summarize(placement, drain),
        drain,
    )


def repair_hints(plan: RepairPlan) -> dict[tuple[str, str], str]:
    """What the plan does for each (DID, rule) it judged, in a few words, for the audit's
    findings: the copies it makes, why it cannot, or the copy in flight."""
    made: dict[tuple[str, str], list[str]] = {}
    for t in plan.transfers:
        staged = ", staged from tape" if t["staging"] else ""
        for rule in t["rules"].split(","):
            made.setdefault((t["did"], rule), []).append(
                f"{t['target']} from {t['source']}{staged}"
            )
    hints = {key: "repair would copy it to " + "; and to ".join(copies)
             for key, copies in made.items()}  # fmt: skip
    for u in plan.unrepaired:
        hints[(u["did"], u["rule"])] = "repair cannot: " + u["reason"]
    for f in plan.in_flight:
        hints[(f["did"], f["rule"])] = "repair waits: a copy is in flight to " + ", ".join(
            f["copying"]
        )
    return hints
