"""Repair benchmark: ``lifecycle repair`` of every violation, a drain, and the simulated transfers.

On the shared generator's catalogs (``../shared/bench/gen_exchange.py``, cached under
``bench-data/``), imported once into SQLite (and PostgreSQL with ``--postgres``), each run a
fresh process:

1. ``oracle.py audit --format json`` (the reference: the audit that finds the violations) and
   ``lifecycle repair --format json`` of every replication and preservation violation, at the
   same ``--now``; the (rule, DID) pairs the plan handles (a transfer, in flight, or cannot be
   repaired) must be the oracle's replication and preservation findings, or the benchmark stops;
2. ``lifecycle repair --drain SITE`` of the site holding the most replicas: the heavy planning
   case (every replica there needs a new home);
3. ``lifecycle repair --drain SITE --apply`` (the plan with the most transfers: a generated
   grid's tape is nearly full, so few violations find room) then ``lifecycle transfers run
   --simulate --failure-rate 0.1`` to completion.

Targets (issue 15): planning <= 2x the oracle's audit, < 1 GiB peak, >= 4,300 repaired datasets
per second of planning; simulating the plan's transfers < 60 s.

Usage: python benchmarks/bench_repair.py [--sizes 100000 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_import import BIN, GIB, ROOT, Run, databases, measure
from limit import ORACLE, child, oracle_load, shared_catalog

NOW = "2026-11-25T00:00:00Z"
POLICY = ROOT / "policies" / "atlas-2015.toml"
REPAIRED = ("replication", "preservation")
BUSIEST_SITE = """
    SELECT s.name FROM replica r JOIN endpoint e ON e.id = r.endpoint_id
    JOIN site s ON s.id = e.site_id WHERE r.state = 'available'
    GROUP BY s.name ORDER BY COUNT(*) DESC, s.name LIMIT 1
