"""Every production of the catalog as a run with its inputs and outputs, streamed (``export-lineage``).

One query reads every production with its transformation, site and datasets, ordered by
production name: the runs are made from it as its rows arrive (through a server-side cursor on
PostgreSQL), so exporting a catalog of a million datasets holds one production at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lifecycle.provenance.graph import Production, ProductionRun, RunDataset, Transformation
from lifecycle.values import utc_datetime

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection

# production columns (0-13), then one dataset edge (14-19: role, DID, facts), NULL for none
_RUNS_SQL = """
    SELECT p.name, p.conditions_tag, s.name AS site, p.started_at, p.finished_at, p.status,
           t.tag, t.name AS transformation, t.release, t.image, t.image_digest, t.code_repo,
           t.code_commit, t.command,
           io.role, d.did, d.kind, d.data_type, d.state, d.created_at
    FROM production p
    JOIN transformation t ON t.id = p.transformation_id
    LEFT JOIN site s ON s.id = p.site_id
    LEFT JOIN (
        SELECT production_id, dataset_id, role FROM production_input
        UNION ALL
        SELECT production_id, dataset_id, 'output' AS role FROM production_output
    ) io ON io.production_id = p.id
    LEFT JOIN dataset d ON d.id = io.dataset_id
    ORDER BY p.name
"""


@dataclass(frozen=True)
class Runs:
    """The runs to export and the experiment whose namespaces they are written in."""

    experiment: str
    runs: Iterable[ProductionRun]


def production_runs(conn: Connection) -> Iterator[ProductionRun]:
    """Every production, by name, with all its inputs (by role, then DID) and outputs (by DID)."""
    result = conn.execute(sa.text(_RUNS_SQL).execution_options(stream_results=True))
    for _, rows in groupby(result, key=lambda row: row[0]):
        group = list(rows)
        first = group[0]
        production = Production(
            name=first[0],
            conditions_tag=first[1],
            site=first[2],
            started_at=utc_datetime(first[3]),
            finished_at=utc_datetime(first[4]),
            status=first[5],
            transformation=Transformation(*first[6:14]),
        )
        datasets = sorted(
            (
                RunDataset(r[15], r[14], r[16], r[17], r[18], utc_datetime(r[19]))
                for r in group
                if r[14] is not None
            ),
            key=lambda d: (d.role, d.did),
        )
        yield ProductionRun(
            production,
            [d for d in datasets if d.role != "output"],
            [d for d in datasets if d.role == "output"],
        )
