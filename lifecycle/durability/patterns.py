"""The probability that a placement pattern loses every copy within one repair window.

A **pattern** is the multiset of (site, media) of a dataset's available replicas. Datasets with
the same pattern share every correlated risk, so the catalog is grouped by pattern first and each
pattern computed once (:func:`survivors`), then joined back to its datasets.

The year is cut into ``N`` repair windows; each event happens in a window independently with the
probability that makes its annual probability the model's (``1 - (1 - p) ** (1 / N)``). Copies
lost in different windows are repaired in between; a dataset is lost when, within one window,

- every copy is destroyed by correlated events: its country lost; its site's storage of that
  media lost; an operator error at its site destroying it (each tape replica there with
  probability ``fraction``); or
- the surviving copies all lose the same file (each file of a copy on media ``m`` lost with the
  per-window share of ``media_loss[m]``, independently).

Events nest (country > site > media group > copy) and distinct countries, sites and media groups
are independent, so the distribution of surviving (disk, tape) copies is a product of
convolutions, exact under the model. The Monte Carlo cross-check
(:mod:`lifecycle.durability.montecarlo`) samples the same events.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from lifecycle.durability.model import FailureModel

Survivors = dict[tuple[int, int], float]  # (disk copies, tape copies) surviving -> probability


@dataclass(frozen=True)
class WindowModel:
    """The model's probabilities per repair window (``windows`` a year of ``days`` each)."""

    days: float
    windows: int  # a year
    site: dict[tuple[int, str], float]  # (tier, media)
    country: float
    operator: float
    fraction: float
    file: dict[str, float]  # per file and copy, by media

    @classmethod
    def of(cls, model: FailureModel, days: float) -> WindowModel:
        """The model cut into windows of about ``days``: a whole number of windows a year
        (so the Monte Carlo cross-check's years are made of whole windows)."""
        windows = max(1, round(365.25 / days))
        days = 365.25 / windows
        return cls(
            days=days,
            windows=windows,
            site={k: per_window(p, windows) for k, p in model.site_loss.items()},
            country=per_window(model.country_loss, windows),
            operator=per_window(model.operator_error, windows),
            fraction=model.operator_fraction,
            file={m: per_window(p, windows) for m, p in model.media_loss.items()},
        )


def per_window(annual: float, windows: float) -> float:
    """The probability in one of ``windows`` independent windows that gives ``annual`` a year."""
    if annual >= 1:
        return 1.0
    return -math.expm1(math.log1p(-annual) / windows)


def parse(pattern: str) -> list[tuple[int, str]]:
    """``"12:tape,40:disk"`` -> [(12, 'tape'), (40, 'disk')] (site ids and media)."""
    out = []
    for part in pattern.split(","):
        site, media = part.split(":")
        out.append((int(site), media))
    return out


def survivors(
    copies: list[tuple[int, str]], sites: dict[int, tuple[int, str]], w: WindowModel
) -> Survivors:
    """The distribution of surviving (disk, tape) copies after one window's correlated events.

    ``copies``: (site id, media) of each copy; ``sites``: site id -> (tier, country).
    """
    tree: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for site, media in copies:
        groups = tree[sites[site][1]][site]
        groups[media] = groups.get(media, 0) + 1
    total: Survivors = {(0, 0): 1.0}
    for country_sites in tree.values():
        in_country: Survivors = {(0, 0): 1.0}
        for site, groups in country_sites.items():
            tier = sites[site][0]
            for media, count in groups.items():
                in_country = _convolve(in_country, _group(media, count, tier, w))
        lost = w.country
        in_country = {k: v * (1 - lost) for k, v in in_country.items()}
        in_country[(0, 0)] = in_country.get((0, 0), 0.0) + lost
        total = _convolve(total, in_country)
    return total


def _group(media: str, count: int, tier: int, w: WindowModel) -> Survivors:
    """Survivors among ``count`` copies on ``media`` at one site: the site's storage of that
    media lost (all), an operator error (tape: each copy with probability ``fraction``)."""
    disaster = w.site.get((tier, media), 0.0)
    operator = w.operator if media == "tape" else 0.0
    alive = [0.0] * (count + 1)
    alive[0] += disaster
    alive[count] += (1 - disaster) * (1 - operator)
    f = w.fraction
    for k in range(count + 1):  # after an operator error, k copies survive
        alive[k] += (
            (1 - disaster) * operator * math.comb(count, k) * (1 - f) ** k * f ** (count - k)
        )
    return {((k, 0) if media == "disk" else (0, k)): p for k, p in enumerate(alive) if p > 0}


def _convolve(a: Survivors, b: Survivors) -> Survivors:
    out: Survivors = {}
    for (d1, t1), p1 in a.items():
        for (d2, t2), p2 in b.items():
            key = (d1 + d2, t1 + t2)
            out[key] = out.get(key, 0.0) + p1 * p2
    return out


def coefficients(dist: Survivors, w: WindowModel) -> tuple[float, float]:
    """``(a, b)``: a window loses every copy with probability ``a`` (correlated events), and
    each file on every surviving copy with ``b`` summed over the outcomes (so a dataset of
    ``n`` files loses something in a window with at most ``a + n * b``, and its expected
    share of bytes lost is ``a + b``)."""
    a = dist.get((0, 0), 0.0)
    b = sum(
        p * w.file.get("disk", 0.0) ** d * w.file.get("tape", 0.0) ** t
        for (d, t), p in dist.items()
        if (d, t) != (0, 0)
    )
    return a, b


def window_loss(dist: Survivors, w: WindowModel, files: int) -> float:
    """The exact probability that a dataset of ``files`` files loses data in one window."""
    total = dist.get((0, 0), 0.0)
    for (d, t), p in dist.items():
        if (d, t) == (0, 0):
            continue
        each = w.file.get("disk", 0.0) ** d * w.file.get("tape", 0.0) ** t
        total += p * -math.expm1(max(files, 1) * math.log1p(-min(each, 1.0 - 1e-300)))
    return min(total, 1.0)


def annual(window: float, w: WindowModel) -> float:
    """The probability of at least one losing window in a year."""
    if window >= 1:
        return 1.0
    return -math.expm1(w.windows * math.log1p(-window))


def nines(probability: float) -> float | None:
    """Durability in nines: ``-log10(probability)`` (None: no loss possible under the model)."""
    if probability <= 0:
        return None
    return -math.log10(probability) + 0.0  # no -0.0


def why(copies: list[tuple[int, str]], sites: dict[int, tuple[int, str]], names: dict[int, str]):
    """In a few words, what makes a placement weak (the first that applies)."""
    media = [m for _, m in copies]
    site_ids = {s for s, _ in copies}
    countries = {sites[s][1] for s in site_ids}
    if len(copies) == 1:
        return f"one copy only, on {media[0]} at {names.get(copies[0][0], '?')}"
    if len(site_ids) == 1:
        return f"all {len(copies)} copies at one site ({names.get(next(iter(site_ids)), '?')})"
    if "tape" not in media:
        where = "one country" if len(countries) == 1 else f"{len(countries)} countries"
        return f"{len(copies)} copies on disk only, in {where}"
    if len(countries) == 1:
        return f"all {len(copies)} copies in one country ({next(iter(countries))})"
    return f"{len(copies)} copies at {len(site_ids)} sites in {len(countries)} countries"
