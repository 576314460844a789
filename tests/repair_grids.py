"""Small grids for the repair and transfer tests: sites, endpoints, datasets and replicas given
as compact tuples, written as exchange-format tables (``catalogs.write_catalog``)."""

from __future__ import annotations

from pathlib import Path

from catalogs import write_catalog

from lifecycle.policy import load_policies

# name, tier, country, cloud, status
SITES = [
    ("CERN-PROD", 0, "ch", "CERN", "active"),
    ("CSCS-LCG2", 2, "ch", "CERN", "active"),  # same country and cloud as CERN
    ("FZK-LCG2", 1, "de", "DE", "active"),
    ("DESY-HH", 2, "de", "DE", "active"),
    ("TRIUMF-LCG2", 1, "ca", "CA", "active"),
    ("BNL-OSG2", 1, "us", "US", "active"),
]
TB = 10**12


def endpoint(site: str, media: str, capacity: int | None = 100 * TB, suffix: str = "") -> tuple:
    kind = "DATATAPE" if media == "tape" else "DATADISK"
    return (f"{site}_{suffix or kind}", site, media, capacity)


def grid(
    datasets: list[tuple[str, str, int]],
    replicas: list[tuple[str, str] | tuple[str, str, str]],
    endpoints: list[tuple] | None = None,
    sites: list[tuple] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Tables: ``datasets`` (did, kind, bytes), ``replicas`` (did, endpoint[, state]),
    ``endpoints`` (name, site, media, capacity or None), ``sites`` as :data:`SITES`."""
    sites = sites or SITES
    if endpoints is None:
        endpoints = [endpoint(s[0], m) for s in sites for m in ("tape", "disk")]
    return {
        "sites": [
            {"name": n, "tier": str(t), "country": c, "cloud": cl, "status": st}
            for n, t, c, cl, st in sites
        ],
        "endpoints": [
            {"name": n, "site": s, "media": m, "capacity_bytes": "" if cap is None else str(cap)}
            for n, s, m, cap in endpoints
        ],
        "datasets": [
            {
                "did": did,
                "kind": kind,
                "data_type": "RAW" if kind == "raw" else "AOD",
                "bytes": str(size),
                "files": "1",
                "created_at": "2019-01-01T00:00:00Z",
            }
            for did, kind, size in datasets
        ],  # fmt: skip
        "replicas": [
            {
                "did": r[0],
                "endpoint": r[1],
                "state": r[2] if len(r) > 2 else "available",
                "created_at": "2019-02-01T00:00:00Z",
            }
            for r in replicas
        ],  # fmt: skip
    }


def load(catalog, tmp_path: Path, tables, name: str = "grid"):
    catalog.import_directory(write_catalog(tmp_path / name, tables))
    return catalog


def policy(tmp_path: Path, text: str, name: str = "rules"):
    path = tmp_path / f"policy-{name}" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[policy]\nname = "{name}"\n' + text)
    return load_policies([path])


def rule(name: str, copies: int, endpoints: str, distinct: str, kind: str = "raw") -> str:
    return (
        f'\n[[rule]]\nname = "{name}"\ntype = "replication"\nselect = {{ kind = ["{kind}"] }}\n'
        f'copies = {copies}\nendpoints = "{endpoints}"\ndistinct = "{distinct}"\n'
    )


PRESERVED = (
    '\n[[rule]]\nname = "raw-preserved"\ntype = "preservation"\nselect = { kind = ["raw"] }\n'
)