"""


def busiest_site(url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        name = conn.exec_driver_sql(BUSIEST_SITE).scalar_one()
    engine.dispose()
    return name


def check(ours_json: Path, oracle_json: Path) -> str:
    """Stop unless the plan handles exactly the oracle's replication and preservation findings;
    say how many datasets the plan decided on."""
    from lifecycle.policy import load_policies

    kinds = {r.name: r.type for r in load_policies([POLICY]).rules}
    with open(ours_json) as f:
        ours = json.load(f)
    with open(oracle_json) as f:
        oracle = json.load(f)
    findings = oracle if isinstance(oracle, list) else oracle["findings"]
    want = {(x["rule"], x["did"]) for x in findings if kinds.get(x["rule"]) in REPAIRED}
    got = {(rule, t["did"]) for t in ours["transfers"] for rule in t["rules"].split(",")}
    got |= {(u["rule"], u["did"]) for u in ours["unrepaired"]}
    got |= {(f["rule"], f["did"]) for f in ours["in_flight"]}
    if got != want:
        missed, extra = sorted(want - got)[:3], sorted(got - want)[:3]
        raise SystemExit(f"repair: handled violations differ: missed {missed}, extra {extra}")
    s = ours["summary"]
    return (
        f"{len(want):,} violations = oracle's; {s['violating']:,} datasets: {s['repaired']:,} "
        f"repaired, {s['in_flight']:,} in flight, {s['unrepaired_datasets']:,} not "
        f"({s['lost_for_good']:,} lost for good); {s['transfers']:,} transfers"
    )


CPU: dict[str, float] = {}  # label -> user + system seconds of the run


def measure_to(label: str, argv: list[str], out: Path, stderr: Path | None = None) -> Run:
    """:func:`bench_audit.measure_to` that also keeps the child's CPU time (:data:`CPU`): on a
    machine shared with other work the wall time says little, the CPU time what the run costs."""
    with open(out, "w") as f, open(stderr or os.devnull, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=f, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{label} failed: {' '.join(argv)}")
    CPU[label] = usage.ru_utime + usage.ru_stime
    return Run(label, seconds, usage.ru_maxrss * 1024)


def summary_of(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)["summary"]


def line(n: int, label: str, run, extra: str = "") -> None:
    cpu = CPU.get(run.label, float("nan"))
    print(f"{n:>10,}  {label:<46} {run.seconds:>8.2f} {cpu:>8.2f} {run.peak_rss / GIB:>7.2f} G  "
          f"{extra}", flush=True)  # fmt: skip


def bench(n: int, postgres: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-repair-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                measure("import", [str(BIN / "lifecycle"), "--db", url, "import", str(directory)])
                lc = [str(BIN / "lifecycle"), "--db", url]
                oracle_out, ours_out = Path(tmp) / "oracle.json", Path(tmp) / "repair.json"
                reference = measure_to(
                    "oracle.py audit",
                    [sys.executable, str(ORACLE), "audit", str(directory), "--db", str(oracle_db),
                     "--policy", str(POLICY), "--now", NOW, "--format", "json", "--fail-on",
                     "never"],
                    oracle_out, stderr=Path(tmp) / "oracle.log",
                )  # fmt: skip
                ours = measure_to(
                    f"lifecycle repair, {label}",
                    [*lc, "repair", "--policy", str(POLICY), "--now", NOW, "--format", "json"],
                    ours_out,
                )  # fmt: skip
                agreed = child(__file__, "--check", ours_out, oracle_out)
                s = summary_of(ours_out)
                line(n, "oracle.py audit (reference)", reference)
                line(n, ours.label, ours,
                     f"{ours.seconds / reference.seconds:.2f}x wall, "
                     f"{CPU[ours.label] / CPU[reference.label]:.2f}x CPU, "
                     f"{s['violating'] / ours.seconds:,.0f} datasets/s ({agreed})")  # fmt: skip
                site = child(__file__, "--busiest-site", url)
                drain_out = Path(tmp) / "drain.json"
                drain = measure_to(
                    f"lifecycle repair --drain {site}, {label}",
                    [*lc, "repair", "--policy", str(POLICY), "--now", NOW, "--drain", site,
                     "--format", "json"],
                    drain_out,
                )  # fmt: skip
                d = summary_of(drain_out)
                line(n, drain.label, drain,
                     f"{d['violating']:,} datasets, {d['violating'] / drain.seconds:,.0f}/s "
                     f"({d['violating'] / CPU[drain.label]:,.0f}/s of CPU), "
                     f"{d['transfers']:,} transfers, {d['unrepaired_datasets']:,} not "
                     "repairable")  # fmt: skip
                applied = measure_to(
                    f"lifecycle repair --drain {site} --apply, {label}",
                    [*lc, "repair", "--policy", str(POLICY), "--drain", site, "--apply",
                     "--format", "json"],
                    Path(tmp) / "applied.json",
                )  # fmt: skip
                line(n, applied.label, applied)
                ran_out = Path(tmp) / "run.json"
                ran = measure_to(
                    f"lifecycle transfers run --simulate, {label}",
                    [*lc, "transfers", "run", "--simulate", "--apply", "--failure-rate", "0.1",
                     "--format", "json"],
                    ran_out,
                )  # fmt: skip
                r = summary_of(ran_out)
                line(n, ran.label, ran,
                     f"{r['done']:,} done, {r['failed']:,} failed, {r['retried']:,} retried, "
                     f"{r['clock_before']} -> {r['clock_after']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--check", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--busiest-site", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        print(check(*map(Path, args.check)))
        return
    if args.busiest_site:
        print(busiest_site(args.busiest_site))
        return
    print(f"{'datasets':>10}  {'run':<46} {'seconds':>8} {'CPU s':>8} {'peak RSS':>9}")
    for n in args.sizes:
        bench(n, args.postgres)


if __name__ == "__main__":
    main()
