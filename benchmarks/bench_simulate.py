"""Loss-simulation benchmark: ``lifecycle simulate loss`` of the largest site against hand-written SQL.

For each size N a generated catalog (cached under ``bench-data/``) is imported once into SQLite
(and PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set). The largest site is
the one holding the most bytes of available replicas (CERN-PROD in generated catalogs). Then,
each in a fresh process on the same database: ``benchmarks/reference_simulate.py`` (plain SQL
for the same answers, printed as JSON) and ``lifecycle simulate loss --site SITE --format json``
(the whole report: reasons, recipes, violations, re-replication sources). The two must agree on
what is lost, what is recoverable and in how many steps, the violations and the bytes to copy
again, or the benchmark stops.

Target (issue 6): the simulation <= 2x the reference at 1,000,000 datasets.

With ``--limit`` the reference is the physical limit instead (:mod:`limit`): the shared
generator's catalog, loaded untimed by ``oracle.py load``, and ``oracle.py loss --site SITE
--policy P --now NOW --format json`` (lost for good, recoverable with its recipe's steps, the
replication violations created, what to copy again) of the largest site, on the same files,
each in a fresh process, alternately. The datasets lost for good, the recoverable ones with
their steps, the violations (rule and dataset) and the datasets and bytes to copy again must be
the oracle's (lifecycle counts the bytes of every replica to copy, the oracle each dataset
once: compared per dataset), datasets made by a running production set aside and counted
(lifecycle calls them lost: not reproducible while the production runs; the oracle does not
look at a production's status), with those their unavailable outputs block.

Usage: python benchmarks/bench_simulate.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
       python benchmarks/bench_simulate.py --limit [--sizes 100000 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench_audit import measure_output, measure_to
from bench_import import BIN, GIB, ROOT, Run, catalog_dir, databases, measure
from limit import after_running, child, oracle_args, oracle_load, print_against, shared_catalog

NOW = "2026-11-25T00:00:00Z"
LARGEST_SITE = """
    SELECT s.name FROM replica r JOIN dataset d ON d.id = r.dataset_id
    JOIN endpoint e ON e.id = r.endpoint_id JOIN site s ON s.id = e.site_id
    WHERE r.state = 'available'
    GROUP BY s.name ORDER BY SUM(d.bytes) DESC, s.name LIMIT 1
