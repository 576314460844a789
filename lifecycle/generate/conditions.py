"""Conditions data laid out before the chains: calibration folders (role ``calibration``) and
DBRelease metadata datasets (role ``config``), and how a production picks the version it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lifecycle.generate.atlas import DTYPES, FOLDERS, PROJECTS
from lifecycle.generate.datasets import KINDS, PROFILES, Datasets
from lifecycle.generate.timeline import DAY, EPOCH, NOW


@dataclass
class Metadata:
    """DBRelease datasets ``first .. first + len(created)``, in creation order."""

    first: int
    created: np.ndarray
    names: list[str]

    def pick(self, rng: np.random.Generator, ready: np.ndarray) -> np.ndarray:
        """A DBRelease for each production ready at ``ready``: the newest or one of the two
        before it."""
        k = len(self.created)
        m = np.searchsorted(self.created, ready, side="right") - 1
        m = np.clip(m - rng.integers(0, 3, len(ready)), 0, k - 1)
        return self.first + m


@dataclass
class Calibration:
    """Calibration series sorted by (project, block start run): key, first dataset, versions."""

    key: np.ndarray  # project * 10_000_000 + first run of the block
    first: np.ndarray
    versions: np.ndarray
    base: np.ndarray  # creation time of the first version
    gap: np.ndarray  # mean seconds between versions
    names: list[str]

    def pick(self, rng: np.random.Generator, key: np.ndarray, ready: np.ndarray) -> np.ndarray:
        """A calibration version for each (project, run) key: the block holding the run, any
        folder of it, and mostly the newest version already made when the inputs are ready."""
        keys = self.key
        pos = np.clip(np.searchsorted(keys, key, side="right") - 1, 0, len(keys) - 1)
        first = np.searchsorted(keys, keys[pos], side="left")
        series = first + (rng.random(len(key)) * (pos - first + 1)).astype(np.int64)
        nv = self.versions[series]
        newest = np.floor((ready - self.base[series]) / self.gap[series])
        newest = np.clip(newest, 0, nv - 1).astype(np.int64)
        older = (rng.random(len(key)) * (newest + 1)).astype(np.int64)
        version = np.where(rng.random(len(key)) < 0.7, newest, older)
        return self.first[series] + version


def add_metadata(rng: np.random.Generator, ds: Datasets, first: int, k: int) -> Metadata:
    """``k`` DBRelease datasets from index ``first`` on, spread evenly over 2015-2025."""
    created = np.sort(rng.integers(EPOCH, NOW - 30 * DAY, k))
    sl = slice(first, first + k)
    ds.kind[sl] = KINDS.index("metadata")
    ds.dtype[sl] = DTYPES.index("DBRelease")
    ds.profile[sl] = PROFILES.index("metadata")
    ds.created[sl] = created
    ds.bytes[sl] = rng.integers(200_000_000, 1_500_000_000, k)
    names = [
        f"ddo:ddo.{i + 1:06d}.Atlas.Ideal.DBRelease.v{10 + i // 2500}{i // 50 % 50:02d}{i % 50:02d}"
        for i in range(k)
    ]
    return Metadata(first=first, created=created, names=names)


def add_calibration(rng: np.random.Generator, ds: Datasets, k: int) -> Calibration:
    """``k`` calibration datasets from index 0 on: folders per project and run block, each in
    1..n versions.

    A series is (project, block, folder); its versions are datasets
    ``calib:calib.<project>.<block start run>.<folder>.COND.v<NNNN>`` created some days
    apart. Series are laid out sorted by (project, block start) so reconstruction finds the
    block of its run with one searchsorted.
    """
    if k == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Calibration(empty, empty, empty, empty, np.zeros(0), [])
    n_series = max(1, min(k, round(k / 3.5)))
    weights = np.array([0.0 if p.mc else p.weight for p in PROJECTS])
    exact = weights / weights.sum() * n_series
    per_project = np.floor(exact).astype(np.int64)
    short = n_series - int(per_project.sum())
    per_project[np.argsort(-(exact - per_project), kind="stable")[:short]] += 1
    versions = 1 + rng.multinomial(k - n_series, np.full(n_series, 1.0 / n_series))
    key, names, created, first = [], [], [], []
    s = 0
    position = 0
    for p, count in enumerate(per_project):
        proj = PROJECTS[p]
        if count == 0:
            continue
        folders = min(len(FOLDERS), int(count))
        blocks = math.ceil(count / folders)
        span = proj.run_hi - proj.run_lo
        starts = [proj.run_lo + span * b // blocks for b in range(blocks)]
        times = [proj.start + (proj.end - proj.start) * b // blocks for b in range(blocks)]
        for i in range(int(count)):
            b, f = divmod(i, folders)
            folder = FOLDERS[f % len(FOLDERS)] + (
                str(f // len(FOLDERS) + 1) if f >= len(FOLDERS) else ""
            )
            nv = int(versions[s])
            base = times[b] - int(rng.integers(1, 10)) * DAY
            gap = min(float(rng.uniform(3, 90)) * DAY, (NOW - DAY - base) / max(nv - 1, 1))
            stem = f"calib:calib.{proj.name}.{starts[b]:08d}.{folder}.COND"
            for v in range(nv):
                names.append(f"{stem}.v{v + 1:04d}")
                created.append(base + int(v * gap))
            key.append(p * 10_000_000 + starts[b])
            first.append(position)
            position += nv
            s += 1
    key_arr = np.array(key, dtype=np.int64)
    first_arr = np.array(first, dtype=np.int64)
    base = np.array([created[f] for f in first], dtype=np.int64)
    last = first_arr + versions - 1
    spread = np.array(created, dtype=np.int64)[last] - base
    gap = np.maximum(spread / np.maximum(versions - 1, 1), 1.0)
    sl = slice(0, k)
    ds.kind[sl] = KINDS.index("calibration")
    ds.dtype[sl] = DTYPES.index("COND")
    ds.profile[sl] = PROFILES.index("calibration")
    ds.created[sl] = created
    ds.bytes[sl] = np.exp(rng.uniform(np.log(1e6), np.log(2e10), k)).astype(np.int64)
    series_of = np.repeat(np.arange(len(key)), versions)
    proj_of = (key_arr // 10_000_000)[series_of]
    ds.project[sl] = proj_of
    ds.run[sl] = (key_arr % 10_000_000)[series_of]
    return Calibration(key_arr, first_arr, versions, base, gap, names)
