"""``rucio pull``: a snapshot of a Rucio server in the exchange format (FORMAT.md).

Requests are batched where Rucio has a bulk call: one ``list_rses`` and per RSE its settings and
attributes (a grid has ~150), one ``list_dids`` per scope, ``get_metadata_bulk`` per
:data:`BATCH` datasets, one ``list_replication_rules`` per scope, ``get_locks_for_dids`` per
:data:`BATCH` datasets with a replicating rule. Dataset replicas come
``deep`` (``list_dataset_replicas(deep=True)`` per dataset, computed from the files, exact
without Rucio's daemons; spread over :data:`WORKERS` concurrent clients), ``bulk``
(``list_dataset_replicas_bulk`` per batch: Rucio's summary table, exact once its
``abacus-collection-replica`` daemon has caught up) or ``auto`` (the default: the summary for
the datasets it shows complete, the deep listing for the others: those it lacks, shows with
another file count, or with a replica not available; exact without the daemon, as fast as the
summary with it, where it can be stale only for a replica lost or made since the daemon ran).
Replicas being made by a replicating rule (its dataset locks, read for those datasets only) are
``copying``.

The snapshot: ``sites.csv``, ``endpoints.csv``, ``datasets.csv``, ``replicas.csv`` and
``rules.jsonl`` (the replication rules of the datasets pulled; an optional file FORMAT.md
describes, which ``import`` and ``sync`` leave alone and ``rucio sync`` records).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lifecycle.errors import UsageError
from lifecycle.rucio.client import RucioSettings, connect, rucio_errors
from lifecycle.rucio.mapping import (
    RULE_STATES_COPYING,
    Mapping,
    dataset_row,
    replica_row,
    replicating_dids,
    rule_row,
    site_rows,
)
from lifecycle.text import count

BATCH = 500  # datasets per bulk request
WORKERS = 4  # concurrent clients for the per-dataset deep replica listing
TABLES = ("sites", "endpoints", "datasets", "replicas")
RULES_FILE = "rules.jsonl"
# The columns every table has, first, even with no rows (an empty table still imports).
BASE_COLUMNS = {
    "sites": ("name", "tier", "country", "cloud", "status"),
    "endpoints": ("name", "site", "media"),
    "datasets": ("did", "kind", "data_type", "bytes", "files", "events", "created_at",
                 "expires_at", "state"),
    "replicas": ("did", "endpoint", "state", "created_at", "accessed_at"),
}  # fmt: skip
REPLICA_MODES = ("auto", "deep", "bulk")


@dataclass(frozen=True)
class PullOptions:
    """What to pull: ``scopes`` (none: every scope), RSEs of the Rucio expression ``rses``
    (none: all), the ``mapping``, and how replicas are read (``deep`` or ``bulk``)."""

    scopes: tuple[str, ...] = ()
    rses: str | None = None
    mapping: Mapping = field(default_factory=Mapping)
    replicas: str = "auto"
    batch: int = BATCH
    workers: int = WORKERS


@dataclass
class PullResult:
    """What a pull wrote: rows per table, the scopes and endpoints it covers, seconds taken."""

    directory: Path
    counts: dict[str, int]
    scopes: list[str]
    endpoints: list[str]
    all_rses: bool
    seconds: float = 0.0
    rules: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def completeness(self) -> list[str]:
        """The ``sync --complete`` declarations this snapshot supports: every replica of the
        endpoints pulled (a union of their names), and with every RSE pulled, every dataset of
        the scopes pulled."""
        out = ["replicas:" + "|".join(self.endpoints)] if self.endpoints else []
        if self.all_rses:
            out += [f"datasets:{scope}" for scope in self.scopes]
        return out

    def summary_line(self) -> str:
        parts = [count(self.counts.get(t, 0), t.rstrip("s")) for t in (*TABLES, "rules")]
        return f"pulled {', '.join(parts)} from Rucio into {self.directory} ({self.seconds:.1f} s)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "counts": self.counts,
            "scopes": self.scopes,
            "endpoints": self.endpoints,
            "complete": self.completeness(),
            "seconds": round(self.seconds, 3),
        }


def pull(settings: RucioSettings, directory: Path, options: PullOptions) -> PullResult:
    """Read the server ``settings`` name and write the snapshot into ``directory``."""
    if options.replicas not in REPLICA_MODES:
        raise UsageError(f"--replicas: {options.replicas!r} is not one of {REPLICA_MODES}")
    _check_directory(directory)
    started = time.perf_counter()
    with connect(settings) as client, rucio_errors(settings, "pull"):
        sites, endpoints = _endpoints(client, options)
        scopes = list(options.scopes) or sorted(client.list_scopes())
        names = [
            {"scope": scope, "name": name}
            for scope in scopes
            for name in client.list_dids(scope, [{}], did_type="dataset")
        ]
        # the metadata, the replica summary and the rules at once, each on its own client
        with ThreadPoolExecutor(3) as pool:
            metas = pool.submit(_metadata, client.lifecycle_clone(), settings, names, options)
            summary = pool.submit(_summary, client.lifecycle_clone(), settings, names, options)
            listed = pool.submit(_rules, client.lifecycle_clone(), settings, scopes)
            datasets = [dataset_row(meta, options.mapping.kinds) for meta in metas.result()]
            dids = {d["did"] for d in datasets}
            rules = [row for row in map(rule_row, listed.result()) if row["did"] in dids]
            found = summary.result()
        replicating = replicating_dids(rules)
        if options.replicas == "deep":
            found = _deep_replicas(client, settings, names, options)
        elif options.replicas == "auto":
            found, recheck = _summarized(found, datasets)
            found += _deep_replicas(client, settings, recheck, options)
        _open_sizes(datasets, found)
        known = {e["name"] for e in endpoints}
        replicas = {
            (row["did"], row["endpoint"]): row
            for r in found
            if (row := replica_row(r, replicating))["endpoint"] in known
        }
        for row in _copying(client, rules, known, options.batch):
            replicas.setdefault((row["did"], row["endpoint"]), row)
    tables = {
        "sites": sites,
        "endpoints": endpoints,
        "datasets": datasets,
        "replicas": [replicas[k] for k in sorted(replicas)],
    }
    write_snapshot(directory, tables, rules)
    return PullResult(
        directory,
        {**{t: len(rows) for t, rows in tables.items()}, "rules": len(rules)},
        scopes,
        sorted(known),
        options.rses is None,
        time.perf_counter() - started,
        rules,
    )


def _endpoints(client, options: PullOptions):
    rses = list(client.list_rses(options.rses or "*"))
    details, attributes = [], {}
    for rse in rses:
        details.append(client.get_rse(rse["rse"]))
        attributes[rse["rse"]] = client.list_rse_attributes(rse["rse"])
    return site_rows(details, attributes, options.mapping)


def _batches(items: list[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _metadata(client, settings: RucioSettings, names, options: PullOptions):
    with rucio_errors(settings, "get_metadata_bulk"):
        return [m for batch in _batches(names, options.batch)
                for m in client.get_metadata_bulk(batch)]  # fmt: skip


def _summary(client, settings: RucioSettings, names, options: PullOptions):
    """Rucio's dataset replica summary (none asked in ``deep`` mode)."""
    if options.replicas == "deep":
        return []
    with rucio_errors(settings, "list_dataset_replicas_bulk"):
        return [r for batch in _batches(names, options.batch)
                for r in client.list_dataset_replicas_bulk(batch)]  # fmt: skip


