"""Small hand-built catalogs for tests, written as exchange-format directories."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

RAW = "data18_13TeV:data18_13TeV.00357772.physics_Main.daq.RAW"
AOD = "data18_13TeV:data18_13TeV.00357772.physics_Main.merge.AOD.r13286"
PHYS = "data18_13TeV:data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYS.r13286_p4910"
CALIB = "calib:calib.CONDBR2-BLKPA-RUN2-09.v01"

# A chain RAW -> AOD -> DAOD_PHYS with a calibration input, two sites with tape and disk.
MINI: dict[str, list[dict[str, str]]] = {
    "sites": [
        {"name": "CERN-PROD", "tier": "0", "country": "ch", "cloud": "CERN", "status": "active"},
        {"name": "BNL-OSG2", "tier": "1", "country": "us", "cloud": "US", "status": ""},
    ],
    "endpoints": [
        {
            "name": "CERN-PROD_DATATAPE",
            "site": "CERN-PROD",
            "media": "tape",
            "capacity_bytes": "90000000000000000",
            "type": "DATATAPE",
            "archival": "TRUE",
        },
        {
            "name": "CERN-PROD_DATADISK",
            "site": "CERN-PROD",
            "media": "disk",
            "capacity_bytes": "",
            "type": "DATADISK",
            "archival": "false",
        },
        {
            "name": "BNL-OSG2_DATATAPE",
            "site": "BNL-OSG2",
            "media": "tape",
            "capacity_bytes": "50000000000000000",
            "type": "DATATAPE",
            "archival": "true",
        },
    ],
    "datasets": [
        {
            "did": RAW,
            "kind": "raw",
            "data_type": "",
            "bytes": "2000000000000",
            "files": "400",
            "events": "1000000",
            "created_at": "2018-08-01T10:00:00Z",
            "expires_at": "",
            "state": "closed",
            "run_number": "357772",
        },
        {
            "did": CALIB,
            "kind": "calibration",
            "data_type": "COND",
            "bytes": "1000000",
            "files": "1",
            "events": "",
            "created_at": "2018-07-01T00:00:00Z",
            "expires_at": "",
            "state": "",
            "run_number": "",
        },
        {
            "did": AOD,
            "kind": "derived",
            "data_type": "AOD",
            "bytes": "1000000000000",
            "files": "200",
            "events": "1000000",
            "created_at": "2018-08-03T10:00:00+02:00",
            "expires_at": "",
            "state": "closed",
            "run_number": "357772",
        },
        {
            "did": PHYS,
            "kind": "derived",
            "data_type": "",
            "bytes": "100000000000",
            "files": "20",
            "events": "1000000",
            "created_at": "2018-08-05T10:00:00.250000Z",
            "expires_at": "2030-01-01T00:00:00Z",
            "state": "closed",
            "run_number": "357772",
        },
    ],
    "replicas": [
        {
            "did": RAW,
            "endpoint": "CERN-PROD_DATATAPE",
            "state": "available",
            "created_at": "2018-08-01T12:00:00Z",
            "accessed_at": "",
        },
        {
            "did": RAW,
            "endpoint": "BNL-OSG2_DATATAPE",
            "state": "",
            "created_at": "2018-08-02T12:00:00Z",
            "accessed_at": "2019-01-01T00:00:00Z",
        },
        {
            "did": CALIB,
            "endpoint": "CERN-PROD_DATADISK",
            "state": "available",
            "created_at": "2018-07-01T00:00:00Z",
            "accessed_at": "",
        },
        {
            "did": AOD,
            "endpoint": "CERN-PROD_DATADISK",
            "state": "available",
            "created_at": "2018-08-03T12:00:00Z",
            "accessed_at": "",
        },
        {
            "did": PHYS,
            "endpoint": "CERN-PROD_DATADISK",
            "state": "lost",
            "created_at": "2018-08-05T12:00:00Z",
            "accessed_at": "",
        },
    ],
    "transformations": [
        {
            "tag": "r13286",
            "name": "Reco_tf",
            "release": "Athena,22.0.40",
            "image": "registry.cern.ch/atlas/athena:22.0.40",
            "image_digest": "sha256:" + "a" * 64,
            "code_repo": "https://gitlab.cern.ch/atlas/athena",
            "code_commit": "b" * 40,
            "command": "Reco_tf.py --AMIConfig r13286",
            "platform": "x86_64-centos7-gcc11-opt",
            "cpu_seconds_per_event": "12.5",
            "output_ratio": "0.5",
        },
        {
            "tag": "p4910",
            "name": "Derivation_tf",
            "release": "AthDerivation,21.2.179.0",
            "image": "",
            "image_digest": "",
            "code_repo": "",
            "code_commit": "",
            "command": "",
            "platform": "",
            "cpu_seconds_per_event": "",
            "output_ratio": "0.1",
        },
    ],
    "productions": [
        {
            "id": "task-00000001",
            "transformation": "r13286",
            "conditions_tag": "CONDBR2-BLKPA-RUN2-09",
            "site": "CERN-PROD",
            "started_at": "2018-08-02T00:00:00Z",
            "finished_at": "2018-08-03T00:00:00Z",
            "status": "done",
        },
        {
            "id": "task-00000002",
            "transformation": "p4910",
            "conditions_tag": "",
            "site": "",
            "started_at": "",
            "finished_at": "",
            "status": "",
        },
    ],
    "production_io": [
        {"production": "task-00000001", "did": RAW, "role": "input"},
        {"production": "task-00000001", "did": CALIB, "role": "calibration"},
        {"production": "task-00000001", "did": AOD, "role": "output"},
        {"production": "task-00000002", "did": AOD, "role": "input"},
        {"production": "task-00000002", "did": PHYS, "role": "output"},
    ],
    "pins": [
        {
            "did": PHYS,
            "reason": "HIGG-2018-01 unblinding",
            "until": "2027-01-01T00:00:00Z",
            "actor": "alice",
        },
    ],
}


def mini() -> dict[str, list[dict[str, str]]]:
    """A fresh, mutable copy of :data:`MINI`."""
    return copy.deepcopy(MINI)


def write_catalog(directory: Path, tables: dict[str, list[dict[str, str]]]) -> Path:
    """Write ``tables`` as CSV files into ``directory`` (header from the first row's keys)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        if not rows:
            continue
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with (directory / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return directory


# -- a chain with merges, a calibration fan-out and deleted intermediates ------------------------
#
#     RAW1 ─┐                          CALIB is used by both reco productions (fan-out)
#     CALIB ├─ task-reco1 ─> AOD1 (deleted) ─┐
#     RAW2 ─┼─ task-reco2 ─> AOD2 ───────────┴─ task-merge ─> MERGED ─ task-phys ─> DPHYS (deleted)
#     CALIB ┘                                                    DPHYS ─ task-lite ─> LITE

PROJECT = "data18_13TeV"
RAW1 = f"{PROJECT}:{PROJECT}.00357772.physics_Main.daq.RAW"
RAW2 = f"{PROJECT}:{PROJECT}.00357773.physics_Main.daq.RAW"
AOD1 = f"{PROJECT}:{PROJECT}.00357772.physics_Main.recon.AOD.r13286"
AOD2 = f"{PROJECT}:{PROJECT}.00357773.physics_Main.recon.AOD.r13286"
MERGED = f"{PROJECT}:{PROJECT}.periodB.physics_Main.merge.AOD.r13286_p4910"
DPHYS = f"{PROJECT}:{PROJECT}.periodB.physics_Main.deriv.DAOD_PHYS.r13286_p4910_p5000"
LITE = f"{PROJECT}:{PROJECT}.periodB.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p5000_p6026"
DIGEST = "sha256:" + "c" * 64


def _dataset(did: str, kind: str, data_type: str, size: int, state: str = "closed") -> dict:
    return {
        "did": did,
        "kind": kind,
        "data_type": data_type,
        "bytes": str(size),
        "files": "1",
        "events": "1000" if kind != "calibration" else "",
        "created_at": "2019-01-01T00:00:00Z",
        "expires_at": "",
        "state": state,
    }


def _replica(did: str, endpoint: str, state: str = "available") -> dict:
    return {
        "did": did,
        "endpoint": endpoint,
        "state": state,
        "created_at": "2019-02-01T00:00:00Z",
        "accessed_at": "",
    }


def _transformation(tag: str, name: str, digest: str | None = DIGEST) -> dict:
    return {
        "tag": tag,
        "name": name,
        "release": "Athena,22.0.40",
        "image": "registry.cern.ch/atlas/athena:22.0.40",
        "image_digest": digest or "",
        "code_repo": "https://gitlab.cern.ch/atlas/athena",
        "code_commit": "d" * 40,
        "command": f"{name}.py --AMIConfig {tag}",
    }


def _production(name: str, tag: str, start: str) -> dict:
    return {
        "id": name,
        "transformation": tag,
        "conditions_tag": "CONDBR2-BLKPA-RUN2-09",
        "site": "CERN-PROD",
        "started_at": f"2019-01-{start}T00:00:00Z",
        "finished_at": f"2019-01-{start}T06:00:00Z",
        "status": "done",
    }


def chain() -> dict[str, list[dict[str, str]]]:
    """The chain of the module docstring as exchange-format tables."""
    return {
        "sites": copy.deepcopy(MINI["sites"]),
        "endpoints": copy.deepcopy(MINI["endpoints"]),
        "datasets": [
            _dataset(RAW1, "raw", "RAW", 2000),
            _dataset(RAW2, "raw", "RAW", 3000),
            _dataset(CALIB, "calibration", "COND", 10),
            _dataset(AOD1, "derived", "AOD", 1000, state="deleted"),
            _dataset(AOD2, "derived", "AOD", 1500),
            _dataset(MERGED, "derived", "AOD", 2500),
            _dataset(DPHYS, "derived", "DAOD_PHYS", 250, state="deleted"),
            _dataset(LITE, "derived", "DAOD_PHYSLITE", 25),
        ],
        "replicas": [
            _replica(RAW1, "CERN-PROD_DATATAPE"),
            _replica(RAW1, "BNL-OSG2_DATATAPE"),
            _replica(RAW2, "CERN-PROD_DATATAPE"),
            _replica(CALIB, "CERN-PROD_DATADISK"),
            _replica(AOD1, "CERN-PROD_DATADISK", "deleted"),
            _replica(AOD2, "CERN-PROD_DATADISK"),
            _replica(MERGED, "CERN-PROD_DATADISK"),
            _replica(DPHYS, "CERN-PROD_DATADISK", "deleted"),
            _replica(LITE, "CERN-PROD_DATADISK"),
        ],
        "transformations": [
            _transformation("r13286", "Reco_tf"),
            _transformation("p4910", "Merge_tf"),
            _transformation("p5000", "Derivation_tf"),
            _transformation("p6026", "Derivation_tf"),
        ],
        "productions": [
            _production("task-reco1", "r13286", "02"),
            _production("task-reco2", "r13286", "03"),
            _production("task-merge", "p4910", "04"),
            _production("task-phys", "p5000", "05"),
            _production("task-lite", "p6026", "06"),
        ],
        "production_io": [
            {"production": "task-reco1", "did": RAW1, "role": "input"},
            {"production": "task-reco1", "did": CALIB, "role": "calibration"},
            {"production": "task-reco1", "did": AOD1, "role": "output"},
            {"production": "task-reco2", "did": RAW2, "role": "input"},
            {"production": "task-reco2", "did": CALIB, "role": "calibration"},
            {"production": "task-reco2", "did": AOD2, "role": "output"},
            {"production": "task-merge", "did": AOD1, "role": "input"},
            {"production": "task-merge", "did": AOD2, "role": "input"},
            {"production": "task-merge", "did": MERGED, "role": "output"},
            {"production": "task-phys", "did": MERGED, "role": "input"},
            {"production": "task-phys", "did": DPHYS, "role": "output"},
            {"production": "task-lite", "did": DPHYS, "role": "input"},
            {"production": "task-lite", "did": LITE, "role": "output"},
        ],
    }
