"""ATLAS dataset names: ``scope:project.number.stream_or_physics.step.DATA_TYPE.tags``.

The tag list of a dataset is the tags of its primary input plus the tag of its own production;
the two parts of a split task add ``_tid<task>_00``, so every name is unique by construction.
Calibration and metadata datasets are named when they are laid out (``conditions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lifecycle.generate.atlas import (
    DTYPES,
    PILEUP_DSIDS,
    PILEUP_SHORT,
    PROJECTS,
    STEPS,
    STREAMS,
    physics_short,
)
from lifecycle.generate.datasets import Datasets
from lifecycle.generate.units import Units

if TYPE_CHECKING:
    import pyarrow as pa


def dataset_names(
    ds: Datasets,
    units: Units,
    tags_of_transformations: list[str],
    taskno: np.ndarray,
    calibration_names: list[str],
    metadata_names: list[str],
) -> pa.Array:
    """``scope:name`` for every dataset, in dataset order, built column-wise with pyarrow compute.

    ``taskno`` is the task number of each production (``ds.prod`` indexes it).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ds)
    first = len(calibration_names) + len(metadata_names)
    sl = slice(first, n)

    ids = [
        f"{r:08d}" if r >= 0 else f"{d:06d}"
        for r, d in zip(units.run.tolist(), units.dsid.tolist(), strict=True)
    ]
    short = {d: PILEUP_SHORT[i] for i, d in enumerate(PILEUP_DSIDS)}
    descr = [
        STREAMS[s] if s >= 0 else short.get(d) or physics_short(d)
        for s, d in zip(units.stream.tolist(), units.dsid.tolist(), strict=True)
    ]
    unit = pa.array(ds.unit[sl])
    project = pc.take(pa.array([p.name for p in PROJECTS]), pa.array(ds.project[sl]))
    core = pc.binary_join_element_wise(
        project,
        pc.take(pa.array(ids), unit),
        pc.take(pa.array(descr), unit),
        pc.take(pa.array(STEPS), pa.array(ds.step[sl])),
        pc.take(pa.array(DTYPES), pa.array(ds.dtype[sl])),
        ".",
    )
    tag_names = pa.array(tags_of_transformations)
    tr = ds.tr
    own = tr[sl]
    tags = pc.if_else(pa.array(own >= 0), pc.take(tag_names, pa.array(own.clip(0))), "")
    ancestor = ds.ppar[sl]
    while (ancestor >= 0).any():
        valid = ancestor >= 0
        ancestor_tr = np.where(valid, tr[ancestor.clip(0)], -1)
        use = ancestor_tr >= 0
        prefix = pc.take(tag_names, pa.array(ancestor_tr.clip(0)))
        tags = pc.if_else(pa.array(use), pc.binary_join_element_wise(prefix, tags, "_"), tags)
        ancestor = np.where(valid, ds.ppar[ancestor.clip(0)], -1)
    has_tags = pc.not_equal(tags, "")
    name = pc.if_else(has_tags, pc.binary_join_element_wise(core, tags, "."), core)
    part = ds.part[sl] >= 0
    tid = np.full(n - first, "", dtype=object)
    tid[part] = [f"_tid{t:08d}_00" for t in taskno[ds.prod[sl][part]].tolist()]
    name = pc.binary_join_element_wise(name, pa.array(tid, pa.string()), "")
    unit_dids = pc.binary_join_element_wise(project, name, ":")
    dids = pa.concat_arrays(
        [
            pa.array(calibration_names, pa.string()),
            pa.array(metadata_names, pa.string()),
            unit_dids,
        ]
    )
    if pc.count_distinct(dids).as_py() != n:  # pragma: no cover - a generator bug
        raise RuntimeError("generated dataset names are not unique")
    return dids
