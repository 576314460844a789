"""What a reprocessing plan is: its chain of tags, its steps, inputs, blockers, staging and
supersessions (:class:`ReprocessingPlan`), and what deleting a plan changed (:class:`PlanDeletion`).

Plain values, made and read by computing (:mod:`.compute`), storing (:mod:`.persistence`) and
applying (:mod:`.apply`) plans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.text import count, number
from lifecycle.values import envelope, json_value, records

if TYPE_CHECKING:
    import pandas as pd

# The columns of a plan's steps, in order.
STEP_COLUMNS = ["seq", "production", "transformation", "conditions_tag", "site", "output_did",
                "output_data_type", "output_bytes", "output_events", "cpu_hours", "placement"]  # fmt: skip


# What a plan's notes say when its name is a saved plan's already (saving it is refused).
NAME_TAKEN = "a plan named {name!r} exists already: save this one under another --name"


# The largest float64 below 2**63: an estimate (bytes times an output ratio) is held there, so it
# stays a storable BIGINT however large the inputs and ratios are.
LARGEST_ESTIMATE = float(2**63 - 1024)


def exact_sum(values: pd.Series) -> int:
    """The sum of an integer column as an exact Python int: pandas' own sum of int64 wraps
    around silently beyond 2**63 - 1 (byte and event counts of a whole campaign can get there)."""
    return sum(map(int, values.dropna()))


@dataclass(frozen=True)
class ChainLink:
    """One tag of a chain, with the data type it produces when the chain says so."""

    tag: str
    data_type: str | None = None

    @classmethod
    def parse_chain(cls, text: str) -> list[ChainLink]:
        """``r99999,p99998:DAOD_PHYS`` -> links; a malformed chain is a usage error."""
        links = []
        for part in [p.strip() for p in text.split(",")]:
            found = re.fullmatch(r"([a-z])(\d+)(?::([A-Z][A-Z0-9_]*))?", part)
            if not found:
                raise UsageError(
                    f"--chain: {part!r} is not an AMI tag (a letter and digits, e.g. r99999), "
                    "optionally with :DATA_TYPE"
                )
            links.append(cls(found[1] + found[2], found[3]))
        if len({link.tag for link in links}) != len(links):
            raise UsageError(f"--chain: {text!r} repeats a tag")
        return links


@dataclass
class ReprocessingPlan:
    """A computed plan (saved or not)."""

    name: str
    selection: dict[str, list[str]]
    chain: list[ChainLink]
    conditions_tag: str | None
    inputs: pd.DataFrame  # id, did, bytes, events, source endpoint/site/media, calibration
    steps: pd.DataFrame  # STEP_COLUMNS
    step_inputs: pd.DataFrame  # seq, did, role
    blockers: pd.DataFrame  # subject, detail
    staging: pd.DataFrame  # endpoint, site, bytes
    supersedes: pd.DataFrame  # did, by
    id: int | None = None
    created_at: datetime | None = None
    actor: str | None = None
    applied_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        placed = (
            self.steps["placement"].map(lambda p: len([e for e in p.split(",") if e]))
            if len(self.steps)
            else None
        )
        return {
            "inputs": int(len(self.inputs)),
            "steps": int(len(self.steps)),
            "events": exact_sum(self.inputs["events"]) if len(self.inputs) else 0,
            "cpu_hours": round(float(self.steps["cpu_hours"].sum()), 3) if len(self.steps) else 0,
            "bytes_staged": exact_sum(self.staging["bytes"]) if len(self.staging) else 0,
            "bytes_staged_by_site": (
                {k: exact_sum(v) for k, v in self.staging.groupby("site")["bytes"]}
                if len(self.staging)
                else {}
            ),
            "bytes_written": exact_sum(self.steps["output_bytes"].astype(object) * placed)
            if len(self.steps)
            else 0,
            "supersedes": int(len(self.supersedes)),
            "blockers": int(len(self.blockers)),
        }

    def blocker_causes(self) -> list[tuple[str, list[str]]]:
        """The blockers grouped by cause: each distinct ``detail`` with the subjects it blocks
        (datasets or tags, in the plan's order), the most widespread cause first."""
        subjects: dict[str, list[str]] = {}
        for subject, detail in zip(self.blockers["subject"], self.blockers["detail"], strict=True):
            subjects.setdefault(str(detail), []).append(str(subject))
        return sorted(subjects.items(), key=lambda cause: -len(cause[1]))

    def by_transformation(self) -> pd.DataFrame:
        """One row per tag of the chain: what it produces, its steps, output bytes and CPU hours
        (what a step's transformation column would otherwise repeat on every row)."""
        import pandas as pd

        columns = ["transformation", "output_data_type", "steps", "output_bytes", "cpu_hours"]
        if self.steps.empty:
            return pd.DataFrame(columns=columns)
        grouped = self.steps.groupby(["transformation", "output_data_type"], sort=False)
        found = grouped.agg(
            steps=("seq", "size"),
            output_bytes=("output_bytes", exact_sum),
            cpu_hours=("cpu_hours", "sum"),
        ).reset_index()
        found["cpu_hours"] = found["cpu_hours"].round(1)
        order = {link.tag: n for n, link in enumerate(self.chain)}
        found = found.sort_values("transformation", key=lambda s: s.map(order), kind="stable")
        return found[columns].reset_index(drop=True)

    def replicas_placed(self) -> int:
        """How many replicas applying the plan registers (each step's placement endpoints)."""
        return sum(len([e for e in p.split(",") if e]) for p in self.steps["placement"])

    def steps_with_inputs(self) -> pd.DataFrame:
        """The steps, each with its inputs' DIDs and roles as lists (``inputs``,
        ``input_roles``): the records of the plan's Parquet export."""
        steps = self.steps.copy()
        grouped = self.step_inputs.groupby("seq")
        steps["inputs"] = steps["seq"].map(grouped["did"].apply(list))
        steps["input_roles"] = steps["seq"].map(grouped["role"].apply(list))
        return steps

    def to_dict(self) -> dict[str, Any]:
        steps = records(self.steps)
        by_seq: dict[int, list[dict[str, str]]] = {}
        for row in self.step_inputs.itertuples(index=False):
            by_seq.setdefault(int(row.seq), []).append({"did": row.did, "role": row.role})
        for step in steps:
            step["inputs"] = by_seq.get(step["seq"], [])
            step["placement"] = step["placement"].split(",") if step["placement"] else []
        return envelope(
            "plan",
            self.summary(),
            id=self.id,
            name=self.name,
            created_at=json_value(self.created_at),
            actor=self.actor,
            applied_at=json_value(self.applied_at),
            selection=self.selection,
            chain=[f"{c.tag}:{c.data_type}" if c.data_type else c.tag for c in self.chain],
            conditions_tag=self.conditions_tag,
            steps=steps,
            blockers=records(self.blockers),
            staging=records(self.staging),
            supersedes=records(self.supersedes),
        )


@dataclass
class PlanDeletion:
    """What ``plan delete`` changed: the plan gone, and the inputs it no longer protects.

    A plan protects its inputs from expiry while it can still be applied (not applied, no
    blockers). ``freed`` counts the inputs no other plan protects; ``eligible`` are those that
    ``expire --apply`` would now delete (decided only when policies were given: ``decided``).
    """

    id: int
    name: str
    steps: int
    inputs: int
    protected_by_it: bool
    why_not: str | None = None  # why the plan protected nothing
    freed: int = 0
    decided: bool = False
    eligible: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # freed and past their end: keep reasons

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def lines(self, shown: int = 5) -> list[str]:
        steps, inputs = count(self.steps, "step"), count(self.inputs, "input")
        out = [f"deleted plan {self.id} ({self.name}): {steps}, {inputs}"]
        if not self.protected_by_it:
            out.append(f"it protected no input from expiry ({self.why_not})")
            return out
        others = self.inputs - self.freed
        if not self.freed:
            if others:
                out.append("its inputs stay protected from expiry by another plan")
            return out
        out.append(
            f"{count(self.freed, 'input')} no longer protected from expiry"
            + (f" ({number(others)} still protected by another plan)" if others else "")
        )
        if self.decided:
            n = len(self.eligible)
            names = ", ".join(self.eligible[:shown]) + (
                f" and {number(n - shown)} more" if n > shown else ""
            )
            out.append(
                f"{number(n)} of them now eligible for expiry ('lifecycle expire --apply' would delete "
                f"{'it' if n == 1 else 'them'}){': ' + names if n else ''}"
            )
            alive = self.freed - n - sum(self.kept.values())
            kept = [f"{number(n)} {why}" for why, n in sorted(self.kept.items())]
            kept += [f"{number(alive)} not past their end of life"] if alive else []
            if kept:
                out.append("the others are still kept: " + ", ".join(kept))
        return out
