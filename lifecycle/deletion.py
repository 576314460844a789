"""Guarded manual deletion of one replica, and recording a replica as lost.

``delete_replica`` checks, before anything changes:

1. **last copy**: the last available replica of raw, calibration or metadata is never deleted
   (DESIGN invariant 3); ``--force`` does not override this;
2. **replication**: the deletion must not take a dataset below a loaded ``replication`` rule
   (fewer distinct units than the rule's ``copies``, and fewer than now);
3. **reproducibility**: the deletion must not make any other dataset irreproducible, nor lose
   the last available copy of a dataset that cannot be regenerated (the reproducibility
   service's exact what-if).

``--force`` overrides 2 and 3 only, and the journal says so.

``mark_lost`` records a failed disk or tape. It marks data lost (DESIGN invariant 6), so it
previews by default and records only with ``--apply``; both say what the loss means, computed
by the loss simulation (:func:`lifecycle.simulate.simulate_gone`) on the one replica: whether the
dataset keeps another copy, is recoverable (reproducible; productions to run again) or is lost
for good, which other datasets become irreproducible, which replication rules become newly
violated. A replica already lost or deleted cannot be lost again.

``mark_replicas`` is the same record for many replicas at once (a storage-consistency check marks
every replica its dump misses), set-based over a temporary table of replica ids; its
consequences come from the same loss simulation (:func:`lifecycle.simulate.simulate_gone`) run on
the whole set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import dataset_id
from lifecycle.catalog.sql import JOURNAL_CHANGE_COLUMNS, rows, statement, temporary_table
from lifecycle.errors import UsageError
from lifecycle.policy import UNIT_COLUMN, endpoint_sets, selection
from lifecycle.provenance.recipe import recipe
from lifecycle.provenance.reproducibility import (
    IRREPRODUCIBLE,
    WhatIf,
    irreproducible_reasons,
    irreproducible_table,
    newly_irreproducible,
    what_if,
)
from lifecycle.simulate import simulate_gone
from lifecycle.text import count, number
from lifecycle.values import envelope
from lifecycle.vocabulary import LIVE_STATES, PRESERVED_KINDS

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change
    from lifecycle.policy import PolicySet

_LIVE = ", ".join(f"'{s}'" for s in LIVE_STATES)  # SQL list of the states that hold data


@dataclass(frozen=True)
class Refusal:
    guard: str  # last-copy, replication, reproducibility
    message: str
    overridable: bool


@dataclass
class DeletionReport:
    did: str
    endpoint: str
    state: str  # the replica's state before
    bytes: int
    refusals: list[Refusal] = field(default_factory=list)
    forced: bool = False
    applied: bool = False

    @property
    def allowed(self) -> bool:
        return all(r.overridable for r in self.refusals) and (self.forced or not self.refusals)

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``replicas delete``: whether it is allowed (and done), the
        replica, and the guards that refuse it."""
        summary = {
            "allowed": self.allowed,
            "applied": self.applied,
            "forced": self.forced and bool(self.refusals),
            "refusals": len(self.refusals),
            "bytes": self.bytes,
        }
        replica = {k: getattr(self, k) for k in ("did", "endpoint", "state", "bytes")}
        return envelope(
            "replicas-delete", summary, replica=replica, refusals=[vars(r) for r in self.refusals]
        )

    def checks(self) -> pd.DataFrame:
        """The report as rows (csv, parquet): one per refusal (``guard``, ``overridable``,
        ``message``), the replica's columns on each; one row with no guard when nothing
        refused."""
        import pandas as pd

        replica = {k: getattr(self, k) for k in ("did", "endpoint", "state", "bytes", "allowed")}
        replica |= {"applied": self.applied, "forced": self.forced and bool(self.refusals)}
        refusals = [vars(r) for r in self.refusals] or [
            {"guard": None, "message": None, "overridable": None}
        ]
        columns = [*replica, "guard", "overridable", "message"]
        return pd.DataFrame([{**replica, **r} for r in refusals], columns=columns)


