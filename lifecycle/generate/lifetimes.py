"""What becomes of datasets after they are made: open, closed, deleted; lifetimes, about 1 % of
derived datasets planted past their ``expires_at``; and pins (Open Data for good, a few analysis
inputs held by physics groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifecycle.generate.atlas import PROJECT_INDEX, RUN2_PROJECTS
from lifecycle.generate.datasets import DATASET_STATES, KINDS, PROFILES, Datasets
from lifecycle.generate.templates import Compiled
from lifecycle.generate.timeline import DAY, EXPIRED_BEFORE, EXPIRY_FUTURE, ts
from lifecycle.generate.units import Units


@dataclass
class Lifetimes:
    state: np.ndarray  # index into DATASET_STATES
    expires: np.ndarray  # -1 without a lifetime
    expired: np.ndarray  # planted past their lifetime


@dataclass
class Pins:
    ds: np.ndarray
    reason: list[str]
    until: np.ndarray  # -1 for open-ended
    actor: list[str]


def states_and_lifetimes(
    rng: np.random.Generator,
    ds: Datasets,
    units: Units,
    templates: Compiled,
    open_ds: np.ndarray,
) -> Lifetimes:
    """Datasets of running productions stay open; some transient and old analysis datasets are
    deleted; some get a future lifetime and about 1 % of derived ones an expired one."""
    n = len(ds)
    state = np.full(n, DATASET_STATES.index("closed"), dtype=np.int8)
    state[open_ds] = DATASET_STATES.index("open")
    in_unit = ds.unit >= 0
    keep = np.where(in_unit, units.keep[ds.unit.clip(0)], 0)
    has_child = in_unit & (templates.child_min[ds.node.clip(0)] < keep)
    closed = state == DATASET_STATES.index("closed")
    transient = ds.profile == PROFILES.index("transient")
    analysis = ds.profile == PROFILES.index("analysis")
    u = rng.random(n)
    deleted = closed & (
        (transient & has_child & (u < 0.10))
        | (analysis & (ds.created < ts("2019-01-01")) & (u < 0.03))
    )
    state[deleted] = DATASET_STATES.index("deleted")
    closed &= ~deleted

    expires = np.full(n, -1, dtype=np.int64)
    lifetime = closed & (transient | analysis) & (rng.random(n) < 0.15)
    expires[lifetime] = rng.integers(*EXPIRY_FUTURE, int(lifetime.sum()))
    derived = ds.kind == KINDS.index("derived")
    eligible = np.flatnonzero(derived & closed & (ds.created < ts("2025-01-01")))
    k = min(round(0.01 * int(derived.sum())), len(eligible))
    expired = np.sort(rng.choice(eligible, size=k, replace=False))
    ends = ds.created[expired] + rng.integers(30 * DAY, 365 * DAY, k)
    expires[expired] = np.minimum(ends, EXPIRED_BEFORE - DAY)
    is_expired = np.zeros(n, dtype=bool)
    is_expired[expired] = True
    return Lifetimes(state=state, expires=expires, expired=is_expired)


def pins(rng: np.random.Generator, ds: Datasets, life: Lifetimes) -> Pins:
    """Open Data is pinned for good; a few analysis inputs are pinned by physics groups."""
    """Open Data is pinned for good; a few analysis inputs are pinned by physics groups."""
    outreach = np.flatnonzero(
        (ds.kind == KINDS.index("outreach")) & (life.state != DATASET_STATES.index("deleted"))
    )
    chain = np.isin(ds.kind, [KINDS.index("derived"), KINDS.index("simulated")])
    candidates = np.flatnonzero(
        chain & (life.state == DATASET_STATES.index("closed")) & ~life.expired
    )
    k = round(0.003 * len(candidates))
    chosen = np.sort(rng.choice(candidates, size=k, replace=False))
    groups = ("HIGG", "TOPQ", "SUSY", "EXOT", "STDM", "BPHY", "HION")
    actors = (
        "phys-higgs",
        "phys-top",
        "phys-susy",
        "phys-exotics",
        "phys-sm",
        "phys-bphys",
        "phys-hi",
    )
    group = rng.integers(0, len(groups), k)
    number = rng.integers(1, 120, k)
    u = rng.random(k)
    created = ds.created[chosen]
    # a lapsed pin ended before the catalog's "now"; the others are open-ended or future
    lapsed = (u < 0.1) & (created < ts("2025-01-01"))
    until = np.where(u < 0.4, -1, rng.integers(ts("2027-01-01"), ts("2030-12-31"), k))
    lapsed_end = np.minimum(created + rng.integers(30 * DAY, 400 * DAY, k), EXPIRED_BEFORE)
    until = np.where(lapsed, lapsed_end, until)
    created_year = created.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
    year = np.minimum(1970 + created_year + np.where(lapsed, 0, rng.integers(0, 3, k)), 2025)
    run2 = np.isin(ds.project[chosen], [PROJECT_INDEX[p] for p in RUN2_PROJECTS])
    legacy = run2 & (rng.random(k) < 0.25)
    paper = ~legacy & (rng.random(k) < 0.35)
    reasons = []
    actor = []
    for gi, y, nn, is_legacy, is_paper in zip(
        group.tolist(),
        year.tolist(),
        number.tolist(),
        legacy.tolist(),
        paper.tolist(),
        strict=True,
    ):
        if is_legacy:
            reasons.append("legacy Run-2 combination input")
            actor.append("atlas-adc-dpa")
        elif is_paper:
            reasons.append(f"paper in review: ATLAS-CONF-{y}-{nn:03d}")
            actor.append(actors[gi])
        else:
            reasons.append(f"analysis in progress: ANA-{groups[gi]}-{y}-{nn % 40:02d}")
            actor.append(actors[gi])
    return Pins(
        ds=np.concatenate([outreach, chosen]),
        reason=["ATLAS Open Data release"] * len(outreach) + reasons,
        until=np.concatenate([np.full(len(outreach), -1), until]),
        actor=["atlas-outreach"] * len(outreach) + actor,
    )
