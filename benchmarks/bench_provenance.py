"""Provenance benchmark: lineage, impact and whole-catalog reproducibility, against hand-written SQL.

For each size N a generated catalog (cached under ``bench-data/``) is imported once into SQLite
(and PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set). Then, in one process
per database:

- targets are chosen (untimed): the deepest of a fixed sample of derived datasets (most
  productions above it) for lineage, and its raw root (most productions below it) for impact;
- ``Catalog.lineage`` and ``Catalog.impact`` (each opening its own connection, as a notebook or
  the CLI does) are timed over 31 calls, median reported; the reference is the bare recursive
  CTE returning the same datasets' ids and depths on an open connection;
- whole-catalog reproducibility: ``Catalog.reproducibility(irreproducible_only=True)`` (every
  dataset decided, the irreproducible ones with their DID and reason) against the textbook
  recursive CTE ("no good producer, or an unavailable irreproducible input"; a good producer is
  ``done`` and its transformation records a release and an image digest, a null, empty or
  whitespace-only value recording nothing) returning the ids, alternately, best of 3 each. The
  two must agree on the set, or the benchmark stops.

Targets (issue 4): lineage and impact < 50 ms median each; reproducibility <= 2x the reference,
at 1,000,000 datasets.

Usage: python benchmarks/bench_provenance.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench_import import BIN, catalog_dir, databases, measure

SAMPLE = 400  # derived datasets examined to find a deep one
CALLS = 31

REFERENCE_WALK = {
    "upstream": """
        WITH RECURSIVE walk(id, depth) AS (
            SELECT id, 0 FROM dataset WHERE did = :did
            UNION
            SELECT i.dataset_id, w.depth + 1 FROM walk w
            JOIN production_output o ON o.dataset_id = w.id
            JOIN production_input i ON i.production_id = o.production_id
        ) SELECT id, MIN(depth) FROM walk GROUP BY id""",
    "downstream": """
        WITH RECURSIVE walk(id, depth) AS (
            SELECT id, 0 FROM dataset WHERE did = :did
            UNION
            SELECT o.dataset_id, w.depth + 1 FROM walk w
            JOIN production_input i ON i.dataset_id = w.id
            JOIN production_output o ON o.production_id = i.production_id
        ) SELECT id, MIN(depth) FROM walk GROUP BY id""",
}
# Python's whitespace (what str.strip() removes), written out: a value made only of these is blank.
BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
REFERENCE_REPRODUCIBILITY = f"""
    WITH RECURSIVE bad(id) AS (
        SELECT d.id FROM dataset d WHERE NOT EXISTS (
            SELECT 1 FROM production_output o JOIN production p ON p.id = o.production_id
            JOIN transformation t ON t.id = p.transformation_id
            WHERE o.dataset_id = d.id AND p.status = 'done'
              AND COALESCE(trim(t.release, '{BLANKS}'), '') <> ''
              AND COALESCE(trim(t.image_digest, '{BLANKS}'), '') <> '')
        UNION
        SELECT o.dataset_id FROM bad b
        JOIN production_input i ON i.dataset_id = b.id
        JOIN production_output o ON o.production_id = i.production_id
        WHERE NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = b.id
                          AND r.state = 'available')
    ) SELECT b.id, d.did FROM bad b JOIN dataset d ON d.id = b.id"""


def probe(url: str) -> dict:
    """Run in the child process: choose targets, time ours and the reference."""
    import sqlalchemy as sa

    from lifecycle import Catalog

    out: dict = {}
    with Catalog(url) as cat:
        with cat.read() as conn:
            n = conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar()
            step = max(1, n // SAMPLE)
            sample = [
                row[0]
                for row in conn.execute(
                    sa.text(
                        "SELECT did FROM dataset WHERE kind = 'derived' AND id % :step = 0 "
                        "ORDER BY id"
                    ),
                    {"step": step},
                )
            ]
        deepest = max(sample, key=lambda did: (_depth(cat.lineage(did)), did))
        graph = cat.lineage(deepest)
        root = max((n for n in graph.nodes if n.kind == "raw"), key=lambda n: (n.depth, n.did)).did
        for label, did, call, direction in (
            ("lineage", deepest, cat.lineage, "upstream"),
            ("impact", root, cat.impact, "downstream"),
        ):
            ours = _median(lambda did=did, call=call: call(did))
            found = call(did)
            with cat.read() as conn:
                statement = sa.text(REFERENCE_WALK[direction])
                reference = _median(lambda conn=conn, s=statement, did=did: conn.execute(
                    s, {"did": did}).all())  # fmt: skip
                ids = conn.execute(statement, {"did": did}).all()
            if len(ids) != len(found.nodes):
                raise SystemExit(f"{label}: {len(found.nodes)} datasets, reference {len(ids)}")
            out[label] = {
                "did": did,
                "datasets": len(found.nodes),
                "depth": _depth(found),
                "ms": ours * 1000,
                "reference_ms": reference * 1000,
            }
        ours_s, reference_s = [], []
        for _ in range(3):
            start = time.perf_counter()
            table = cat.reproducibility(irreproducible_only=True)
            ours_s.append(time.perf_counter() - start)
            with cat.read() as conn:
                start = time.perf_counter()
                bad = conn.exec_driver_sql(REFERENCE_REPRODUCIBILITY).all()
                reference_s.append(time.perf_counter() - start)
        if set(table["did"]) != {did for _, did in bad}:
            raise SystemExit("reproducibility: lifecycle and the reference disagree")
        out["reproducibility"] = {
            "irreproducible": len(bad),
            "seconds": min(ours_s),
            "reference_seconds": min(reference_s),
        }
    return out


def _depth(graph) -> int:
    return max(n.depth for n in graph.nodes)


def _median(call) -> float:
    call()  # warm up
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # child mode: URL to probe
    args = parser.parse_args()
    if args.probe:
        json.dump(probe(args.probe), sys.stdout)
        return
    print(f"{'datasets':>10}  {'database':<10} {'query':<16} {'lifecycle':>12} {'reference':>12}"
          f" {'ratio':>7}  target")  # fmt: skip
    for n in args.sizes:
        directory = catalog_dir(n, args.seed)
        with (
            tempfile.TemporaryDirectory(prefix="lc-bench-prov-") as tmp,
            databases(tmp, args.postgres) as targets,
        ):
            for label, url in targets:
                measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url, "import",
                                            str(directory)])  # fmt: skip
                result = json.loads(
                    subprocess.run(
                        [sys.executable, __file__, "--probe", url],
                        check=True, capture_output=True, text=True,
                    ).stdout
                )  # fmt: skip
                _report(n, label, result)


def _report(n: int, database: str, result: dict) -> None:
    for query in ("lineage", "impact"):
        r = result[query]
        print(
            f"{n:>10,}  {database:<10} {query:<16} {r['ms']:>9.2f} ms {r['reference_ms']:>9.2f} ms"
            f" {r['ms'] / r['reference_ms']:>6.1f}x  < 50 ms median"
            f"  ({r['datasets']} datasets, depth {r['depth']})",
            flush=True,
        )
    r = result["reproducibility"]
    print(
        f"{n:>10,}  {database:<10} {'reproducibility':<16} {r['seconds']:>10.2f} s"
        f" {r['reference_seconds']:>10.2f} s {r['seconds'] / r['reference_seconds']:>6.2f}x"
        f"  <= 2x  ({r['irreproducible']:,} irreproducible)",
        flush=True,
    )


if __name__ == "__main__":
    main()
