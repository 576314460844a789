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

With ``--limit`` the reference is the physical limit instead (:mod:`limit`): the shared
generator's catalog, loaded untimed by ``oracle.py load``, and on the same files, each in a
fresh process, alternately:

- ``lifecycle lineage DID --format json`` against ``oracle.py lineage DIR DID``, for the deepest
  of a sample of derived datasets, and ``lifecycle impact DID --format json`` against
  ``oracle.py impact``, for the dataset with the most descendants among those most used as
  input (chosen untimed, in a process of their own); ``--max-nodes`` above the catalog's size,
  so that both list every dataset reached. The datasets (with their depth) and the edges
  (production, input, role, output) must be the oracle's;
- whole-catalog reproducibility: a fresh process calling
  ``Catalog.reproducibility(irreproducible_only=True)`` and writing the irreproducible datasets
  with their reasons as JSON (no command lists them), against ``oracle.py reproducible``. The
  sets must be equal, datasets made by a running production set aside and counted (lifecycle
  counts them as not reproducible; the oracle does not look at a production's status), with
  those their unavailable outputs block.

Usage: python benchmarks/bench_provenance.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
       python benchmarks/bench_provenance.py --limit [--sizes 100000 1000000] [--postgres URL]
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
from pathlib import Path

from bench_audit import measure_to
from bench_import import BIN, GIB, catalog_dir, databases, measure
from limit import after_running, child, oracle_args, oracle_load, shared_catalog

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


# -- against the physical limit (--limit) -------------------------------------------------------
EVERY_NODE = 1_000_000_000  # --max-nodes: more than any catalog's datasets
MOST_USED = 10  # inputs examined (most consumers first) to find the largest impact


def bench_limit(n: int, postgres: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-prov-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        ours_out, oracle_out = Path(tmp) / "lifecycle.json", Path(tmp) / "oracle.json"
        log = Path(tmp) / "oracle.log"
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url, "import",
                                            str(directory)])  # fmt: skip
                lineage_did, impact_did = json.loads(child(__file__, "--targets", url))
                for command, did in (("lineage", lineage_did), ("impact", impact_did)):
                    ours = measure_to(
                        f"lifecycle {command} --format json, {label}",
                        [str(BIN / "lifecycle"), "--db", url, command, did, "--max-nodes",
                         str(EVERY_NODE), "--format", "json"],
                        ours_out,
                    )  # fmt: skip
                    reference = measure_to(
                        f"oracle.py {command}",
                        oracle_args(command, directory, oracle_db, did, "--format", "json"),
                        oracle_out,
                        stderr=log,
                    )  # fmt: skip
                    agreed = child(__file__, "--check-graph", ours_out, oracle_out)
                    _report_limit(n, ours, reference, agreed)
                ours = measure_to(
                    f"Catalog.reproducibility, {label}",
                    [sys.executable, __file__, "--irreproducible", url],
                    ours_out,
                )  # fmt: skip
                reference = measure_to(
                    "oracle.py reproducible",
                    oracle_args("reproducible", directory, oracle_db, "--format", "json"),
                    oracle_out,
                    stderr=log,
                )  # fmt: skip
                agreed = child(__file__, "--check-reproducibility", ours_out, oracle_out)
                _report_limit(n, ours, reference, agreed)


def _report_limit(n: int, ours, reference, agreed: str) -> None:
    print(
        f"{n:>10,}  {ours.label:<40} {ours.seconds:>8.2f} {ours.peak_rss / GIB:>7.2f} G "
        f"{reference.seconds:>8.2f} {reference.peak_rss / GIB:>7.2f} G "
        f"{ours.seconds / reference.seconds:>7.2f}x  ({agreed})",
        flush=True,
    )