def delete_replica(
    conn: Connection,
    did: str,
    endpoint: str,
    policies: PolicySet | None,
    *,
    force: bool = False,
    change: Change | None = None,
) -> DeletionReport:
    """Check (and with ``change``, a write transaction, carry out) the deletion of one replica."""
    replica = _replica(conn, did, endpoint)
    if replica["state"] == "deleted":
        raise UsageError(f"the replica of {replica['did']} at {endpoint} is already deleted")
    report = DeletionReport(
        replica["did"], endpoint, replica["state"], int(replica["bytes"]), forced=force
    )
    # a copy that is only copying or unavailable (a site briefly down) still holds the data:
    # the last such copy of raw, calibration or metadata is never deleted either
    others = _other_replicas(conn, replica)
    last_available = replica["state"] == "available" and not others.get("available")
    last_live = replica["state"] in LIVE_STATES and not any(others.get(s) for s in LIVE_STATES)
    if replica["kind"] in PRESERVED_KINDS and (last_available or last_live):
        report.refusals.append(
            Refusal(
                "last-copy",
                f"the last {'available' if last_available else 'remaining'} replica of "
                f"{replica['kind']} data is never deleted",
                overridable=False,
            )
        )
    if policies is not None:
        report.refusals += _replication_refusals(conn, replica, policies)
    report.refusals += _reproducibility_refusals(conn, replica, others)
    if change is not None and report.allowed:
        _mark(conn, change, replica, "deleted")
        forced = list(dict.fromkeys(r.guard for r in report.refusals))
        change.summary = f"deleted the replica of {replica['did']} at {endpoint}" + (
            f" (forced past the {' and '.join(forced)} guard{'s' if len(forced) > 1 else ''})"
            if forced
            else ""
        )
        change.datasets_sql = f"SELECT {int(replica['dataset_id'])} AS id"
        report.applied = True
    return report


