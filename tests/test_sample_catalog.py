"""The shipped sample catalog: it loads, round-trips, and holds its documented chains and problems."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SAMPLE_CATALOG, snapshot

from lifecycle.api import Catalog

RAW_ONE_TAPE = "data22_13p6TeV:data22_13p6TeV.00431493.physics_Main.daq.RAW"
RAW_ONE_SITE = "data17_13TeV:data17_13TeV.00330470.physics_Main.daq.RAW"
RAW_LOST_TAPE = "data16_13TeV:data16_13TeV.00298862.physics_Main.daq.RAW"
NO_DIGEST = "data18_13TeV:data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYSVAL.r13286_p4910_p4931"
EXPIRED = "data16_13TeV:data16_13TeV.00300908.physics_Main.deriv.DAOD_PHYS.r13286_p4910_p5980"
NOW = "2026-11-25 00:00:00"


@pytest.fixture
def sample(catalog) -> Catalog:
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


def rows(cat: Catalog, sql: str, **params) -> list[tuple]:
    with cat.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def test_sample_catalog_is_documented():
    readme = (SAMPLE_CATALOG / "README.md").read_text()
    for did in (RAW_ONE_TAPE, RAW_ONE_SITE, RAW_LOST_TAPE, NO_DIGEST, EXPIRED):
        assert did in readme


def test_loads_round_trips_and_reimports_unchanged(sample, tmp_path):
    before = snapshot(sample)
    assert not sample.import_directory(SAMPLE_CATALOG).changed
    assert snapshot(sample) == before
    sample.export_directory(tmp_path / "out")
    other = Catalog(tmp_path / "other.db")
    other.import_directory(tmp_path / "out")
    other.export_directory(tmp_path / "again")
    other.close()
    for path in sorted((tmp_path / "out").iterdir()):
        assert path.read_bytes() == (tmp_path / "again" / path.name).read_bytes(), path.name


def test_real_sites_and_tiers(sample):
    sites = sample.sites().set_index("name")
    assert sites.loc["CERN-PROD", "tier"] == 0
    tier1 = set(sites.index[sites["tier"] == 1])
    assert {"BNL-OSG2", "FZK-LCG2", "IN2P3-CC", "RAL-LCG2"} <= tier1
    assert (sites["tier"] == 2).sum() >= 3
    endpoints = sample.endpoints()
    tier1_tape = endpoints[(endpoints["tier"] == 1) & (endpoints["media"] == "tape")]
    assert tier1_tape["site"].nunique() >= 4
    known = Path(__file__).resolve().parents[2] / "shared" / "data" / "atlas" / "atlas_sites.csv"
    if known.exists():  # every endpoint name is a real RSE name
        text = known.read_text()
        assert all(name in text for name in endpoints["name"])


def _chain_types(cat: Catalog, did: str) -> list[str]:
    """Data types from ``did`` up its first-input chain to a root."""
    types = []
    while True:
        details = cat.dataset(did)
        types.append(details.dataset["data_type"])
        if details.producer is None:
            return types
        inputs = details.producer_inputs
        inputs = inputs[inputs["role"] == "input"]
        if inputs.empty:  # event generation reads only its configuration
            return types
        did = inputs["did"].iloc[0]


def test_complete_chains(sample):
    data = sample.datasets(data_type=["DAOD_PHYSLITE"], scope=["data17_13TeV"], limit=None)
    chains = [_chain_types(sample, d) for d in data["did"]]
    assert ["DAOD_PHYSLITE", "DAOD_PHYS", "AOD", "AOD", "RAW"] in chains
    mc = sample.datasets(data_type=["DAOD_PHYSLITE"], kind=["simulated"], limit=None)
    mc_chains = [_chain_types(sample, d) for d in mc["did"]]
    assert any(
        c[0] == "DAOD_PHYSLITE" and c[-2:] == ["HITS", "EVNT"] and "AOD" in c for c in mc_chains
    )
    # reconstruction reads calibration; some production merges several inputs
    assert (
        rows(sample, "SELECT COUNT(*) FROM production_input WHERE role = 'calibration'")[0][0] > 0
    )
    merges = rows(
        sample,
        "SELECT production_id FROM production_input WHERE role = 'input' "
        "GROUP BY production_id HAVING COUNT(*) >= 2",
    )
    assert merges
    images = rows(sample, "SELECT COUNT(*) FROM transformation WHERE image IS NOT NULL")[0][0]
    assert images >= 10


def _available_tape_sites(cat: Catalog, did: str) -> list[str]:
    return [
        r[0]
        for r in rows(
            cat,
            "SELECT s.name FROM replica r JOIN dataset d ON d.id = r.dataset_id "
            "JOIN endpoint e ON e.id = r.endpoint_id JOIN site s ON s.id = e.site_id "
            "WHERE d.did = :did AND e.media = 'tape' AND r.state = 'available' ORDER BY s.name",
            did=did,
        )
    ]


def test_planted_problems(sample):
    assert len(_available_tape_sites(sample, RAW_ONE_TAPE)) == 1
    both = _available_tape_sites(sample, RAW_ONE_SITE)
    assert len(both) == 2
    assert len(set(both)) == 1
    assert len(_available_tape_sites(sample, RAW_LOST_TAPE)) == 1
    lost = rows(sample, "SELECT COUNT(*) FROM replica WHERE state = 'lost'")[0][0]
    assert lost == 1
    assert sample.dataset(NO_DIGEST).producer["image_digest"] is None
    expired = sample.dataset(EXPIRED).dataset
    assert expired["kind"] == "derived"
    assert expired["expires_at"] < "2026-11-25"


def test_no_other_raw_placement_problems(sample):
    """Every other RAW dataset has available tape copies at two or more sites."""
    raw = sample.datasets(kind=["raw"], limit=None)["did"]
    bad = {d for d in raw if len(set(_available_tape_sites(sample, d))) < 2}
    assert bad == {RAW_ONE_TAPE, RAW_ONE_SITE, RAW_LOST_TAPE}


def test_only_planted_transformation_lacks_digest(sample):
    missing = rows(sample, "SELECT tag FROM transformation WHERE image_digest IS NULL")
    assert missing == [("p4931",)]


def test_only_planted_dataset_is_expired(sample):
    expired = rows(
        sample,
        "SELECT did FROM dataset WHERE expires_at IS NOT NULL AND expires_at < :now",
        now=NOW,
    )
    assert expired == [(EXPIRED,)]
