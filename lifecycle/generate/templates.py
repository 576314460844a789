"""Chain templates: the shapes of ATLAS production chains (Tier-0 and reprocessed data, MC full
and fast simulation, merges, derivation trains, open data), compiled into flat node arrays, and
the mixes in which they are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lifecycle.generate.atlas import DTYPES, STEPS
from lifecycle.generate.datasets import KINDS, PROFILES
from lifecycle.generate.transformations import POOL_NAMES


@dataclass(frozen=True)
class Node:
    """One dataset of a chain template and the production that makes it.

    ``parents`` are indices of earlier nodes of the same template (the first is the primary input
    whose tags the name extends; several parents make a merge). ``part`` marks the two halves of
    a split task: they share one tag and their names carry ``_tid<task>_00``. ``train`` makes
    the node a second output of an earlier node's production (one derivation task writing
    DAOD_PHYS and a skimmed format from the same AOD), which is how real derivation trains keep
    the number of tasks down.
    """

    step: str
    data_type: str
    parents: tuple[int, ...] = ()
    pool: str | None = None
    kind: str = "derived"
    profile: str = "analysis"
    part: int = -1
    calibration: bool = False
    pileup: bool = False
    config: float = 0.0
    delay: tuple[float, float] = (0.5, 30.0)  # days from inputs ready to production start
    hours: tuple[float, float] = (4.0, 72.0)  # production duration
    skim: tuple[float, float] = (1.0, 1.0)  # fraction of input events (and bytes) kept
    train: int = -1  # made by the production of this earlier node (a derivation train)


@dataclass(frozen=True)
class Template:
    name: str
    nodes: tuple[Node, ...]
    min_keep: int = 2


def derivations(aod: int, *, skim: bool = True, **extra: object) -> tuple[Node, ...]:
    """The derivations of the AOD at node ``aod``, to follow it directly in a template.

    DAOD_PHYS at ``aod + 1``, DAOD_PHYSLITE from it at ``aod + 2``, and with ``skim`` a skimmed
    DAOD_* format that the DAOD_PHYS production also writes from the AOD (a derivation train).
    ``extra`` is given to every node (MC templates mark them ``kind="simulated"``).
    """
    phys = Node("deriv", "DAOD_PHYS", (aod,), "deriv_phys", **extra)
    lite = Node("deriv", "DAOD_PHYSLITE", (aod + 1,), "deriv_lite", **extra)
    if not skim:
        return (phys, lite)
    train = Node("deriv", "DAOD_*", (aod,), "deriv_phys", skim=(0.05, 0.6), train=aod + 1, **extra)
    return (phys, lite, train)


def opendata(parent: int) -> Node:
    """An open-data ntuple (an outreach dataset) derived from node ``parent``."""
    return Node(
        "deriv",
        "NTUP_OPENDATA",
        (parent,),
        "opendata",
        kind="outreach",
        profile="outreach",
        skim=(0.1, 0.6),
        delay=(30.0, 400.0),
    )


def data_templates() -> dict[str, Template]:
    raw = Node("daq", "RAW", kind="raw", profile="raw")
    prompt = {
        "pool": "reco_data_f",
        "calibration": True,
        "config": 0.1,
        "delay": (0.05, 3.0),
        "hours": (4.0, 48.0),
    }
    skim = {"pool": "deriv_skim", "skim": (0.05, 0.6)}
    reproc = {
        "pool": "reco_data_r",
        "calibration": True,
        "config": 0.2,
        "profile": "archive",
        "delay": (120.0, 1500.0),
        "hours": (24.0, 240.0),
    }
    tier0 = Template(
        "data-tier0",
        (
            raw,
            Node("recon", "AOD", (0,), part=0, profile="transient", **prompt),
            Node("recon", "AOD", (0,), part=1, profile="transient", **prompt),
            Node(
                "merge",
                "AOD",
                (1, 2),
                "merge_data",
                profile="archive",
                delay=(0.02, 2.0),
                hours=(1.0, 12.0),
            ),
            *derivations(3),
        ),
    )
    reprocessed_nodes = (raw, Node("recon", "AOD", (0,), **reproc), *derivations(1))
    reprocessed = Template("data-reprocessed", reprocessed_nodes)
    opendata_t = Template("data-opendata", (*reprocessed_nodes, opendata(3)))
    express = Template(
        "data-express",
        (
            raw,
            Node("recon", "AOD", (0,), profile="transient", **prompt),
            Node("deriv", "DAOD_*", (1,), **skim),
        ),
        min_keep=1,
    )
    return {t.name: t for t in (tier0, reprocessed, opendata_t, express)}


def mc_templates() -> dict[str, Template]:
    mc = {"kind": "simulated"}
    evnt = Node(
        "evgen",
        "EVNT",
        (),
        "gen",
        profile="archive",
        config=0.25,
        delay=(0.0, 5.0),
        hours=(2.0, 72.0),
        **mc,
    )
    sim = {"pool": "sim", "delay": (1.0, 30.0), "hours": (24.0, 336.0), "config": 0.05, **mc}
    hits_part = [Node("simul", "HITS", (0,), part=k, profile="transient", **sim) for k in (0, 1)]
    merge = {"profile": "archive", "delay": (0.1, 3.0), "hours": (1.0, 24.0), **mc}
    hits_merge = Node("merge", "HITS", (1, 2), "hitsmerge", **merge)
    reco = {"config": 0.1, "delay": (0.5, 30.0), "hours": (12.0, 120.0), **mc}

    full_nodes = (
        evnt,
        *hits_part,
        hits_merge,
        Node(
            "digit",
            "RDO",
            (3,),
            "digi",
            profile="transient",
            pileup=True,
            delay=(1.0, 60.0),
            hours=(12.0, 120.0),
            **mc,
        ),
        Node("recon", "AOD", (4,), "reco_mc_rdo", profile="archive", **reco),
        *derivations(5, skim=False, **mc),
    )
    full = Template("mc-full", full_nodes)
    full_o = Template("mc-full-opendata", (*full_nodes, opendata(7)))
    fast = Template(
        "mc-fast",
        (
            evnt,
            Node("simul", "HITS", (0,), profile="archive", **sim),
            Node("recon", "AOD", (1,), "reco_mc", profile="archive", pileup=True, **reco),
            *derivations(2, **mc),
        ),
    )
    merged_nodes = (
        evnt,
        Node("simul", "HITS", (0,), profile="archive", **sim),
        *[
            Node("recon", "AOD", (1,), "reco_mc", profile="transient", part=k, pileup=True, **reco)
            for k in (0, 1)
        ],
        Node("merge", "AOD", (2, 3), "aodmerge_mc", **merge),
        *derivations(4, **mc),
    )
    merged = Template("mc-merged", merged_nodes)
    merged_o = Template("mc-merged-opendata", (*merged_nodes, opendata(6)))
    pileup = Template("mc-pileup", (evnt, *hits_part, hits_merge), min_keep=4)
    return {t.name: t for t in (full, full_o, fast, merged, merged_o, pileup)}


NO_CHILD = 1 << 20


@dataclass
class Compiled:
    """All template nodes flattened into arrays indexed by a global node number."""

    names: list[str]
    index: dict[str, int]  # template name -> template number
    base: np.ndarray  # template -> global number of its first node
    length: np.ndarray
    min_keep: np.ndarray
    step: np.ndarray
    dtype: np.ndarray  # index into DTYPES, -1 for a skim format drawn per dataset
    pool: np.ndarray  # index into POOL_NAMES, -1 for RAW (no production)
    kind: np.ndarray
    profile: np.ndarray
    part: np.ndarray
    calibration: np.ndarray
    pileup: np.ndarray
    config: np.ndarray
    delay: np.ndarray  # (G, 2) days
    hours: np.ndarray  # (G, 2)
    skim: np.ndarray  # (G, 2)
    train: np.ndarray  # local index of the node whose production also makes this one, or -1
    parent: np.ndarray  # (G, 2) local parent indices, -1 when absent
    sibling: np.ndarray  # local index of part 0 for part-1 nodes, else -1
    child_min: np.ndarray  # local index of the first child, NO_CHILD for a leaf node


def compile_templates(templates: Sequence[Template]) -> Compiled:
    nodes: list[Node] = []
    base, length, local_parent, sibling, child_min = [], [], [], [], []
    for t in templates:
        base.append(len(nodes))
        length.append(len(t.nodes))
        for j, node in enumerate(t.nodes):
            assert all(p < j for p in node.parents), "parents must come first"
            assert len(node.parents) <= 2, "at most two parents"
            local_parent.append(list(node.parents) + [-1] * (2 - len(node.parents)))
            part0 = [k for k, other in enumerate(t.nodes) if other.part == 0 and k < j]
            sibling.append(part0[-1] if node.part == 1 else -1)
            children = [k for k, other in enumerate(t.nodes) if j in other.parents]
            child_min.append(min(children) if children else NO_CHILD)
        nodes.extend(t.nodes)

    def arr(values: Sequence[float | int | bool], dtype: type = np.int64) -> np.ndarray:
        return np.array(values, dtype=dtype)

    return Compiled(
        names=[t.name for t in templates],
        index={t.name: i for i, t in enumerate(templates)},
        base=arr(base),
        length=arr(length),
        min_keep=arr([t.min_keep for t in templates]),
        step=arr([STEPS.index(n.step) for n in nodes]),
        dtype=arr([DTYPES.index(n.data_type) if n.data_type in DTYPES else -1 for n in nodes]),
        pool=arr([POOL_NAMES.index(n.pool) if n.pool else -1 for n in nodes]),
        kind=arr([KINDS.index(n.kind) for n in nodes]),
        profile=arr([PROFILES.index(n.profile) for n in nodes]),
        part=arr([n.part for n in nodes]),
        calibration=arr([n.calibration for n in nodes], bool),
        pileup=arr([n.pileup for n in nodes], bool),
        config=arr([n.config for n in nodes], np.float64),
        delay=arr([n.delay for n in nodes], np.float64),
        hours=arr([n.hours for n in nodes], np.float64),
        skim=arr([n.skim for n in nodes], np.float64),
        train=arr([n.train for n in nodes]),
        parent=arr(local_parent),
        sibling=arr(sibling),
        child_min=arr(child_min),
    )


def compiled_templates() -> Compiled:
    """Every data and MC template, compiled in one fixed order."""
    return compile_templates([*data_templates().values(), *mc_templates().values()])


# Template mixes: (template, weight). Run-2 data was reprocessed in 2020-2021 (r-tags); Run-3 data
# is mostly used straight from Tier-0 (f/m tags). Streams other than the main one get the short
# express chain.
RUN2_MAIN = (("data-tier0", 0.30), ("data-reprocessed", 0.66), ("data-opendata", 0.04))
RUN3_MAIN = (("data-tier0", 0.80), ("data-reprocessed", 0.18), ("data-opendata", 0.02))
MC_MIX = (
    ("mc-full", 0.28),
    ("mc-full-opendata", 0.02),
    ("mc-fast", 0.45),
    ("mc-merged", 0.22),
    ("mc-merged-opendata", 0.03),
)
P_FULL_CHAIN = 0.75  # otherwise a chain stops early (not yet derived, or abandoned)
