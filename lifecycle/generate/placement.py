"""Replica placement: where each dataset's copies live (by profile), their states, the RAW and
lost-replica violations planted among them, and endpoint capacities that fit what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifecycle.generate.atlas import MC_P
from lifecycle.generate.datasets import (
    DATASET_STATES,
    KINDS,
    PROFILES,
    REPLICA_STATES,
    Datasets,
)
from lifecycle.generate.grid import Grid
from lifecycle.generate.lifetimes import Lifetimes
from lifecycle.generate.timeline import DAY, HOUR, NOW


@dataclass
class Placement:
    """Replicas as (dataset, endpoint, slot) sorted by dataset then endpoint, and the planted
    RAW violations among them."""

    ds: np.ndarray
    ep: np.ndarray
    slot: np.ndarray  # see place()
    raw_single_tape_copy: int
    raw_tape_copies_same_site: int


@dataclass
class Replicas:
    ds: np.ndarray
    ep: np.ndarray
    state: np.ndarray  # index into REPLICA_STATES
    created: np.ndarray
    accessed: np.ndarray  # -1 when never accessed
    lost: int  # planted lost replicas
    all_lost: np.ndarray  # datasets every live replica of which is lost


def pick_disks(rng: np.random.Generator, grid: Grid, first: np.ndarray, m: int) -> np.ndarray:
    """(n, m) distinct DATADISK endpoints per row; column 0 forced where ``first`` >= 0."""
    eps, p = grid.disk_eps, grid.disk_p
    out = eps[rng.choice(len(eps), size=(len(first), m), p=p)]
    out[:, 0] = np.where(first >= 0, first, out[:, 0])
    for col in range(1, m):
        for _ in range(100):
            dup = (out[:, [col]] == out[:, :col]).any(axis=1)
            if not dup.any():
                break
            out[dup, col] = eps[rng.choice(len(eps), size=int(dup.sum()), p=p)]
    return out


def place(rng: np.random.Generator, datasets: Datasets, grid: Grid) -> Placement:
    """Place replicas by profile and plant the RAW tape-copy violations.

    Profiles: RAW gets CERN-PROD_DATATAPE plus a Tier-1 DATATAPE (weighted by pledge) and
    usually a disk copy; calibration and metadata get CERN tape, CERN disk and a Tier-1 disk;
    ``archive`` outputs (EVNT, merged HITS, final AOD) one tape copy (DATATAPE for data, MCTAPE
    for MC) and 0-3 disk copies; ``transient`` ones (task parts, RDO, express AOD) 1-2 disk
    copies; ``analysis`` formats (DAOD) 1-4 disk copies; open data CERN disk plus one more.

    Slot kinds set the replica creation delay: 0 first tape copy (hours), 1 later tape copy
    (days), 2 first disk copy (hours), 3 later disk copy (days to months).
    """
    g = grid
    ds_parts: list[np.ndarray] = []
    ep_parts: list[np.ndarray] = []
    slot_parts: list[np.ndarray] = []

    def add(ds: np.ndarray, ep: np.ndarray, slot: int) -> None:
        ds_parts.append(ds)
        ep_parts.append(ep)
        slot_parts.append(np.full(len(ds), slot, dtype=np.int8))

    cern_tape, cern_disk = g.datatape[g.cern], g.datadisk[g.cern]

    def t1(k: int) -> np.ndarray:
        """``k`` Tier-1 sites with tape, weighted by their share of RAW."""
        return g.t1_tape_sites[rng.choice(len(g.t1_tape_sites), size=k, p=g.t1_tape_p)]

    raw = np.flatnonzero(datasets.kind == KINDS.index("raw"))
    n_raw = len(raw)
    site_b = t1(n_raw)
    tape_a = np.full(n_raw, cern_tape)
    tape_b = g.datatape[site_b]
    order = rng.permutation(n_raw)
    k1 = k2 = round(0.01 * n_raw)
    single, same = order[:k1], order[k1 : k1 + k2]
    tape_sites = np.concatenate([[g.cern], g.t1_tape_sites])
    x = tape_sites[rng.integers(0, len(tape_sites), k2)]
    tape_a[same], tape_b[same], site_b[same] = g.datatape[x], g.mctape[x], x
    keep_a = np.ones(n_raw, dtype=bool)
    keep_b = np.ones(n_raw, dtype=bool)
    cern_only = rng.random(k1) < 0.7
    keep_b[single[cern_only]] = False
    keep_a[single[~cern_only]] = False
    add(raw[keep_a], tape_a[keep_a], 0)
    add(raw[keep_b], tape_b[keep_b], 1)
    disk = rng.random(n_raw) < 0.8
    where = np.where(rng.random(n_raw) < 0.5, cern_disk, g.datadisk[site_b])
    add(raw[disk], where[disk], 2)

    calib = np.flatnonzero(datasets.kind == KINDS.index("calibration"))
    add(calib, np.full(len(calib), cern_tape), 0)
    add(calib, np.full(len(calib), cern_disk), 2)
    add(calib, g.datadisk[t1(len(calib))], 3)
    meta = np.flatnonzero(datasets.kind == KINDS.index("metadata"))
    add(meta, np.full(len(meta), cern_tape), 0)
    add(meta, np.full(len(meta), cern_disk), 2)
    add(meta, g.datadisk[t1(len(meta))], 3)

    profile = datasets.profile
    archive = np.flatnonzero(profile == PROFILES.index("archive"))
    is_mc = np.isin(datasets.project[archive], MC_P)
    sites = np.concatenate([[g.cern], g.t1_tape_sites])
    p = np.concatenate([[0.15], 0.85 * g.t1_tape_p])
    site = sites[rng.choice(len(sites), size=len(archive), p=p)]
    add(archive, np.where(is_mc, g.mctape[site], g.datatape[site]), 1)
    derived = np.flatnonzero(profile >= PROFILES.index("archive"))
    prof = profile[derived]
    count = np.select(
        [
            prof == PROFILES.index("archive"),
            prof == PROFILES.index("transient"),
            prof == PROFILES.index("analysis"),
        ],
        [
            rng.choice(4, size=len(derived), p=[0.05, 0.35, 0.45, 0.15]),
            1 + (rng.random(len(derived)) < 0.35),
            1 + rng.choice(4, size=len(derived), p=[0.05, 0.3, 0.4, 0.25]),
        ],
        default=2,
    )
    first = np.where(prof == PROFILES.index("outreach"), cern_disk, -1)
    disks = pick_disks(rng, g, first, 4)
    for col in range(4):
        has = count > col
        add(derived[has], disks[has, col], 2 if col == 0 else 3)

    ds = np.concatenate(ds_parts)
    ep = np.concatenate(ep_parts)
    slot = np.concatenate(slot_parts)
    order = np.lexsort((ep, ds))
    ds, ep, slot = ds[order], ep[order], slot[order]
    return Placement(ds=ds, ep=ep, slot=slot, raw_single_tape_copy=k1, raw_tape_copies_same_site=k2)


def replica_states(
    rng: np.random.Generator,
    datasets: Datasets,
    life: Lifetimes,
    grid: Grid,
    placement: Placement,
) -> Replicas:
    """Creation and access times and states; copying, unavailable and lost only hit disk copies
    of reproducible data, so the tape copies of RAW stay exactly as planted."""
    ds, ep, slot = placement.ds, placement.ep, placement.slot
    r = len(ds)
    base = datasets.created[ds]
    lo = np.array([HOUR, DAY, HOUR // 5, DAY])[slot]
    hi = np.array([12 * HOUR, 30 * DAY, 24 * HOUR, 200 * DAY])[slot]
    created = np.minimum(base + rng.integers(lo, hi), NOW)
    tape = grid.ep_tape[ep]
    touched = rng.random(r) < np.where(tape, 0.05, 0.6)
    accessed = np.where(touched, created + (rng.random(r) * (NOW - created)).astype(np.int64), -1)
    state = np.zeros(r, dtype=np.int8)
    ds_state = life.state[ds]
    deleted = ds_state == DATASET_STATES.index("deleted")
    state[deleted] = REPLICA_STATES.index("deleted")
    opened = ds_state == DATASET_STATES.index("open")
    state[opened] = REPLICA_STATES.index("copying")
    accessed[opened] = -1
    reproducible = np.isin(
        datasets.kind[ds], [KINDS.index(k) for k in ("derived", "simulated", "outreach")]
    )
    population = reproducible & ~tape & (ds_state == DATASET_STATES.index("closed"))
    u = rng.random(r)
    copying = population & (u < 0.004)
    unavailable = population & (u >= 0.004) & (u < 0.008)
    state[copying] = REPLICA_STATES.index("copying")
    state[unavailable] = REPLICA_STATES.index("unavailable")
    recent = NOW - rng.integers(0, 5 * DAY, r)
    created = np.where(copying, np.maximum(base, np.minimum(recent, created)), created)
    accessed[copying] = -1
    population &= ~life.expired[ds]
    candidates = np.flatnonzero(population & (state == 0))
    k = min(round(0.01 * int(population.sum())), len(candidates))
    lost = np.sort(rng.choice(candidates, size=k, replace=False))
    state[lost] = REPLICA_STATES.index("lost")
    n_lost = np.bincount(ds[lost], minlength=len(datasets))
    n_live = np.bincount(ds[~deleted], minlength=len(datasets))
    all_lost = (n_lost > 0) & (n_lost == n_live)
    return Replicas(
        ds=ds, ep=ep, state=state, created=created, accessed=accessed, lost=k, all_lost=all_lost
    )


def capacities(
    rng: np.random.Generator, datasets: Datasets, grid: Grid, rep: Replicas
) -> np.ndarray:
    """Endpoint capacities in whole TB: room for what they hold, and at least a tier's floor."""
    g = grid
    live = rep.state != REPLICA_STATES.index("deleted")  # the replicas of datasets not deleted
    used = np.bincount(
        rep.ep[live],
        weights=datasets.bytes[rep.ds[live]].astype(np.float64),
        minlength=len(grid.ep_name),
    )
    tier = g.site_tier[g.ep_site]
    floor = np.where(
        g.ep_tape,
        np.where(tier == 0, 1e17, 3e16),
        np.array([1.5e16, 8e15, 2e15, 3e14])[tier],
    )
    floor = np.where(np.array(g.ep_type) == "SCRATCHDISK", floor / 10, floor)
    n_ep = len(g.ep_name)
    capacity = np.maximum(used * rng.uniform(1.2, 2.0, n_ep), floor * rng.uniform(0.7, 1.3, n_ep))
    return (np.minimum(np.ceil(capacity / 1e12), 2**62 / 1e12) * 1e12).astype(np.int64)
