"""Expiry benchmark: ``lifecycle expire`` (ATLAS 2015 lifetimes) against hand-written SQL, same data.

For each size N a generated catalog (cached under ``bench-data/``; about 15 % of it is past its
end of life at the benchmark's "now") is imported once into SQLite (and PostgreSQL when
``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set). Then, each in a fresh process:

- dry run: ``benchmarks/reference_expire.py`` (plain SQL for the same decisions and the bytes
  freed per site) against ``lifecycle expire`` (decisions, reasons, report);
- apply (SQLite): the same two with ``--apply``, each on its own copy of the database file.

The two must agree on how many datasets to delete, or the benchmark stops.

Target (issue 5): expire <= 2x the reference at 1,000,000 datasets.

Usage: python benchmarks/bench_expire.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench_audit import measure_output
from bench_import import BIN, GIB, ROOT, catalog_dir, measure, postgres_schema

NOW = "2026-11-25T00:00:00Z"


def run_pair(label: str, url: str, apply: bool, our_url: str | None = None) -> list:
    """Reference then lifecycle; with ``apply`` each needs its own copy (``our_url``)."""
    extra = ["--apply"] if apply else []
    reference, counts = measure_output(
        f"reference SQL, {label}",
        [str(BIN / "python"), str(ROOT / "benchmarks" / "reference_expire.py"), url, NOW, *extra],
    )
    ours, doc = measure_output(
        f"lifecycle expire, {label}",
        [str(BIN / "lifecycle"), "--db", our_url or url, "expire", "--policy",
         str(ROOT / "policies"), "--now", NOW, *extra],
    )  # fmt: skip
    expected = json.loads(counts)["delete"]
    verb = "deleted" if apply else "would delete"
    got = int(doc.split(f"{verb} ", 1)[1].split(" ", 1)[0])
    if got != expected:
        raise SystemExit(f"{label}: lifecycle would delete {got}, the reference {expected}")
    return [reference, ours]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    args = parser.parse_args()
    print(f"{'datasets':>10}  {'run':<40} {'seconds':>8} {'peak RSS':>9} {'time vs ref':>11}")
    for n in args.sizes:
        directory = catalog_dir(n, args.seed)
        with tempfile.TemporaryDirectory(prefix="lc-bench-expire-") as tmp:
            base = Path(tmp) / "catalog.db"
            measure("import SQLite", [str(BIN / "lifecycle"), "--db", str(base), "import",
                                      str(directory)])  # fmt: skip
            runs = run_pair("dry run, SQLite", f"sqlite:///{base}", apply=False)
            copies = []
            for name in ("reference.db", "ours.db"):
                shutil.copy(base, Path(tmp) / name)
                copies.append(f"sqlite:///{Path(tmp) / name}")
            _report(n, runs)
            _report(n, run_pair("apply, SQLite", copies[0], apply=True, our_url=copies[1]))
            if args.postgres:
                with postgres_schema(args.postgres) as url:
                    measure("import PostgreSQL", [str(BIN / "lifecycle"), "--db", url, "import",
                                                  str(directory)])  # fmt: skip
                    _report(n, run_pair("dry run, PostgreSQL", url, apply=False))


def _report(n: int, runs: list) -> None:
    reference = runs[0]
    for run in runs:
        print(
            f"{n:>10,}  {run.label:<40} {run.seconds:>8.2f} {run.peak_rss / GIB:>7.2f} G "
            f"{run.seconds / reference.seconds:>10.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
