"""Hand-written reference for the import benchmark: plain ``sqlite3`` executemany.

Loads an exchange-format directory of Parquet files into an SQLite file that already holds the
catalog schema (created by ``lifecycle init``), with the same PRAGMAs lifecycle uses, in one
transaction. It does the minimum: map keys to ids with dicts, split DIDs, format timestamps, and
insert. No validation, no comparison with existing rows: the floor an import could reach.

Usage: python benchmarks/reference_import.py DB DIR
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CORE = {
    "sites": ["name", "tier", "country", "cloud", "status"],
    "endpoints": ["name", "site", "media", "capacity_bytes"],
    "datasets": [
        "did", "kind", "data_type", "bytes", "files", "events", "created_at", "expires_at", "state",
    ],
    "transformations": [
        "tag", "name", "release", "image", "image_digest", "code_repo", "code_commit", "command",
        "platform", "cpu_seconds_per_event", "output_ratio",
    ],
}  # fmt: skip


def columns(table: pa.Table) -> dict[str, list]:
    out = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("us", tz="UTC")), format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        out[name] = col.to_pylist()
    return out


def load(db: Path, directory: Path) -> int:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("BEGIN")
    rows = 0

    def read(name: str) -> dict[str, list]:
        nonlocal rows
        table = pq.read_table(directory / f"{name}.parquet")
        rows += table.num_rows
        return columns(table)

    def extras(name: str, cols: dict[str, list], ids: list[int], table: str, idcol: str) -> None:
        for key in [c for c in cols if c not in CORE[name]]:
            values = [None if v is None else str(v) for v in cols[key]]
            con.executemany(
                f"INSERT INTO {table} ({idcol}, key, value) VALUES (?, ?, ?)",
                ((i, key, v) for i, v in zip(ids, values, strict=True) if v is not None),
            )

    s = read("sites")
    site_id = {n: i for i, n in enumerate(s["name"], 1)}
    con.executemany(
        "INSERT INTO site (id, name, tier, country, cloud, status) VALUES (?, ?, ?, ?, ?, ?)",
        zip(site_id.values(), s["name"], s["tier"], s["country"], s["cloud"],
            [v or "active" for v in s["status"]], strict=True),
    )  # fmt: skip

    e = read("endpoints")
    endpoint_id = {n: i for i, n in enumerate(e["name"], 1)}
    con.executemany(
        "INSERT INTO endpoint (id, name, site_id, media, capacity_bytes) VALUES (?, ?, ?, ?, ?)",
        zip(endpoint_id.values(), e["name"], [site_id[x] for x in e["site"]], e["media"],
            e["capacity_bytes"], strict=True),
    )  # fmt: skip
    extras("endpoints", e, list(endpoint_id.values()), "endpoint_attribute", "endpoint_id")

    t = read("transformations")
    tf_id = {n: i for i, n in enumerate(t["tag"], 1)}
    con.executemany(
        "INSERT INTO transformation (id, tag, name, release, image, image_digest, code_repo, "
        "code_commit, command, platform, cpu_seconds_per_event, output_ratio) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        zip(tf_id.values(), *(t[c] for c in CORE["transformations"]), strict=True),
    )
    extras("transformations", t, list(tf_id.values()), "transformation_parameter",
           "transformation_id")  # fmt: skip

    d = read("datasets")
    ds_id = {n: i for i, n in enumerate(d["did"], 1)}
    scope_name = [did.split(":", 1) for did in d["did"]]
    con.executemany(
        "INSERT INTO dataset (id, did, scope, name, kind, data_type, bytes, files, events, "
        "created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        zip(ds_id.values(), d["did"], (x[0] for x in scope_name), (x[1] for x in scope_name),
            d["kind"], d["data_type"], d["bytes"], d["files"], d["events"], d["created_at"],
            d["expires_at"], [v or "closed" for v in d["state"]], strict=True),
    )  # fmt: skip
    extras("datasets", d, list(ds_id.values()), "dataset_metadata", "dataset_id")
    del d, scope_name

    p = read("productions")
    prod_id = {n: i for i, n in enumerate(p["id"], 1)}
    con.executemany(
        "INSERT INTO production (id, name, transformation_id, conditions_tag, site_id, "
        "started_at, finished_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        zip(prod_id.values(), p["id"], [tf_id[x] for x in p["transformation"]],
            p["conditions_tag"], [site_id.get(x) for x in p["site"]], p["started_at"],
            p["finished_at"], [v or "done" for v in p["status"]], strict=True),
    )  # fmt: skip

    io = read("production_io")
    triples = list(zip(io["production"], io["did"], io["role"], strict=True))
    con.executemany(
        "INSERT INTO production_input (production_id, dataset_id, role) VALUES (?, ?, ?)",
        ((prod_id[pr], ds_id[di], ro) for pr, di, ro in triples if ro != "output"),
    )
    con.executemany(
        "INSERT INTO production_output (dataset_id, production_id) VALUES (?, ?)",
        ((ds_id[di], prod_id[pr]) for pr, di, ro in triples if ro == "output"),
    )
    del io, triples

    r = read("replicas")
    con.executemany(
        "INSERT INTO replica (dataset_id, endpoint_id, state, created_at, accessed_at) "
        "VALUES (?, ?, ?, ?, ?)",
        zip([ds_id[x] for x in r["did"]], [endpoint_id[x] for x in r["endpoint"]],
            [v or "available" for v in r["state"]], r["created_at"], r["accessed_at"],
            strict=True),
    )  # fmt: skip
    del r

    n = read("pins")
    con.executemany(
        "INSERT INTO pin (dataset_id, reason, until, actor) VALUES (?, ?, ?, ?)",
        zip([ds_id[x] for x in n["did"]], n["reason"], n["until"], n["actor"], strict=True),
    )
    con.execute("COMMIT")
    con.close()
    return rows


if __name__ == "__main__":
    print(load(Path(sys.argv[1]), Path(sys.argv[2])))
