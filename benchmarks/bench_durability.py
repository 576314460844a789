"""Durability benchmark: ``lifecycle durability`` against the oracle's audit time on the same data.

Target (issue 18 item 7): at 1,000,000 datasets ``durability`` takes at most 2x the audit time of
``../shared/bench/oracle.py``. For each size, the shared generator's catalog (cached under
``bench-data/``) is loaded untimed by ``oracle.py load`` and imported untimed into SQLite (and
PostgreSQL with ``--postgres``); then, alternately, the oracle's audit (json, as bench_audit
--limit times it) and ``lifecycle durability --format json``, each in a fresh process,
``--repeat`` times. Wall and CPU (user + sys of the child) are printed; the ratio is of wall
times in the same round. ``--db FILE`` reuses an SQLite catalog already imported (kept between
runs while tuning).

Usage: python benchmarks/bench_durability.py [--sizes 100000 1000000] [--repeat 2]
       [--postgres URL] [--db FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_import import BIN, GIB, ROOT, databases
from limit import oracle_args, oracle_load, shared_catalog

POLICY = ROOT / "policies" / "atlas-2015.toml"
MODEL = ROOT / "models" / "durability.toml"
TARGET_RATIO = 2.0


def timed(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS of ``argv`` in a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def bench(n: int, postgres: str | None, repeat: int, db: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-durability-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        oracle = oracle_args("audit", directory, oracle_db, "--policy", POLICY, "--now", now,
                             "--format", "json", "--fail-on", "never")  # fmt: skip
        with databases(tmp, postgres) as targets:
            if db:
                targets = [("SQLite", f"sqlite:///{db}"), *targets[1:]]
            for label, url in targets:
                lifecycle = [str(BIN / "lifecycle"), "--db", url]
                if not (db and label == "SQLite" and Path(db).exists()):
                    timed([*lifecycle, "import", str(directory)])
                for _ in range(repeat):
                    o_wall, o_cpu, _ = timed(oracle)
                    wall, cpu, rss = timed([*lifecycle, "durability", "--model", str(MODEL),
                                            "--policy", str(POLICY), "--format", "json"])  # fmt: skip
                    ratio = wall / o_wall
                    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
                    print(f"{n:>10,}  durability {label:<10} {wall:>7.2f} s (cpu {cpu:>6.2f})"
                          f" {rss / GIB:>5.2f} G  oracle audit {o_wall:>6.2f} s (cpu "
                          f"{o_cpu:>6.2f})  {ratio:>5.2f}x (target <= {TARGET_RATIO:g}x: "
                          f"{verdict})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES") or None)
    parser.add_argument("--db", help="an SQLite file to import into once and reuse")
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.postgres, args.repeat, args.db)


if __name__ == "__main__":
    main()
