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

With ``--limit`` the reference is the physical limit instead (:mod:`limit`): the shared
generator's catalog, loaded untimed by ``oracle.py load``, and ``oracle.py expire --explain``
(the replicas to delete, the datasets deleted and kept with the reason, bytes freed per site:
what ``lifecycle expire --format json`` reports) on the same files. Alternately, each in a fresh
process: the dry run as of ``NOW`` (ATLAS 2015 policy), then ``lifecycle expire --apply``
(as of its present) against the oracle as of the time lifecycle reports; the oracle only
computes, it does not write. The datasets deleted and kept (pinned or not reproducible) must
be the oracle's, with two differences set aside and counted: datasets of kinds the oracle does
not expire (it expires only derived and simulated data; lifecycle applies lifetime rules to
any kind but raw, and reports raw data past an explicit end of life as kept), and datasets made
by or feeding a running production (lifecycle keeps them; the oracle does not look at a
production's status), with those their unavailable outputs block.

Usage: python benchmarks/bench_expire.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
       python benchmarks/bench_expire.py --limit [--sizes 100000 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench_audit import measure_output, measure_to, present
from bench_import import BIN, GIB, ROOT, catalog_dir, databases, measure, postgres_schema
from limit import after_running, child, oracle_args, oracle_load, print_against, shared_catalog

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


# -- against the physical limit (--limit) -------------------------------------------------------
POLICY = ROOT / "policies" / "atlas-2015.toml"
EXPIRING_KINDS = ("derived", "simulated")  # the only kinds the oracle expires


def bench_limit(n: int, postgres: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-expire-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        ours_out, oracle_out = Path(tmp) / "lifecycle.json", Path(tmp) / "oracle.json"
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                _import(url, directory)
                for name, options in (("dry run", ["--now", NOW]), ("--apply", ["--apply"])):
                    ours = measure_to(
                        f"lifecycle expire {name} --format json, {label}",
                        [str(BIN / "lifecycle"), "--db", url, "expire", "--policy", str(POLICY),
                         *options, "--format", "json"],
                        ours_out,
                    )  # fmt: skip
                    as_of = child(__file__, "--as-of", ours_out)  # the present --apply took
                    reference = measure_to(
                        "oracle.py expire --explain",
                        oracle_args("expire", directory, oracle_db, "--policy", POLICY, "--now",
                                    as_of, "--explain"),
                        oracle_out,
                        stderr=Path(tmp) / "oracle.log",
                    )  # fmt: skip
                    agreed = child(__file__, "--check", ours_out, oracle_out)
                    print_against(n, ours, reference, agreed)


def check_limit(ours_json: Path, oracle_json: Path) -> str:
    """Stop unless lifecycle's decisions are the oracle's, the differences named in the module
    docstring aside; say what was compared and what was set aside."""
    with open(ours_json) as f:
        decisions = json.load(f)["decisions"]
    with open(oracle_json) as f:
        oracle = json.load(f)
    kinds = {d["did"] for d in decisions if d["kind"] not in EXPIRING_KINDS}
    running = after_running({d["did"]: d["reason"] for d in decisions if d["decision"] == "keep"})
    aside = kinds | running
    deleted = {d["did"] for d in decisions if d["decision"] in ("delete", "deleted")} - aside
    kept = {d["did"]: _why(d["reason"]) for d in decisions if d["decision"] == "keep"}
    kept = {did: why for did, why in kept.items() if did not in aside}
    want_deleted = {d["did"] for d in oracle["datasets"]} - aside
    want_kept = {k["did"]: _why(k["reason"]) for k in oracle["kept"] if k["did"] not in aside}
    for what, got, want in (("deleted", deleted, want_deleted), ("kept", kept, want_kept)):
        if got != want:
            missed = sorted(set(want) - set(got))[:3]
            extra = sorted(set(got) - set(want))[:3]
            other = sorted(d for d in set(got) & set(want) if got[d] != want[d])[:3]
            raise SystemExit(
                f"expire: {what} differ from the oracle's: missed {missed}, extra {extra}"
                + (f", other reason {other}" if other else "")
            )
    return (
        f"{len(deleted):,} deleted, {len(kept):,} kept = oracle's; aside: {len(kinds):,} of "
        f"kinds the oracle does not expire, {len(running - kinds):,} running"
    )


def _why(reason: str) -> str:
    """The kind of reason (pinned, not reproducible, ...): the details are worded differently."""
    return reason.split(":", 1)[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument(
        "--limit", action="store_true", help="Against the shared oracle, on its generator's data."
    )
    parser.add_argument("--check", nargs=2, help=argparse.SUPPRESS)  # see check_limit
    parser.add_argument("--as-of", help=argparse.SUPPRESS)  # the "now" of a report
    args = parser.parse_args()
    if args.check:
        print(check_limit(*map(Path, args.check)))
        return
    if args.as_of:
        with open(args.as_of) as f:
            print(json.load(f)["summary"]["now"])
        return
    if args.limit:
        print(f"{'datasets':>10}  {'run':<44} {'seconds':>8} {'peak RSS':>9} {'oracle':>8} "
              f"{'its RSS':>9} {'ratio':>8}")  # fmt: skip
        for n in args.sizes:
            bench_limit(n, args.postgres)
        return
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