@dataclass
class LossOfReplica:
    """What marking one replica lost means (and, with ``applied``, what was recorded).

    ``outcome`` is what happens to the dataset itself: ``kept`` (another available replica
    remains), ``held`` (no available replica remains, but a copying or unavailable one still
    holds the data), ``recoverable`` (no copy remains; it is reproducible, ``steps`` productions
    rebuild it) or ``lost`` (no copy remains and nothing regenerates it: lost for good).
    """

    did: str
    endpoint: str
    state: str  # the replica's state before
    kind: str
    bytes: int
    outcome: str
    remaining: dict[str, int] = field(default_factory=dict)  # other live replicas by state
    reason: str | None = None  # why the dataset is lost for good
    steps: int = 0  # productions to run again when recoverable
    irreproducible: list[str] = field(default_factory=list)  # other datasets, by DID
    violations: list[dict[str, Any]] = field(default_factory=list)  # replication findings
    re_replicate_from: str | None = None  # the best surviving source of a new copy
    applied: bool = False

    @property
    def loses_data(self) -> bool:
        """Whether data is lost for good (the CLI exits 1, as ``simulate loss`` does)."""
        return self.outcome == "lost"

    def consequences(self) -> pd.DataFrame:
        """The report as rows (csv, parquet), each named in ``section``: the ``replica`` (its
        dataset's outcome, reason or steps, where to copy it again from), then each dataset
        that would become ``irreproducible``, then each newly violated replication rule
        (``violation``: rule, policy, message)."""
        import pandas as pd

        replica = {
            "section": "replica",
            **{k: getattr(self, k) for k in ("did", "endpoint", "state", "kind", "bytes")},
            "outcome": self.outcome,
            "lost_for_good": self.loses_data,
            "reason": self.reason,
            "steps": self.steps if self.outcome == "recoverable" else None,
            "re_replicate_from": self.re_replicate_from,
            "applied": self.applied,
        }
        found = [replica]
        found += [{"section": "irreproducible", "did": did} for did in self.irreproducible]
        found += [
            {"section": "violation", "did": v["did"], "rule": v["rule"], "policy": v["policy"],
             "message": v["message"]}
            for v in self.violations
        ]  # fmt: skip
        columns = [*replica, "rule", "policy", "message"]
        frame = pd.DataFrame(found, columns=columns)
        for column in ("bytes", "steps"):
            frame[column] = frame[column].astype("Int64")
        for column in ("lost_for_good", "applied"):
            frame[column] = frame[column].astype("boolean")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``replicas mark-lost``: the outcome and its counts, the replica
        (its dataset's ``kind`` in it), then what the loss means."""
        summary = {
            "outcome": self.outcome,
            "lost_for_good": self.loses_data,
            "applied": self.applied,
            "bytes": self.bytes,
            "steps": self.steps,
            "irreproducible": len(self.irreproducible),
            "violations": len(self.violations),
        }
        replica = {k: getattr(self, k) for k in ("did", "endpoint", "state", "kind", "bytes")}
        consequences = ("reason", "remaining", "irreproducible", "violations", "re_replicate_from")
        return envelope(
            "replicas-mark-lost",
            summary,
            {"replica": replica, **{k: getattr(self, k) for k in consequences}},
        )

    def lines(self, shown: int = 5) -> list[str]:
        """The report for people: the replica, then what its loss means."""
        verb = "marked" if self.applied else "would mark"
        out = [f"{verb} the replica of {self.did} at {self.endpoint} lost (it was {self.state})"]
        others = ", ".join(f"{number(n)} {state}" for state, n in sorted(self.remaining.items()))
        if self.outcome == "kept":
            source = self.re_replicate_from
            source = f"; copy it again from {source}" if source else ""
            out.append(f"{self.did} keeps {others} replica(s){source}")
        elif self.outcome == "held":
            out.append(
                f"{self.did} keeps no available replica, but {others} replica(s) still hold "
                "the data"
            )
        elif self.outcome == "recoverable":
            out.append(
                f"the last copy of this {self.kind} dataset: recoverable, it is reproducible "
                f"({number(self.steps)} production(s) to run again; see 'lifecycle recipe')"
            )
        else:
            out.append(f"the last copy of this {self.kind} dataset: lost for good ({self.reason})")
        if self.irreproducible:
            n = len(self.irreproducible)
            names = ", ".join(self.irreproducible[:shown])
            more = f" and {number(n - shown)} more" if n > shown else ""
            out.append(
                f"{count(n, 'other dataset')} become{'s' if n == 1 else ''} "
                f"irreproducible: {names}{more}"
            )
        for v in self.violations:
            out.append(
                f"replication rule {v['rule']} ({v['policy']}) newly violated: {v['message']}"
            )
        return out


def mark_lost(
    conn: Connection,
    did: str,
    endpoint: str,
    policies: PolicySet | None = None,
    now: datetime | None = None,
    *,
    change: Change | None = None,
) -> LossOfReplica:
    """What losing the replica of ``did`` at ``endpoint`` means; with ``change`` (a write
    transaction), record it: the replica becomes lost, and the dataset too when no live
    replica is left. ``policies``: the replication rules checked for new violations."""
    replica = _replica(conn, did, endpoint)
    if replica["state"] in ("lost", "deleted"):
        raise UsageError(
            f"the replica of {replica['did']} at {endpoint} is already {replica['state']}"
        )
    report = _loss_of(conn, replica, endpoint, policies, now)
    if change is not None:
        _mark(conn, change, replica, "lost")
        change.summary = f"marked the replica of {replica['did']} at {endpoint} lost" + (
            f": {replica['did']} is lost for good" if report.loses_data else ""
        )
        change.datasets_sql = f"SELECT {int(replica['dataset_id'])} AS id"
        report.applied = True
    return report


def _loss_of(
    conn: Connection,
    replica: dict[str, Any],
    endpoint: str,
    policies: PolicySet | None,
    now: datetime | None,
) -> LossOfReplica:
    """The loss simulation on this one replica, plus the datasets it leaves irreproducible.

    Only an available replica changes what is available: for a copying or unavailable one the
    simulation has nothing to say, and the dataset's own fate follows from its other copies and
    from its recipe.
    """
    report = LossOfReplica(
        replica["did"], endpoint, replica["state"], replica["kind"], int(replica["bytes"]), ""
    )
    others = _other_replicas(conn, replica)
    report.remaining = {state: n for state, n in others.items() if state in LIVE_STATES}
    simulated = None
    if replica["state"] == "available":
        with _without(conn, replica) as (gone, victims):
            simulated = simulate_gone(conn, gone, policies, now, endpoints=[endpoint])
        report.irreproducible = [v["did"] for v in victims if v["id"] != replica["dataset_id"]]
        report.violations = simulated.violations
        if simulated.re_replicate:
            report.re_replicate_from = simulated.re_replicate[0]["source"]
    if report.remaining.get("available"):
        report.outcome = "kept"
    elif report.remaining:
        report.outcome = "held"
    elif simulated is not None and (simulated.lost or simulated.recoverable):
        if simulated.lost:
            report.outcome, report.reason = "lost", simulated.lost[0]["reason"]
        else:
            report.outcome, report.steps = "recoverable", simulated.recoverable[0]["steps"]
    elif replica["kind"] in PRESERVED_KINDS:
        report.outcome = "lost"
        report.reason = f"no copy would remain and {replica['kind']} data cannot be regenerated"
    else:  # its last copy was not available: the recipe says whether it can be made again
        rebuilt = recipe(conn, replica["did"])
        if rebuilt.reproducible:
            report.outcome, report.steps = "recoverable", len(rebuilt.steps)
        else:
            report.outcome = "lost"
            report.reason = f"not reproducible: {rebuilt.missing[0].reason}"
    return report


@contextmanager
def _without(conn: Connection, replica: dict[str, Any]) -> Iterator[tuple[str, list[dict]]]:
    """The replica taken away, in a what-if: the table of gone replicas, and the datasets (``id``,
    ``did``, by DID) that its loss would make irreproducible (the reproducibility service's
    exact what-if)."""
    scenario = WhatIf(replicas=(int(replica["id"]),))
    with what_if(conn, scenario) as gone, irreproducible_table(conn) as irreproducible:
        assert gone is not None
        newly = newly_irreproducible(conn, irreproducible, gone)
        victims = rows(
            conn, f"SELECT d.id, d.did FROM {newly} n JOIN dataset d ON d.id = n.id ORDER BY d.did"
        )
        yield gone, victims


def _replica(conn: Connection, did: str, endpoint: str) -> dict[str, Any]:
    found = rows(
        conn,
        """
        SELECT r.id, r.state, r.endpoint_id, d.id AS dataset_id, d.did, d.kind, d.bytes,
               d.state AS dataset_state
        FROM replica r JOIN endpoint e ON e.id = r.endpoint_id
        JOIN dataset d ON d.id = r.dataset_id
        WHERE r.dataset_id = :dataset AND e.name = :endpoint
        """,
        dataset=dataset_id(conn, did),
        endpoint=endpoint,
    )
    if not found:
        if not rows(conn, "SELECT 1 AS known FROM endpoint WHERE name = :n", n=endpoint):
            raise UsageError(f"unknown endpoint {endpoint!r} (see 'lifecycle endpoints list')")
        raise UsageError(f"{did} has no replica at {endpoint} (see 'lifecycle replicas list')")
    return found[0]


def _other_replicas(conn: Connection, replica: dict[str, Any]) -> dict[str, int]:
    """The dataset's other replicas, counted by state."""
    return {
        row["state"]: int(row["n"])
        for row in rows(
            conn,
            "SELECT state, COUNT(*) AS n FROM replica WHERE dataset_id = :d AND id <> :r "
            "GROUP BY state",
            d=replica["dataset_id"],
            r=replica["id"],
        )
    }


def _replication_refusals(
    conn: Connection, replica: dict[str, Any], policies: PolicySet
) -> list[Refusal]:
    """Replication rules selecting the dataset that the deletion would take below ``copies``."""
    rules = [r for r in policies.rules if r.type == "replication"]
    if not rules or replica["state"] != "available":
        return []
    allowed_by_rule = endpoint_sets(conn, policies)
    out = []
    for rule in rules:
        where, params = selection(rule)
        sql = f"SELECT d.id FROM dataset d WHERE d.id = :dataset AND {where}"
        if not rows(conn, sql, **params, dataset=replica["dataset_id"]):
            continue
        allowed = allowed_by_rule.get(rule.name)
        if allowed is not None and replica["endpoint_id"] not in allowed:
            continue
        found = rows(
            conn,
            f"""
            SELECT r.id, r.endpoint_id, {UNIT_COLUMN[rule.distinct]} AS unit
            FROM replica r JOIN endpoint e ON e.id = r.endpoint_id
            JOIN site s ON s.id = e.site_id
            WHERE r.dataset_id = :dataset AND r.state = 'available'
            """,
            dataset=replica["dataset_id"],
        )
        counted = [row for row in found if allowed is None or row["endpoint_id"] in allowed]
        before = {row["unit"] for row in counted}
        after = {row["unit"] for row in counted if row["id"] != replica["id"]}
        if len(after) < (rule.copies or 0) and len(after) < len(before):
            out.append(
                Refusal(
                    "replication",
                    f"rule {rule.name} ({rule.policy}) needs {count(rule.copies or 0, 'copy', 'copies')} "
                    f"at distinct {rule.distinct}s; {number(len(after))} would remain",
                    overridable=True,
                )
            )
    return out


def _reproducibility_refusals(
    conn: Connection, replica: dict[str, Any], others: dict[str, int]
) -> list[Refusal]:
    """Datasets the deletion would make irreproducible; losing an irreproducible last copy.

    ``others``: the dataset's other replicas by state."""
    if replica["state"] != "available":
        return []
    with _without(conn, replica) as (_, found):
        victims = [row["did"] for row in found]
        own = []
        if replica["kind"] not in PRESERVED_KINDS and not others.get("available"):
            own = irreproducible_reasons(
                conn, IRREPRODUCIBLE, "d.id = :dataset", {"dataset": replica["dataset_id"]}
            )
    out = []
    if own:
        out.append(
            Refusal(
                "reproducibility",
                f"{replica['did']} would lose its last available copy and cannot be "
                f"regenerated ({own[0]['reason']})",
                overridable=True,
            )
        )
    if victims:
        shown = ", ".join(victims[:5]) + (
            f" and {number(len(victims) - 5)} more" if len(victims) > 5 else ""
        )
        out.append(
            Refusal(
                "reproducibility",
                f"{count(len(victims), 'other dataset')} would become irreproducible: {shown}",
                overridable=True,
            )
        )
    return out


def _mark(conn: Connection, change: Change, replica: dict[str, Any], state: str) -> None:
    """Set the replica's state; a dataset left with no live replica becomes deleted or lost.
    Both changes are journaled with their old and new values."""
    conn.execute(
        statement("UPDATE replica SET state = :state WHERE id = :r"),
        {"state": state, "r": replica["id"]},
    )
    change.changes.append(
        dict(entity="replica", entity_id=int(replica["id"]), field="state",
             old_value=replica["state"], new_value=state)
    )  # fmt: skip
    emptied = conn.execute(
        statement(
            f"UPDATE dataset SET state = :state WHERE id = :d AND state <> 'deleted' "
            f"AND NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = :d "
            f"AND r.state IN ({_LIVE}))"
        ),
        {"state": state, "d": replica["dataset_id"]},
    ).rowcount
    if emptied and replica["dataset_state"] != state:
        change.changes.append(
            dict(entity="dataset", entity_id=int(replica["dataset_id"]), field="state",
                 old_value=replica["dataset_state"], new_value=state)
        )  # fmt: skip


MARKED = "tmp_marked_changes"  # the values mark_replicas changes, old and new, for the journal


def mark_replicas(conn: Connection, change: Change, gone: str, state: str) -> int:
    """Set the state of the replicas whose ids the temporary table ``gone`` holds (those not
    already in ``state``); a dataset left with no live replica becomes ``state`` too, as
    :func:`_mark` does for one replica. Every change is journaled with its old and new value
    (``change.changes_sql``; the scratch table is dropped after the journal entry is written).
    Returns how many replicas changed."""
    temporary_table(conn, MARKED, JOURNAL_CHANGE_COLUMNS)
    params = {"state": state}
    # PostgreSQL deduces one type per parameter: the column's (varchar) in comparisons, text
    # in a select list, and refuses the two together; the cast makes them one
    new = "CAST(:state AS VARCHAR)"
    conn.execute(
        statement(
            f"INSERT INTO {MARKED} SELECT 'replica', r.id, 'state', r.state, {new} "
            f"FROM replica r WHERE r.id IN (SELECT id FROM {gone}) AND r.state <> {new}"
        ),
        params,
    )
    marked = conn.execute(
        statement(
            f"UPDATE replica SET state = :state WHERE id IN (SELECT id FROM {gone}) "
            "AND state <> :state"
        ),
        params,
    ).rowcount
    conn.execute(
        statement(
            f"INSERT INTO {MARKED} SELECT 'dataset', d.id, 'state', d.state, {new} "
            f"FROM dataset d WHERE d.id IN (SELECT r.dataset_id FROM replica r "
            f"JOIN {gone} g ON g.id = r.id) AND d.state NOT IN ('deleted', {new}) "
            f"AND NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = d.id "
            f"AND r.state IN ({_LIVE}))"
        ),
        params,
    )
    conn.execute(
        statement(
            "UPDATE dataset SET state = :state WHERE id IN "
            f"(SELECT entity_id FROM {MARKED} WHERE entity = 'dataset')"
        ),
        params,
    )
    change.changes_sql.append(f"SELECT * FROM {MARKED}")
    change.drop_after = (*change.drop_after, MARKED)
    return int(marked)
