"""Planning benchmark: plan the reprocessing of every raw dataset of a generated catalog.

For each size N a generated catalog (cached under ``bench-data/``) is imported into SQLite (and
PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` or ``--postgres`` is set); three new transformations
(reconstruction, two derivations, with release and image digest) are added by a second import,
as a campaign manager would register new software; then, in a fresh process,
``lifecycle plan reprocess --select kind=raw --chain r99901:AOD,p99902:DAOD_PHYS,p99903:DAOD_PHYSLITE``
(each input with the calibration of its latest production) computes and saves the plan:
one step per raw dataset and tag.

Target (issue 6): under a minute at 1,000,000 datasets (an absolute target: the issue names no
reference for planning).

Usage: python benchmarks/bench_plan.py [--sizes 100000 1000000] [--seed 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

from bench_audit import measure_output
from bench_import import BIN, GIB, ROOT, catalog_dir, databases, measure

CHAIN = "r99901:AOD,p99902:DAOD_PHYS,p99903:DAOD_PHYSLITE"
DIGEST = "sha256:" + "9" * 64


def new_software(directory: Path) -> Path:
    """An exchange-format directory holding only the campaign's transformations."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "transformations.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["tag", "name", "release", "image", "image_digest",
                         "cpu_seconds_per_event", "output_ratio"])  # fmt: skip
        for tag, name, cpu, ratio in (("r99901", "Reco_tf", "12", "0.4"),
                                      ("p99902", "Derivation_tf", "0.8", "0.05"),
                                      ("p99903", "Derivation_tf", "0.3", "0.3")):  # fmt: skip
            writer.writerow([tag, name, "Athena,26.0.1", "registry.cern.ch/atlas/athena:26.0.1",
                             DIGEST, cpu, ratio])  # fmt: skip
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("LIFECYCLE_TEST_POSTGRES"))
    args = parser.parse_args()
    print(f"{'datasets':>10}  {'run':<36} {'seconds':>8} {'peak RSS':>9}  target")
    for n in args.sizes:
        directory = catalog_dir(n, args.seed)
        with tempfile.TemporaryDirectory(prefix="lc-bench-plan-") as tmp:
            software = new_software(Path(tmp) / "software")
            with databases(tmp, args.postgres) as targets:
                for label, url in targets:
                    for source in (directory, software):
                        measure(f"import {label}", [str(BIN / "lifecycle"), "--db", url,
                                                    "import", str(source)])  # fmt: skip
                    run, out = measure_output(
                        f"plan reprocess (all raw), {label}",
                        [str(BIN / "lifecycle"), "--db", url, "plan", "reprocess", "--select",
                         "kind=raw", "--chain", CHAIN, "--name",
                         "bench", "--save", "--policy", str(ROOT / "policies")],
                    )  # fmt: skip
                    head = out.splitlines()[1].strip() if len(out.splitlines()) > 1 else out
                    print(
                        f"{n:>10,}  {run.label:<36} {run.seconds:>8.2f} "
                        f"{run.peak_rss / GIB:>7.2f} G  < 60 s   ({head})",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
