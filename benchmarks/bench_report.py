"""Report benchmark: ``lifecycle report`` against the oracle's audit time on the same catalog.

Target (issue 16): at 1,000,000 datasets the report is built in at most 3x the audit time of
``../shared/bench/oracle.py`` and the file is under 5 MB. For each size, the shared generator's
catalog (cached under ``bench-data/``) is loaded untimed by ``oracle.py load`` into a file of its
own and imported untimed into SQLite (and PostgreSQL with ``--postgres``); ``lifecycle audit
--quiet`` is run once so the history holds a run (as cron leaves it), then, alternately, the
oracle's audit (json, as bench_audit --limit times it) and ``lifecycle report -o FILE``, each in
a fresh process, ``--repeat`` times. The ratio is report / oracle audit of the same round.
``--parts`` adds one run through the facade with the time of each part (overview, compliance,
storage, ...), to see where the time goes.

Usage: python benchmarks/bench_report.py [--sizes 100000 1000000] [--repeat 2] [--postgres URL]
       [--parts]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_import import BIN, GIB, ROOT, databases, measure
from limit import oracle_args, oracle_load, shared_catalog

POLICY = ROOT / "policies" / "atlas-2015.toml"
TARGET_RATIO, TARGET_BYTES = 3.0, 5 * 10**6

PARTS = """
import json, sys, time
from lifecycle.api import Catalog
with Catalog(sys.argv[1]) as cat:
    page = cat.report(sys.argv[2], clock=time.perf_counter)
print(json.dumps(page.data.timings))
"""


def bench(n: int, postgres: str | None, repeat: int, parts: bool) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-report-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        oracle = oracle_args("audit", directory, oracle_db, "--policy", POLICY, "--now", now,
                             "--format", "json", "--fail-on", "never")  # fmt: skip
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                lifecycle = [str(BIN / "lifecycle"), "--db", url]
                measure(f"import {label}", [*lifecycle, "import", str(directory)])
                audit = measure(f"lifecycle audit --quiet, {label}", [*lifecycle, "audit",
                                "--policy", str(POLICY), "--quiet", "--fail-on", "never"])  # fmt: skip
                _row(n, audit.label, audit.seconds, audit.peak_rss)
                page = Path(tmp) / "report.html"
                for _ in range(repeat):
                    reference = measure("oracle.py audit --format json", oracle)
                    ours = measure(f"lifecycle report, {label}", [*lifecycle, "report",
                                   "--policy", str(POLICY), "-o", str(page), "--fail-on",
                                   "never"])  # fmt: skip
                    size = page.stat().st_size
                    ratio = ours.seconds / reference.seconds
                    met = ratio <= TARGET_RATIO and size < TARGET_BYTES
                    _row(n, ours.label, ours.seconds, ours.peak_rss,
                         f"{reference.seconds:>8.2f} {ratio:>6.2f}x {size / 10**6:>6.2f} MB"
                         f"  (targets: <= {TARGET_RATIO:g}x, < {TARGET_BYTES / 10**6:g} MB: "
                         f"{'met' if met else 'NOT met'})")  # fmt: skip
                if parts:
                    done = subprocess.run([sys.executable, "-c", PARTS, url, str(POLICY)],
                                          capture_output=True, text=True, check=True)  # fmt: skip
                    print(f"{n:>10,}  parts, {label}: {json.loads(done.stdout)}", flush=True)


def _row(n: int, label: str, seconds: float, rss: int, more: str = "") -> None:
    print(f"{n:>10,}  {label:<36} {seconds:>8.2f} s {rss / GIB:>5.2f} G  {more}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES") or None)
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args()
    print(f"{'datasets':>10}  {'what':<36} {'wall':>10} {'RSS':>7}  oracle audit, ratio, file")
    for n in args.sizes:
        bench(n, args.postgres, args.repeat, args.parts)


if __name__ == "__main__":
    main()
