"""The Monte Carlo cross-check of the durability estimate: sample the model's events, count losses.

The same events as :mod:`lifecycle.durability.patterns`, drawn for ``years`` x ``windows``
repair windows from one generator seeded with ``seed`` (deterministic): each site's storage of
each media, each country, each site's operator errors (each tape replica there then destroyed
with probability ``fraction``), and file losses. Windows without a correlated event that touches
a dataset are sampled per dataset at once (the windows in which some file is lost on every copy,
by geometric gaps); windows with such an event are worked out replica by replica for the
datasets it touches. A dataset is lost in a year when some window of that year loses it.

The estimate per dataset is the share of years in which it was lost; per kind, the mean number
of datasets lost a year with a 95 % interval from the spread between years (losses in one year
are correlated: a site disaster takes many datasets together, so years, not datasets, are the
independent trials).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.durability.patterns import WindowModel, parse

if TYPE_CHECKING:
    import numpy as np

Z95 = 1.959964


@dataclass
class Sampled:
    """What the sampling found: per dataset index, the number of years it was lost in, and per
    year and kind the datasets lost."""

    years: int
    lost_years: dict[int, int]  # dataset index -> years lost in (only those lost)
    per_year: dict[str, list[int]]  # kind -> datasets lost in each year


def sample(
    datasets: list[tuple[str, int, str]],
    sites: dict[int, tuple[int, str]],
    w: WindowModel,
    years: int,
    seed: int,
) -> Sampled:
    """Sample ``years`` years of the model over ``datasets`` ((kind, files, pattern) each)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    empty = np.zeros(0, dtype=np.int64)
    n = len(datasets)
    total = years * w.windows
    files = np.array([max(int(f), 1) for _, f, _ in datasets], dtype=np.int64)
    rep_ds, rep_site, rep_tape = [], [], []
    for i, (_, _, pattern) in enumerate(datasets):
        for site, media in parse(pattern):
            rep_ds.append(i)
            rep_site.append(site)
            rep_tape.append(media == "tape")
    rep_ds = np.array(rep_ds, dtype=np.int64)
    rep_site = np.array(rep_site, dtype=np.int64)
    rep_tape = np.array(rep_tape, dtype=bool)
    country_of = {s: c for s, (_, c) in sites.items()}
    countries = sorted(set(country_of.values()))
    country_code = {c: k for k, c in enumerate(countries)}
    rep_country = np.array([country_code[country_of[s]] for s in rep_site], dtype=np.int64)
    log_keep = np.where(rep_tape, _log1m(w.file.get("tape", 0.0)), _log1m(w.file.get("disk", 0.0)))
    # per file, every copy losing it: the product over copies of the per-copy probability
    log_all = np.zeros(n)
    np.add.at(log_all, rep_ds, np.log(np.maximum(-np.expm1(log_keep), 1e-300)))
    quiet = -np.expm1(files * np.log1p(-np.minimum(np.exp(log_all), 1 - 1e-16)))
    quiet[np.exp(log_all) <= 1e-300] = 0.0

    # correlated events: (window, kind, key), kind 0 site-media, 1 operator, 2 country
    events: dict[int, list[tuple[int, int]]] = {}
    for site in sorted(sites):
        tier = sites[site][0]
        for code, media in enumerate(("disk", "tape")):
            for at in _positions(rng, total, w.site.get((tier, media), 0.0)):
                events.setdefault(int(at), []).append((0, site * 2 + code))
        for at in _positions(rng, total, w.operator):
            events.setdefault(int(at), []).append((1, site))
    for code in range(len(countries)):
        for at in _positions(rng, total, w.country):
            events.setdefault(int(at), []).append((2, code))

    # windows losing data without a correlated event, per dataset
    q_ds, q_at = _dataset_positions(rng, total, quiet)
    order = np.argsort(rep_ds, kind="stable")
    starts = np.searchsorted(rep_ds[order], np.arange(n + 1))
    by_site = _index(rep_site)
    by_country = _index(rep_country)
    lost_ds, lost_at, touched_keys = [], [], []
    for at in sorted(events):
        hit_sites = {k // 2 for t, k in events[at] if t == 0} | {k for t, k in events[at] if t == 1}
        chosen = [by_site.get(s, empty) for s in hit_sites]
        chosen += [by_country.get(c, empty) for t, c in events[at] if t == 2]
        touched = np.unique(rep_ds[np.concatenate(chosen)]) if chosen else empty
        if touched.size == 0:
            continue
        reps = np.concatenate([order[starts[d] : starts[d + 1]] for d in touched])
        destroyed = np.zeros(reps.size, dtype=bool)
        media_code = rep_site[reps] * 2 + rep_tape[reps]
        gone_groups = np.array([k for t, k in events[at] if t == 0], dtype=np.int64)
        destroyed |= np.isin(media_code, gone_groups)
        gone_countries = np.array([k for t, k in events[at] if t == 2], dtype=np.int64)
        destroyed |= np.isin(rep_country[reps], gone_countries)
        operators = np.array([k for t, k in events[at] if t == 1], dtype=np.int64)
        draws = rng.random(reps.size)
        destroyed |= np.isin(rep_site[reps], operators) & rep_tape[reps] & (draws < w.fraction)
        owner = rep_ds[reps]
        alive = np.zeros(n, dtype=np.int64)
        np.add.at(alive, owner[~destroyed], 1)
        log_s = np.zeros(n)
        np.add.at(log_s, owner[~destroyed], np.log(np.maximum(-np.expm1(log_keep[reps][~destroyed]),
                                                                1e-300)))  # fmt: skip
        each = np.exp(log_s[touched])
        p = np.where(alive[touched] == 0, 1.0,
                     -np.expm1(files[touched] * np.log1p(-np.minimum(each, 1 - 1e-16))))  # fmt: skip
        p[(alive[touched] > 0) & (each <= 1e-300)] = 0.0
        hit = touched[rng.random(touched.size) < p]
        lost_ds.append(hit)
        lost_at.append(np.full(hit.size, at, dtype=np.int64))
        touched_keys.append(touched * total + at)
    if touched_keys:  # event windows replace the quiet draws of the datasets they touch
        keep = ~np.isin(q_ds * total + q_at, np.concatenate(touched_keys))
        q_ds, q_at = q_ds[keep], q_at[keep]
    all_ds = np.concatenate([q_ds, *lost_ds]) if lost_ds else q_ds
    all_at = np.concatenate([q_at, *lost_at]) if lost_at else q_at
    pairs = np.unique(all_ds * years + all_at // w.windows)
    ds, year = pairs // years, pairs % years
    lost_years: dict[int, int] = {}
    for d, c in zip(*np.unique(ds, return_counts=True), strict=True):
        lost_years[int(d)] = int(c)
    kinds = sorted({k for k, _, _ in datasets})
    per_year = {k: [0] * years for k in kinds}
    for d, y in zip(ds.tolist(), year.tolist(), strict=True):
        per_year[datasets[d][0]][y] += 1
    return Sampled(years, lost_years, per_year)


def interval(per_year: list[int]) -> tuple[float, float, float]:
    """Mean datasets lost a year and its 95 % interval over the years (normal, from the spread
    between years, at least the Poisson interval of the count; none lost: from 0 to 3/years,
    the 'rule of three' for a rate of loss years)."""
    years = len(per_year)
    mean = sum(per_year) / years
    if mean == 0:
        return 0.0, 0.0, 3.0 / years
    var = sum((x - mean) ** 2 for x in per_year) / max(years - 1, 1)
    # never narrower than the count's own (Poisson) interval: years that all look alike
    # (a dataset lost every year) have no spread, yet the figure is not exact
    half = Z95 * max(math.sqrt(var / years), math.sqrt(sum(per_year)) / years)
    return mean, max(0.0, mean - half), mean + half


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k`` out of ``n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summary(sampled: Sampled, expected: dict[str, float], seed: int) -> dict[str, Any]:
    """The cross-check per kind: sampled mean and interval against the analytical figure."""
    kinds = []
    for kind, per_year in sorted(sampled.per_year.items()):
        mean, low, high = interval(per_year)
        analytic = expected.get(kind, 0.0)
        kinds.append({"kind": kind, "sampled": mean, "low": low, "high": high,
                      "analytic": analytic, "agrees": low <= analytic <= high})  # fmt: skip
    return {"years": sampled.years, "seed": seed, "by_kind": kinds}


def _log1m(p: float) -> float:
    return math.log1p(-p) if p < 1 else -math.inf


def _index(values: np.ndarray) -> dict[int, np.ndarray]:
    import numpy as np

    order = np.argsort(values, kind="stable")
    keys, starts = np.unique(values[order], return_index=True)
    ends = list(starts[1:]) + [values.size]
    return {int(k): order[s:e] for k, s, e in zip(keys, starts, ends, strict=True)}


def _positions(rng: np.random.Generator, total: int, p: float) -> np.ndarray:
    """The windows (of ``total``) in which an event of probability ``p`` a window happens."""
    import numpy as np

    if p <= 0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1:
        return np.arange(total, dtype=np.int64)
    out, at = [], -1
    while True:
        size = int(total * p * 1.1) + 16
        gaps = rng.geometric(p, size=size)
        steps = at + np.cumsum(gaps)
        out.append(steps[steps < total])
        if steps[-1] >= total:
            return np.concatenate(out).astype(np.int64)
        at = int(steps[-1])


def _dataset_positions(
    rng: np.random.Generator, total: int, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(dataset, window) pairs: for each dataset ``i``, the windows in which an event of
    probability ``p[i]`` a window happens (geometric gaps, all datasets at once)."""
    import numpy as np

    active = np.nonzero(p > 0)[0]
    at = np.full(active.size, -1, dtype=np.int64)
    out_ds, out_at = [], []
    while active.size:
        at = at + rng.geometric(np.minimum(p[active], 1.0))
        inside = at < total
        out_ds.append(active[inside])
        out_at.append(at[inside])
        active, at = active[inside], at[inside]
    if not out_ds:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_ds), np.concatenate(out_at)
