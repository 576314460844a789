"""Rucio pull benchmark: ``lifecycle rucio pull`` against Rucio's own client listing, same server.

A Rucio 41.5.1 server on 127.0.0.1 (the test suite's server, ``tests/rucio_server.py``, its venv
cached under ``.cache/``; its database on PostgreSQL when ``LIFECYCLE_TEST_POSTGRES`` is set, as
production Rucio runs, else SQLite, where its two workers wait on each other's locks: making the
rules of 2,000 datasets stalled for minutes), filled once per run with N datasets of 5 files
each, every file replicated on two RSEs (batched: 100 datasets, 500 files per request), a rule on
each dataset for its two copies (100 datasets per request; as on a production Rucio, where every
dataset has rules: Rucio keeps its dataset replica summary only for datasets with rules), then
Rucio's ``abacus-collection-replica`` daemon run (again until it is done: 1,000 datasets a run)
so that the summary (what ``list_dataset_replicas_bulk`` reads) is current, and the database
analyzed (see :func:`analyze`). Then, alternately and ``--repeat`` times:

- reference: Rucio's client listing, ``list_dids`` of the scope and
  ``list_dataset_replicas_bulk`` of every dataset in batches of 500 (names and replicas, nothing
  written);
- lifecycle ``pull`` (``--replicas auto``, the default): the same bulk calls plus RSEs with
  attributes, the metadata of every dataset (``get_metadata_bulk``), rules, the mapping, and the
  CSV snapshot (with the summary current, no dataset is listed deep);
- lifecycle ``pull --replicas deep`` (exact without daemons, one
  ``list_dataset_replicas(deep=True)`` per dataset over 4 concurrent clients).

Wall and CPU time (user+sys of this process, its threads included) of the client side; the
server's gunicorn workers run on the same 2 cores.

Target (issue 17 item 3): pull <= 2x the reference at 10,000 datasets x 5 files.

Usage: python benchmarks/bench_rucio.py [--datasets 10000] [--repeat 3] [--deep]
       python benchmarks/bench_rucio.py --server JSON --reuse RUN [--repeat 3] [--deep]
(JSON: {"url", "password", "dir", "database"}: a server already running, its database's URL
to analyze before measuring)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import rucio_server  # noqa: E402

from lifecycle.api import PullOptions, RucioSettings, rucio_pull  # noqa: E402

RUN = uuid.uuid4().hex[:6]  # names of this run's own (a server given may hold other data)
FILES = 5


def names(run: str) -> tuple[str, tuple[str, str]]:
    """The scope and the two RSEs of run ``run``."""
    return f"data18_{run}", (f"CERN{run.upper()}_DATATAPE", f"FZK{run.upper()}_DATATAPE")


SCOPE, RSES = names(RUN)
BATCH = 100


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fill(client, datasets: int) -> None:
    """The scope, two RSEs, ``datasets`` RAW datasets of :data:`FILES` files on both RSEs."""
    for rse, site in zip(RSES, ("CERN-PROD", "FZK-LCG2"), strict=True):
        client.add_rse(rse, rse_type="TAPE", deterministic=True)
        client.add_rse_attribute(rse, "site", site)
        client.add_rse_attribute(rse, "tier", "1")
    client.add_scope("root", SCOPE)
    for call, args in ((client.add_key, ("datatype", "ALL")),
                       (client.add_value, ("datatype", "RAW"))):  # fmt: skip
        try:
            call(*args)
        except Exception as exc:  # made before on a server given
            if type(exc).__name__ != "Duplicate":
                raise
    for start in range(0, datasets, BATCH):
        names = [f"{SCOPE}.{100000 + i:08d}.physics_Main.daq.RAW"
                 for i in range(start, min(start + BATCH, datasets))]  # fmt: skip
        client.add_dids([{"scope": SCOPE, "name": n, "type": "DATASET",
                          "meta": {"datatype": "RAW"}} for n in names])  # fmt: skip
        files = {n: [{"scope": SCOPE, "name": f"{n}._{k:04d}", "bytes": 1000,
                      "adler32": "0cc737eb"} for k in range(FILES)] for n in names}  # fmt: skip
        every = [f for group in files.values() for f in group]
        for rse in RSES:
            client.add_replicas(rse, every)
        client.attach_dids_to_dids([
            {"scope": SCOPE, "name": n, "dids": [{"scope": SCOPE, "name": f["name"]} for f in fs]}
            for n, fs in files.items()
        ])  # fmt: skip


def rules(client, datasets: int) -> None:
    """A rule on every dataset for its two copies (satisfied at once: the files are there),
    as every dataset has on a production Rucio: Rucio keeps its dataset replica summary for
    datasets with rules."""
    for start in range(0, datasets, BATCH):
        client.add_replication_rule(
            [{"scope": SCOPE, "name": f"{SCOPE}.{100000 + i:08d}.physics_Main.daq.RAW"}
             for i in range(start, min(start + BATCH, datasets))],
            2, "|".join(RSES),
        )  # fmt: skip


def summarize(server, client) -> None:
    """Rucio's summary of dataset replicas brought up to date: its daemon run once, with the
    server's own configuration, again until every dataset replica of this run is in it (a run
    of it took 1,000 datasets, whatever its ``--limit``: 10 runs at 10,000 datasets)."""
    env = {**os.environ, "RUCIO_CONFIG": str(server.directory / "rucio.cfg"),
           "TMPDIR": str(server.directory)}  # fmt: skip
    daemon = rucio_server.VENV / "bin" / "rucio-abacus-collection-replica"
    for _ in range(1000):
        subprocess.run([str(rucio_server.VENV / "bin" / "python"), str(daemon), "--run-once"],
                       env=env, check=True, capture_output=True, timeout=1800)  # fmt: skip
        if summarized(client):
            return
    raise RuntimeError("abacus-collection-replica did not bring the summary up to date")


def analyze(server) -> None:
    """Statistics for the server database's query planner, as a production database has them
    (PostgreSQL's autovacuum makes them in time; a server filled a minute ago has none). Without
    them PostgreSQL read every DID of the scope for each 50 DIDs ``get_metadata_bulk`` asks
    for: 140 ms against 5 ms a chunk at 10,000 datasets, 7x the reference's whole listing."""
    if not server.database:
        return
    import sqlalchemy as sa

    engine = sa.create_engine(server.database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def summarized(client) -> bool:
    """Whether Rucio's summary shows every replica of this run's datasets available."""
    names = [{"scope": SCOPE, "name": n} for n in client.list_dids(SCOPE, [{}], did_type="dataset")]
    return all(
        str(r["state"]).rsplit(".", 1)[-1] == "AVAILABLE" and r["available_length"] == FILES
        for start in range(0, len(names), 500)
        for r in client.list_dataset_replicas_bulk(names[start : start + 500])
    )


def reference(client) -> int:
    names = [{"scope": SCOPE, "name": n} for n in client.list_dids(SCOPE, [{}], did_type="dataset")]
    replicas = 0
    for start in range(0, len(names), 500):
        replicas += sum(1 for _ in client.list_dataset_replicas_bulk(names[start : start + 500]))
    return replicas


def measure(label: str, work) -> tuple[float, float, object]:
    wall, spent = time.perf_counter(), cpu()
    found = work()
    wall, spent = time.perf_counter() - wall, cpu() - spent
    print(f"  {label:<32} {wall:8.2f} s wall {spent:8.2f} s CPU   ({found})", flush=True)
    return wall, spent, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deep", action="store_true", help="also --replicas deep, once")
    parser.add_argument("--reuse", metavar="RUN", help="with --server: the data of an earlier run")
    parser.add_argument(
        "--server", type=Path, help="JSON {url, password, dir, database} of a server"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rucio-") as scratch:
        scratch = Path(scratch)
        if args.server:
            given = json.loads(args.server.read_text())
            server = rucio_server.RucioServer(given["url"], rucio_server.USERNAME,
                                              given["password"], Path(given["dir"]),
                                              given.get("database", ""))  # fmt: skip
            running = None
        else:
            running = rucio_server.start_server(scratch / "server")
            server = next(running)
        try:
            run(server, args, scratch)
        finally:
            if running is not None:
                running.close()


def run(server, args, scratch: Path) -> None:
    global SCOPE, RSES
    client = server.client()
    started = time.perf_counter()
    if args.reuse:
        SCOPE, RSES = names(args.reuse)
    else:
        fill(client, args.datasets)
        print(f"filled {args.datasets:,} datasets x {FILES} files on {len(RSES)} RSEs in "
              f"{time.perf_counter() - started:.1f} s (run {RUN}: --reuse {RUN} measures "
              "them again on the same --server)", flush=True)  # fmt: skip
    if not any(True for _ in client.list_replication_rules(filters={"scope": SCOPE})):
        started = time.perf_counter()
        for rse in RSES:
            client.set_local_account_limit("root", rse, -1)
        rules(client, args.datasets)
        print(f"rules: {time.perf_counter() - started:.1f} s", flush=True)
    if (server.directory / "rucio.cfg").exists() and not summarized(client):
        started = time.perf_counter()
        summarize(server, client)
        print(f"abacus-collection-replica --run-once: {time.perf_counter() - started:.1f} s")
    analyze(server)
    settings = RucioSettings(server.url, "root", "userpass", server.username, server.password)
    results: dict[str, list[tuple[float, float]]] = {"reference": [], "auto": [], "deep": []}
    for attempt in range(args.repeat):
        print(f"round {attempt + 1}:", flush=True)
        wall, spent, _ = measure("reference (list_dids + bulk)", lambda: reference(client))
        results["reference"].append((wall, spent))
        for mode in ("auto", "deep") if args.deep and attempt == 0 else ("auto",):
            out = scratch / f"snap-{mode}-{attempt}"
            wall, spent, found = measure(
                f"lifecycle rucio pull --replicas {mode}",
                lambda out=out, mode=mode: (
                    rucio_pull(settings, out, PullOptions((SCOPE,), replicas=mode)).counts
                ),
            )
            results[mode].append((wall, spent))
    paired = sorted(a[0] / r[0] for a, r in zip(results["auto"], results["reference"], strict=True))
    print(f"pull auto / reference, round by round: {', '.join(f'{x:.2f}' for x in paired)} "
          f"(median {paired[len(paired) // 2]:.2f})")  # fmt: skip
    best = {k: min(v) for k, v in results.items() if v}
    reference_wall = best["reference"][0]
    print(f"best of {args.repeat}: reference {reference_wall:.2f} s; " + "; ".join(
        f"pull {mode} {best[mode][0]:.2f} s ({best[mode][0] / reference_wall:.2f}x)"
        for mode in ("auto", "deep") if mode in best
    ))  # fmt: skip


if __name__ == "__main__":
    main()