def choose_targets(url: str) -> list[str]:
    """Run in a child process: the deepest of a sample of derived datasets (lineage) and the
    dataset with the most descendants among the most used inputs (impact), by the bare walks."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar()
        sample = conn.execute(
            sa.text(
                "SELECT did FROM dataset WHERE kind = 'derived' AND id % :step = 0 ORDER BY id"
            ),
            {"step": max(1, n // SAMPLE)},
        ).scalars()
        up, down = sa.text(REFERENCE_WALK["upstream"]), sa.text(REFERENCE_WALK["downstream"])

        def walked(statement, did: str) -> tuple[int, int, str]:
            rows = conn.execute(statement, {"did": did}).all()
            return max(depth for _, depth in rows), len(rows), did

        deepest = max(walked(up, did) for did in list(sample))[2]
        used = conn.execute(
            sa.text(
                "SELECT d.did FROM production_input i JOIN dataset d ON d.id = i.dataset_id "
                "GROUP BY d.did ORDER BY COUNT(*) DESC, d.did LIMIT :n"
            ),
            {"n": MOST_USED},
        ).scalars()
        largest = max(((rows, did) for _, rows, did in (walked(down, d) for d in list(used))))[1]
    engine.dispose()
    return [deepest, largest]


def irreproducible(url: str) -> None:
    """Run in a fresh process (the timed one): the irreproducible datasets as JSON."""
    from lifecycle import Catalog

    with Catalog(url) as cat:
        table = cat.reproducibility(irreproducible_only=True)
    json.dump(dict(zip(table["did"], table["reason"], strict=True)), sys.stdout)


def check_graph(ours_json: Path, oracle_json: Path) -> str:
    """Stop unless lifecycle's walk reached the oracle's datasets at the same depths through the
    same edges."""
    with open(ours_json) as f:
        ours = json.load(f)
    with open(oracle_json) as f:
        oracle = json.load(f)
    if ours["truncated"]:
        raise SystemExit(f"{ours['root']}: lifecycle's graph is truncated")
    nodes = {(x["did"], x["depth"]) for x in ours["nodes"] if x["depth"] > 0}
    edges = {(e["production"], e["parent"], e["role"], e["child"]) for e in ours["edges"]}
    want_nodes = {(x["did"], x["depth"]) for x in oracle["nodes"] if x["did"] != oracle["root"]}
    want_edges = {(e["production"], e["input"], e["role"], e["output"]) for e in oracle["edges"]}
    for what, got, want in (("datasets", nodes, want_nodes), ("edges", edges, want_edges)):
        if got != want:
            missed, extra = sorted(want - got)[:3], sorted(got - want)[:3]
            raise SystemExit(f"{ours['root']}: {what} differ: missed {missed}, extra {extra}")
    depth = max((d for _, d in nodes), default=0)
    return f"{len(nodes):,} datasets, {len(edges):,} edges, depth {depth} = oracle's"


def check_reproducibility(ours_json: Path, oracle_json: Path) -> str:
    with open(ours_json) as f:
        ours = json.load(f)
    with open(oracle_json) as f:
        want = {x["did"] for x in json.load(f)}
    aside = after_running(ours)
    got = set(ours) - aside
    if got != want - aside:
        missed, extra = sorted(want - aside - got)[:3], sorted(got - want)[:3]
        raise SystemExit(f"reproducibility differs: missed {missed}, extra {extra}")
    return f"{len(got):,} irreproducible = oracle's; aside: {len(aside):,} running"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument(
        "--limit", action="store_true", help="Against the shared oracle, on its generator's data."
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # child mode: URL to probe
    parser.add_argument("--targets", help=argparse.SUPPRESS)  # child mode: see choose_targets()
    parser.add_argument("--irreproducible", help=argparse.SUPPRESS)  # child mode, timed
    parser.add_argument("--check-graph", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--check-reproducibility", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        json.dump(probe(args.probe), sys.stdout)
        return
    if args.targets:
        print(json.dumps(choose_targets(args.targets)))
        return
    if args.irreproducible:
        irreproducible(args.irreproducible)
        return
    if args.check_graph:
        print(check_graph(*map(Path, args.check_graph)))
        return
    if args.check_reproducibility:
        print(check_reproducibility(*map(Path, args.check_reproducibility)))
        return
    if args.limit:
        print(f"{'datasets':>10}  {'run':<40} {'seconds':>8} {'peak RSS':>9} {'oracle':>8} "
              f"{'its RSS':>9} {'ratio':>8}")  # fmt: skip
        for n in args.sizes:
            bench_limit(n, args.postgres)
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