def _rules(client, settings: RucioSettings, scopes: list[str]):
    with rucio_errors(settings, "list_replication_rules"):
        return [r for scope in scopes
                for r in client.list_replication_rules(filters={"scope": scope})]  # fmt: skip


def _deep_replicas(client, settings: RucioSettings, names, options: PullOptions):
    """``list_dataset_replicas(deep=True)`` of every dataset, spread over concurrent clients
    (one each: a client is not shared between threads)."""
    if not names:
        return []
    workers = max(1, min(options.workers, len(names) // 50 + 1))
    clients = [client] + [client.lifecycle_clone() for _ in range(workers - 1)]
    shares = [names[i::workers] for i in range(workers)]

    def listing(pair) -> list[dict[str, Any]]:
        mine, share = pair
        with rucio_errors(settings, "list_dataset_replicas"):
            return [r for d in share for r in mine.list_dataset_replicas(d["scope"], d["name"],
                                                                        deep=True)]  # fmt: skip

    with ThreadPoolExecutor(workers) as pool:
        return [r for part in pool.map(listing, zip(clients, shares, strict=True)) for r in part]


def _summarized(summary: list[dict[str, Any]], datasets: list[dict[str, Any]]):
    """Of Rucio's summary (``list_dataset_replicas_bulk``), the replicas of the datasets it
    shows complete (every replica available; of as many files as a closed dataset has); and the
    datasets to list deep instead: those it does not show, shows with another file count
    (summarized before a change), or with a replica not available (exact state wanted)."""
    closed = {d["did"]: d["files"] for d in datasets if d["state"] == "closed"}
    by_did: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        by_did.setdefault(f"{row['scope']}:{row['name']}", []).append(row)
    kept, recheck = [], []
    for did in sorted({d["did"] for d in datasets}):
        rows = by_did.get(did, [])
        trusted = bool(rows) and all(
            str(r.get("state", "")).upper().rsplit(".", 1)[-1] == "AVAILABLE"
            and r.get("length") is not None
            and int(r.get("available_length") or 0) == int(r["length"])
            and closed.get(did, int(r["length"])) == int(r["length"])
            for r in rows
        )
        if trusted:
            kept += rows
        else:
            scope, name = did.split(":", 1)
            recheck.append({"scope": scope, "name": name})
    return kept, recheck


def _open_sizes(datasets: list[dict[str, Any]], replicas: list[dict[str, Any]]) -> None:
    """An open dataset's bytes and files, which Rucio records only when it is closed: the
    largest a replica listing gives (its files' count and bytes on one RSE)."""
    largest: dict[str, tuple[int, int]] = {}
    for r in replicas:
        did = f"{r['scope']}:{r['name']}"
        size = (int(r.get("length") or 0), int(r.get("bytes") or 0))
        largest[did] = max(largest.get(did, (0, 0)), size)
    for d in datasets:
        if d["state"] == "open" and not d["files"] and d["did"] in largest:
            d["files"], d["bytes"] = largest[d["did"]]


def _copying(
    client, rules: list[dict[str, Any]], known: set[str], batch: int = BATCH
) -> Iterable[dict[str, Any]]:
    """The replicas replicating rules are making (their dataset locks not yet OK): copying,
    created when the rule was (Rucio makes the rule's replicas with it; the deep listing gives
    that time once they are available). The dataset locks of ``batch`` datasets a request
    (``get_locks_for_dids``, Rucio's bulk form of ``get_dataset_locks``)."""
    made = {}
    for rule in rules:
        if rule["state"] in RULE_STATES_COPYING:
            made[rule["did"]] = min(made.get(rule["did"], rule["created_at"]), rule["created_at"])
    asked = [
        {"scope": scope, "name": name, "type": "dataset"}
        for scope, name in (did.split(":", 1) for did in sorted(made))
    ]
    for some in _batches(asked, batch):
        for lock in client.get_locks_for_dids(some):
            did = f"{lock['scope']}:{lock['name']}"
            state = str(lock.get("state", "")).upper()
            if did not in made or state.endswith("OK") or lock["rse"] not in known:
                continue
            yield {"did": did, "endpoint": lock["rse"], "state": "copying",
                   "created_at": made[did], "accessed_at": None}  # fmt: skip


def _check_directory(directory: Path) -> None:
    """The output directory is new, empty, or a snapshot an earlier pull wrote (replaced)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"-o: {directory} is not a directory")
    ours = {f"{t}.csv" for t in TABLES} | {RULES_FILE}
    if directory.is_dir():
        other = sorted(p.name for p in directory.iterdir() if p.name not in ours)
        if other:
            raise UsageError(
                f"-o: {directory} holds other files ({', '.join(other[:3])}): give a new or "
                "empty directory, or one an earlier pull wrote"
            )


def write_snapshot(
    directory: Path, tables: dict[str, list[dict[str, Any]]], rules: list[dict[str, Any]]
) -> None:
    """The tables as CSV (columns: the union of the rows' keys, first seen first) and the rules
    as JSON lines, each file written beside and renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns = list(dict.fromkeys([*BASE_COLUMNS.get(name, ()), *(k for r in rows for k in r)]))
        path = directory / f"{name}.csv"
        partial = path.with_suffix(".csv.partial")
        with partial.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        partial.replace(path)
    path = directory / RULES_FILE
    partial = path.with_suffix(".jsonl.partial")
    partial.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rules), "utf-8")
    partial.replace(path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def read_rules(directory: Path) -> list[dict[str, Any]]:
    """The rules of a snapshot (``rules.jsonl``; none when the file is absent)."""
    path = Path(directory) / RULES_FILE
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rule = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON: {exc.msg}") from None
        missing = [k for k in ("rule_id", "did", "rse_expression", "state") if k not in rule]
        if missing:
            raise UsageError(f"{path}:{number}: {missing[0]}: missing")
        out.append(rule)
    return out
