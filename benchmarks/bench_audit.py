"""Audit benchmark: ``lifecycle audit`` (ATLAS 2015 policy) against hand-written SQL, same data.

For each size N: a generated catalog (cached under ``bench-data/``) is imported once into SQLite
(and PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set); then, in fresh
processes on the same database, ``benchmarks/reference_audit.py`` (plain SQL for the same checks)
and ``lifecycle audit --quiet`` (evaluation, messages for every finding, and the stored run). The
two must flag the same datasets per rule; the benchmark stops if they do not.

Targets (issue 3): audit time <= 1.5x the reference and peak RSS < 1 GiB at 1,000,000 datasets.

Usage: python benchmarks/bench_audit.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench_import import BIN, GIB, ROOT, Run, catalog_dir, databases, measure

NOW = "2026-11-25T00:00:00Z"


def measure_output(label: str, argv: list[str]) -> tuple[Run, str]:
    with tempfile.TemporaryFile(mode="w+") as out:
        import time

        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"{label} failed: {' '.join(argv)}")
        out.seek(0)
        return Run(label, seconds, usage.ru_maxrss * 1024), out.read()


def bench_database(label: str, url: str) -> list[Run]:
    reference, counts = measure_output(
        f"reference SQL, {label}",
        [sys.executable, str(ROOT / "benchmarks" / "reference_audit.py"), url, NOW],
    )
    ours, _ = measure_output(
        f"lifecycle audit, {label}",
        [str(BIN / "lifecycle"), "--db", url, "audit", "--policy", str(ROOT / "policies"),
         "--now", NOW, "--quiet", "--fail-on", "never"],
    )  # fmt: skip
    _, doc = measure_output(
        "lifecycle audit history",
        [str(BIN / "lifecycle"), "--db", url, "audit", "history", "--limit", "1", "-f", "json"],
    )
    run_id = json.loads(doc)[0]["id"]
    expected = json.loads(counts)
    _check_same_counts(url, run_id, expected)
    return [reference, ours]


def _check_same_counts(url: str, run_id: int, expected: dict[str, int]) -> None:
    import sqlalchemy as sa

    from lifecycle.audit.history import findings_of

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = findings_of(conn, run_id)
    engine.dispose()
    got = {rule: 0 for rule in expected} | {
        rule: int(n) for rule, n in found.groupby("rule").size().items()
    }
    if got != expected:
        raise SystemExit(f"lifecycle and the reference disagree: {got} != {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    args = parser.parse_args()
    print(f"{'datasets':>10}  {'run':<32} {'seconds':>8} {'peak RSS':>9} {'time vs ref':>11}")
    for n in args.sizes:
        directory = catalog_dir(n, args.seed)
        with (
            tempfile.TemporaryDirectory(prefix="lc-bench-audit-") as tmp,
            databases(tmp, args.postgres) as targets,
        ):
            for label, url in targets:
                measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url, "import",
                                            str(directory)])  # fmt: skip
                reference, ours = bench_database(label, url)
                for run in (reference, ours):
                    print(
                        f"{n:>10,}  {run.label:<32} {run.seconds:>8.2f} "
                        f"{run.peak_rss / GIB:>7.2f} G {run.seconds / reference.seconds:>10.2f}x",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
