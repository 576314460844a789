"""Saved plans: storing a computed plan, listing and loading saved ones, and deleting one (which
frees its inputs from the expiry protection a plan gives).

A saved plan is its ``plan`` row (with the summary), its steps (``plan_step``), the inputs of each
step (``plan_step_input``), every dataset it reads (``plan_input``: what it protects from expiry)
and its blockers, staging and supersessions (``plan_note``). Loading gives back the plan as
computed when it was saved.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.bulk import insert_frame
from lifecycle.catalog.models import Plan
from lifecycle.catalog.sql import drop_tables, frame, rows, statement, temporary_table
from lifecycle.catalog.store import Change, utcnow
from lifecycle.errors import UsageError
from lifecycle.expiry import PLANNED_INPUTS, expire
from lifecycle.planning.model import STEP_COLUMNS, ChainLink, PlanDeletion, ReprocessingPlan
from lifecycle.policy import PolicySet
from lifecycle.text import count, number
from lifecycle.values import utc_datetime

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def name_taken(conn: Connection, name: str) -> bool:
    """Whether a saved plan has this name (plan names are unique)."""
    found = conn.execute(statement("SELECT 1 FROM plan WHERE name = :n"), {"n": name})
    return found.first() is not None


def save_plan(conn: Connection, change: Change, plan: ReprocessingPlan) -> int:
    """Store the plan (one transaction with its journal entry); returns its id. A name that a
    saved plan has already is a usage error (``--name``)."""
    import pandas as pd

    if name_taken(conn, plan.name):
        raise UsageError(
            f"--name: a plan named {plan.name!r} exists already (see 'lifecycle plan list'); "
            "choose another name"
        )
    summary = plan.summary()
    for total in ("events", "bytes_staged", "bytes_written"):
        if summary[total] > 2**63 - 1:  # exact, beyond what a BIGINT column holds
            raise UsageError(
                f"--select: the plan's {total.replace('_', ' ')} ({number(summary[total])}) is "
                f"more than a catalog stores ({number(2**63 - 1)}); select fewer inputs"
            )
    totals = ("inputs", "steps", "events", "cpu_hours", "bytes_staged", "bytes_written", "blockers")
    plan_id = conn.execute(
        sa.insert(Plan.__table__).values(
            name=plan.name,
            created_at=plan.created_at,
            actor=change.actor,
            selection=json.dumps(plan.selection, sort_keys=True),
            chain=",".join(f"{c.tag}:{c.data_type}" if c.data_type else c.tag for c in plan.chain),
            conditions_tag=plan.conditions_tag,
            **{total: summary[total] for total in totals},
        )
    ).inserted_primary_key[0]
    steps = plan.steps.copy()
    steps.insert(0, "plan_id", plan_id)
    steps["output_events"] = steps["output_events"].astype("Int64")
    insert_frame(conn, "plan_step", steps)
    step_inputs = plan.step_inputs.copy()
    step_inputs.insert(0, "plan_id", plan_id)
    insert_frame(conn, "plan_step_input", step_inputs.drop_duplicates(["seq", "did"]))
    read = set(plan.inputs["id"].astype("int64"))
    calibrations = sorted(set(plan.inputs.get("calibration", pd.Series(dtype="object")).dropna()))
    if calibrations:
        read |= {
            int(row["id"])
            for row in rows(conn, "SELECT id FROM dataset WHERE did IN :dids", dids=calibrations)
        }
    insert_frame(
        conn,
        "plan_input",
        pd.DataFrame({"plan_id": plan_id, "dataset_id": sorted(read)}, dtype="int64"),
    )
    notes = pd.concat(
        [
            plan.blockers.assign(kind="blocker", bytes=None),
            plan.supersedes.rename(columns={"did": "subject", "by": "detail"}).assign(
                kind="supersedes", bytes=None
            ),
            plan.staging.rename(columns={"endpoint": "subject", "site": "detail"}).assign(
                kind="staging"
            ),
        ],
        ignore_index=True,
    )
    notes.insert(0, "plan_id", plan_id)
    notes["bytes"] = notes["bytes"].astype("Int64")
    insert_frame(conn, "plan_note", notes[["plan_id", "kind", "subject", "detail", "bytes"]])
    change.summary = (
        f"saved plan {plan_id} ({plan.name}): {count(summary['steps'], 'step')} over "
        f"{count(summary['inputs'], 'input')}, {count(summary['blockers'], 'blocker')}"
    )
    change.datasets_sql = f"SELECT dataset_id AS id FROM plan_input WHERE plan_id = {int(plan_id)}"
    plan.id = plan_id
    plan.actor = change.actor
    return plan_id


def plans(conn: Connection) -> pd.DataFrame:
    return frame(
        conn,
        """
        SELECT id, name, created_at, actor, chain, conditions_tag, inputs, steps, events,
               cpu_hours, bytes_staged, bytes_written, blockers, applied_at, applied_by
        FROM plan ORDER BY id
        """,
    )


def load_plan(conn: Connection, plan_id: int) -> ReprocessingPlan:
    """A saved plan, as computed when it was saved."""
    row = _plan_row(conn, plan_id, "*")
    steps = frame(
        conn,
        f"SELECT {', '.join(STEP_COLUMNS)} FROM plan_step WHERE plan_id = :p ORDER BY seq",
        p=plan_id,
    )
    step_inputs = frame(
        conn, "SELECT seq, did, role FROM plan_step_input WHERE plan_id = :p ORDER BY seq, did",
        p=plan_id,
    )  # fmt: skip
    notes = frame(
        conn,
        "SELECT kind, subject, detail, bytes FROM plan_note WHERE plan_id = :p ORDER BY id",
        p=plan_id,
    )
    inputs = frame(
        conn,
        "SELECT d.id, d.did, d.bytes, d.events FROM plan_input pi JOIN dataset d "
        "ON d.id = pi.dataset_id WHERE pi.plan_id = :p AND d.kind <> 'calibration' ORDER BY d.did",
        p=plan_id,
    )

    def notes_of(kind: str, columns: dict[str, str]) -> pd.DataFrame:
        part = notes[notes["kind"] == kind].rename(columns=columns)
        return part[list(columns.values())].reset_index(drop=True)

    chain = [
        ChainLink(*(part.split(":", 1) if ":" in part else (part, None)))
        for part in row["chain"].split(",")
    ]
    return ReprocessingPlan(
        name=row["name"],
        selection=json.loads(row["selection"]),
        chain=chain,
        conditions_tag=row["conditions_tag"],
        inputs=inputs,
        steps=steps,
        step_inputs=step_inputs,
        blockers=notes_of("blocker", {"subject": "subject", "detail": "detail"}),
        staging=notes_of("staging", {"subject": "endpoint", "detail": "site", "bytes": "bytes"}),
        supersedes=notes_of("supersedes", {"subject": "did", "detail": "by"}),
        id=int(row["id"]),
        created_at=utc_datetime(row["created_at"]),
        actor=row["actor"],
        applied_at=utc_datetime(row["applied_at"]),
    )


def _plan_row(conn: Connection, plan_id: int, columns: str) -> dict[str, Any]:
    """``columns`` of the saved plan ``plan_id``; an unknown id is a usage error."""
    found = rows(conn, f"SELECT {columns} FROM plan WHERE id = :id", id=plan_id)
    if not found:
        raise UsageError(f"no plan {plan_id} (see 'lifecycle plan list')")
    return found[0]


FREED = "tmp_plan_freed"  # the inputs of a deleted plan, then those no plan protects any more


def delete_plan(
    conn: Connection,
    change: Change,
    plan_id: int,
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> PlanDeletion:
    """Forget a saved plan (its inputs are no longer protected from expiry by it).

    Deleting a plan deletes no data, so it acts directly. The result says which inputs no
    plan protects any more and, with ``policies``, which of them expiry would now delete.
    """
    row = _plan_row(conn, plan_id, "name, steps, inputs, applied_at, blockers")
    name, steps, inputs, applied_at, blockers = (
        row[k] for k in ("name", "steps", "inputs", "applied_at", "blockers")
    )
    result = PlanDeletion(plan_id, name, int(steps), int(inputs), not applied_at and not blockers)
    if applied_at:
        result.why_not = "it was applied"
    elif blockers:
        result.why_not = f"it has {count(blockers, 'blocker')}"
    temporary_table(conn, FREED)
    try:
        conn.execute(
            statement(
                f"INSERT INTO {FREED} (id) SELECT dataset_id FROM plan_input WHERE plan_id = :id"
            ),
            {"id": plan_id},
        )
        for table in ("plan_note", "plan_input", "plan_step_input", "plan_step"):
            conn.execute(statement(f"DELETE FROM {table} WHERE plan_id = :id"), {"id": plan_id})
        conn.execute(statement("DELETE FROM plan WHERE id = :id"), {"id": plan_id})
        if result.protected_by_it:
            conn.exec_driver_sql(f"DELETE FROM {FREED} WHERE id IN ({PLANNED_INPUTS})")
            result.freed = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {FREED}").scalar())
            if policies is not None and result.freed:
                decisions = expire(conn, policies, now or utcnow(), only=f"SELECT id FROM {FREED}")
                decisions = decisions.decisions
                result.decided = True
                result.eligible = sorted(decisions.loc[decisions["decision"] == "delete", "did"])
                kept = decisions.loc[decisions["decision"] == "keep", "reason"]
                result.kept = {
                    str(k): int(v) for k, v in kept.str.split(":").str[0].value_counts().items()
                }
    finally:
        drop_tables(conn, FREED)
    freed = result.freed
    change.summary = f"deleted plan {plan_id} ({name})" + (
        f": {count(freed, 'input')} no longer protected from expiry" if freed else ""
    )
    return result