"""


def largest_site(url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        name = conn.exec_driver_sql(LARGEST_SITE).scalar_one()
    engine.dispose()
    return name


def run_pair(label: str, url: str, site: str) -> tuple[list[Run], dict]:
    reference, expected = measure_output(
        f"reference SQL, {label}",
        [str(BIN / "python"), str(ROOT / "benchmarks" / "reference_simulate.py"), url, site, NOW],
    )
    ours, document = measure_output(
        f"lifecycle simulate loss, {label}",
        [str(BIN / "lifecycle"), "--db", url, "simulate", "loss", "--site", site,
         "--policy", str(ROOT / "policies"), "--now", NOW, "--format", "json"],
    )  # fmt: skip
    counts = _check_agreement(label, json.loads(expected), json.loads(document))
    return [reference, ours], counts


def _check_agreement(label: str, reference: dict, ours: dict) -> dict:
    """The counts both agree on (the benchmark stops when they differ)."""
    a, b = reference["summary"], ours["summary"]
    got = {
        "lost": b["lost"],
        "recoverable": b["recoverable"],
        "recipe_steps": b["recipe_steps"],
        "productions_to_rerun": b["productions_to_rerun"],
        "violations": b["violations"],
        "re_replicate_datasets": b["re_replicate"]["datasets"],
        "re_replicate_bytes": b["re_replicate"]["bytes"],
    }
    expected = {
        "lost": a["lost"],
        "recoverable": a["recoverable"],
        "recipe_steps": a["recipe_steps"],
        "productions_to_rerun": a["productions_to_rerun"],
        "violations": a["violations"],
        "re_replicate_datasets": a["re_replicate"]["datasets"],
        "re_replicate_bytes": a["re_replicate"]["bytes"],
    }
    if got != expected:
        raise SystemExit(f"{label}: lifecycle and the reference disagree: {got} != {expected}")

    def by_did(rows: list[dict]) -> list[dict]:  # SQL collations may order DIDs otherwise
        return sorted(rows, key=lambda row: row["did"])

    same_lists = (
        [r["did"] for r in by_did(reference["lost"])] == [r["did"] for r in ours["lost"]]
        and by_did(reference["recoverable"]) == ours["recoverable"]
        and [r["did"] for r in by_did(reference["violations"])]
        == [r["did"] for r in ours["violations"]]
        and by_did(reference["re_replicate"]) == ours["re_replicate"]
    )
    if not same_lists:
        raise SystemExit(f"{label}: lifecycle and the reference list different datasets")
    return got


# -- against the physical limit (--limit) -------------------------------------------------------
POLICY = ROOT / "policies" / "atlas-2015.toml"


def bench_limit(n: int, postgres: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-simulate-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        ours_out, oracle_out = Path(tmp) / "lifecycle.json", Path(tmp) / "oracle.json"
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                _import(url, directory)
                site = child(__file__, "--largest-site", url)
                ours = measure_to(
                    f"lifecycle simulate loss --site {site}, {label}",
                    [str(BIN / "lifecycle"), "--db", url, "simulate", "loss", "--site", site,
                     "--policy", str(POLICY), "--now", NOW, "--format", "json"],
                    ours_out,
                )  # fmt: skip
                reference = measure_to(
                    "oracle.py loss",
                    oracle_args("loss", directory, oracle_db, "--site", site, "--policy", POLICY,
                                "--now", NOW, "--format", "json"),
                    oracle_out,
                    stderr=Path(tmp) / "oracle.log",
                )  # fmt: skip
                agreed = child(__file__, "--check", ours_out, oracle_out)
                print_against(n, ours, reference, agreed)


def check_limit(ours_json: Path, oracle_json: Path) -> str:
    """Stop unless lifecycle's loss report is the oracle's, running productions aside (see the
    module docstring); say what was compared and what was set aside."""
    with open(ours_json) as f:
        ours = json.load(f)
    with open(oracle_json) as f:
        oracle = json.load(f)
    aside = after_running({x["did"]: x["reason"] for x in ours["lost"]})
    lost = {x["did"] for x in ours["lost"]} - aside
    recoverable = {x["did"]: x["steps"] for x in ours["recoverable"] if x["did"] not in aside}
    violations = {(x["rule"], x["did"]) for x in ours["violations"]}
    # one replica's bytes is the dataset's: the oracle counts each dataset once
    copies = {x["did"]: x["bytes"] // x["replicas"] for x in ours["re_replicate"]}
    want_lost = {x["did"] for x in oracle["lost"]} - aside
    want_recoverable = {
        x["did"]: x["steps"] for x in oracle["recoverable"] if x["did"] not in aside
    }
    want_violations = {(x["rule"], x["did"]) for x in oracle["violations"]}
    summary = oracle["summary"]
    compared = (
        ("lost for good", lost, want_lost),
        ("recoverable (with steps)", recoverable, want_recoverable),
        ("violations", violations, want_violations),
        ("datasets to copy again", len(copies), summary["datasets_to_rereplicate"]),
        ("bytes to copy again", sum(copies.values()), summary["bytes_to_rereplicate"]),
    )
    for what, got, want in compared:
        if got != want:
            if isinstance(got, int):
                raise SystemExit(f"loss: {what}: {got:,}, the oracle's {want:,}")
            missed, extra = sorted(set(want) - set(got))[:3], sorted(set(got) - set(want))[:3]
            raise SystemExit(f"loss: {what} differ: missed {missed}, extra {extra}")
    return (
        f"{len(lost):,} lost, {len(recoverable):,} recoverable, {len(violations):,} violations, "
        f"{len(copies):,} to copy = oracle's; aside: {len(aside):,} running"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument(
        "--limit", action="store_true", help="Against the shared oracle, on its generator's data."
    )
    parser.add_argument("--check", nargs=2, help=argparse.SUPPRESS)  # see check_limit
    parser.add_argument("--largest-site", help=argparse.SUPPRESS)  # of the catalog at this URL
    args = parser.parse_args()
    if args.check:
        print(check_limit(*map(Path, args.check)))
        return
    if args.largest_site:
        print(largest_site(args.largest_site))
        return
    if args.limit:
        print(f"{'datasets':>10}  {'run':<44} {'seconds':>8} {'peak RSS':>9} {'oracle':>8} "
              f"{'its RSS':>9} {'ratio':>8}")  # fmt: skip
        for n in args.sizes:
            bench_limit(n, args.postgres)
        return
    print(f"{'datasets':>10}  {'run':<44} {'seconds':>8} {'peak RSS':>9} {'time vs ref':>11}")
    for n in args.sizes:
        directory = catalog_dir(n, args.seed)
        with (
            tempfile.TemporaryDirectory(prefix="lc-bench-simulate-") as tmp,
            databases(tmp, args.postgres) as targets,
        ):
            for label, url in targets:
                measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url, "import",
                                            str(directory)])  # fmt: skip
                site = largest_site(url)
                runs, counts = run_pair(f"{site}, {label}", url, site)
                for run in runs:
                    print(
                        f"{n:>10,}  {run.label:<44} {run.seconds:>8.2f} "
                        f"{run.peak_rss / GIB:>7.2f} G {run.seconds / runs[0].seconds:>10.2f}x",
                        flush=True,
                    )
                print(f"{'':>10}  agreed on {counts}", flush=True)


def _import(url: str, directory: Path) -> None:
    measure("import", [str(BIN / "lifecycle"), "--db", url, "import", str(directory)])


if __name__ == "__main__":
    main()
