"""Drawing a whole catalog: the steps in their fixed order, each from the one random generator.

The order of the steps is the order of the draws, so it is part of the output: changing it (or
adding a draw) changes every catalog generated from a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lifecycle.generate.chains import ChainGrower
from lifecycle.generate.conditions import add_calibration, add_metadata
from lifecycle.generate.datasets import DATASET_STATES, Datasets
from lifecycle.generate.grid import build_grid
from lifecycle.generate.lifetimes import pins, states_and_lifetimes
from lifecycle.generate.naming import dataset_names
from lifecycle.generate.placement import capacities, place, replica_states
from lifecycle.generate.productions import ProductionLog, finish_productions
from lifecycle.generate.tables import BuiltCatalog, columns
from lifecycle.generate.templates import compiled_templates
from lifecycle.generate.transformations import build_transformations
from lifecycle.generate.units import SHARES, Units, UnitSampler

ProgressCallback = Callable[[str, int, int], None]

BUILD_STEPS = 9


def build(
    n: int, seed: int, progress: ProgressCallback | None = None
) -> tuple[dict[str, dict[str, object]], dict[str, int]]:
    """Column data per table and the planted violations of a catalog of ``n`` datasets."""
    rng = np.random.Generator(np.random.PCG64(seed))
    step = 0

    def tick() -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress("build", step, BUILD_STEPS)

    templates = compiled_templates()
    grid = build_grid()
    tr = build_transformations(rng, n)
    tick()

    sampler = UnitSampler(rng, templates)
    n_calib = round(SHARES["calibration"] * n)
    n_meta = round(SHARES["metadata"] * n)
    pileup = sampler.pileup() if n >= 1000 else None
    n_pileup = int(pileup.keep.sum()) if pileup is not None else 0
    budget = n - n_calib - n_meta - n_pileup
    main = sampler.main(n, budget)
    tick()

    ds = Datasets.allocate(n)
    metadata = add_metadata(rng, ds, n_calib, n_meta)
    calibration = add_calibration(rng, ds, n_calib)
    tick()
    units = Units.concat([pileup, main] if pileup is not None else [main])
    log = ProductionLog()
    grower = ChainGrower(rng, templates, units, ds, calibration, metadata, tr, grid, log)
    position = n_calib + n_meta
    if pileup is not None:
        # the merged HITS is the last node of the pile-up template
        hits = grower.grow(np.arange(len(pileup)), position) + 3
        grower.pileup_hits[pileup.project, np.arange(len(pileup)) % 2] = hits
        position += n_pileup
    grower.grow(np.arange(len(units) - len(main), len(units)), position)
    assert position + int(main.keep.sum()) == n
    tick()

    productions = finish_productions(rng, log, ds, templates, units, grid)
    tick()
    dids = dataset_names(ds, units, tr.tag, productions.taskno, calibration.names, metadata.names)
    tick()
    life = states_and_lifetimes(rng, ds, units, templates, productions.open_ds)
    placement = place(rng, ds, grid)
    replicas = replica_states(rng, ds, life, grid, placement)
    life.state[replicas.all_lost] = DATASET_STATES.index("lost")
    capacity = capacities(rng, ds, grid, replicas)
    tick()
    pinned = pins(rng, ds, life)
    tick()
    built = BuiltCatalog(
        grid=grid,
        transformations=tr,
        datasets=ds,
        dids=dids,
        lifetimes=life,
        productions=productions,
        replicas=replicas,
        capacity=capacity,
        pins=pinned,
    )
    tables = columns(rng, built)
    tick()
    planted = {
        "raw_single_tape_copy": placement.raw_single_tape_copy,
        "raw_tape_copies_same_site": placement.raw_tape_copies_same_site,
        "transformation_without_digest": len(tr.undigested),
        "datasets_without_digest": int(np.isin(ds.tr, tr.undigested).sum()),
        "expired_derived": int(life.expired.sum()),
        "lost_replica": replicas.lost,
    }
    return tables, planted
