"""Storage-consistency benchmark: ``lifecycle consistency`` of the largest endpoint's dump.

For each size N the shared generator's catalog (``../shared/bench/gen_exchange.py``, cached
under ``bench-data/``) is imported once, untimed, into SQLite (and PostgreSQL when
``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set). The largest endpoint is the one with the
most replicas holding data. Its dump is written from the exchange tables (in a child process):
every replica there that holds data, with its dataset's files and bytes, less a planted 0.5 %
of its old available replicas (lost) plus ``--dark`` DIDs no dataset has (dark), dated a day
after the newest replica (Parquet metadata). Then, each in a fresh process, ``lifecycle
consistency ENDPOINT DUMP --policy atlas-2015.toml --format json`` (the preview: the whole
comparison, the loss simulation of the lost replicas with the policy's replication rules) and,
with ``--apply``, the same with ``--apply`` (marking them lost, quarantining the dark entries).
The lost and dark entries found must be exactly the planted ones, or the benchmark stops.

Target (issue 14, item 8): <= 10 s and peak RSS < 2 GiB at 1,000,000 datasets. Each run
reports its wall time (the target) and its CPU time (user + system of the child process; the
same on a loaded machine, where wall times vary) and the load average when it ended.

Usage: python benchmarks/bench_consistency.py [--sizes 1000000] [--dark 100] [--apply]
           [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench_import import BIN, GIB, ROOT, databases, measure
from limit import child, shared_catalog

TARGET_SECONDS = 10.0
POLICY = ROOT / "policies" / "atlas-2015.toml"  # its replication rules: what the loss violates
LOST_SHARE = 0.005  # of the endpoint's available replicas made two days or more before the dump


def measure_cpu(argv: list[str], out: Path) -> tuple[float, float, int]:
    """Run ``argv`` with stdout to ``out``: wall seconds, CPU seconds (user + system: what a
    loaded machine does not inflate) and peak RSS of the child."""
    with open(out, "w") as f:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=f)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def make_dump(directory: Path, out: Path, dark: int) -> None:
    """Write the largest endpoint's dump and ``<dump>.planted.json``; print the endpoint."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from lifecycle.exchange.dump import write_dump
    from lifecycle.nomenclature import normalize_dids

    # as import reads them: an empty state is available, a name without scope gets one
    replicas = pq.read_table(directory / "replicas.parquet").to_pandas()
    replicas["state"] = replicas["state"].fillna("available")
    replicas["did"] = normalize_dids(replicas["did"])[0]
    live = replicas[replicas["state"].isin(("available", "copying", "unavailable"))]
    endpoint = live.groupby("endpoint").size().sort_values(kind="stable").index[-1]
    time = (replicas["created_at"].max() + timedelta(days=1)).floor("D").to_pydatetime()
    held = live[live["endpoint"] == endpoint]
    datasets = pq.read_table(directory / "datasets.parquet", columns=["did", "files", "bytes"])
    datasets = datasets.to_pandas()
    datasets["did"] = normalize_dids(datasets["did"])[0]
    held = held.merge(datasets, on="did")
    rng = np.random.Generator(np.random.PCG64(14))
    old = (held["state"] == "available") & (held["created_at"] <= time - timedelta(days=2))
    eligible = np.flatnonzero(old.to_numpy())
    lost = rng.choice(eligible, size=int(len(eligible) * LOST_SHARE), replace=False)
    rows = held[["did", "files", "bytes"]].reset_index(drop=True)
    planted_lost = sorted(rows.loc[lost, "did"])
    rows = rows.drop(index=lost)
    unknown = [f"user.bench:user.bench.dark.{i:08d}" for i in range(dark)]
    rows = pd.concat(
        [rows, pd.DataFrame({"did": unknown, "files": 1, "bytes": 1000})], ignore_index=True
    )
    rows = rows.sample(frac=1, random_state=1).reset_index(drop=True)  # a dump is not sorted
    write_dump(out, rows, time)
    planted = {"endpoint": endpoint, "entries": len(rows), "lost": planted_lost, "dark": unknown}
    out.with_suffix(".planted.json").write_text(json.dumps(planted))
    print(endpoint)


def check(found_json: Path, planted_json: Path) -> None:
    """Stop unless the check found exactly the planted entries; print what was compared."""
    found = json.loads(found_json.read_text())
    planted = json.loads(planted_json.read_text())
    lost = sorted(x["did"] for x in found["lost"])
    dark = sorted(x["did"] for x in found["dark"])
    if lost != planted["lost"] or dark != sorted(planted["dark"]):
        raise SystemExit(
            f"found {len(lost)} lost, {len(dark)} dark; planted {len(planted['lost'])} lost, "
            f"{len(planted['dark'])} dark: not the same entries"
        )
    summary = found["summary"]
    print(
        f"{summary['entries']:,} entries, {summary['checked']:,} checked, "
        f"{len(lost):,} lost, {len(dark):,} dark: the planted ones"
    )


def bench(n: int, postgres: str | None, dark: int, apply: bool) -> None:
    directory = shared_catalog(n)
    with (
        tempfile.TemporaryDirectory(prefix="lc-bench-consistency-") as tmp,
        databases(tmp, postgres) as targets,
    ):
        dump = Path(tmp) / "dump.parquet"
        endpoint = child(__file__, "--make-dump", directory, dump, str(dark))
        for label, url in targets:
            measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url, "import",
                                        str(directory)])  # fmt: skip
            modes = [[], ["--apply"]] if apply else [[]]
            for mode in modes:
                out = Path(tmp) / "found.json"
                argv = [str(BIN / "lifecycle"), "--db", url, "consistency", endpoint, str(dump),
                        "--policy", str(POLICY), "--format", "json", *mode]  # fmt: skip
                wall, cpu, peak = measure_cpu(argv, out)
                agreed = child(__file__, "--check", out, dump.with_suffix(".planted.json"))
                met = wall <= TARGET_SECONDS and peak < 2 * GIB
                run = f"consistency {' '.join(mode)}".strip()
                print(
                    f"{n:>10,}  {label:<10} {endpoint:<22} {run:<22} {wall:>8.2f} {cpu:>8.2f} "
                    f"{peak / GIB:>7.2f} G  {'met' if met else 'NOT MET'}  ({agreed}; load "
                    f"{os.getloadavg()[0]:.1f})",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--dark", type=int, default=100, help="Dark DIDs planted in the dump.")
    parser.add_argument("--apply", action="store_true", help="Also time the check --apply.")
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument("--make-dump", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--check", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_dump:
        directory, out, dark = args.make_dump
        make_dump(Path(directory), Path(out), int(dark))
        return
    if args.check:
        check(Path(args.check[0]), Path(args.check[1]))
        return
    print(f"{'datasets':>10}  {'database':<10} {'endpoint':<22} {'run':<22} {'wall s':>8} "
          f"{'CPU s':>8} {'peak RSS':>9}  target <= {TARGET_SECONDS:g} s, < 2 GiB")  # fmt: skip
    for n in args.sizes:
        bench(n, args.postgres, args.dark, args.apply)


if __name__ == "__main__":
    main()
