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

With ``--limit`` the reference is the physical limit instead (:mod:`limit`): the shared
generator's catalog, loaded untimed by ``oracle.py load`` into a file of its own, and
``oracle.py audit ... --format json`` of the ATLAS 2015 policy as the reference. In the same run,
alternately, ``lifecycle audit`` writes each output format (``--quiet``, json, csv, parquet,
table) to a file, as cron does, recorded as of the present; the oracle is then timed as of the
as-of time lifecycle recorded. The first json run writes every finding into the history; the
last one repeats it on unchanged findings (the nightly case). Findings of json, csv and parquet
must equal the oracle's, lifetime findings of pinned datasets aside (the oracle reports them
with ", pinned"; see ``../shared/bench/README.md``).

With ``--repeat N`` each of those runs is made N times, the databases alternately (the first
json run each time on an emptied history), and the medians are printed after: on a host whose
speed drifts, the ratio of PostgreSQL to SQLite is read from medians of neighbouring runs.

Usage: python benchmarks/bench_audit.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
       python benchmarks/bench_audit.py --limit [--sizes 100000 1000000] [--postgres URL]
                                        [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_import import BIN, GIB, ROOT, Run, catalog_dir, databases, measure
from limit import ORACLE, oracle_load, shared_catalog


def present() -> str:
    """The present, in UTC, as ISO 8601 (microseconds): what the references get as "now"."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def measure_output(label: str, argv: list[str]) -> tuple[Run, str]:
    with tempfile.TemporaryFile(mode="w+") as out:
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


# -- against the physical limit (--limit) -------------------------------------------------------
POLICY = ROOT / "policies" / "atlas-2015.toml"
# (label, the format options): the first json run fills the history, the last finds it unchanged
LIMIT_RUNS = [
    ("json, history filled", ["--format", "json"]),
    ("--quiet", ["--quiet"]),
    ("csv", ["--format", "csv"]),
    ("parquet", ["--format", "parquet"]),
    ("table", ["--format", "table"]),
    ("json", ["--format", "json"]),
]


def _findings_in(path: Path, fmt: str) -> dict[tuple[str, str], str] | None:
    """(rule, DID) -> message of every finding lifecycle wrote to ``path`` in ``fmt`` (None:
    a format without findings)."""
    if fmt == "json":
        with open(path) as f:
            return {(x["rule"], x["did"]): x["message"] for x in json.load(f)["findings"]}
    if fmt == "csv":
        import csv

        with open(path, newline="") as f:
            return {(row["rule"], row["did"]): row["message"] for row in csv.DictReader(f)}
    if fmt == "parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(path, columns=["rule", "did", "message"]).to_pydict()
        return dict(zip(zip(t["rule"], t["did"], strict=True), t["message"], strict=True))
    return None


RUNNING = re.compile(r"^production .* is running$")
BLOCKED = re.compile(r"^input (.+) has no available replica and is not reproducible$")


def _after_running(ours: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    """Findings of datasets made by a running production, and of those blocked by their
    outputs (as far as the messages tell), transitively."""
    found = {key for key, message in ours.items() if RUNNING.match(message)}
    blocked = {key: m.group(1) for key, message in ours.items() if (m := BLOCKED.match(message))}
    while True:
        dids = {did for _, did in found}
        more = {key for key, did in blocked.items() if did in dids} - found
        if not more:
            return found
        found |= more


def _compare(label: str, ours: dict[tuple[str, str], str], oracle_json: Path, log: Path) -> str:
    """Stop unless ``ours`` are the oracle's findings, known differences aside: lifetime
    findings of pinned datasets (the oracle's details end in ", pinned"), rules the oracle does
    not evaluate (it says so on stderr), and datasets made by a production still running (not
    reproducible for lifecycle; the oracle does not look at a production's status), with those
    their unavailable outputs block."""
    with open(oracle_json) as f:
        found = json.load(f)
    skipped = set(re.findall(r"rule (\S+): rule type .* skipped", log.read_text()))
    pinned = {(x["rule"], x["did"]) for x in found if x.get("details", "").endswith(", pinned")}
    running = _after_running(ours)
    want = {(x["rule"], x["did"]) for x in found} - pinned - running
    got = {key for key in ours if key[0] not in skipped} - pinned - running
    if got != want:
        missed, extra = sorted(want - got)[:5], sorted(got - want)[:5]
        raise SystemExit(
            f"{label}: findings differ from the oracle's: missed {missed}, extra {extra}"
        )
    return (
        f"{len(want):,} findings = oracle's; aside: {len(pinned):,} pinned, {len(running):,} "
        f"running, rules {', '.join(sorted(skipped)) or 'none'} not in the oracle"
    )


# Rule types oracle.py does not evaluate (it says so and skips them); --same-rules leaves them
# out of lifecycle's policy too, so both programs answer the same questions.
ORACLE_SKIPS = ("reprocessability",)


def same_rules_policy(directory: Path) -> Path:
    """The ATLAS 2015 policy without the rules of the types in ``ORACLE_SKIPS``, in ``directory``."""
    text = POLICY.read_text()
    head, *blocks = text.split("\n[[rule]]")
    kept = [b for b in blocks if not any(f'type = "{t}"' in b for t in ORACLE_SKIPS)]
    path = directory / "same-rules.toml"
    path.write_text(head + "".join("\n[[rule]]" + b for b in kept))
    return path


def bench_limit(n: int, postgres: str | None, same_rules: bool = False, repeat: int = 1) -> None:
    """The oracle's load, lifecycle's imports, then each of :data:`LIMIT_RUNS` ``repeat``
    times, the databases alternately (SQLite, PostgreSQL, SQLite, ...), each run followed by
    the oracle's audit as of the as-of time lifecycle recorded; then the median of each."""
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-audit-") as tmp:
        policy = same_rules_policy(Path(tmp)) if same_rules else POLICY
        oracle_db = Path(tmp) / "oracle.db"
        load = oracle_load(directory, oracle_db)
        print(f"{n:>10,}  {load.label:<44} {load.seconds:>8.2f} {load.peak_rss / GIB:>7.2f} G",
              flush=True)  # fmt: skip
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                imported = measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url,
                                                       "import", str(directory)])  # fmt: skip
                print(
                    f"{n:>10,}  {imported.label:<44} {imported.seconds:>8.2f} "
                    f"{imported.peak_rss / GIB:>7.2f} G {load.seconds:>8.2f} "
                    f"{imported.seconds / load.seconds:>7.2f}x "
                    f"{imported.seconds / n * 1e6:>7.1f} us/dataset",
                    flush=True,
                )
            runs: dict[tuple[str, str], list[tuple[Run, Run]]] = {}
            for name, options in LIMIT_RUNS:
                for _ in range(repeat):
                    for label, url in targets:
                        if name == "json, history filled":
                            _forget_history(url)  # each of these runs fills it anew
                        ours, reference = _limit_run(n, name, options, label, url, tmp,
                                                     directory, oracle_db, policy)  # fmt: skip
                        runs.setdefault((name, label), []).append((ours, reference))
        if repeat > 1:
            _medians(n, runs, [label for label, _ in targets])


def _limit_run(n, name, options, label, url, tmp, directory, oracle_db, policy) -> tuple[Run, Run]:
    """One lifecycle audit of :data:`LIMIT_RUNS` and the oracle's as of its as-of time, findings
    compared; printed, and returned."""
    fmt = options[-1] if options[0] == "--format" else "quiet"
    out = Path(tmp) / f"lifecycle.{fmt}"
    ours = measure_to(
        f"lifecycle audit {name}, {label}",
        [str(BIN / "lifecycle"), "--db", url, "audit", "--policy", str(policy), *options,
         "--fail-on", "never"],
        out,
    )  # fmt: skip
    _, as_of = _last_run(url)
    reference_out, log = Path(tmp) / "oracle.json", Path(tmp) / "oracle.log"
    reference = measure_to(
        "oracle.py audit --format json",
        [sys.executable, str(ORACLE), "audit", str(directory), "--db", str(oracle_db),
         "--policy", str(POLICY), "--now", as_of, "--format", "json", "--fail-on", "never"],
        reference_out,
        stderr=log,
    )  # fmt: skip
    agreed = _check(ours.label, out, fmt, reference_out, log)
    size = out.stat().st_size
    print(
        f"{n:>10,}  {ours.label:<44} {ours.seconds:>8.2f} {ours.peak_rss / GIB:>7.2f} G "
        f"{reference.seconds:>8.2f} {ours.seconds / reference.seconds:>7.2f}x "
        f"{size / 2**20:>8.1f} M" + (f"  ({agreed})" if agreed else ""),
        flush=True,
    )
    return ours, reference


def _forget_history(url: str) -> None:
    """Empty the audit history (runs and findings), untimed, as a catalog that was never
    audited has it."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("audit_finding", "audit_run"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    if engine.dialect.name == "postgresql":  # the rows deleted, as VACUUM leaves them
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE audit_finding, audit_run"
            )
    engine.dispose()


def _medians(n: int, runs: dict[tuple[str, str], list[tuple[Run, Run]]], labels: list[str]) -> None:
    """Per run of :data:`LIMIT_RUNS`: each database's median seconds and peak RSS, the oracle's
    median in the same rounds, and PostgreSQL's median over SQLite's."""
    from statistics import median

    print(f"\nmedians of {len(next(iter(runs.values())))} alternating runs:")
    print(f"{'datasets':>10}  {'run':<44} {'seconds':>8} {'peak RSS':>9} {'oracle':>8} "
          f"{'ratio':>8} {'PG/SQLite':>10}")  # fmt: skip
    for name, _ in LIMIT_RUNS:
        seconds = {}
        for label in labels:
            found = runs[(name, label)]
            ours = median(run.seconds for run, _ in found)
            oracle = median(reference.seconds for _, reference in found)
            peak = max(run.peak_rss for run, _ in found)
            seconds[label] = ours
            versus = (
                f"{ours / seconds['SQLite']:>9.2f}x"
                if label == "PostgreSQL" and "SQLite" in seconds
                else ""
            )
            print(
                f"{n:>10,}  {f'lifecycle audit {name}, {label}':<44} {ours:>8.2f} "
                f"{peak / GIB:>7.2f} G {oracle:>8.2f} {ours / oracle:>7.2f}x {versus}",
                flush=True,
            )


def _check(label: str, out: Path, fmt: str, reference_out: Path, log: Path) -> str:
    """:func:`_compare` in a process of its own: this one stays small, for a child's peak RSS
    starts at its parent's (fork) and would count the findings read here."""
    if fmt not in ("json", "csv", "parquet"):
        return ""
    done = subprocess.run(
        [sys.executable, __file__, "--check", label, str(out), fmt, str(reference_out), str(log)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or done.stdout.strip())
    return done.stdout.strip()


def measure_to(label: str, argv: list[str], out: Path, stderr: Path | None = None) -> Run:
    """Time ``argv`` with its stdout written to the file ``out`` (as cron redirects it)."""
    with open(out, "w") as f, open(stderr or os.devnull, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=f, stderr=err if stderr else None)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{label} failed: {' '.join(argv)}")
    return Run(label, seconds, usage.ru_maxrss * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument(
        "--limit", action="store_true", help="Against the shared oracle, on its generator's data."
    )
    parser.add_argument(
        "--same-rules", action="store_true",
        help="--limit: lifecycle audits only the rules the oracle evaluates (see ORACLE_SKIPS).",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="--limit: each audit this many times, the databases alternately, and the medians.",
    )  # fmt: skip
    parser.add_argument("--check", nargs=5, help=argparse.SUPPRESS)  # see _check
    args = parser.parse_args()
    if args.check:
        label, out, fmt, reference_out, log = args.check
        found = _findings_in(Path(out), fmt)
        print(_compare(label, found or {}, Path(reference_out), Path(log)))
        return
    if args.limit:
        print(f"{'datasets':>10}  {'run':<44} {'seconds':>8} {'peak RSS':>9} {'oracle':>8} "
              f"{'ratio':>8} {'output':>10}")  # fmt: skip
        for n in args.sizes:
            bench_limit(n, args.postgres, args.same_rules, args.repeat)
        return
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
