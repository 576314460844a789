"""Audit benchmark: ``lifecycle audit`` (ATLAS 2015 policy) against hand-written SQL, same data.

For each size N: a generated catalog (cached under ``bench-data/``) is imported once into SQLite
(and PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set); then, in fresh
processes on the same database, ``benchmarks/reference_audit.py`` (plain SQL for the same checks)
and ``lifecycle audit --quiet`` (evaluation, messages for every finding, and the stored run). The
two must flag the same datasets per rule; the benchmark stops if they do not.

Both judge as of the present, as the nightly cron run does: ``audit --now T`` is a preview that
is not recorded, so it would leave the history write out of the timing. The present is taken
once (UTC) and given to the reference; lifecycle, started right after, takes its own present,
seconds later, and records it as the run's as-of time. A dataset whose end of life (or grace
period) ends within those seconds would be flagged by one and not the other: when the counts
differ, the reference is run again, untimed, as of lifecycle's recorded as-of time, and the
benchmark stops only if they still differ.

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
from datetime import UTC, datetime

from bench_import import BIN, GIB, ROOT, Run, catalog_dir, databases, measure


def present() -> str:
    """The present, in UTC, as ISO 8601 (microseconds): what the references get as "now"."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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


def reference_counts(url: str, now: str, label: str = "reference SQL") -> tuple[Run, dict]:
    run, counts = measure_output(
        label, [sys.executable, str(ROOT / "benchmarks" / "reference_audit.py"), url, now]
    )
    return run, json.loads(counts)


def bench_database(label: str, url: str) -> tuple[list[Run], dict[str, int]]:
    now = present()
    reference, expected = reference_counts(url, now, f"reference SQL, {label}")
    ours, _ = measure_output(  # no --now: a recorded run as of the present, as cron runs it
        f"lifecycle audit, {label}",
        [str(BIN / "lifecycle"), "--db", url, "audit", "--policy", str(ROOT / "policies"),
         "--quiet", "--fail-on", "never"],
    )  # fmt: skip
    run_id, as_of = _last_run(url)
    got = _lifecycle_counts(url, run_id, expected)
    if got != expected:
        # the seconds between the two presents moved a dataset past an end of life or grace
        # period: judge the reference again as of the time lifecycle recorded (untimed)
        _, again = reference_counts(url, as_of)
        if got != again:
            raise SystemExit(
                f"{label}: lifecycle (as of {as_of}) and the reference disagree: {got} != "
                f"{again} (as of {now}: {expected})"
            )
        print(f"{'':>10}  reference as of {now}: {expected}; as of lifecycle's {as_of}: agreed",
              flush=True)  # fmt: skip
    return [reference, ours], got


def _last_run(url: str) -> tuple[int, str]:
    """Id and as-of time (ISO 8601, UTC) of the last recorded audit run."""
    import sqlalchemy as sa

    from lifecycle.values import utc_datetime

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT id, as_of FROM audit_run ORDER BY id DESC LIMIT 1"
        ).first()
    engine.dispose()
    if row is None:
        raise SystemExit("lifecycle audit recorded no run")
    as_of = utc_datetime(row[1]).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return int(row[0]), as_of


def _lifecycle_counts(url: str, run_id: int, expected: dict[str, int]) -> dict[str, int]:
    import sqlalchemy as sa

    from lifecycle.audit.history import findings_of

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = findings_of(conn, run_id)
    engine.dispose()
    return {rule: 0 for rule in expected} | {
        rule: int(n) for rule, n in found.groupby("rule").size().items()
    }


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
                (reference, ours), counts = bench_database(label, url)
                for run in (reference, ours):
                    print(
                        f"{n:>10,}  {run.label:<32} {run.seconds:>8.2f} "
                        f"{run.peak_rss / GIB:>7.2f} G {run.seconds / reference.seconds:>10.2f}x",
                        flush=True,
                    )
                print(f"{'':>10}  agreed on {counts}", flush=True)


if __name__ == "__main__":
    main()
