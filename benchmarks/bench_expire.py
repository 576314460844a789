"""Expiry benchmark: ``lifecycle expire`` (ATLAS 2015 lifetimes) against hand-written SQL, same data.

For each size N a generated catalog (cached under ``bench-data/``; about 15 % of it is past its
end of life at the benchmark's "now") is imported once into SQLite (and PostgreSQL when
``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set). Then, each in a fresh process:

- dry run: ``benchmarks/reference_expire.py`` (plain SQL for the same decisions and the bytes
  freed per site) against ``lifecycle expire --now NOW`` (decisions, reasons, report), both as of
  the fixed ``NOW``;
- apply: the same two with ``--apply``, each on its own copy of the catalog (SQLite: a copy of
  the file; PostgreSQL: a second schema, imported too). ``expire --apply`` acts as of the present
  (``--now`` is for previews only and refused with ``--apply``), so the present is taken once,
  in UTC, and given to the reference, and ``lifecycle expire --apply`` runs right after, taking
  its own present. The two may differ only if some dataset's end of life (or a pin's end) falls
  within the seconds between them: both counts are reported, and a mismatch stops the benchmark
  saying so.

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

from bench_audit import measure_output, present
from bench_import import BIN, GIB, ROOT, catalog_dir, measure, postgres_schema

NOW = "2026-11-25T00:00:00Z"


def dry_run(label: str, url: str) -> list:
    """Reference then lifecycle, both as of ``NOW``, on the same catalog (nothing changes)."""
    reference, counts = measure_output(
        f"reference SQL, {label}",
        [str(BIN / "python"), str(ROOT / "benchmarks" / "reference_expire.py"), url, NOW],
    )
    ours, doc = measure_output(
        f"lifecycle expire, {label}",
        [str(BIN / "lifecycle"), "--db", url, "expire", "--policy", str(ROOT / "policies"),
         "--now", NOW],
    )  # fmt: skip
    expected, got = json.loads(counts)["delete"], _deleted(doc, "would delete")
    print(f"{'':>10}  {label}: both would delete {got:,} as of {NOW}" if got == expected else
          f"{'':>10}  {label}: lifecycle would delete {got:,}, the reference {expected:,}",
          flush=True)  # fmt: skip
    if got != expected:
        raise SystemExit(f"{label}: lifecycle would delete {got}, the reference {expected}")
    return [reference, ours]


def apply_pair(label: str, reference_url: str, our_url: str) -> list:
    """Reference ``--apply`` as of the present (taken once), then ``lifecycle expire --apply``
    (no ``--now``: as of its own present, seconds later), each on its own copy."""
    now = present()
    reference, counts = measure_output(
        f"reference SQL, {label}",
        [str(BIN / "python"), str(ROOT / "benchmarks" / "reference_expire.py"), reference_url,
         now, "--apply"],
    )  # fmt: skip
    ours, doc = measure_output(
        f"lifecycle expire, {label}",
        [str(BIN / "lifecycle"), "--db", our_url, "expire", "--policy", str(ROOT / "policies"),
         "--apply"],
    )  # fmt: skip
    expected, got = json.loads(counts)["delete"], _deleted(doc, "deleted")
    print(f"{'':>10}  {label}: reference deleted {expected:,} as of {now}; lifecycle deleted "
          f"{got:,} as of its own present, right after", flush=True)  # fmt: skip
    if got != expected:
        raise SystemExit(
            f"{label}: MISMATCH: lifecycle deleted {got}, the reference {expected} (reference as "
            f"of {now}, lifecycle seconds later: they differ only if an end of life falls "
            "between the two; run again to tell such a coincidence from a disagreement)"
        )
    return [reference, ours]


def _deleted(doc: str, verb: str) -> int:
    """The count in lifecycle's summary line (``... {verb} N (...)``)."""
    return int(doc.split(f"{verb} ", 1)[1].split(" ", 1)[0])


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
            _import(f"sqlite:///{base}", directory)
            _report(n, dry_run("dry run, SQLite", f"sqlite:///{base}"))
            copies = []
            for name in ("reference.db", "ours.db"):
                shutil.copy(base, Path(tmp) / name)
                copies.append(f"sqlite:///{Path(tmp) / name}")
            _report(n, apply_pair("apply, SQLite", *copies))
            if args.postgres:
                with (
                    postgres_schema(args.postgres) as url,
                    postgres_schema(args.postgres) as ours,
                ):
                    for target in (url, ours):
                        _import(target, directory)
                    _report(n, dry_run("dry run, PostgreSQL", url))
                    _report(n, apply_pair("apply, PostgreSQL", url, ours))


def _import(url: str, directory: Path) -> None:
    measure("import", [str(BIN / "lifecycle"), "--db", url, "import", str(directory)])


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
