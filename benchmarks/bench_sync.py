"""Sync benchmark: ``lifecycle sync --apply`` against a fresh ``lifecycle import`` of the same files.

For each size N, on the shared generator's catalog (``../shared/bench/gen_exchange.py``, cached
under ``bench-data/``), each run a fresh process (wall time and its own peak RSS), on SQLite:

- ``import``: ``lifecycle import`` of the snapshot into a fresh catalog (the reference);
- ``sync, identical``: ``lifecycle sync --apply`` of the same snapshot into that catalog;
- ``sync, 1 % changed``: ``lifecycle sync --apply --force`` of the snapshot with the state of
  1 % of its replicas changed (``available`` <-> ``unavailable``, spread over every endpoint).

Targets (issue 14): identical <= 0.5x the import; 1 % changed <= 1.5x; peak RSS < 2 GiB at
1,000,000 datasets.

``--baseline BIN`` also times another build's ``lifecycle`` (e.g. main's venv) on the same
catalog, each sync run by the two alternately (``--repeat`` rounds), to compare old and new code
in one run under the same load.

Usage: python benchmarks/bench_sync.py [--sizes 100000 1000000] [--keep DIR]
       [--baseline ../main/.venv/bin/lifecycle] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import BIN, GIB  # noqa: E402
from limit import shared_catalog  # noqa: E402

CHANGED_SHARE = 0.01


@dataclass
class Run:
    label: str
    seconds: float
    peak_rss: int  # bytes
    cpu: float  # the child's user + system seconds (steadier than wall time under load)


def measure(label: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> Run:
    """Run ``argv`` in a child process: wall time and the child's own peak RSS (as
    bench_import's, accepting the exit statuses ``ok``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise SystemExit(f"{label} failed with exit status {code}: {' '.join(argv)}")
    return Run(label, seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)


def changed_snapshot(directory: Path, out: Path) -> int:
    """``directory`` copied to ``out`` with 1 % of the replicas' states changed; how many."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(directory, out)
    table = pq.read_table(directory / "replicas.parquet")
    rng = np.random.default_rng(14)
    picked = rng.random(len(table)) < CHANGED_SHARE
    state = table.column("state").to_numpy(zero_copy_only=False).astype(object)
    state = np.where(picked & (state == "available"), "unavailable",
                     np.where(picked, "available", state))  # fmt: skip
    index = table.schema.get_field_index("state")
    table = table.set_column(index, "state", pa.array(state, type=pa.string()))
    pq.write_table(table, out / "replicas.parquet", compression="zstd")
    return int(picked.sum())


def bench_size(n: int, work: Path, baseline: Path | None = None, repeat: int = 1) -> list[Run]:
    directory = shared_catalog(n)
    changed = work / f"changed-{n}"
    moved = changed_snapshot(directory, changed)
    print(f"{n:,} datasets: {moved:,} replica states changed", file=sys.stderr)
    db = work / f"sync-{n}.db"
    builds = [("", str(BIN / "lifecycle"))]
    if baseline is not None:
        builds.append((" (baseline)", str(baseline)))
    lifecycle = [builds[0][1], "--db", str(db)]
    runs = [measure("import", [*lifecycle, "import", str(directory)])]
    for _ in range(repeat):  # an identical sync --apply writes one journal line: repeatable
        for suffix, program in builds:
            runs.append(
                measure(
                    f"sync, identical{suffix}",
                    [program, "--db", str(db), "sync", str(directory), "--apply"],
                )
            )
    if baseline is not None:  # previews of the changed snapshot (an apply could not repeat)
        for _ in range(repeat):
            for suffix, program in builds:
                runs.append(
                    measure(
                        f"sync, 1 % changed, preview{suffix}",
                        [program, "--db", str(db), "sync", str(changed), "--force"],
                        ok=(0, 1),
                    )
                )
    runs.append(
        measure(
            "sync, 1 % changed",
            [*lifecycle, "sync", str(changed), "--apply", "--force"],
            ok=(0, 1),  # 1: a change left data lost for good (reported, applied)
        )
    )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="Work directory to keep (default: temporary).")
    parser.add_argument(
        "--baseline", type=Path, help="Another build's lifecycle executable, timed alternately."
    )
    parser.add_argument("--repeat", type=int, default=1, help="Rounds of each sync.")
    args = parser.parse_args()
    print(
        "| datasets | run | seconds | x import | CPU seconds | x import | peak RSS (MiB) | target |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="lc-sync-") as tmp:
            work = args.keep or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            runs = bench_size(n, work, args.baseline, args.repeat)
        base, base_cpu = runs[0].seconds, runs[0].cpu
        targets = {"sync, identical": "<= 0.5x", "sync, 1 % changed": "<= 1.5x"}
        for run in runs:
            memory = run.peak_rss / (1 << 20)
            note = targets.get(run.label, "") + (
                " (and < 2 GiB)" if run.peak_rss >= 2 * GIB else ""
            )
            print(
                f"| {n:,} | {run.label} | {run.seconds:.1f} | {run.seconds / base:.2f} | "
                f"{run.cpu:.1f} | {run.cpu / base_cpu:.2f} | {memory:,.0f} | {note} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
