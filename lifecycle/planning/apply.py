"""Applying a saved plan: simulate the campaign by registering its productions, new datasets
and their replicas, once, and only while nothing blocks it (then or now).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lifecycle.catalog.bulk import insert_frame, reset_sequences
from lifecycle.catalog.models import Plan
from lifecycle.catalog.store import Change
from lifecycle.errors import PlanBlocked, UsageError
from lifecycle.nomenclature import METADATA_KEYS, name_metadata
from lifecycle.planning.model import ReprocessingPlan
from lifecycle.planning.persistence import load_plan
from lifecycle.provenance.reproducibility import available

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def _name_metadata_rows(steps: pd.DataFrame) -> pd.DataFrame:
    """(dataset_id, key, value) rows of what the new datasets' names imply: the same metadata
    an import fills from a name (:func:`~lifecycle.nomenclature.name_metadata`), so an export of
    an applied plan imports back unchanged."""
    implied = name_metadata(steps["output_did"])[list(METADATA_KEYS)]
    implied.insert(0, "dataset_id", steps["dataset_id"].to_numpy())
    rows = implied.melt(id_vars="dataset_id", var_name="key", value_name="value")
    return rows[rows["value"].notna()].reset_index(drop=True)


def apply_plan(conn: Connection, change: Change, plan_id: int, now: datetime) -> dict[str, int]:
    """Simulate the campaign: register its productions, new datasets and their replicas."""
    import pandas as pd

    plan = load_plan(conn, plan_id)
    if plan.applied_at is not None:
        raise UsageError(f"plan {plan_id} was applied already, on {plan.applied_at:%Y-%m-%d}")
    if len(plan.blockers):
        raise PlanBlocked(plan_id, len(plan.blockers))
    changed = _blockers_now(conn, plan)
    if changed:
        raise PlanBlocked(plan_id, len(changed), changed[0])
    steps = plan.steps
    max_dataset = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM dataset").scalar()
    max_production = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM production").scalar()
    max_replica = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM replica").scalar()
    steps = steps.assign(
        dataset_id=range(max_dataset + 1, max_dataset + 1 + len(steps)),
        production_id=range(max_production + 1, max_production + 1 + len(steps)),
    )
    fields = steps["output_did"].str.split(":", n=1, regex=False)
    stamp = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
    insert_frame(
        conn,
        "dataset",
        pd.DataFrame(
            {
                "id": steps["dataset_id"],
                "did": steps["output_did"],
                "scope": fields.str[0],
                "name": fields.str[1],
                "kind": "derived",
                "data_type": steps["output_data_type"],
                "bytes": steps["output_bytes"].astype("int64"),
                "files": 1,
                "events": steps["output_events"].astype("Int64"),
                "created_at": stamp,
                "expires_at": pd.Series([None] * len(steps), dtype="datetime64[us, UTC]"),
                "state": "closed",
            }
        ),
    )
    insert_frame(conn, "dataset_metadata", _name_metadata_rows(steps))
    transformation_ids = dict(
        conn.execute(
            sa.text("SELECT tag, id FROM transformation WHERE tag IN :t").bindparams(
                sa.bindparam("t", expanding=True)
            ),
            {"t": sorted(steps["transformation"].unique())},
        ).all()
    )
    site_ids = dict(conn.execute(sa.text("SELECT name, id FROM site")).all())
    insert_frame(
        conn,
        "production",
        pd.DataFrame(
            {
                "id": steps["production_id"],
                "name": steps["production"],
                "transformation_id": steps["transformation"].map(transformation_ids),
                "conditions_tag": steps["conditions_tag"],
                "site_id": steps["site"].map(site_ids).astype("Int64"),
                "started_at": stamp,
                "finished_at": stamp,
                "status": "done",
            }
        ),
    )
    dataset_ids = dict(zip(steps["output_did"], steps["dataset_id"], strict=True))
    existing = plan.step_inputs[~plan.step_inputs["did"].isin(dataset_ids)]["did"].unique()
    for i in range(0, len(existing), 500):
        dataset_ids.update(
            conn.execute(
                sa.text("SELECT did, id FROM dataset WHERE did IN :d").bindparams(
                    sa.bindparam("d", expanding=True)
                ),
                {"d": list(existing[i : i + 500])},
            ).all()
        )
    production_of = dict(zip(steps["seq"], steps["production_id"], strict=True))
    io = plan.step_inputs
    insert_frame(
        conn,
        "production_input",
        pd.DataFrame(
            {
                "production_id": io["seq"].map(production_of),
                "dataset_id": io["did"].map(dataset_ids),
                "role": io["role"],
            }
        ),
    )
    insert_frame(
        conn,
        "production_output",
        pd.DataFrame({"dataset_id": steps["dataset_id"], "production_id": steps["production_id"]}),
    )
    endpoint_ids = dict(conn.execute(sa.text("SELECT name, id FROM endpoint")).all())
    placed = (
        steps[["dataset_id", "placement"]]
        .assign(endpoint=steps["placement"].str.split(","))
        .explode("endpoint")
    )
    placed = placed[placed["endpoint"].fillna("") != ""]
    insert_frame(
        conn,
        "replica",
        pd.DataFrame(
            {
                "id": range(max_replica + 1, max_replica + 1 + len(placed)),
                "dataset_id": placed["dataset_id"].to_numpy(),
                "endpoint_id": placed["endpoint"].map(endpoint_ids).to_numpy(),
                "state": "available",
                "created_at": stamp,
                "accessed_at": pd.Series([None] * len(placed), dtype="datetime64[us, UTC]"),
            }
        ),
    )
    reset_sequences(conn, ["dataset", "production", "replica"])
    conn.execute(
        sa.text("UPDATE plan SET applied_at = :at, applied_by = :by WHERE id = :id").bindparams(
            sa.bindparam("at", type_=_timestamp_type())
        ),
        {"at": now, "by": change.actor, "id": plan_id},
    )
    change.summary = (
        f"applied plan {plan_id} ({plan.name}): {len(steps)} productions, "
        f"{len(steps)} datasets, {len(placed)} replicas"
    )
    change.datasets_sql = (
        f"SELECT id FROM dataset WHERE id > {int(max_dataset)} "
        f"AND id <= {int(max_dataset + len(steps))}"
    )
    return {"productions": len(steps), "datasets": len(steps), "replicas": len(placed)}


def _blockers_now(conn: Connection, plan: ReprocessingPlan) -> list[str]:
    """What changed since the plan was saved and now blocks it: an existing input without an
    available replica (or gone), an output that now exists."""
    made = set(plan.steps["output_did"])
    needed = sorted(set(plan.step_inputs["did"]) - made)
    problems = []
    for i in range(0, len(needed), 500):
        part = needed[i : i + 500]
        ok = {
            did
            for did, is_available in conn.execute(
                sa.text(
                    f"SELECT d.did, {available('d.id')} FROM dataset d WHERE d.did IN :d"
                ).bindparams(sa.bindparam("d", expanding=True)),
                {"d": part},
            )
            if is_available
        }
        problems += [f"{did} has no available replica any more" for did in part if did not in ok]
    outputs = sorted(made)
    for i in range(0, len(outputs), 500):
        problems += [
            f"{did} exists now"
            for (did,) in conn.execute(
                sa.text("SELECT did FROM dataset WHERE did IN :d").bindparams(
                    sa.bindparam("d", expanding=True)
                ),
                {"d": outputs[i : i + 500]},
            )
        ]
    return problems


def _timestamp_type():
    return Plan.__table__.c.applied_at.type
