"""The physical limit to measure against: ``../shared/bench`` (see its README).

``gen_exchange.py`` writes the catalogs the project's scale targets are stated on (real WLCG site
and endpoint names, about 1 % of every policy problem planted); ``oracle.py`` is hand-written
set-based SQL on a bare SQLite file with its own schema and indexes: the fastest a tool could
load and answer the same questions. Benchmarks that take ``--limit`` run lifecycle on these
catalogs and time the oracle on the same files in the same run; the ratios in
``benchmarks/README.md`` are against it. Both programs are run, never imported or copied.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench_import import DATA, GIB, ROOT, Run, measure

SHARED = ROOT.parent / "shared" / "bench"
GENERATOR = SHARED / "gen_exchange.py"
ORACLE = SHARED / "oracle.py"


def available() -> bool:
    """Whether ``../shared/bench`` is next to the project (it is not in a bare clone)."""
    return GENERATOR.is_file() and ORACLE.is_file()


def require() -> None:
    if not available():
        raise SystemExit(f"--limit needs the shared generator and oracle in {SHARED}")


def shared_catalog(n: int, seed: int | None = None) -> Path:
    """The shared generator's catalog of ``n`` datasets in Parquet, cached under ``bench-data/``."""
    require()
    directory = DATA / f"shared-n{n}-s{'default' if seed is None else seed}"
    if not (directory / "datasets.parquet").exists():
        print(f"generating {n:,} datasets (shared generator) into {directory} ...", file=sys.stderr)
        seed_args = [] if seed is None else ["--seed", str(seed)]
        subprocess.run(
            [sys.executable, str(GENERATOR), "--datasets", str(n), "--out", str(directory),
             "--format", "parquet", *seed_args],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return directory


def oracle(label: str, *args: str | Path) -> Run:
    """Time one ``oracle.py`` command in a fresh process (wall time and its peak RSS)."""
    require()
    return measure(label, [sys.executable, str(ORACLE), *map(str, args)])


def oracle_output(*args: str | Path) -> str:
    """What one ``oracle.py`` command prints (for checking answers, untimed)."""
    require()
    done = subprocess.run(
        [sys.executable, str(ORACLE), *map(str, args)], capture_output=True, text=True
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"oracle.py {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return done.stdout


def oracle_load(directory: Path, db: Path) -> Run:
    """The oracle's load of ``directory`` into the SQLite file ``db``: the import reference."""
    return oracle("limit: oracle.py load", "load", directory, "--db", db)


def oracle_args(command: str, directory: Path, db: Path, *args: str | Path) -> list[str]:
    """The argv of ``oracle.py COMMAND DIR --db FILE ...`` (the database loaded beforehand)."""
    require()
    return [sys.executable, str(ORACLE), command, str(directory), "--db", str(db), *map(str, args)]


def child(script: Path, *args: str | Path) -> str:
    """What ``script`` prints when run with ``args`` in a process of its own: checks and target
    choices read whole outputs, and a benchmark's own peak RSS would count in its children's
    (a child starts from its parent's), so the benchmark process stays small."""
    done = subprocess.run(
        [sys.executable, str(script), *map(str, args)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or done.stdout.strip())
    return done.stdout.strip()


# lifecycle's reasons naming a running production, or an input that is neither available nor
# reproducible: the oracle does not look at a production's status (see bench_audit.py)
RUNNING_REASON = re.compile(r"production \S+ is running|running production")
BLOCKED_REASON = re.compile(r"input (\S+) has no available replica and is not reproducible")


def after_running(reasons: dict[str, str]) -> set[str]:
    """DIDs whose reason (DID -> lifecycle's reason) is a running production, and those their
    unavailable outputs block, transitively: set aside when comparing with the oracle."""
    found = {did for did, reason in reasons.items() if RUNNING_REASON.search(reason)}
    blocked = {did: m.group(1) for did, r in reasons.items() if (m := BLOCKED_REASON.search(r))}
    while True:
        more = {did for did, needed in blocked.items() if needed in found} - found
        if not more:
            return found
        found |= more


def print_against(n: int, ours: Run, reference: Run, agreed: str) -> None:
    """One line of a ``--limit`` table: lifecycle's run, the oracle's, the ratio, what agreed."""
    print(
        f"{n:>10,}  {ours.label:<44} {ours.seconds:>8.2f} "
        f"{ours.peak_rss / GIB:>7.2f} G {reference.seconds:>8.2f} "
        f"{reference.peak_rss / GIB:>7.2f} G "
        f"{ours.seconds / reference.seconds:>7.2f}x  ({agreed})",
        flush=True,
    )
