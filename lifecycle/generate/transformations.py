"""Transformations: AMI-style tags in pools (Gen_tf, Sim_tf, Reco_tf, Derivation_tf...), each
with its release, container image and digest, code commit, CPU cost and output ratio. About 1 %
are planted without an image digest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pool:
    """A family of transformations (AMI tags of one letter and one transform)."""

    letter: str
    name: str
    share: float
    ratio: float | None  # output bytes per input byte; None for generation (no input)
    cpu: tuple[float, float]  # cpu seconds per event
    conditions: bool  # whether its productions record a conditions tag


POOLS: dict[str, Pool] = {
    "gen": Pool("e", "Gen_tf", 0.16, None, (0.01, 8.0), False),
    "sim": Pool("s", "Sim_tf", 0.06, 10.0, (150.0, 600.0), True),
    "hitsmerge": Pool("s", "HITSMerge_tf", 0.02, 1.0, (0.02, 0.1), False),
    "digi": Pool("d", "Digi_tf", 0.03, 2.0, (8.0, 30.0), True),
    "reco_mc": Pool("r", "Reco_tf", 0.07, 0.5, (20.0, 60.0), True),
    "reco_mc_rdo": Pool("r", "Reco_tf", 0.04, 0.25, (10.0, 40.0), True),
    "aodmerge_mc": Pool("r", "AODMerge_tf", 0.02, 1.0, (0.02, 0.1), False),
    "reco_data_r": Pool("r", "Reco_tf", 0.06, 0.5, (15.0, 45.0), True),
    "reco_data_f": Pool("f", "Reco_tf", 0.05, 0.5, (15.0, 45.0), True),
    "merge_data": Pool("m", "AODMerge_tf", 0.03, 1.0, (0.02, 0.1), True),
    "deriv_phys": Pool("p", "Derivation_tf", 0.22, 0.1, (0.5, 2.0), False),
    "deriv_lite": Pool("p", "Derivation_tf", 0.16, 0.2, (0.2, 1.0), False),
    "deriv_skim": Pool("p", "Derivation_tf", 0.06, 0.1, (0.3, 1.5), False),
    "opendata": Pool("p", "Derivation_tf", 0.02, 0.3, (0.1, 0.5), False),
}
POOL_NAMES = tuple(POOLS)
TAG_RANGES = {
    "e": (3601, 8600),
    "s": (2608, 4500),
    "d": (1500, 2000),
    "r": (7267, 16100),
    "f": (380, 1650),
    "m": (870, 2300),
    "p": (2500, 6900),
}
# Software eras by position of a tag in its letter's range: (upper quantile, major release).
ERAS = ((0.45, 21), (0.65, 22), (0.78, 23), (0.93, 24), (1.01, 25))
PLATFORMS = {
    21: "x86_64-centos7-gcc62-opt",
    22: "x86_64-centos7-gcc11-opt",
    23: "x86_64-centos7-gcc11-opt",
    24: "x86_64-el9-gcc13-opt",
    25: "x86_64-el9-gcc13-opt",
}
CODE_REPO = "https://gitlab.cern.ch/atlas/athena.git"


@dataclass
class Transformations:
    tag: list[str]
    name: list[str]
    release: list[str]
    image: list[str]
    digest: list[str | None]
    commit: list[str]
    command: list[str]
    platform: list[str]
    cpu: np.ndarray
    ratio: np.ndarray  # NaN for generation
    pools: list[np.ndarray]  # pool index -> transformation indices, oldest tag first
    undigested: np.ndarray  # transformations planted without an image digest


def release_image(pool: str, major: int, patch: int) -> tuple[str, str]:
    """(release, image) for a transformation of ``pool`` in software generation ``major``."""
    if pool == "gen":
        project, version = "AthGeneration", f"{21 if major <= 22 else 23}.6.{patch}"
    elif major == 21 and pool.startswith("deriv"):
        project, version = "AthDerivation", f"21.2.{patch}"
    elif major == 21 and pool == "sim":
        project, version = "AthSimulation", f"21.0.{patch}"
    else:
        project, version = "Athena", f"{major}.0.{patch}"
    return f"{project},{version}", f"registry.cern.ch/atlas/{project.lower()}:{version}"


def build_transformations(rng: np.random.Generator, n_datasets: int) -> Transformations:
    """AMI-style tags: unique numbers per letter, spread over the letter's historical range.

    Within a letter the pools share one draw of unique numbers, so ``r`` tags of Reco_tf and
    AODMerge_tf never collide. Release, image and platform follow the tag number (newer tags,
    newer software); the image digest and code commit are a function of the release, as they are
    for real container images.
    """
    n_total = max(60, round(n_datasets / 400))
    shares = np.array([p.share for p in POOLS.values()])
    counts = np.maximum(1, np.round(shares / shares.sum() * n_total).astype(np.int64))
    pool_of: list[int] = []
    number: list[int] = []
    quantile: list[float] = []
    for letter in dict.fromkeys(p.letter for p in POOLS.values()):
        members = [i for i, p in enumerate(POOLS.values()) if p.letter == letter]
        c = int(counts[members].sum())
        lo, hi = TAG_RANGES[letter]
        hi = max(hi, lo + 2 * c)
        numbers = np.sort(rng.choice(hi - lo, size=c, replace=False)) + lo
        labels = rng.permutation(np.repeat(members, counts[members]))
        pool_of.extend(labels.tolist())
        number.extend(numbers.tolist())
        quantile.extend((np.arange(c) / max(c - 1, 1)).tolist())
    n = len(number)
    tag: list[str] = []
    name: list[str] = []
    release: list[str] = []
    image: list[str] = []
    command: list[str] = []
    platform: list[str] = []
    eras = np.array([e[0] for e in ERAS])
    for i in range(n):
        pool_name = POOL_NAMES[pool_of[i]]
        pool = POOLS[pool_name]
        t = f"{pool.letter}{number[i]}"
        era = int(np.searchsorted(eras, quantile[i], side="right"))
        era = min(era, len(ERAS) - 1)
        lower = ERAS[era - 1][0] if era else 0.0
        within = (quantile[i] - lower) / (ERAS[era][0] - lower)
        major = ERAS[era][1]
        rel, img = release_image(pool_name, major, 1 + int(within * 110))
        cmd = f"{pool.name}.py --AMIConfig={t}"
        tag.append(t)
        name.append(pool.name)
        release.append(rel)
        image.append(img)
        command.append(cmd)
        platform.append(PLATFORMS[major])
    unique_releases = sorted(set(release))
    raw = rng.bytes(52 * len(unique_releases))
    digest_of = {}
    commit_of = {}
    for k, rel in enumerate(unique_releases):
        chunk = raw[52 * k : 52 * (k + 1)]
        digest_of[rel] = "sha256:" + chunk[:32].hex()
        commit_of[rel] = chunk[32:].hex()
    lo_cpu = np.array([POOLS[POOL_NAMES[p]].cpu[0] for p in pool_of])
    hi_cpu = np.array([POOLS[POOL_NAMES[p]].cpu[1] for p in pool_of])
    cpu = np.round(np.exp(rng.uniform(np.log(lo_cpu), np.log(hi_cpu))), 4)
    nominal = np.array([POOLS[POOL_NAMES[p]].ratio or np.nan for p in pool_of], dtype=np.float64)
    ratio = np.round(nominal * rng.uniform(0.8, 1.2, n), 4)
    undigested = np.sort(rng.choice(n, size=max(1, round(0.01 * n)), replace=False))
    digest: list[str | None] = [digest_of[r] for r in release]
    for i in undigested:
        digest[i] = None
    pool_arr = np.array(pool_of)
    number_arr = np.array(number)
    pools = []
    for p in range(len(POOLS)):
        members = np.flatnonzero(pool_arr == p)
        pools.append(members[np.argsort(number_arr[members], kind="stable")])
    return Transformations(
        tag=tag,
        name=name,
        release=release,
        image=image,
        digest=digest,
        commit=[commit_of[r] for r in release],
        command=command,
        platform=platform,
        cpu=cpu,
        ratio=ratio,
        pools=pools,
        undigested=undigested,
    )
