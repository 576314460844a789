"""The greedy choice: for each violating dataset, the fewest new replicas that satisfy every
requirement it breaks, on endpoints with room, each with the best source.

Datasets are taken in DID order. For one dataset, every requirement it breaks counts the units
(endpoint, site, country or cloud) it already has: available replicas on the endpoints it
counts, and copies in flight (``copying``) as if they had landed, so a repair run twice before
the transfers finish plans nothing twice. Then, while a requirement needs more: among the
eligible endpoints (at an active site, not drained, not holding the dataset, with free space for
it, under ``--max-per-site``), those adding a new unit to the most requirements at once win (one
tape copy in another country can fix a site and a country rule together), and among them one is
drawn with probability proportional to its free space, as Rucio's weighted selection does; the
draw comes from a generator seeded with ``seed``, so the same catalog gives the same plan.
Unlimited endpoints (no capacity) weigh as much as the largest free space of any endpoint.

Free space is the capacity less the bytes of available and copying replicas, less what this
plan already put there; the plan never overfills an endpoint.

A destination where a transfer of the dataset failed for good is taken only when no other
endpoint of the same score has room.

A source is an available replica at a site that is not down: disk before tape (tape must be
staged), then the same cloud as the target, then the same country, then the source site this
plan reads least from so far, then by name.

The work per dataset is over small lists of endpoint positions; the scoring of the first copy
is cached by the dataset's shape (requirements, units counted, endpoints holding it), which
most violating datasets share with many others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from lifecycle.repair.candidates import DRAIN_RULE, Endpoints, Requirement, Violations
from lifecycle.repair.explain import (
    cannot_place,
    counts_for,
    no_source,
    source_words,
    target_words,
)
from lifecycle.vocabulary import LIVE_STATES


@dataclass
class Placement:
    """What the planner decided: transfers, violations it cannot repair, copies in flight."""

    transfers: list[dict[str, Any]] = field(default_factory=list)
    unrepaired: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[dict[str, Any]] = field(default_factory=list)
    violating: int = 0  # datasets
    repaired: int = 0  # datasets whose every violation the plan repairs
    waiting: int = 0  # datasets whose every violation copies in flight will repair
    unlimited: list[str] = field(default_factory=list)  # targets without a capacity


def place(
    endpoints: Endpoints,
    needs: list[Requirement],
    found: Violations,
    *,
    max_per_site: int | None = None,
    seed: int = 0,
) -> Placement:
    """The plan for every violating dataset of ``found`` (see the module docstring)."""
    planner = _Planner(endpoints, needs, max_per_site, seed)
    for row in found.datasets:
        planner.avoid = {endpoints.position[i] for i in found.failed.get(row[0], ())}
        planner.dataset(row, found.broken.get(row[0], []), found.replicas.get(row[0], []))
    planner.out.unlimited = sorted(
        {endpoints.names[t] for t in planner.targets if endpoints.capacity[t] is None}
    )
    return planner.out


class _Planner:
    def __init__(
        self, endpoints: Endpoints, needs: list[Requirement], max_per_site: int | None, seed: int
    ) -> None:
        self.e = endpoints
        self.needs = needs
        self.max_per_site = max_per_site
        self.random = random.Random(seed)
        n = len(endpoints.ids)
        self.free = [
            None if cap is None else cap - used
            for cap, used in zip(endpoints.capacity, endpoints.used, strict=True)
        ]
        finite = [f for f in self.free if f is not None]
        self.unlimited_weight = max([*finite, 1])
        self.largest_free = max([*finite, 0])  # of any endpoint with a capacity, kept current
        self.why_cache: dict[tuple, tuple[int, list[int]]] = {}
        self.placements = 0  # copies placed so far (invalidates group_free)
        self.group_free: dict[int, tuple[int, list[int], float]] = {}
        self.eligible = [
            endpoints.site_status[i] == "active" and not endpoints.drained[i] for i in range(n)
        ]
        # per requirement: the positions it counts (None: all), and its eligible targets
        self.allowed: list[set[int] | None] = []
        self.targets_of: list[list[int]] = []
        for need in needs:
            allowed = (
                None
                if need.allowed is None
                else {endpoints.position[i] for i in need.allowed if i in endpoints.position}
            )
            self.allowed.append(allowed)
            self.targets_of.append(
                [i for i in range(n) if self.eligible[i] and (allowed is None or i in allowed)]
            )
        self.units = {u: [endpoints.unit(i, u) for i in range(n)] for u in ("endpoint", "site",
                      "country", "cloud")}  # fmt: skip
        self.site_planned: dict[str, int] = {}
        self.source_read: dict[str, int] = {}
        self.targets: set[int] = set()
        self.first_pick: dict[tuple, list[tuple[int, list[int]]]] = {}
        self.avoid: set[int] = set()  # the dataset's targets whose transfer failed for good
        self.out = Placement()

    # -- one dataset ----------------------------------------------------------------------------
    def dataset(
        self, row: tuple[int, str, str, str, int], broken: list[int], replicas: list[tuple]
    ) -> None:
        dataset_id, did, kind, state, size = row
        e = self.e
        self.out.violating += 1
        at = [(e.position[endpoint_id], st) for endpoint_id, st in replicas]
        live = {i for i, st in at if st in LIVE_STATES}
        available = [i for i, st in at if st == "available"]
        if state in ("deleted", "lost"):
            for r in broken:
                self._unrepaired(did, r, f"the dataset is {state}: a copy cannot repair it",
                                 state == "lost")  # fmt: skip
            return
        active: list[list[Any]] = []  # [requirement, still needed, units counted]
        for r in broken:
            need, counted, flight = self._counted(r, at)
            if flight and need <= 0:
                self.out.in_flight.append(
                    {"did": did, "rule": self.needs[r].name,
                     "copying": [e.names[i] for i in sorted(flight)]}
                )  # fmt: skip
                continue
            if need > 0:
                active.append([r, need, counted])
        if not active:
            self.out.waiting += 1
            return
        sources = [i for i in available if e.site_status[i] != "down"]
        if not sources:
            held = sorted(
                (e.names[i], st) for i, st in at if st in LIVE_STATES and i not in sources
            )
            reason, lost = no_source(kind, held)
            for r, _, _ in active:
                self._unrepaired(did, r, reason, lost)
            return
        picked: list[int] = []
        while True:
            choice = self._choose(active, live, picked, size)
            if choice is None:
                break
            target, satisfied = choice
            picked.append(target)
            self._transfer(did, size, target, satisfied, active, sources)
            if all(need <= 0 for _, need, _ in active):
                break
        left = [(r, need) for r, need, _ in active if need > 0]
        for r, _ in left:
            self._unrepaired(did, r, self._why_not(r, active, live, picked, size), False)
        if not left:
            self.out.repaired += 1

    def _counted(self, r: int, at: list[tuple[int, str]]) -> tuple[int, set, set]:
        """How many more units requirement ``r`` needs, the units counted (available, and in
        flight), and the endpoints of the copies in flight."""
        need = self.needs[r]
        allowed = self.allowed[r]
        unit = self.units[need.distinct]
        if need.type == DRAIN_RULE:  # keep as many copies on its media as there are now
            on_media = [
                (i, st) for i, st in at if st == "available" and self.e.media[i] == need.media
            ]
            counted = {unit[i] for i, _ in on_media if not self.e.drained[i]}
            copies = len(on_media)
        else:
            counted = {
                unit[i] for i, st in at
                if st == "available" and not self.e.drained[i] and (allowed is None or i in allowed)
            }  # fmt: skip
            copies = need.copies
        flight = {
            i for i, st in at
            if st == "copying" and not self.e.drained[i] and (allowed is None or i in allowed)
            and unit[i] not in counted
        }  # fmt: skip
        counted |= {unit[i] for i in flight}
        return copies - len(counted), counted, flight

    def _scored(self, active: list[list[Any]], live: set[int], picked: list[int]):
        """Candidate targets by how many still-needing requirements each adds a unit to, best
        first: ``[(score, [positions by name])]``."""
        candidates = sorted(
            {t for r, need, _ in active if need > 0 for t in self.targets_of[r]}
            - live
            - set(picked)
        )
        by_score: dict[int, list[int]] = {}
        for t in candidates:
            score = 0
            for r, need, counted in active:
                if (
                    need > 0
                    and (self.allowed[r] is None or t in self.allowed[r])
                    and self.units[self.needs[r].distinct][t] not in counted
                ):
                    score += 1
            if score:
                by_score.setdefault(score, []).append(t)
        return sorted(by_score.items(), reverse=True)

    def _choose(
        self, active: list[list[Any]], live: set[int], picked: list[int], size: int
    ) -> tuple[int, list[int]] | None:
        """The next target (drawn by free space among the best-scoring ones with room) and the
        requirements it adds a unit to; None when no endpoint can take another copy."""
        if not picked:  # the first copy: scored once per shape of dataset
            key = (
                tuple((r, need, frozenset(counted)) for r, need, counted in active),
                frozenset(live),
            )
            scored = self.first_pick.get(key)
            if scored is None:
                scored = self.first_pick[key] = self._scored(active, live, picked)
        else:
            scored = self._scored(active, live, picked)
        for _, group in scored:
            if size > self._largest_in(group):
                continue  # nothing in the group has room: skipped without a scan
            room = [t for t in group if self._fits(t, size)]
            if not room:
                continue
            room = [t for t in room if t not in self.avoid] or room  # another target if any
            target = self._draw(room)
            satisfied = [
                r for r, need, counted in active
                if need > 0 and (self.allowed[r] is None or target in self.allowed[r])
                and self.units[self.needs[r].distinct][target] not in counted
            ]  # fmt: skip
            return target, satisfied
        return None

    def _largest_in(self, group: list[int]) -> float:
        """The largest free space in ``group`` (inf with an unlimited endpoint), remembered
        until the next placement: most datasets of a full grid are refused without a scan."""
        known = self.group_free.get(id(group))
        if known is not None and known[0] == self.placements and known[1] is group:
            return known[2]
        frees = [self.free[t] for t in group]
        largest = float("inf") if None in frees else max(frees, default=0)
        self.group_free[id(group)] = (self.placements, group, largest)
        return largest

    def _fits(self, t: int, size: int) -> bool:
        free = self.free[t]
        if free is not None and free < size:
            return False
        if self.max_per_site is None:
            return True
        return self.site_planned.get(self.e.sites[t], 0) + size <= self.max_per_site

    def _draw(self, room: list[int]) -> int:
        """One of ``room`` (positions in name order), with probability proportional to its free
        space (unlimited: :attr:`unlimited_weight`)."""
        if len(room) == 1:
            return room[0]
        weights = [
            self.unlimited_weight if self.free[t] is None else max(self.free[t], 1) for t in room
        ]
        point = self.random.random() * sum(weights)
        for t, weight in zip(room, weights, strict=True):
            point -= weight
            if point < 0:
                return t
        return room[-1]

    def _transfer(
        self,
        did: str,
        size: int,
        target: int,
        satisfied: list[int],
        active: list[list[Any]],
        sources: list[int],
    ) -> None:
        e = self.e
        why = []
        for entry in active:
            r, _, counted = entry
            if r in satisfied:
                need = self.needs[r]
                counted.add(self.units[need.distinct][target])
                entry[1] -= 1
                why.append(counts_for(len(counted), e.media[target], need.distinct, need.name,
                                      need.type))  # fmt: skip
        source = min(
            sources,
            key=lambda s: (
                e.media[s] != "disk",
                e.cloud[s] is None or e.cloud[s] != e.cloud[target],
                e.country[s] != e.country[target],
                self.source_read.get(e.sites[s], 0),
                e.names[s],
            ),
        )
        same = (
            "cloud" if e.cloud[source] is not None and e.cloud[source] == e.cloud[target]
            else "country" if e.country[source] == e.country[target] else None
        )  # fmt: skip
        free = self.free[target]
        reason = (
            "; ".join(why)
            + f"; {target_words(e.names[target], free)}, "
            + source_words(e.names[source], e.media[source], same)
        )
        self.out.transfers.append(
            {
                "did": did,
                "bytes": size,
                "target": e.names[target],
                "target_site": e.sites[target],
                "source": e.names[source],
                "source_site": e.sites[source],
                "staging": e.media[source] == "tape",
                "rules": ",".join(self.needs[r].name for r in satisfied),
                "reason": reason,
            }
        )
        self.placements += 1
        if free is not None:
            self.free[target] = free - size
            if free == self.largest_free:
                self.largest_free = max([f for f in self.free if f is not None] or [0])
        self.site_planned[e.sites[target]] = self.site_planned.get(e.sites[target], 0) + size
        self.source_read[e.sites[source]] = self.source_read.get(e.sites[source], 0) + size
        self.targets.add(target)

    def _why_not(
        self, r: int, active: list[list[Any]], live: set[int], picked: list[int], size: int
    ) -> str:
        need = self.needs[r]
        counted = next(c for q, _, c in active if q == r)
        key = (r, frozenset(counted), frozenset(live), tuple(picked))
        found = self.why_cache.get(key)
        if found is None:  # the endpoints matching, and of those the eligible new ones
            allowed = self.allowed[r]
            matching = len(self.e.ids) if allowed is None else len(allowed)
            unit = self.units[need.distinct]
            new = [i for i in self.targets_of[r]
                   if i not in live and i not in picked and unit[i] not in counted]  # fmt: skip
            found = self.why_cache[key] = (matching, new)
        matching, new = found
        if size > self._largest_in(new):
            room = 0
        else:
            room = sum(1 for i in new if self.free[i] is None or self.free[i] >= size)
        stages = {"matching": matching, "active": len(self.targets_of[r]), "new": len(new),
                  "space": room}  # fmt: skip
        return cannot_place(need.expression, need.distinct, stages, size, self.max_per_site)

    def _unrepaired(self, did: str, r: int, reason: str, lost: bool) -> None:
        need = self.needs[r]
        self.out.unrepaired.append(
            {"did": did, "rule": need.name, "policy": need.policy, "reason": reason,
             "lost_for_good": lost}
        )  # fmt: skip
