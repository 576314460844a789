"""What a plan reads: the selected inputs with the replica each is read from, and the
calibration each step 1 reads with it.

The input is read from a disk replica when there is one, else from a tape replica that must be
staged (see :func:`~lifecycle.planning.placement.tape_staging`). The calibration comes from the
``--conditions`` tag, else from each input's latest ``done`` production.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lifecycle.catalog.sql import frame
from lifecycle.policy import Rule, Selector, selection
from lifecycle.provenance.reproducibility import LATEST_PRODUCTION_ORDER, available
from lifecycle.values import rows_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def select_inputs(conn: Connection, selector: Selector) -> pd.DataFrame:
    """Selected datasets (not deleted) with the replica to read: disk first, then tape."""
    where, params = selection(Rule(name="plan", type="plan", policy="", file="", select=selector))
    return frame(
        conn,
        f"""
        SELECT c.id, c.did, c.scope, c.kind, c.data_type, c.bytes, c.events,
               e.name AS source_endpoint, s.name AS source_site, e.media AS source_media
        FROM (
            SELECT d.id, d.did, d.scope, d.kind, d.data_type, d.bytes, d.events,
                   (SELECT r.endpoint_id FROM replica r JOIN endpoint e2 ON e2.id = r.endpoint_id
                    WHERE r.dataset_id = d.id AND r.state = 'available'
                    ORDER BY CASE WHEN e2.media = 'disk' THEN 0 ELSE 1 END, e2.name
                    LIMIT 1) AS endpoint_id
            FROM dataset d WHERE {where} AND d.state <> 'deleted'
        ) c
        LEFT JOIN endpoint e ON e.id = c.endpoint_id
        LEFT JOIN site s ON s.id = e.site_id
        ORDER BY c.did
        """,
        **params,
    )


def add_calibration(
    conn: Connection,
    inputs: pd.DataFrame,
    conditions_tag: str | None,
    blockers: list[tuple[str, str]],
) -> None:
    """Set ``calibration`` (a DID or None) and ``conditions`` per input; blockers when missing.

    With a conditions tag: the latest calibration dataset whose name carries the tag, for every
    input. Without: the calibration and conditions of each input's latest ``done`` production (as
    the reprocessability rule reads it; a failed or running one proves nothing); raw data
    that was never processed then has no known calibration (a blocker).
    """
    if conditions_tag:
        row = _calibration_for(conn, conditions_tag)
        if row is None:
            blockers.append((conditions_tag, "no calibration dataset for these conditions"))
        elif not row[1]:
            blockers.append((row[0], "calibration has no available replica"))
        inputs["calibration"] = row[0] if row else None
        inputs["conditions"] = conditions_tag
        return
    result = conn.execute(
        sa.text(
            f"""
            WITH latest AS (
                SELECT i.dataset_id, p.id AS production_id, p.conditions_tag,
                       ROW_NUMBER() OVER (PARTITION BY i.dataset_id
                                          ORDER BY {LATEST_PRODUCTION_ORDER}) AS rank
                FROM production_input i JOIN production p ON p.id = i.production_id
                WHERE i.role = 'input' AND p.status = 'done' AND i.dataset_id IN ({_ids(inputs)})
            )
            SELECT l.dataset_id AS id, l.conditions_tag AS conditions,
                   MIN(c.did) AS calibration,
                   MIN(CASE WHEN {available("c.id")} THEN 1 ELSE 0 END) AS calibration_ok
            FROM latest l
            LEFT JOIN production_input ci ON ci.production_id = l.production_id
                 AND ci.role = 'calibration'
            LEFT JOIN dataset c ON c.id = ci.dataset_id
            WHERE l.rank = 1
            GROUP BY l.dataset_id, l.conditions_tag
            """
        )
    )
    latest = rows_frame(result.keys(), result.fetchall())
    merged = inputs[["id", "did"]].merge(latest, on="id", how="left")
    inputs["calibration"] = merged["calibration"].to_numpy()
    inputs["conditions"] = merged["conditions"].to_numpy()
    # raw data is reconstructed with calibration; derived inputs need it only if they had it
    missing = merged["calibration"].isna().to_numpy() & (inputs["kind"] == "raw").to_numpy()
    blockers += [
        (did, "no calibration known from an earlier production: pass --conditions")
        for did in merged.loc[missing, "did"]
    ]
    unavailable = merged["calibration"].notna() & (merged["calibration_ok"].fillna(1) == 0)
    blockers += [
        (calibration, "calibration has no available replica")
        for calibration in merged.loc[unavailable, "calibration"].unique()
    ]


def _calibration_for(conn: Connection, tag: str) -> tuple[str, bool] | None:
    """The latest calibration dataset whose name has ``tag`` as a whole dot-separated field
    (``calib.CONDBR2-BLKPA-RUN2-09.v02``), versions compared as numbers; with availability."""
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        sa.text(
            f"SELECT d.did, d.name, {available('d.id')} AS ok FROM dataset d "
            "WHERE d.kind = 'calibration' AND (d.name LIKE :inner ESCAPE '\\' "
            "OR d.name LIKE :last ESCAPE '\\')"
        ),
        {"inner": f"%.{escaped}.%", "last": f"%.{escaped}"},
    ).all()
    if not rows:
        return None

    def version(name: str) -> tuple:
        return tuple(int(n) for n in re.findall(r"\d+", name.rsplit(".", 1)[-1]))

    did, _, ok = max(rows, key=lambda r: (version(r[1]), r[1]))
    return did, bool(ok)


def _ids(inputs: pd.DataFrame) -> str:
    """Integer ids inlined into SQL (they come from the database, never from users)."""
    return ", ".join(str(int(i)) for i in inputs["id"]) or "NULL"
