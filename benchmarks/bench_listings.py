"""Bounded listings: peak RSS of the largest listings, each in a fresh process (issue 12, item 5).

Each listing must stream, with peak RSS below 1 GiB:

- ``lifecycle impact DID --format json`` of a dataset with ``--fanout`` descendants (100,000 by
  default), and ``lifecycle lineage DID --format json`` of one with as many ancestors, every
  dataset shown (``--max-nodes`` above the catalog's size). The shared generator's largest
  impact at 1,000,000 datasets is about 49,000 descendants, so these run on a catalog of their
  own (generated once, cached under ``bench-data/``): one calibration dataset used by
  ``--fanout`` reconstruction productions, each making one AOD, all merged by one production into
  one DAOD. The calibration's impact is every other dataset, the DAOD's lineage every other
  dataset. ``oracle.py impact`` and ``lineage`` run on the same files for comparison, and the
  datasets reached must be the oracle's;
- ``lifecycle datasets list --format csv --limit 0`` of the shared generator's catalog
  (``--sizes``, 1,000,000 by default): one row per dataset;
- ``lifecycle simulate loss --site SITE --format json`` of its largest site (most bytes of
  available replicas), ATLAS 2015 policy.

Usage: python benchmarks/bench_listings.py [--fanout 100000] [--sizes 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench_audit import measure_to
from bench_import import BIN, DATA, GIB, ROOT, Run, databases, measure
from limit import child, oracle_args, oracle_load, shared_catalog

BOUND = GIB  # the target: every listing below 1 GiB peak RSS
EVERY_NODE = 1_000_000_000  # --max-nodes: more than any catalog's datasets
NOW = "2026-11-25T00:00:00Z"
POLICY = ROOT / "policies" / "atlas-2015.toml"

CALIBRATION = "data24_13p6TeV:data24_13p6TeV.00480000.calibration_LAr.recon.CALIB.c09000"
MERGED = "data24_13p6TeV:data24_13p6TeV.00480000.physics_Main.merge.DAOD_PHYSLITE.r99001_p99002"


def _aod(i: int) -> str:
    return f"data24_13p6TeV:data24_13p6TeV.{480001 + i:08d}.physics_Main.recon.AOD.r99001"


def fanout_catalog(n: int) -> Path:
    """The fan-out catalog of ``n`` AODs (see the module docstring), generated in a process of
    its own (pyarrow stays out of this one) and cached under ``bench-data/``."""
    directory = DATA / f"fanout-n{n}"
    if not (directory / "production_io.parquet").exists():
        print(f"writing the fan-out catalog ({n:,} AODs) into {directory} ...", file=sys.stderr)
        child(__file__, "--write-fanout", directory, str(n))
    return directory


def write_fanout(directory: Path, n: int) -> None:
    """Write the fan-out catalog: exchange-format Parquet tables (FORMAT.md)."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    start = datetime(2024, 5, 1, tzinfo=UTC)
    aods = [_aod(i) for i in range(n)]
    tables = {
        "sites": {
            "name": ["CERN-PROD", "BNL-OSG2"],
            "tier": [0, 1],
            "country": ["ch", "us"],
            "cloud": ["CERN", "US"],
        },
        "endpoints": {
            "name": ["CERN-PROD_DATADISK", "BNL-OSG2_DATADISK"],
            "site": ["CERN-PROD", "BNL-OSG2"],
            "media": ["disk", "disk"],
        },
        "transformations": {
            "tag": ["r99001", "p99002"],
            "name": ["Reco_tf", "Derivation_tf"],
            "release": ["Athena,24.0.1", "Athena,24.0.1"],
            "image_digest": ["sha256:" + "1" * 64, "sha256:" + "2" * 64],
        },
        "datasets": {
            "did": [CALIBRATION, *aods, MERGED],
            "kind": ["calibration", *["derived"] * n, "derived"],
            "data_type": ["CALIB", *["AOD"] * n, "DAOD_PHYSLITE"],
            "bytes": [10**9, *[2 * 10**9] * n, 10**12],
            "files": [1, *[10] * n, 1000],
            "created_at": [start, *[start + timedelta(days=1)] * n, start + timedelta(days=9)],
        },
        "replicas": {
            "did": [CALIBRATION, *aods, MERGED],
            "endpoint": ["CERN-PROD_DATADISK"] * (n + 2),
            "created_at": [start + timedelta(days=10)] * (n + 2),
        },
        "productions": {
            "id": [*(f"task-{90000000 + i}" for i in range(n)), "task-99999999"],
            "transformation": [*["r99001"] * n, "p99002"],
            "status": ["done"] * (n + 1),
        },
        "production_io": {
            "production": [
                *(f"task-{90000000 + i}" for i in range(n)),
                *(f"task-{90000000 + i}" for i in range(n)),
                *["task-99999999"] * (n + 1),
            ],
            "did": [*[CALIBRATION] * n, *aods, *aods, MERGED],
            "role": [*["calibration"] * n, *["output"] * n, *["input"] * n, "output"],
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, columns in tables.items():
        pq.write_table(pa.table(columns), directory / f"{name}.parquet")


def bench_fanout(n: int, postgres: str | None) -> None:
    directory = fanout_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-listings-") as tmp:
        oracle_db = Path(tmp) / "oracle.db"
        oracle_load(directory, oracle_db)
        out, oracle_out = Path(tmp) / "lifecycle.json", Path(tmp) / "oracle.json"
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                _import(url, directory)
                for command, did in (("impact", CALIBRATION), ("lineage", MERGED)):
                    ours = measure_to(
                        f"{command} --format json, {label}",
                        [str(BIN / "lifecycle"), "--db", url, command, did, "--max-nodes",
                         str(EVERY_NODE), "--format", "json"],
                        out,
                    )  # fmt: skip
                    reference = measure_to(
                        f"oracle.py {command}",
                        oracle_args(command, directory, oracle_db, did, "--format", "json"),
                        oracle_out,
                        stderr=Path(tmp) / "oracle.log",
                    )  # fmt: skip
                    agreed = child(__file__, "--check-graph", out, oracle_out)
                    _report(n + 2, ours, out, reference, agreed)


def bench_shared(n: int, postgres: str | None) -> None:
    directory = shared_catalog(n)
    with tempfile.TemporaryDirectory(prefix="lc-bench-listings-") as tmp:
        out = Path(tmp) / "lifecycle.out"
        with databases(tmp, postgres) as targets:
            for label, url in targets:
                _import(url, directory)
                ours = measure_to(
                    f"datasets list --format csv, {label}",
                    [str(BIN / "lifecycle"), "--db", url, "datasets", "list", "--limit", "0",
                     "--format", "csv"],
                    out,
                )  # fmt: skip
                rows = child(__file__, "--count-csv", out)
                _report(n, ours, out, None, f"{int(rows):,} rows")
                site = child(ROOT / "benchmarks" / "bench_simulate.py", "--largest-site", url)
                ours = measure_to(
                    f"simulate loss --site {site} --format json, {label}",
                    [str(BIN / "lifecycle"), "--db", url, "simulate", "loss", "--site", site,
                     "--policy", str(POLICY), "--now", NOW, "--format", "json"],
                    out,
                )  # fmt: skip
                _report(n, ours, out, None, child(__file__, "--count-loss", out))


def _import(url: str, directory: Path) -> None:
    measure("import", [str(BIN / "lifecycle"), "--db", url, "import", str(directory)])


def _report(n: int, ours: Run, out: Path, reference: Run | None, note: str) -> None:
    versus = (
        f"{reference.seconds:>8.2f} {reference.peak_rss / GIB:>7.2f} G"
        if reference
        else f"{'':>8} {'':>9}"
    )
    print(
        f"{n:>10,}  {ours.label:<52} {ours.seconds:>8.2f} {ours.peak_rss / GIB:>7.2f} G "
        f"{'ok' if ours.peak_rss < BOUND else 'OVER':>4} {out.stat().st_size / 2**20:>8.1f} M "
        f"{versus}  ({note})",
        flush=True,
    )


def check_graph(ours_json: Path, oracle_json: Path) -> str:
    """Stop unless the walk shows every dataset the oracle's reaches, at the same depth."""
    with open(ours_json) as f:
        ours = json.load(f)
    with open(oracle_json) as f:
        oracle = json.load(f)
    if ours["truncated"]:
        raise SystemExit(f"{ours['root']}: lifecycle's graph is truncated")
    nodes = {(x["did"], x["depth"]) for x in ours["nodes"] if x["depth"] > 0}
    want = {(x["did"], x["depth"]) for x in oracle["nodes"] if x["did"] != oracle["root"]}
    if nodes != want:
        raise SystemExit(f"{ours['root']}: {len(nodes):,} datasets, the oracle's {len(want):,}")
    return f"{len(nodes):,} datasets, {len(ours['edges']):,} edges = oracle's"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fanout", type=int, default=100_000, help="Descendants of the impact.")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    parser.add_argument("--write-fanout", nargs=2, help=argparse.SUPPRESS)  # DIR N
    parser.add_argument("--check-graph", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--count-csv", help=argparse.SUPPRESS)
    parser.add_argument("--count-loss", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_fanout:
        write_fanout(Path(args.write_fanout[0]), int(args.write_fanout[1]))
        return
    if args.check_graph:
        print(check_graph(*map(Path, args.check_graph)))
        return
    if args.count_csv:
        import csv

        with open(args.count_csv, newline="") as f:
            print(sum(1 for _ in csv.DictReader(f)))
        return
    if args.count_loss:
        with open(args.count_loss) as f:
            report = json.load(f)
        print(", ".join(f"{len(report[k]):,} {k}" for k in ("lost", "recoverable", "violations",
                                                             "re_replicate")))  # fmt: skip
        return
    print(f"{'datasets':>10}  {'listing':<52} {'seconds':>8} {'peak RSS':>9} {'<1G':>4} "
          f"{'output':>10} {'oracle':>8} {'its RSS':>9}")  # fmt: skip
    if args.fanout:
        bench_fanout(args.fanout, args.postgres)
    for n in args.sizes:
        bench_shared(n, args.postgres)


if __name__ == "__main__":
    main()
