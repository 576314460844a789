"""The eight exchange tables: their names and Arrow schemas (FORMAT.md), and the columns of a
built catalog turned from index form into values (text, timestamps, nulls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lifecycle.exchange.spec import TABLES as EXCHANGE_TABLES
from lifecycle.generate.atlas import DTYPES, PROJECTS
from lifecycle.generate.datasets import DATASET_STATES, KINDS, REPLICA_STATES, ROLES, Datasets
from lifecycle.generate.grid import Grid
from lifecycle.generate.lifetimes import Lifetimes, Pins
from lifecycle.generate.placement import Replicas
from lifecycle.generate.productions import STATUSES, Productions
from lifecycle.generate.transformations import CODE_REPO, Transformations

if TYPE_CHECKING:
    import pyarrow as pa

TABLES = tuple(EXCHANGE_TABLES)


@dataclass
class BuiltCatalog:
    """Every part of a drawn catalog, in index form."""

    grid: Grid
    transformations: Transformations
    datasets: Datasets
    dids: pa.Array
    lifetimes: Lifetimes
    productions: Productions
    replicas: Replicas
    capacity: np.ndarray
    pins: Pins


def columns(rng: np.random.Generator, built: BuiltCatalog) -> dict[str, dict[str, object]]:
    """Column data per table (numpy arrays, lists or pyarrow arrays), in schema order.

    Draws the file count of each dataset from ``rng``: the last draw of a build.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    g = built.grid
    tr = built.transformations
    ds = built.datasets

    def take(values: Sequence[str], index: np.ndarray) -> pa.Array:
        return pc.take(pa.array(values, pa.string()), pa.array(index, mask=index < 0))

    def when(seconds: np.ndarray) -> pa.Array:
        micros = pa.array(seconds * 1_000_000, mask=seconds < 0, type=pa.int64())
        return micros.cast(pa.timestamp("us", tz="UTC"))

    def optional(values: np.ndarray) -> pa.Array:
        return pa.array(values, mask=values < 0, type=pa.int64())

    files = np.maximum(1, np.ceil(ds.bytes / rng.uniform(2e9, 10e9, len(ds)))).astype(np.int64)
    rep = built.replicas
    prod = built.productions
    prod_ids = [f"task-{t:08d}" for t in prod.taskno.tolist()]
    io_prod, io_ds, io_role = prod.io
    return {
        "sites": {
            "name": g.site_name,
            "tier": g.site_tier,
            "country": g.site_country,
            "cloud": g.site_cloud,
            "status": g.site_status,
        },
        "endpoints": {
            "name": g.ep_name,
            "site": take(g.site_name, g.ep_site),
            "media": ["tape" if t else "disk" for t in g.ep_tape.tolist()],
            "capacity_bytes": built.capacity,
            "type": g.ep_type,
            "archival": g.ep_tape,
        },
        "datasets": {
            "did": built.dids,
            "kind": take(KINDS, ds.kind.astype(np.int64)),
            "data_type": take(DTYPES, ds.dtype.astype(np.int64)),
            "bytes": ds.bytes,
            "files": files,
            "events": optional(ds.events),
            "created_at": when(ds.created),
            "expires_at": when(built.lifetimes.expires),
            "state": take(DATASET_STATES, built.lifetimes.state.astype(np.int64)),
            "project": take(
                [p.name for p in PROJECTS] + ["ddo"],
                np.where(ds.kind == KINDS.index("metadata"), len(PROJECTS), ds.project),
            ),
            "run_number": optional(ds.run),
            "dsid": optional(ds.dsid),
        },
        "replicas": {
            "did": pc.take(built.dids, pa.array(rep.ds)),
            "endpoint": take(g.ep_name, rep.ep),
            "state": take(REPLICA_STATES, rep.state.astype(np.int64)),
            "created_at": when(rep.created),
            "accessed_at": when(rep.accessed),
        },
        "transformations": {
            "tag": tr.tag,
            "name": tr.name,
            "release": tr.release,
            "image": tr.image,
            "image_digest": tr.digest,
            "code_repo": [CODE_REPO] * len(tr.tag),
            "code_commit": tr.commit,
            "command": tr.command,
            "platform": tr.platform,
            "cpu_seconds_per_event": tr.cpu,
            "output_ratio": pa.array(tr.ratio, mask=np.isnan(tr.ratio)),
        },
        "productions": {
            "id": prod_ids,
            "transformation": take(tr.tag, prod.tr),
            "conditions_tag": take(prod.conditions, prod.cond),
            "site": take(g.site_name, prod.site),
            "started_at": when(prod.start),
            "finished_at": when(prod.finish),
            "status": take(STATUSES, prod.status.astype(np.int64)),
        },
        "production_io": {
            "production": take(prod_ids, io_prod),
            "did": pc.take(built.dids, pa.array(io_ds)),
            "role": take(ROLES, io_role.astype(np.int64)),
        },
        "pins": {
            "did": pc.take(built.dids, pa.array(built.pins.ds, type=pa.int64())),
            "reason": built.pins.reason,
            "until": when(built.pins.until),
            "actor": built.pins.actor,
        },
    }


def schemas() -> dict[str, pa.Schema]:
    """The Arrow schema of every generated table: the exchange format's columns, then the
    generator's extra attribute/metadata columns.

    Columns the format calls optional, and the extra columns, are nullable; the rest are not.
    Timestamps are microseconds in UTC.
    """
    import pyarrow as pa

    extras = {
        "endpoints": [("type", pa.string()), ("archival", pa.bool_())],
        "datasets": [("project", pa.string()), ("run_number", pa.int64()), ("dsid", pa.int64())],
    }
    return {
        name: pa.schema(
            [pa.field(c.name, c.arrow_type(), nullable=c.optional) for c in table.columns]
            + [pa.field(extra, kind, nullable=True) for extra, kind in extras.get(name, [])]
        )
        for name, table in EXCHANGE_TABLES.items()
    }
