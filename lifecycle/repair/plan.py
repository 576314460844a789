"""A repair plan as a value: its transfers, what it cannot repair, its summary and digest.

The digest is a hash of the plan's transfers and unrepaired violations as JSON: the preview
shows it, and ``repair --apply --expect DIGEST`` refuses to record a plan that is not the one
previewed (the catalog changed in between).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifecycle.text import count, human_bytes, number
from lifecycle.values import envelope

if TYPE_CHECKING:
    import pandas as pd

TRANSFER_COLUMNS = [
    "did", "bytes", "target", "target_site", "source", "source_site", "staging", "rules",
    "reason",
]  # fmt: skip
UNREPAIRED_COLUMNS = ["did", "rule", "policy", "reason", "lost_for_good"]
RECORD_COLUMNS = ["section", *TRANSFER_COLUMNS[:-1], "policy", "lost_for_good", "reason"]


@dataclass
class RepairPlan:
    """What ``lifecycle repair`` plans: ``transfers`` (one new replica each), ``unrepaired``
    (one row per violation no copy can repair, with why), ``in_flight`` (violations copies
    already being made will repair), and the ``summary``."""

    transfers: list[dict[str, Any]]
    unrepaired: list[dict[str, Any]]
    in_flight: list[dict[str, Any]]
    summary: dict[str, Any]
    drain: list[str] = field(default_factory=list)  # the endpoints drained, by name
    applied: bool = False
    transfer_ids: list[int] = field(default_factory=list)  # when applied

    @property
    def digest(self) -> str:
        """A short hash of the transfers and the unrepaired violations (see the module)."""
        body = json.dumps([self.transfers, self.unrepaired], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def blocked(self) -> bool:
        """Whether some violation cannot be repaired (the CLI exits 1)."""
        return bool(self.unrepaired)

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``repair``: summary, transfers, unrepaired, in flight."""
        summary = {**self.summary, "digest": self.digest, "applied": self.applied}
        return envelope(
            "repair",
            summary,
            transfers=self.transfers,
            unrepaired=self.unrepaired,
            in_flight=self.in_flight,
            drain=self.drain,
        )

    def records(self) -> pd.DataFrame:
        """One row per transfer (``section`` transfer) and per unrepaired violation
        (``section`` unrepaired): csv and parquet."""
        import pandas as pd

        found = [{"section": "transfer", **t, "policy": None, "lost_for_good": None}
                 for t in self.transfers]  # fmt: skip
        found += [{"section": "unrepaired", **u} for u in self.unrepaired]
        frame = pd.DataFrame(found, columns=RECORD_COLUMNS)
        frame["bytes"] = frame["bytes"].astype("Int64")
        for column in ("staging", "lost_for_good"):
            frame[column] = frame[column].astype("boolean")
        return frame

    def transfers_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.transfers, columns=TRANSFER_COLUMNS)

    def unrepaired_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.unrepaired, columns=UNREPAIRED_COLUMNS)

    def lines(self) -> list[str]:
        """The summary for people, one line each."""
        s = self.summary
        out = []
        if self.drain:
            shown = ", ".join(self.drain[:6]) + (" ..." if len(self.drain) > 6 else "")
            out.append(f"draining {count(len(self.drain), 'endpoint')} ({shown})")
        out.append(
            f"{count(s['violating'], 'dataset')} violating a replication or preservation rule: "
            f"{number(s['repaired'])} repaired by this plan, {number(s['in_flight'])} by copies "
            f"in flight, {number(s['unrepaired_datasets'])} cannot be repaired"
            + (f" ({number(s['lost_for_good'])} lost for good)" if s["lost_for_good"] else "")
        )
        verb = "recorded" if self.applied else "to make"
        out.append(
            f"{verb}: {count(s['transfers'], 'new replica')} ({human_bytes(s['bytes'])}), "
            f"{human_bytes(s['bytes_staged'])} staged from tape"
        )
        if s["unlimited_targets"]:
            out.append(
                "targets without a recorded capacity (treated as unlimited): "
                + ", ".join(s["unlimited_targets"])
            )
        out.append(f"plan digest {self.digest}")
        return out


def summarize(placement, drain: list[str]) -> dict[str, Any]:
    """The counts of a placement (:class:`lifecycle.repair.planner.Placement`)."""
    unrepaired_dids = {u["did"] for u in placement.unrepaired}
    lost = {u["did"] for u in placement.unrepaired if u["lost_for_good"]}
    by_site: dict[str, int] = {}
    for t in placement.transfers:
        by_site[t["target_site"]] = by_site.get(t["target_site"], 0) + int(t["bytes"])
    return {
        "violating": placement.violating,
        "repaired": placement.repaired,
        "in_flight": placement.waiting,
        "unrepaired_datasets": len(unrepaired_dids),
        "unrepaired": len(placement.unrepaired),
        "lost_for_good": len(lost),
        "transfers": len(placement.transfers),
        "bytes": sum(int(t["bytes"]) for t in placement.transfers),
        "bytes_staged": sum(int(t["bytes"]) for t in placement.transfers if t["staging"]),
        "by_target_site": dict(sorted(by_site.items())),
        "unlimited_targets": placement.unlimited,
        "drained_endpoints": len(drain),
    }
