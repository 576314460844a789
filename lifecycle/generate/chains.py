"""Growing chains: laying out the datasets of chain instances node by node, with their inputs,
transformations, times, sizes and the productions that make them.
"""

from __future__ import annotations

import numpy as np

from lifecycle.generate.atlas import PILEUP_DSIDS, PROJECTS, SKIM0, SKIM_FORMATS
from lifecycle.generate.conditions import Calibration, Metadata
from lifecycle.generate.datasets import Datasets
from lifecycle.generate.grid import Grid
from lifecycle.generate.productions import ProductionLog
from lifecycle.generate.templates import Compiled
from lifecycle.generate.timeline import DAY, EPOCH, HOUR, NOW
from lifecycle.generate.transformations import POOL_NAMES, Transformations
from lifecycle.generate.units import Units


def loguniform(
    rng: np.random.Generator, lo: np.ndarray | float, hi: np.ndarray | float, n: int
) -> np.ndarray:
    lo = np.asarray(lo, dtype=np.float64) + 0.01
    hi = np.asarray(hi, dtype=np.float64) + 0.01
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n)) - 0.01


class ChainGrower:
    """Fills ``ds`` with the datasets of ``units``, recording their productions in ``log``.

    ``pileup_hits`` (project, sample) -> dataset index of a merged pile-up HITS, -1 until the
    pile-up units are grown; digitization overlays them.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        templates: Compiled,
        units: Units,
        ds: Datasets,
        calibration: Calibration,
        metadata: Metadata,
        transformations: Transformations,
        grid: Grid,
        log: ProductionLog,
    ) -> None:
        self.rng = rng
        self.c = templates
        self.units = units
        self.ds = ds
        self.calibration = calibration
        self.metadata = metadata
        self.tr = transformations
        self.grid = grid
        self.log = log
        self.pileup_hits = np.full((len(PROJECTS), 2), -1, dtype=np.int64)

    def grow(self, chosen: np.ndarray, position: int) -> np.ndarray:
        """Lay out and fill the datasets of the units ``chosen`` from dataset index ``position`` on.

        Node j of every unit is processed together, after all nodes < j, so inputs (earlier
        nodes, and calibration/metadata/pile-up laid out before) always have their times and
        sizes. Every input has a smaller dataset index than its output: the graph is acyclic.
        Returns the dataset index of each unit's first node.
        """
        rng = self.rng
        c = self.c
        U = self.units
        keep = U.keep[chosen]
        offsets = position + np.concatenate([[0], np.cumsum(keep)[:-1]])
        for j in range(int(keep.max(initial=0))):
            sel = keep > j
            uu = chosen[sel]
            idx = offsets[sel] + j
            k = len(idx)
            t = U.template[uu]
            g = c.base[t] + j
            remaining = (c.length[t] - j).astype(np.float64)
            proj = U.project[uu]
            self.ds.unit[idx] = uu
            self.ds.node[idx] = g
            self.ds.kind[idx] = c.kind[g]
            dtype = c.dtype[g]
            skim = dtype < 0
            dtype[skim] = SKIM0 + rng.integers(0, len(SKIM_FORMATS), int(skim.sum()))
            self.ds.dtype[idx] = dtype
            self.ds.step[idx] = c.step[g]
            self.ds.project[idx] = proj
            self.ds.run[idx] = U.run[uu]
            self.ds.dsid[idx] = U.dsid[uu]
            self.ds.profile[idx] = c.profile[g]
            self.ds.part[idx] = c.part[g]

            par = np.where(c.parent[g] >= 0, idx[:, None] - j + c.parent[g], -1)
            has_par = par >= 0
            self.ds.ppar[idx] = par[:, 0]
            safe = np.where(has_par, par, 0)
            ready = np.maximum(U.t0[uu], np.where(has_par, self.ds.created[safe], 0).max(axis=1))
            in_bytes = np.where(has_par, self.ds.bytes[safe], 0).sum(axis=1)
            in_events = np.where(has_par, self.ds.events[safe], 0).sum(axis=1)

            pool = c.pool[g]
            made = pool >= 0  # made by a production (RAW is not)
            joined = c.train[g] >= 0  # ... by the production of an earlier node (a train)
            has = made & ~joined  # ... by a production of its own
            mate = np.where(joined, idx - j + c.train[g], 0)
            # cross-unit inputs: pile-up HITS, calibration, DBRelease
            pile = np.full((k, 2), -1, dtype=np.int64)
            overlay = c.pileup[g] & (self.pileup_hits[proj, 0] >= 0)
            pile[overlay] = self.pileup_hits[proj[overlay]]
            ready = np.maximum(
                ready, np.where(pile >= 0, self.ds.created[pile.clip(0)], 0).max(axis=1)
            )
            cal = np.full(k, -1, dtype=np.int64)
            wants = c.calibration[g] & (len(self.calibration.names) > 0)
            if wants.any():
                key = proj[wants] * 10_000_000 + U.run[uu[wants]]
                cal[wants] = self.calibration.pick(rng, key, ready[wants])
                ready = np.where(cal >= 0, np.maximum(ready, self.ds.created[cal.clip(0)]), ready)
            cfg = np.full(k, -1, dtype=np.int64)
            wants = (rng.random(k) < c.config[g]) & (len(self.metadata.names) > 0)
            if wants.any():
                cfg[wants] = self.metadata.pick(rng, ready[wants])
                ready = np.where(cfg >= 0, np.maximum(ready, self.ds.created[cfg.clip(0)]), ready)

            # transformation: a tag of the pool from around the time the inputs were ready
            tr = np.full(k, -1, dtype=np.int64)
            q = np.clip((ready - EPOCH) / (NOW - EPOCH), 0.0, 1.0)
            noise = rng.normal(0.0, 0.05, k)
            for p in np.unique(pool[has]):
                mask = pool == p
                members = self.tr.pools[p]
                pos = np.rint((q[mask] + noise[mask]) * (len(members) - 1))
                tr[mask] = members[np.clip(pos, 0, len(members) - 1).astype(np.int64)]
            twin = c.sibling[g] >= 0
            tr[twin] = self.ds.tr[idx[twin] - j + c.sibling[g][twin]]
            tr[joined] = self.ds.tr[mate[joined]]
            self.ds.tr[idx] = tr

            # times: bounded so that the rest of the chain still fits before NOW
            delay = loguniform(rng, c.delay[g, 0], c.delay[g, 1], k) * DAY
            delay = np.minimum(delay, (NOW - ready) / (remaining + 1))
            start = ready + delay.astype(np.int64)
            duration = rng.uniform(c.hours[g, 0], c.hours[g, 1]) * HOUR
            duration = np.minimum(duration, (NOW - start) / (remaining + 1))
            finish = start + duration.astype(np.int64)
            raw_end = U.t0[uu] + rng.integers(2 * HOUR, 20 * HOUR, k)
            created = np.where(has, finish, np.minimum(raw_end, NOW))
            self.ds.created[idx] = np.where(joined, self.ds.created[mate], created)

            # sizes
            share = np.where(
                c.part[g] == 0, U.share[uu], np.where(c.part[g] == 1, 1.0 - U.share[uu], 1.0)
            )
            raw_bytes = np.clip(rng.lognormal(np.log(5e12), 0.8, k), 1e12, 5e13)
            raw_events = raw_bytes / rng.uniform(0.8e6, 1.6e6, k)
            gen_events = np.clip(rng.lognormal(np.log(5e5), 1.2, k), 1e4, 2e8)
            gen_events = np.where(np.isin(U.dsid[uu], PILEUP_DSIDS), gen_events * 100, gen_events)
            gen_bytes = gen_events * rng.uniform(3e4, 1.5e5, k)
            ratio = np.where(made, self.tr.ratio[tr.clip(0)], 1.0)
            ratio = np.nan_to_num(ratio, nan=1.0) * rng.lognormal(0.0, 0.08, k)
            kept = rng.uniform(c.skim[g, 0], c.skim[g, 1])
            root = ~has_par[:, 0]
            is_raw = pool < 0
            size = np.where(
                root, np.where(is_raw, raw_bytes, gen_bytes), in_bytes * ratio * share * kept
            )
            events = np.where(
                root, np.where(is_raw, raw_events, gen_events), in_events * share * kept
            )
            self.ds.bytes[idx] = np.maximum(1, np.rint(size)).astype(np.int64)
            self.ds.events[idx] = np.maximum(1, np.rint(events)).astype(np.int64)

            # productions and their inputs / outputs
            if has.any():
                out = idx[has]
                m = len(out)
                prod = self.log.n + np.arange(m)
                self.ds.prod[out] = prod
                site = self.grid.prod_sites[
                    rng.choice(len(self.grid.prod_sites), size=m, p=self.grid.prod_p)
                ]
                tier0 = np.isin(
                    pool[has], [POOL_NAMES.index("reco_data_f"), POOL_NAMES.index("merge_data")]
                )
                site = np.where(tier0, self.grid.cern, site)
                site = np.where(rng.random(m) < 0.03, -1, site)
                self.log.parts.append(
                    {
                        "out": out,
                        "tr": tr[has],
                        "ready": ready[has],
                        "start": start[has],
                        "finish": finish[has],
                        "site": site,
                        "project": proj[has],
                        "pool": pool[has],
                    }
                )
                lookup = np.full(len(idx), -1, dtype=np.int64)
                lookup[has] = prod
                inputs = np.column_stack([par, pile])
                for column, role in ((inputs, 0), (cal[:, None], 1), (cfg[:, None], 2)):
                    ok = (column >= 0) & has[:, None]
                    rows, cols = np.nonzero(ok)
                    self.log.io.append(
                        (lookup[rows], column[rows, cols], np.full(len(rows), role, np.int8))
                    )
                self.log.io.append((prod, out, np.full(m, 3, np.int8)))
                self.log.n += m
            if joined.any():
                extra = idx[joined]
                self.ds.prod[extra] = self.ds.prod[mate[joined]]
                self.log.io.append((self.ds.prod[extra], extra, np.full(len(extra), 3, np.int8)))
        return offsets
