"""Productions: collected while chains grow, then finished: the newest leaf productions left
running, failed attempts added, task numbers given in start order, conditions tags recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lifecycle.generate.atlas import PROJECTS, REPROCESSING_CONDITIONS, RUN2_PROJECTS
from lifecycle.generate.datasets import Datasets
from lifecycle.generate.grid import Grid
from lifecycle.generate.templates import Compiled
from lifecycle.generate.timeline import DAY, HOUR, NOW
from lifecycle.generate.transformations import POOL_NAMES, POOLS
from lifecycle.generate.units import Units
from lifecycle.vocabulary import PRODUCTION_STATUSES


@dataclass
class ProductionLog:
    """Productions as chains grow them, numbered in growth order.

    ``parts`` hold per-production columns (out, tr, ready, start, finish, site, project, pool);
    ``io`` holds (production, dataset, role) rows, role an index into ``datasets.ROLES``.
    """

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    io: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    n: int = 0


@dataclass
class Productions:
    """Finished productions, ordered (and numbered) by start time."""

    tr: np.ndarray
    start: np.ndarray
    finish: np.ndarray  # -1 while running
    site: np.ndarray  # -1 when unknown
    status: np.ndarray  # index into STATUSES
    cond: np.ndarray  # index into ``conditions``, -1 when none is recorded
    taskno: np.ndarray
    conditions: list[str]
    io: tuple[np.ndarray, np.ndarray, np.ndarray]  # (production, dataset, role), sorted
    open_ds: np.ndarray  # outputs of running productions: datasets still open


STATUSES = PRODUCTION_STATUSES


def finish_productions(
    rng: np.random.Generator,
    log: ProductionLog,
    ds: Datasets,
    templates: Compiled,
    units: Units,
    grid: Grid,
) -> Productions:
    """Mark the newest leaf productions running, add failed attempts, and number tasks.

    Task numbers grow with start time (as ProdSys task ids do), so ``task-<8 digits>`` sorts
    chronologically. A failed attempt repeats the inputs of a successful production, started
    between the inputs being ready and the successful start, and has no output.
    """
    keys = ("out", "tr", "ready", "start", "finish", "site", "project", "pool")
    parts = log.parts or [{k: np.zeros(0, dtype=np.int64) for k in keys}]
    P = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    io = log.io or [(np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.int8),)]
    io_prod = np.concatenate([x[0] for x in io])
    io_ds = np.concatenate([x[1] for x in io])
    io_role = np.concatenate([x[2] for x in io])
    n_prod = log.n
    status = np.zeros(n_prod, dtype=np.int8)  # done / failed / running

    # a production may still be running if none of its outputs has been used yet
    is_out = io_role == 3
    out_prod, out_ds = io_prod[is_out], io_ds[is_out]
    used = templates.child_min[ds.node[out_ds]] < units.keep[ds.unit[out_ds]]
    leaf = np.bincount(out_prod, weights=used, minlength=n_prod) == 0
    recent = P["start"] >= NOW - 21 * DAY
    running = leaf & recent & (rng.random(n_prod) < 0.6)
    status[running] = 2
    P["finish"][running] = -1
    registered = np.minimum(P["start"] + rng.integers(300, 3 * HOUR, n_prod), NOW)
    opened = running[out_prod]
    ds.created[out_ds[opened]] = registered[out_prod[opened]]
    open_ds = out_ds[opened]

    n_fail = round(0.01 * n_prod)
    chosen = np.sort(rng.choice(n_prod, size=n_fail, replace=False))
    new = np.full(n_prod, -1, dtype=np.int64)
    new[chosen] = n_prod + np.arange(n_fail)
    rows = (new[io_prod] >= 0) & (io_role != 3)
    io_prod = np.concatenate([io_prod, new[io_prod[rows]]])
    io_ds = np.concatenate([io_ds, io_ds[rows]])
    io_role = np.concatenate([io_role, io_role[rows]])
    ready = P["ready"][chosen]
    f_start = ready + (rng.random(n_fail) * (P["start"][chosen] - ready)).astype(np.int64)
    f_finish = np.minimum(f_start + rng.integers(HOUR // 2, 48 * HOUR, n_fail), NOW)
    f_site = grid.prod_sites[rng.choice(len(grid.prod_sites), size=n_fail, p=grid.prod_p)]
    tr = np.concatenate([P["tr"], P["tr"][chosen]])
    start = np.concatenate([P["start"], f_start])
    finish = np.concatenate([P["finish"], f_finish])
    site = np.concatenate([P["site"], f_site])
    project = np.concatenate([P["project"], P["project"][chosen]])
    pool = np.concatenate([P["pool"], P["pool"][chosen]])
    status = np.concatenate([status, np.ones(n_fail, dtype=np.int8)])
    total = n_prod + n_fail

    order = np.lexsort((np.arange(total), start))
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total)
    gap = max(1, 40_000_000 // max(total, 1))
    taskno = 5_000_000 + np.cumsum(1 + rng.integers(0, 2 * gap, total))
    conditions = []
    reproc = POOL_NAMES.index("reco_data_r")
    for p in range(len(PROJECTS)):
        conditions.append(PROJECTS[p].conditions)
    conditions.extend(REPROCESSING_CONDITIONS)
    cond = np.asarray(project, dtype=np.int64).copy()
    run3 = np.array([p.name not in RUN2_PROJECTS for p in PROJECTS])
    cond = np.where(pool == reproc, len(PROJECTS) + run3[project], cond)
    uses = np.array([POOLS[name].conditions for name in POOL_NAMES])[pool]
    cond = np.where(uses, cond, -1)

    io_rank = rank[io_prod]
    io_order = np.lexsort((io_role, io_rank))
    produced = ds.prod >= 0
    ds.prod[produced] = rank[ds.prod[produced]]
    return Productions(
        tr=tr[order],
        start=start[order],
        finish=finish[order],
        site=site[order],
        status=status[order],
        cond=cond[order],
        taskno=taskno,
        conditions=conditions,
        io=(io_rank[io_order], io_ds[io_order], io_role[io_order]),
        open_ds=open_ds,
    )
