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
