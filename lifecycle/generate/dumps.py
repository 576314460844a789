"""Storage dumps of a generated grid, with planted lost and dark entries (``generate --dumps``).

Read back from the exchange tables :func:`lifecycle.generate.generate` wrote, one Parquet dump
per endpoint (all of them, or those an endpoint expression selects), dated the catalog's "now"
(:data:`lifecycle.generate.timeline.NOW`, in the schema metadata and the file name
``<endpoint>_<date>.parquet``). A dump lists every replica of the endpoint that holds data
(available, copying, unavailable) with its dataset's files and bytes, except what is planted:

- **lost**, on endpoints with at least :data:`MIN_FOR_LOST` available replicas made a week or
  more before the dump (so the plant stays under the 10 % safety limit and outside the dump
  window): one replica left out of the dump, one listed with a file fewer (a byte fewer when its
  dataset has one file);
- **dark**, on every endpoint: a DID no dataset has, and a dataset of the catalog without a live
  replica there (when one exists).

The choice is drawn from ``numpy.random.Generator(PCG64([seed, endpoint number]))``: the same
seed and catalog give the same plants. ``planted.json`` beside the dumps lists them per endpoint
(``lost``: did and problem; ``dark``: DIDs), so a check can be compared with exactly them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lifecycle.exchange.dump import write_dump
from lifecycle.expressions import select
from lifecycle.generate.timeline import DAY, NOW
from lifecycle.vocabulary import LIVE_STATES

if TYPE_CHECKING:
    import pandas as pd

MIN_FOR_LOST = 50  # available, old replicas an endpoint needs before lost ones are planted
PLANTED = "planted.json"


@dataclass(frozen=True)
class DumpSummary:
    """What :func:`write_dumps` wrote: the directory, the dumps by endpoint, what was planted."""

    directory: Path
    dumps: dict[str, Path]
    lost: int
    dark: int


def write_dumps(
    catalog: Path, directory: Path, endpoints: str | None = None, seed: int = 0
) -> DumpSummary:
    """Write the storage dumps of the generated catalog in ``catalog`` into ``directory``."""
    import pandas as pd
    import pyarrow.parquet as pq

    def table(name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pq.read_table(Path(catalog) / f"{name}.parquet", columns=columns).to_pandas()

    grid = table("endpoints")
    names = _selected(grid, table("sites"), endpoints)
    datasets = table("datasets", ["did", "files", "bytes"])
    replicas = table("replicas", ["did", "endpoint", "state", "created_at"])
    replicas["state"] = replicas["state"].fillna("available")  # as import reads an empty state
    replicas = replicas[replicas["endpoint"].isin(names) & replicas["state"].isin(LIVE_STATES)]
    replicas = replicas.merge(datasets, on="did", how="left")
    time = datetime.fromtimestamp(NOW, UTC)
    old = pd.Timestamp(NOW - 7 * DAY, unit="s", tz="UTC")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    planted: dict[str, dict] = {}
    dumps = {}
    by_endpoint = dict(tuple(replicas.groupby("endpoint", sort=False)))
    for number, name in enumerate(sorted(names)):
        rng = np.random.Generator(np.random.PCG64([seed, number]))
        held = by_endpoint.get(name, replicas.iloc[:0]).sort_values("did", kind="stable")
        rows, plants = _plant(rng, held, datasets, old, name)
        path = directory / f"{name}_{time.date().isoformat()}.parquet"
        write_dump(path, rows, time)
        dumps[name], planted[name] = path, plants
    document = {"dump_time": time.isoformat().replace("+00:00", "Z"), "endpoints": planted}
    (directory / PLANTED).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return DumpSummary(
        directory,
        dumps,
        lost=sum(len(p["lost"]) for p in planted.values()),
        dark=sum(len(p["dark"]) for p in planted.values()),
    )


def _selected(grid: pd.DataFrame, sites: pd.DataFrame, expression: str | None) -> list[str]:
    """The endpoints ``expression`` selects (all when None), by their attributes."""
    names = [str(n) for n in grid["name"]]
    if expression is None:
        return names
    site_columns = sites[["name", "tier", "country", "cloud"]].rename(columns={"name": "site"})
    merged = grid.merge(site_columns, on="site", how="left")
    records = [
        {k: v for k, v in row.items() if v is not None and v == v}
        for row in merged.to_dict("records")
    ]
    return select(expression, records)


def _plant(
    rng: np.random.Generator,
    held: pd.DataFrame,
    datasets: pd.DataFrame,
    old: pd.Timestamp,
    endpoint: str,
) -> tuple[pd.DataFrame, dict]:
    """The dump of one endpoint (``did``, ``files``, ``bytes``) and what was planted in it."""
    import pandas as pd

    rows = held[["did", "files", "bytes"]].reset_index(drop=True)
    lost = []
    eligible = np.flatnonzero(
        (held["state"] == "available").to_numpy() & (held["created_at"] <= old).to_numpy()
    )
    if len(eligible) >= MIN_FOR_LOST:
        missing, fewer = (int(i) for i in rng.choice(eligible, size=2, replace=False))
        if rows.at[fewer, "files"] > 1:
            rows.at[fewer, "files"] -= 1
            lost.append({"did": rows.at[fewer, "did"], "problem": "fewer files"})
        else:
            rows.at[fewer, "bytes"] = max(int(rows.at[fewer, "bytes"]) - 1, 0)
            lost.append({"did": rows.at[fewer, "did"], "problem": "fewer bytes"})
        lost.append({"did": rows.at[missing, "did"], "problem": "missing"})
        rows = rows.drop(index=missing)
    scope = "user.lifecycle"
    dark = [f"{scope}:{scope}.dark.{endpoint}.{int(rng.integers(1_000_000)):06d}"]
    files, sizes = [1], [int(rng.integers(1, 10**9))]
    known = set(held["did"])
    for _ in range(20):  # a dataset held elsewhere (random draws: no pass over every dataset)
        pick = datasets.iloc[int(rng.integers(len(datasets)))]
        if pick["did"] not in known:
            dark.append(str(pick["did"]))
            files.append(int(pick["files"]))
            sizes.append(int(pick["bytes"]))
            break
    extra = pd.DataFrame({"did": dark, "files": files, "bytes": sizes})
    rows = pd.concat([rows, extra], ignore_index=True)
    return rows, {"lost": sorted(lost, key=lambda x: x["did"]), "dark": sorted(dark)}
