"""Loss simulation (``lifecycle simulate loss``) on hand-built catalogs, on both databases."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from catalogs import (
    AOD,
    AOD1,
    AOD2,
    CALIB,
    DPHYS,
    LITE,
    MERGED,
    PHYS,
    RAW,
    RAW1,
    RAW2,
    chain,
    mini,
    write_catalog,
)
from conftest import ROOT, snapshot
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.errors import InvalidExpression, UsageError
from lifecycle.policy import load_policies
from lifecycle.provenance import WhatIf

POLICIES = load_policies([ROOT / "policies"])
NOW = datetime(2026, 11, 25, tzinfo=UTC)
RAW_SOLO = "data18_13TeV:data18_13TeV.00357999.physics_Main.daq.RAW"  # one copy, at BNL
RAW_THIN = "data18_13TeV:data18_13TeV.00358000.physics_Main.daq.RAW"  # one tape site already
runner = CliRunner()


def _site(name: str, tier: str, country: str) -> dict[str, str]:
    return {"name": name, "tier": tier, "country": country, "cloud": country.upper(), "status": ""}


def _endpoint(name: str, site: str, media: str) -> dict[str, str]:
    return {"name": name, "site": site, "media": media, "capacity_bytes": "", "type": "",
            "archival": str(media == "tape").lower()}  # fmt: skip


def _replica(did: str, endpoint: str, state: str = "available") -> dict[str, str]:
    return {"did": did, "endpoint": endpoint, "state": state,
            "created_at": "2019-02-01T00:00:00Z", "accessed_at": ""}  # fmt: skip


def _raw(did: str, size: int) -> dict[str, str]:
    return {"did": did, "kind": "raw", "data_type": "RAW", "bytes": str(size), "files": "1",
            "events": "10", "created_at": "2018-08-01T00:00:00Z", "expires_at": "",
            "state": "closed"}  # fmt: skip


def _grid(tables: dict) -> dict:
    """Add a third site, FZK-LCG2 (tier 1, de), with tape and disk, and a BNL disk."""
    tables = copy.deepcopy(tables)
    tables["sites"].append(_site("FZK-LCG2", "1", "de"))
    tables["endpoints"] += [
        _endpoint("FZK-LCG2_DATATAPE", "FZK-LCG2", "tape"),
        _endpoint("FZK-LCG2_DATADISK", "FZK-LCG2", "disk"),
        _endpoint("BNL-OSG2_DATADISK", "BNL-OSG2", "disk"),
    ]
    return tables


def _load(catalog, tmp_path, tables: dict):
    catalog.import_directory(write_catalog(tmp_path / "catalog", tables))
    return catalog


def _simulate(catalog, *sites, **options):
    return catalog.simulate_loss(sites=sites, policies=POLICIES, now=NOW, **options)


def _dids(rows: list[dict]) -> list[str]:
    return [row["did"] for row in rows]


# -- MINI: RAW on tape at CERN and BNL; calibration, AOD on CERN disk; PHYS already lost ---------


@pytest.fixture
def grid(catalog, tmp_path):
    """MINI on three sites: a raw with its only copy at BNL, and one with one tape site already."""
    tables = _grid(mini())
    tables["datasets"] += [_raw(RAW_SOLO, 500), _raw(RAW_THIN, 700)]
    tables["replicas"] += [
        _replica(RAW_SOLO, "BNL-OSG2_DATATAPE"),
        _replica(RAW_THIN, "CERN-PROD_DATATAPE"),
        _replica(RAW_THIN, "BNL-OSG2_DATADISK"),
        _replica(RAW, "CERN-PROD_DATADISK"),
    ]
    return _load(catalog, tmp_path, tables)


def test_losing_a_tier1_whose_raw_copies_exist_elsewhere(catalog, tmp_path):
    cat = _load(catalog, tmp_path, _grid(mini()))
    report = _simulate(cat, "BNL-OSG2")
    assert report.lost == []
    assert report.recoverable == []
    assert not report.loses_data
    # RAW keeps its CERN tape copy: one tape site left of the two the policy asks for
    assert [(v["rule"], v["did"], v["before"], v["after"]) for v in report.violations] == [
        ("raw-archival-copies", RAW, 2, 1)
    ]
    assert report.re_replicate == [
        {"did": RAW, "replicas": 1, "bytes": 2_000_000_000_000,
         "source": "CERN-PROD_DATATAPE", "source_site": "CERN-PROD", "source_media": "tape"}
    ]  # fmt: skip
    assert report.endpoints == ["BNL-OSG2_DATADISK", "BNL-OSG2_DATATAPE"]
    summary = report.summary
    assert summary["replicas_lost"] == 1
    assert summary["bytes_lost"] == 2_000_000_000_000
    assert summary["re_replicate"]["by_source_site"] == [
        {"site": "CERN-PROD", "datasets": 1, "replicas": 1, "bytes": 2_000_000_000_000,
         "tape_bytes": 2_000_000_000_000}
    ]  # fmt: skip


def test_losing_the_only_copy_is_lost_for_good(grid):
    report = _simulate(grid, "BNL-OSG2")
    assert report.loses_data
    assert report.lost == [
        {"did": RAW_SOLO, "kind": "raw", "bytes": 500,
         "reason": "no replica would remain and raw data cannot be regenerated"}
    ]  # fmt: skip
    # RAW_THIN had one tape site before the loss: not a violation the loss creates
    assert _dids(report.violations) == [RAW]
    # RAW keeps a disk copy at CERN, preferred as the source over CERN's tape
    sources = {row["did"]: row["source"] for row in report.re_replicate}
    assert sources == {RAW: "CERN-PROD_DATADISK", RAW_THIN: "CERN-PROD_DATATAPE"}
    assert report.summary["lost_by_kind"] == {"raw": {"datasets": 1, "bytes": 500}}


def test_losing_cern_loses_calibration_and_what_needs_it(grid):
    report = _simulate(grid, "CERN-PROD")
    lost = {row["did"]: row for row in report.lost}
    assert set(lost) == {CALIB, AOD}  # PHYS had no available replica before: not listed
    assert lost[CALIB]["reason"] == (
        "no replica would remain and calibration data cannot be regenerated"
    )
    assert lost[AOD]["kind"] == "derived"
    assert lost[AOD]["reason"] == (
        f"not reproducible after the loss: its recipe needs {CALIB}, which would have no "
        "available replica and cannot be regenerated (no producing production recorded)"
    )
    assert report.recoverable == []
    assert PHYS not in _dids(report.re_replicate)
    assert report.summary["datasets_losing_every_replica"] == 2


def test_the_catalog_is_unchanged(grid):
    before = snapshot(grid)
    _simulate(grid, "CERN-PROD", countries=("us",), endpoints="FZK-LCG2_DATATAPE")
    assert snapshot(grid) == before


# -- the chain: merges and deleted intermediates -----------------------------------------------


@pytest.fixture
def chain_grid(catalog, tmp_path):
    """The chain with RAW2 and the calibration also on tape at BNL (RAW1 is there already)."""
    tables = _grid(chain())
    tables["replicas"] += [
        _replica(RAW2, "BNL-OSG2_DATATAPE"),
        _replica(CALIB, "BNL-OSG2_DATATAPE"),
    ]
    return _load(catalog, tmp_path, tables)


def test_recoverable_with_the_size_of_their_recipe(chain_grid):
    report = _simulate(chain_grid, "CERN-PROD")
    assert report.lost == []
    steps = {row["did"]: row["steps"] for row in report.recoverable}
    # AOD2: reco2; MERGED: merge, reco1 (AOD1 is deleted), reco2; LITE: lite, phys + MERGED's 3
    assert steps == {AOD2: 1, MERGED: 3, LITE: 5}
    assert report.summary["recipe_steps"] == 9
    assert report.summary["productions_to_rerun"] == 5  # each production once for the campaign
    assert {(v["did"], v["before"], v["after"]) for v in report.violations} == {
        (RAW1, 2, 1),
        (RAW2, 2, 1),
    }
    assert {row["did"]: row["source"] for row in report.re_replicate} == {
        RAW1: "BNL-OSG2_DATATAPE",
        RAW2: "BNL-OSG2_DATATAPE",
        CALIB: "BNL-OSG2_DATATAPE",
    }


def test_steps_agree_with_the_recipe_of_each_dataset(chain_grid):
    report = _simulate(chain_grid, "CERN-PROD")
    for row in report.recoverable:
        recipe = chain_grid.recipe(row["did"], WhatIf(sites=("CERN-PROD",)))
        assert recipe.reproducible
        assert len(recipe.steps) == row["steps"], row["did"]


def test_an_irreproducible_derived_dataset_is_lost_for_good(catalog, tmp_path):
    tables = _grid(chain())
    tables["replicas"] += [
        _replica(RAW2, "BNL-OSG2_DATATAPE"),
        _replica(CALIB, "FZK-LCG2_DATADISK"),
    ]
    for t in tables["transformations"]:
        if t["tag"] == "p5000":
            t["image_digest"] = ""
    cat = _load(catalog, tmp_path, tables)
    report = _simulate(cat, "CERN-PROD")
    assert _dids(report.recoverable) == [AOD2, MERGED]
    assert report.lost == [
        {"did": LITE, "kind": "derived", "bytes": 25,
         "reason": f"not reproducible after the loss: its recipe needs {DPHYS}, which would "
                   "have no available replica and cannot be regenerated (transformation p5000 "
                   "records no image digest)"}
    ]  # fmt: skip
    recipe = cat.recipe(LITE, WhatIf(sites=("CERN-PROD",)))
    assert not recipe.reproducible
    assert [m.did for m in recipe.missing] == [DPHYS]


def test_two_sites_lost_together(chain_grid):
    alone = [_simulate(chain_grid, site) for site in ("CERN-PROD", "BNL-OSG2")]
    assert not any(report.loses_data for report in alone)
    together = _simulate(chain_grid, "CERN-PROD", "BNL-OSG2")
    assert together.loses_data
    # the raw data and calibration burn at both sites, and with them every way to rebuild
    lost = {row["did"]: row["kind"] for row in together.lost}
    assert lost == {RAW1: "raw", RAW2: "raw", CALIB: "calibration",
                    AOD2: "derived", MERGED: "derived", LITE: "derived"}  # fmt: skip
    assert together.recoverable == []
    assert together.re_replicate == []
    # RAW1 goes from two tape sites to none (RAW2 likewise); AOD1 and DPHYS are not listed
    assert {(v["did"], v["after"]) for v in together.violations} == {(RAW1, 0), (RAW2, 0)}
    assert AOD1 not in lost
    assert DPHYS not in lost


def test_a_third_copy_survives_the_loss_of_two_sites(catalog, tmp_path):
    tables = _grid(chain())
    tables["replicas"] += [
        _replica(RAW1, "FZK-LCG2_DATATAPE"),
        _replica(RAW2, "FZK-LCG2_DATATAPE"),
        _replica(CALIB, "FZK-LCG2_DATADISK"),
    ]
    cat = _load(catalog, tmp_path, tables)
    report = _simulate(cat, "CERN-PROD", "BNL-OSG2")
    assert report.lost == []
    assert {row["did"]: row["steps"] for row in report.recoverable} == {
        AOD2: 1,
        MERGED: 3,
        LITE: 5,
    }
    copies = {row["did"]: (row["replicas"], row["source"]) for row in report.re_replicate}
    assert copies == {
        RAW1: (2, "FZK-LCG2_DATATAPE"),  # it had copies at both CERN and BNL
        RAW2: (1, "FZK-LCG2_DATATAPE"),
        CALIB: (1, "FZK-LCG2_DATADISK"),
    }
    assert report.summary["re_replicate"]["bytes"] == 2 * 2000 + 3000 + 10


# -- choosing the storage -------------------------------------------------------------------


def test_countries_and_endpoint_expressions_choose_the_storage(grid):
    by_country = _simulate(grid, countries=("us",))
    by_site = _simulate(grid, "BNL-OSG2")
    assert by_country.to_dict()["lost"] == by_site.to_dict()["lost"]
    assert by_country.summary["scenario"] == {"sites": [], "endpoints": None, "countries": ["us"]}
    tape = _simulate(grid, endpoints="BNL-OSG2_DATATAPE")
    assert tape.endpoints == ["BNL-OSG2_DATATAPE"]
    assert _dids(tape.lost) == [RAW_SOLO]
    assert RAW_THIN not in _dids(tape.re_replicate)  # its BNL copy is on disk
    every_tape = _simulate(grid, endpoints="media=tape")
    assert _dids(every_tape.lost) == [RAW_SOLO]  # RAW and RAW_THIN keep a copy on disk
    assert {row["did"]: row["source"] for row in every_tape.re_replicate} == {
        RAW: "CERN-PROD_DATADISK",
        RAW_THIN: "BNL-OSG2_DATADISK",
    }
    assert [(v["did"], v["after"]) for v in every_tape.violations] == [(RAW, 0)]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"sites": ("NOWHERE",)}, UsageError, "unknown site 'NOWHERE'"),
        ({"countries": ("CH",)}, UsageError, "no site in country 'CH'"),
        ({"endpoints": "media=floppy"}, InvalidExpression, "matches no endpoint"),
        ({}, UsageError, "nothing to lose"),
    ],
)
def test_bad_scenarios_are_usage_errors(grid, options, error, message):
    with pytest.raises(error, match=message):
        grid.simulate_loss(policies=POLICIES, **options)


def test_without_policies_there_are_no_violations(grid):
    report = grid.simulate_loss(sites=("BNL-OSG2",))
    assert report.violations == []
    assert report.summary["violations_by_rule"] == {}
    assert _dids(report.lost) == [RAW_SOLO]


# -- the command -------------------------------------------------------------------------------


def _cli(cat, *args: str):
    return runner.invoke(
        app, ["--db", cat.url, "simulate", "loss", "--policy", str(ROOT / "policies"),
              "--now", "2026-11-25", *args],
    )  # fmt: skip


def test_cli_json_shape_and_exit_codes(grid):
    result = _cli(grid, "--site", "BNL-OSG2", "--format", "json")
    assert result.exit_code == 1, result.output  # RAW_SOLO would be lost for good
    document = json.loads(result.stdout)
    assert list(document) == [
        "kind", "summary", "lost", "recoverable", "violations", "re_replicate"
    ]  # fmt: skip
    assert document["kind"] == "simulate-loss"
    assert document["lost"] == [
        {"did": RAW_SOLO, "kind": "raw", "bytes": 500,
         "reason": "no replica would remain and raw data cannot be regenerated"}
    ]  # fmt: skip
    assert document["summary"]["lost"] == 1
    assert document["summary"]["violations_by_rule"] == {"raw-archival-copies": 1}
    fine = _cli(grid, "--endpoints", "FZK-LCG2_DATATAPE")
    assert fine.exit_code == 0, fine.output
    assert "lost for good: 0 datasets" in fine.stdout


def test_cli_table(chain_grid):
    result = _cli(chain_grid, "--site", "CERN-PROD")
    assert result.exit_code == 0, result.output
    assert "recoverable by regeneration: 3 datasets" in result.stdout
    assert "5 productions to run again" in result.stdout
    assert "replication violations created: 2 (raw-archival-copies: 2)" in result.stdout
    assert "BNL-OSG2" in result.stdout
    together = _cli(chain_grid, "--site", "CERN-PROD", "--site", "BNL-OSG2")
    assert together.exit_code == 1
    assert "lost for good: 6 datasets" in together.stdout


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--site", "NOWHERE"),
        ("--country", "xx"),
        ("--endpoints", "media="),
    ],
    ids=["nothing", "site", "country", "expression"],
)
def test_cli_usage_errors_exit_2(grid, args):
    result = _cli(grid, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("lifecycle: error: ")


# -- a generated catalog: the set-based answers against independent ones ------------------------


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory):
    from lifecycle.generate import generate

    directory = tmp_path_factory.mktemp("generated")
    generate(directory, 3000, seed=11)
    return directory


@pytest.mark.parametrize(
    "options",
    [
        {"sites": ("CERN-PROD",)},
        {"sites": ("BNL-OSG2", "FZK-LCG2")},
        {"endpoints": "tier<2"},  # every tier-0 and tier-1 endpoint
        {"endpoints": "media=disk"},
    ],
    ids=["cern", "two-tier1s", "tier0-and-1", "all-disk"],
)
def test_generated_catalog_agrees_with_pandas_and_the_recipes(catalog, generated_dir, options):
    import pandas as pd

    catalog.import_directory(generated_dir)
    report = catalog.simulate_loss(policies=POLICIES, now=NOW, **options)
    if "sites" in options:
        endpoints = pd.read_parquet(generated_dir / "endpoints.parquet")
        assert report.endpoints == sorted(
            endpoints.loc[endpoints["site"].isin(options["sites"]), "name"]
        )
    replicas = pd.read_parquet(generated_dir / "replicas.parquet")
    available = replicas[replicas["state"].fillna("available") == "available"]
    at_loss = available["endpoint"].isin(report.endpoints)
    losing_some = set(available.loc[at_loss, "did"])
    keeping = set(available.loc[~at_loss, "did"])
    assert set(_dids(report.lost)) | set(_dids(report.recoverable)) == losing_some - keeping
    lost_counts = available[at_loss].groupby("did").size()
    assert {row["did"]: row["replicas"] for row in report.re_replicate} == {
        did: int(lost_counts[did]) for did in losing_some & keeping
    }
    assert report.recoverable, "the scenario should leave something to regenerate"
    # reproducibility after the loss, by the shared fixed-point service
    what_if = WhatIf(endpoints=tuple(report.endpoints))
    verdict = catalog.reproducibility(what_if).set_index("did")["reproducible"]
    assert all(verdict[did] for did in _dids(report.recoverable))
    lost_derived = [r["did"] for r in report.lost if r["kind"] in ("derived", "simulated")]
    assert not any(verdict[did] for did in lost_derived)
    deepest = sorted(report.recoverable, key=lambda row: (-row["steps"], row["did"]))[:25]
    for row in deepest:
        assert len(catalog.recipe(row["did"], what_if).steps) == row["steps"], row["did"]
    for did in lost_derived[:10]:
        assert not catalog.recipe(did, what_if).reproducible, did


# -- every site's loss at once, in counts (the report's risk section) ----------------------------


def _counts_of(report) -> dict[str, int]:
    summary = report.summary
    keys = ("lost", "lost_bytes", "recoverable", "recoverable_bytes", "violations")
    return {k: summary[k] for k in keys} | {"re_replicate": summary["re_replicate"]["datasets"]}


def _catalog_with_sites(request, catalog, source: str):
    """The ``grid`` fixture's catalog or ``catalog`` with the sample loaded, and its sites that
    have endpoints, by name."""
    from conftest import SAMPLE_CATALOG

    if source == "grid":
        cat = request.getfixturevalue("grid")
    else:
        cat = catalog
        cat.import_directory(SAMPLE_CATALOG)
    with cat.read() as conn:
        sites = [row[0] for row in conn.exec_driver_sql(
            "SELECT DISTINCT s.name FROM site s JOIN endpoint e ON e.site_id = s.id ORDER BY 1"
        )]  # fmt: skip
    return cat, sites


@pytest.mark.parametrize("source", ["grid", "sample"])
def test_simulate_sites_counts_what_each_site_alone_loses(request, catalog, source):
    from lifecycle.simulate import simulate_sites

    cat, sites = _catalog_with_sites(request, catalog, source)
    with cat.read() as conn:
        together = simulate_sites(conn, sites, POLICIES, NOW)
    alone = {site: _counts_of(_simulate(cat, site)) for site in sites}
    assert together == alone
    # the comparison means something: some site loses data for good, some loss re-replicates,
    # creates violations, and (in the sample) leaves something recoverable
    assert any(c["lost"] for c in alone.values())
    assert any(c["re_replicate"] for c in alone.values())
    assert any(c["violations"] for c in alone.values())
    if source == "sample":
        assert any(c["recoverable"] for c in alone.values())


@pytest.mark.parametrize("source", ["grid", "sample"])
def test_simulate_scenarios_keeps_overlapping_losses_apart(request, catalog, source):
    """Scenarios sharing endpoints (a country and a site in it, several sites together, an
    endpoint expression) are each simulated on their own: one statement a step for all of them
    counts what ``simulate_loss`` of each alone reports."""
    from lifecycle.simulate import LossScenario, simulate_scenarios

    cat, sites = _catalog_with_sites(request, catalog, source)
    with cat.read() as conn:
        countries = dict(conn.exec_driver_sql("SELECT name, country FROM site").all())
    country = countries[sites[0]]
    scenarios = [
        LossScenario(countries=(country,)),
        LossScenario(sites=(sites[0],)),
        LossScenario(sites=tuple(sites[:2])),
        LossScenario(endpoints="media=tape"),
        LossScenario(sites=(sites[-1],), endpoints="media=disk"),
    ]
    with cat.read() as conn:
        together = simulate_scenarios(conn, scenarios, POLICIES, NOW)
    alone = [
        _counts_of(cat.simulate_loss(s.sites, s.endpoints, s.countries, POLICIES, NOW))
        for s in scenarios
    ]
    assert together == alone
    # the scenarios differ, so sharing the tables would have mixed them up
    assert len({tuple(c.values()) for c in alone}) > 2
    assert any(c["lost"] for c in alone)
    assert any(c["violations"] for c in alone)
