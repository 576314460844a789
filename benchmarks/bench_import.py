"""Import benchmark: ``lifecycle import`` against a plain-sqlite3 reference, same data, same run.

For each size N it generates a catalog (Parquet, cached under ``bench-data/``), then runs, each in a
fresh process so peak RSS is its own:

- ``reference``: ``benchmarks/reference_import.py`` (plain sqlite3 executemany) into an SQLite file
  that holds the same schema;
- ``lifecycle-sqlite``: ``lifecycle import`` into a fresh SQLite file;
- ``lifecycle-postgresql``: ``lifecycle import`` into a fresh PostgreSQL schema, when
  ``LIFECYCLE_TEST_POSTGRES`` (or ``--postgres URL``) is set.

Targets (issue 2): import time <= 2x the reference; peak RSS < 2 GiB at 1,000,000 datasets.

With ``--limit`` the reference is the physical limit instead (``benchmarks/limit.py``): the shared
generator's catalog of each size, loaded by ``oracle.py load`` into a bare SQLite file, then by
``lifecycle import`` on SQLite (and PostgreSQL when configured), alternately ``--repeat`` times;
the best time of each is reported. Targets (issue 12): SQLite <= 2x the oracle's load and < 2 GiB
at 1,000,000 datasets; PostgreSQL <= 1.5x lifecycle's own SQLite import.

Usage: python benchmarks/bench_import.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
       python benchmarks/bench_import.py --limit [--sizes 100000 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
BIN = Path(sys.executable).parent
GIB = 1 << 30


@dataclass
class Run:
    label: str
    seconds: float
    peak_rss: int  # bytes


def measure(label: str, argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` in a child process; wall time and the child's own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed with exit status {proc.returncode}: {' '.join(argv)}")
    return Run(label, seconds, usage.ru_maxrss * 1024)


def catalog_dir(n: int, seed: int) -> Path:
    directory = DATA / f"n{n}-s{seed}"
    if not (directory / "datasets.parquet").exists():
        print(f"generating {n:,} datasets into {directory} ...", file=sys.stderr)
        subprocess.run(
            [str(BIN / "lifecycle"), "generate", str(directory), "--datasets", str(n),
             "--seed", str(seed)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return directory


def count_rows(directory: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in directory.glob("*.parquet"))


def bench_size(n: int, seed: int, postgres: str | None) -> list[tuple[Run, int]]:
    directory = catalog_dir(n, seed)
    rows = count_rows(directory)
    runs = []
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        ref_db = Path(tmp) / "reference.db"
        subprocess.run(
            [str(BIN / "lifecycle"), "--db", str(ref_db), "init"], check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        runs.append(
            measure(
                "reference (sqlite3 executemany)",
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "reference_import.py"),
                    str(ref_db),
                    str(directory),
                ],
            )  # fmt: skip
        )
        lc_db = Path(tmp) / "lifecycle.db"
        runs.append(
            measure(
                "lifecycle import, SQLite",
                [str(BIN / "lifecycle"), "--db", str(lc_db), "import", str(directory)],
            )
        )
    if postgres:
        runs.append(_postgres_run(postgres, directory))
    return [(r, rows) for r in runs]


def _postgres_run(base: str, directory: Path) -> Run:
    with postgres_schema(base) as url:
        return measure(
            "lifecycle import, PostgreSQL",
            [str(BIN / "lifecycle"), "--db", url, "import", str(directory)],
        )


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A URL for a fresh PostgreSQL schema of its own on ``base``, dropped afterwards."""
    schema = f"lc_bench_{uuid.uuid4().hex[:12]}"
    postgres(base, f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        postgres(base, f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def databases(tmp: str | Path, base: str | None) -> Iterator[list[tuple[str, str]]]:
    """(label, URL) of the databases a benchmark runs on: an SQLite file in ``tmp``, and a
    PostgreSQL schema of its own when ``base`` is given (dropped afterwards)."""
    sqlite = [("SQLite", f"sqlite:///{Path(tmp) / 'catalog.db'}")]
    if not base:
        yield sqlite
        return
    with postgres_schema(base) as url:
        yield [*sqlite, ("PostgreSQL", url)]


def postgres(url: str, sql: str) -> None:
    """Run one administrative statement (schema creation or removal)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def bench_limit(n: int, postgres: str | None, repeat: int) -> list[tuple[Run, int]]:
    """The oracle's load and lifecycle's imports of the shared catalog of ``n`` datasets,
    alternately ``repeat`` times; the best run of each (the oracle's first)."""
    import limit

    directory = limit.shared_catalog(n)
    rows = count_rows(directory)
    best: dict[str, Run] = {}

    def keep(run: Run) -> None:
        if run.label not in best or run.seconds < best[run.label].seconds:
            best[run.label] = run

    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
            keep(limit.oracle_load(directory, Path(tmp) / "oracle.db"))
            keep(
                measure(
                    "lifecycle import, SQLite",
                    [
                        str(BIN / "lifecycle"),
                        "--db",
                        str(Path(tmp) / "lc.db"),
                        "import",
                        str(directory),
                    ],
                )  # fmt: skip
            )
        if postgres:
            keep(_postgres_run(postgres, directory))
    return [(run, rows) for run in best.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument("--clean", action="store_true", help="Remove generated data afterwards.")
    parser.add_argument(
        "--limit", action="store_true",
        help="Measure against the shared oracle's load of the shared generator's catalogs.",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="Alternate runs (--limit).")
    args = parser.parse_args()
    if args.limit:
        run_limit(args)
        return
    print(f"{'datasets':>10}  {'run':<32} {'rows':>10} {'seconds':>8} {'rows/s':>10} "
          f"{'peak RSS':>9} {'time vs ref':>11}")  # fmt: skip
    for n in args.sizes:
        results = bench_size(n, args.seed, args.postgres)
        reference = results[0][0].seconds
        for run, rows in results:
            print(
                f"{n:>10,}  {run.label:<32} {rows:>10,} {run.seconds:>8.2f} "
                f"{rows / run.seconds:>10,.0f} {run.peak_rss / GIB:>7.2f} G "
                f"{run.seconds / reference:>10.2f}x",
                flush=True,
            )
    if args.clean:
        shutil.rmtree(DATA, ignore_errors=True)


def run_limit(args: argparse.Namespace) -> None:
    print(f"{'datasets':>10}  {'run':<32} {'rows':>10} {'seconds':>8} {'us/dataset':>10} "
          f"{'peak RSS':>9} {'vs oracle':>9} {'vs SQLite':>9}")  # fmt: skip
    for n in args.sizes:
        results = bench_limit(n, args.postgres, args.repeat)
        runs = {run.label: run for run, _ in results}
        oracle = results[0][0].seconds
        sqlite = runs["lifecycle import, SQLite"].seconds
        for run, rows in results:
            print(
                f"{n:>10,}  {run.label:<32} {rows:>10,} {run.seconds:>8.2f} "
                f"{run.seconds / n * 1e6:>10.1f} {run.peak_rss / GIB:>7.2f} G "
                f"{run.seconds / oracle:>8.2f}x {run.seconds / sqlite:>8.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
