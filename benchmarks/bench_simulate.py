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

Usage: python benchmarks/bench_simulate.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from bench_audit import measure_output
from bench_import import BIN, GIB, ROOT, Run, catalog_dir, databases, measure

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
