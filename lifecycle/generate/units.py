"""Chain instances ("units"): one per RAW (run, stream) or MC sample (project, DSID), each an
instance of a chain template of which a prefix of nodes exists, and how they are drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lifecycle.generate.atlas import (
    DATA_P,
    DSID_HI,
    DSID_LO,
    HI_STREAMS,
    MC_P,
    PILEUP_DSIDS,
    PP_STREAMS,
    PROJECTS,
    RUN2_PROJECTS,
    STREAMS,
)
from lifecycle.generate.templates import MC_MIX, P_FULL_CHAIN, RUN2_MAIN, RUN3_MAIN, Compiled
from lifecycle.generate.timeline import DAY

# Dataset shares fixed up front; the rest of the population is chains.
SHARES = {"raw": 0.15, "calibration": 0.02, "metadata": 0.01}


@dataclass
class Units:
    """Chain instances: one per RAW (run, stream) or per MC sample (project, DSID)."""

    template: np.ndarray
    keep: np.ndarray  # how many nodes of the template exist (always a prefix)
    project: np.ndarray
    run: np.ndarray  # data: run number; MC: -1
    stream: np.ndarray  # data: index into STREAMS; MC: -1
    dsid: np.ndarray  # MC: DSID; data: -1
    t0: np.ndarray  # data: end of the run; MC: request time
    share: np.ndarray  # event share of part 0 of a split task

    def take(self, index: np.ndarray) -> Units:
        return Units(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: Sequence[Units]) -> Units:
        return Units(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Units.__dataclass_fields__)
        )

    def __len__(self) -> int:
        return len(self.template)


class UnitSampler:
    """Draws units from the compiled templates; every draw comes from ``rng`` in call order."""

    def __init__(self, rng: np.random.Generator, templates: Compiled) -> None:
        self.rng = rng
        self.c = templates

    def mix(self, mix: Sequence[tuple[str, float]], n: int) -> np.ndarray:
        ids = np.array([self.c.index[name] for name, _ in mix])
        p = np.array([w for _, w in mix])
        return ids[self.rng.choice(len(ids), size=n, p=p / p.sum())]

    def keep_counts(self, template: np.ndarray) -> np.ndarray:
        length = self.c.length[template]
        lo = np.minimum(self.c.min_keep[template], length)
        partial = self.rng.integers(lo, np.maximum(length, lo + 1))
        full = self.rng.random(len(template)) < P_FULL_CHAIN
        return np.where(full | (lo >= length), length, np.minimum(partial, length))

    def pileup(self) -> Units:
        """Two minimum-bias samples per MC campaign, overlaid in its digitization."""
        rng = self.rng
        mc = np.repeat(MC_P, 2)
        k = len(mc)
        start = np.array([PROJECTS[p].start for p in mc])
        template = np.full(k, self.c.index["mc-pileup"])
        return Units(
            template=template,
            keep=self.c.length[template],
            project=mc,
            run=np.full(k, -1),
            stream=np.full(k, -1),
            dsid=np.tile(np.array(PILEUP_DSIDS), len(MC_P)),
            t0=start + rng.integers(0, 20 * DAY, k),
            share=rng.uniform(0.35, 0.65, k),
        )

    def data(self, target_raw: float) -> Units:
        """(run, stream) units per data project, runs drawn from the year's run-number range."""
        rng = self.rng
        weights = np.array([PROJECTS[p].weight for p in DATA_P])
        parts = []
        for p, w in zip(DATA_P, weights / weights.sum(), strict=True):
            proj = PROJECTS[p]
            streams = HI_STREAMS if proj.heavy_ion else PP_STREAMS
            prob = np.array([s[1] for s in streams])
            n_runs = math.ceil(target_raw * w / prob.sum()) + 1
            span = proj.run_hi - proj.run_lo
            if n_runs <= span:
                runs = np.sort(rng.choice(span, size=n_runs, replace=False)) + proj.run_lo
            else:
                runs = proj.run_lo + np.arange(n_runs)
            has = rng.random((n_runs, len(streams))) < prob
            has[:, 0] = True
            run_i, stream_i = np.nonzero(has)
            k = len(run_i)
            frac = np.clip((runs[run_i] - proj.run_lo) / max(span, 1), 0.0, 1.0)
            t_run = proj.start + frac * (proj.end - proj.start)
            t0 = np.minimum(t_run + rng.uniform(0, 1.5 * DAY, k), proj.end).astype(np.int64)
            main = RUN2_MAIN if proj.name in RUN2_PROJECTS else RUN3_MAIN
            template = np.where(stream_i == 0, self.mix(main, k), self.c.index["data-express"])
            stream_names = [s[0] for s in streams]
            global_stream = np.array([STREAMS.index(s) for s in stream_names])[stream_i]
            parts.append(
                Units(
                    template=template,
                    keep=self.keep_counts(template),
                    project=np.full(k, p),
                    run=runs[run_i],
                    stream=global_stream,
                    dsid=np.full(k, -1),
                    t0=t0,
                    share=rng.uniform(0.35, 0.65, k),
                )
            )
        return Units.concat(parts)

    def mc(self, k: int) -> Units:
        """MC samples: unique (project, DSID), requested at a random time of the campaign."""
        rng = self.rng
        weights = np.array([PROJECTS[p].weight for p in MC_P])
        counts = rng.multinomial(k, weights / weights.sum())
        project = np.repeat(MC_P, counts)
        dsid = np.empty(k, dtype=np.int64)
        skip_at = PILEUP_DSIDS[0] - DSID_LO
        pool = DSID_HI - DSID_LO - len(PILEUP_DSIDS)
        offset = 0
        for c in counts:
            draw = rng.choice(pool, size=int(c), replace=False)
            draw = draw + np.where(draw >= skip_at, len(PILEUP_DSIDS), 0)
            dsid[offset : offset + c] = draw + DSID_LO
            offset += c
        start = np.array([PROJECTS[p].start for p in project])
        end = np.array([PROJECTS[p].end for p in project])
        template = self.mix(MC_MIX, k)
        return Units(
            template=template,
            keep=self.keep_counts(template),
            project=project,
            run=np.full(k, -1),
            stream=np.full(k, -1),
            dsid=dsid,
            t0=rng.integers(start, end),
            share=rng.uniform(0.35, 0.65, k),
        )

    def main(self, n: int, budget: int) -> Units:
        """Data and MC units in the proportion that makes RAW ~15 % of all datasets.

        Draw more units than needed, shuffle data and MC together, and keep the prefix that
        fills the budget exactly: the last unit kept may lose its last nodes, which keeps it a
        closed chain (nodes only point at earlier nodes). Kept units are then ordered by time.
        """
        rng = self.rng
        target_raw = max(SHARES["raw"] * n, 1.0)
        data = self.data(target_raw * 1.25)
        kept_fraction = target_raw / len(data)
        mc_datasets = max(budget / kept_fraction - int(data.keep.sum()), 0.0)
        mix_w = np.array([w for _, w in MC_MIX])
        mix_len = np.array([self.c.length[self.c.index[name]] for name, _ in MC_MIX])
        expected = float(
            (
                mix_w
                / mix_w.sum()
                * (P_FULL_CHAIN * mix_len + (1 - P_FULL_CHAIN) * (mix_len + 1) / 2)
            ).sum()
        )
        units = Units.concat([data, self.mc(math.ceil(mc_datasets / expected) + 1)])
        while int(units.keep.sum()) < budget:
            units = Units.concat([units, self.mc(max(16, budget // 4))])
        units = units.take(rng.permutation(len(units)))
        total = np.cumsum(units.keep)
        last = int(np.searchsorted(total, budget))  # first unit reaching the budget
        units = units.take(np.arange(last + 1))
        units.keep[last] = budget - (int(total[last - 1]) if last else 0)
        return units.take(np.argsort(units.t0, kind="stable"))
