"""Applying a saved plan: simulate the campaign by registering its productions, new datasets
and their replicas, once, and only while nothing blocks it (then or now).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lifecycle.catalog.bulk import IdBlocks, insert_frame, new_ids
from lifecycle.catalog.queries import existing_dids
from lifecycle.catalog.sql import rows, statement
from lifecycle.catalog.store import Change
from lifecycle.errors import PlanBlocked, UsageError
from lifecycle.nomenclature import METADATA_KEYS, name_metadata
from lifecycle.planning.model import ReprocessingPlan
from lifecycle.planning.persistence import load_plan
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance.reproducibility import available
from lifecycle.text import count

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


def apply_plan(
    conn: Connection, change: Change, plan_id: int, now: datetime, progress: Progress = SILENT
) -> dict[str, int]:
    """Simulate the campaign: register its productions, new datasets and their replicas."""
    with progress.stages(f"applying plan {plan_id}", 2) as stage:
        with stage("checking the plan against the catalog"):
            plan = load_plan(conn, plan_id)
            if plan.applied_at is not None:
                raise UsageError(
                    f"plan {plan_id} was applied already, on {plan.applied_at:%Y-%m-%d}"
                )
            if len(plan.blockers):
                raise PlanBlocked(plan_id, len(plan.blockers))
            changed = _blockers_now(conn, plan)
            if changed:
                raise PlanBlocked(plan_id, len(changed), changed[0])
        with stage("registering productions, datasets and replicas"), new_ids(conn) as ids:
            datasets, placed = _register(conn, ids, plan, now)
    steps = plan.steps
    applied = {"at": now, "by": change.actor, "id": plan_id}
    conn.execute(
        statement("UPDATE plan SET applied_at = :at, applied_by = :by WHERE id = :id", applied),
        applied,
    )
    change.summary = (
        f"applied plan {plan_id} ({plan.name}): {count(len(steps), 'production')}, "
        f"{count(len(steps), 'dataset')}, {count(len(placed), 'replica')}"
    )
    change.datasets_sql = (
        f"SELECT id FROM dataset WHERE id >= {int(datasets.start)} AND id < {int(datasets.stop)}"
    )
    return {"productions": len(steps), "datasets": len(steps), "replicas": len(placed)}


def _register(
    conn: Connection, ids: IdBlocks, plan: ReprocessingPlan, now: datetime
) -> tuple[range, pd.DataFrame]:
    """Insert the plan's productions, their new datasets (with the metadata their names imply),
    their input and output edges, and the outputs' replicas; returns the new datasets' ids and
    the replicas placed."""
    import pandas as pd

    datasets = ids.take("dataset", len(plan.steps))
    steps = plan.steps
    steps = steps.assign(
        dataset_id=datasets,
        production_id=ids.take("production", len(steps)),
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
    transformation_ids = _ids(
        conn, "SELECT tag AS key, id FROM transformation WHERE tag IN :t",
        t=sorted(steps["transformation"].unique()),
    )  # fmt: skip
    site_ids = _ids(conn, "SELECT name AS key, id FROM site")
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
            _ids(
                conn,
                "SELECT did AS key, id FROM dataset WHERE did IN :d",
                d=list(existing[i : i + 500]),
            )
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
    endpoint_ids = _ids(conn, "SELECT name AS key, id FROM endpoint")
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
                "id": ids.take("replica", len(placed)),
                "dataset_id": placed["dataset_id"].to_numpy(),
                "endpoint_id": placed["endpoint"].map(endpoint_ids).to_numpy(),
                "state": "available",
                "created_at": stamp,
                "accessed_at": pd.Series([None] * len(placed), dtype="datetime64[us, UTC]"),
            }
        ),
    )
    return datasets, placed


def _ids(conn: Connection, sql: str, **params) -> dict:
    """``key -> id`` from a query of ``key, id`` rows."""
    return {row["key"]: row["id"] for row in rows(conn, sql, **params)}


def _blockers_now(conn: Connection, plan: ReprocessingPlan) -> list[str]:
    """What changed since the plan was saved and now blocks it: an existing input without an
    available replica (or gone), an output that now exists."""
    made = set(plan.steps["output_did"])
    needed = sorted(set(plan.step_inputs["did"]) - made)
    problems = []
    for i in range(0, len(needed), 500):
        part = needed[i : i + 500]
        found = rows(
            conn,
            f"SELECT d.did, {available('d.id')} AS ok FROM dataset d WHERE d.did IN :d",
            d=part,
        )
        ok = {row["did"] for row in found if row["ok"]}
        problems += [f"{did} has no available replica any more" for did in part if did not in ok]
    problems += [f"{did} exists now" for did in existing_dids(conn, sorted(made))]
    return problems
