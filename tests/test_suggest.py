"""Parent suggestions from tag chains: which links, how sure, and what --apply records."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from catalogs import write_catalog
from conftest import snapshot

from lifecycle.api import Catalog
from lifecycle.errors import CatalogError
from lifecycle.suggest import production_name

RUN = "data18_13TeV:data18_13TeV.00357772.physics_Main"
RAW = f"{RUN}.daq.RAW"
EXPRESS_RAW = "data18_13TeV:data18_13TeV.00357772.express_express.merge.RAW"
AOD = f"{RUN}.recon.AOD.r13286"
MERGED = f"{RUN}.merge.AOD.r13286_p4910"
PHYS = f"{RUN}.deriv.DAOD_PHYS.r13286_p4910_p5980"
# another run: only RAW and a derivation, three steps apart
SKIP_RAW = "data18_13TeV:data18_13TeV.00348885.physics_Main.daq.RAW"
SKIP_PHYS = "data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS.r13286_p4910_p5980"
# a third run where ESD and AOD share the chain the merged AOD extends
TIE = "data17_13TeV:data17_13TeV.00336782.physics_Main"
TIE_ESD, TIE_AOD, TIE_MERGED = (
    f"{TIE}.recon.ESD.r13286",
    f"{TIE}.recon.AOD.r13286",
    f"{TIE}.merge.AOD.r13286_p4910",
)
# simulation: EVNT in mc15, HITS (whole and two task parts, a _sub part and the log) in mc16,
# AOD in mc20 -- the campaign changes along the chain, the DSID and energy do not
SAMPLE = "410470.PhPy8EG_A14_ttbar_hdamp258p75_nonallhad"
EVNT = f"mc15_13TeV:mc15_13TeV.{SAMPLE}.evgen.EVNT.e6337"
HITS = f"mc16_13TeV:mc16_13TeV.{SAMPLE}.simul.HITS.e6337_s3681"
HITS_PART = f"{HITS}_tid10919503_00"
HITS_PART2 = f"{HITS}_tid10919504_00"
HITS_SUB = f"{HITS}_tid10919503_00_sub0384058277"
HITS_LOG = f"mc16_13TeV:mc16_13TeV.{SAMPLE}.simul.log.e6337_s3681"
SIM_AOD = f"mc20_13TeV:mc20_13TeV.{SAMPLE}.recon.AOD.e6337_s3681_r13167"
OTHER_ENERGY = "mc21_14TeV:mc21_14TeV.410470.PhPy8EG_A14_ttbar_hdamp258p75_nonallhad.recon.AOD.e6337_s3681_r13167"  # noqa: E501
# a calibration dataset with a tag chain never gets a producer
CALIB_RAW = "data15_hi:data15_hi.00287259.calibration_zdcCalib.daq.RAW"
CALIB_AOD = "data15_hi:data15_hi.00287259.calibration_zdcCalib.recon.AOD.c931"
# a child that already feeds its candidate parent: linking them would close a cycle
LOOP_CHILD = "data16_13TeV:data16_13TeV.00300908.physics_Main.deriv.DAOD_PHYS.r5_p6"
LOOP_PARENT = "data16_13TeV:data16_13TeV.00300908.physics_Main.recon.AOD.r5"
# a child whose parent has a recorded producer
MADE_AOD = "data16_13TeV:data16_13TeV.00300908.physics_Main.recon.AOD.r13286"
MADE_RAW = "data16_13TeV:data16_13TeV.00300908.physics_Main.daq.RAW"
MADE_PHYS = "data16_13TeV:data16_13TeV.00300908.physics_Main.deriv.DAOD_PHYS.r13286_p5980"
NOT_ATLAS = "calib:calib.CONDBR2-BLKPA-RUN2-09.v01"

KINDS = {RAW: "raw", EXPRESS_RAW: "raw", SKIP_RAW: "raw", MADE_RAW: "raw", CALIB_RAW: "raw"}
KINDS |= {CALIB_AOD: "calibration", NOT_ATLAS: "calibration"}
KINDS |= {d: "simulated" for d in (EVNT, HITS, HITS_PART, HITS_PART2, HITS_SUB, HITS_LOG)}
KINDS |= {SIM_AOD: "simulated", OTHER_ENERGY: "simulated"}
DERIVED = (AOD, MERGED, PHYS, SKIP_PHYS, TIE_ESD, TIE_AOD, TIE_MERGED, LOOP_CHILD, LOOP_PARENT)
KINDS |= {d: "derived" for d in (*DERIVED, MADE_AOD, MADE_PHYS)}


def dataset(did: str, kind: str) -> dict[str, str]:
    return {"did": did, "kind": kind, "bytes": "1000", "files": "1", "created_at": "2020-01-01"}


def chains() -> dict[str, list[dict[str, str]]]:
    """Every dataset above; recorded productions only for LOOP_PARENT and MADE_AOD."""
    return {
        "sites": [{"name": "CERN-PROD", "tier": "0", "country": "ch"}],
        "endpoints": [{"name": "CERN-PROD_DATADISK", "site": "CERN-PROD", "media": "disk"}],
        "datasets": [dataset(did, kind) for did, kind in KINDS.items()],
        "replicas": [
            {"did": did, "endpoint": "CERN-PROD_DATADISK", "created_at": "2020-01-01"}
            for did in (RAW, SKIP_RAW, MADE_RAW, EVNT)
        ],
        "transformations": [
            {
                "tag": "r13286",
                "name": "Reco_tf",
                "release": "Athena,22.0.40",
                "image_digest": "sha256:" + "a" * 64,
            },
            {"tag": "r5", "name": "Reco_tf", "release": "Athena,22.0.40"},
        ],
        "productions": [
            {"id": "task-1", "transformation": "r5"},
            {"id": "task-2", "transformation": "r13286"},
        ],
        "production_io": [
            {"production": "task-1", "did": LOOP_CHILD, "role": "input"},
            {"production": "task-1", "did": LOOP_PARENT, "role": "output"},
            {"production": "task-2", "did": MADE_RAW, "role": "input"},
            {"production": "task-2", "did": MADE_AOD, "role": "output"},
        ],
    }


@pytest.fixture
def loaded(catalog, tmp_path) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "chains", chains()))
    return catalog


def by_child(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["child"]: row for row in frame.to_dict("records")}


# (child, parent, added tags, confidence): every applicable link of the catalog
EXPECTED = [
    (AOD, RAW, "r13286", "high"),
    (MERGED, AOD, "p4910", "high"),
    (PHYS, MERGED, "p5980", "high"),
    (SKIP_PHYS, SKIP_RAW, "r13286_p4910_p5980", "medium"),
    (TIE_ESD, None, None, None),  # no RAW of that run in the catalog
    (HITS, EVNT, "s3681", "high"),
    (HITS_PART, EVNT, "s3681", "high"),
    (HITS_PART2, EVNT, "s3681", "high"),
    (HITS_LOG, EVNT, "s3681", "high"),
    (SIM_AOD, HITS, "r13167", "high"),  # the whole HITS wins over its _tid parts
    (MADE_PHYS, MADE_AOD, "p5980", "high"),
]


@pytest.mark.parametrize(("child", "parent", "added", "confidence"), EXPECTED)
def test_links(loaded, child, parent, added, confidence):
    suggestions = by_child(loaded.suggest_parents())
    if parent is None:
        assert child not in suggestions
        return
    row = suggestions[child]
    assert (row["parent"], row["added_tags"], row["confidence"]) == (parent, added, confidence)
    assert row["applicable"]


def test_never_suggested(loaded):
    children = set(loaded.suggest_parents()["child"])
    # raw and calibration data, produced datasets, names outside the nomenclature, _sub parts,
    # chains with no shorter relative, another energy's sample
    for did in (RAW, CALIB_AOD, NOT_ATLAS, HITS_SUB, EVNT, MADE_AOD, LOOP_PARENT, OTHER_ENERGY):
        assert did not in children, did
    assert CALIB_AOD not in children


def test_ties_are_listed_not_applied(loaded):
    suggestions = loaded.suggest_parents()
    tied = suggestions[suggestions["child"] == TIE_MERGED]
    assert sorted(tied["parent"]) == [TIE_AOD, TIE_ESD]
    assert not tied["applicable"].any()
    assert set(tied["confidence"]) == {"low"}
    assert tied["reason"].str.contains("2 equally good parents").all()


def test_a_link_that_would_close_a_cycle_is_not_applied(loaded):
    row = by_child(loaded.suggest_parents())[LOOP_CHILD]
    assert row["parent"] == LOOP_PARENT
    assert not row["applicable"]
    assert row["confidence"] == "low"
    assert "already downstream" in row["reason"]


def test_reasons_say_what_recording_would_use(loaded):
    rows = by_child(loaded.suggest_parents())
    assert rows[AOD]["reason"] == (
        "parent has no tags, child adds r13286; recorded with transformation r13286 of the catalog"
    )
    assert rows[MERGED]["reason"].endswith(
        "recorded with a new transformation p4910 (software unknown, no image digest)"
    )
    assert "3 steps" in rows[SKIP_PHYS]["reason"]


def test_preview_changes_nothing(loaded):
    before = snapshot(loaded)
    loaded.suggest_parents()
    assert snapshot(loaded) == before


def test_apply_records_productions_in_one_journaled_change(loaded):
    journal_before = len(loaded.journal(None))
    suggestions = loaded.suggest_parents(apply=True, reason="names say so")
    applied = suggestions[suggestions["applicable"]]
    assert len(applied) == len([e for e in EXPECTED if e[1] is not None])
    entries = loaded.journal(None)
    assert len(entries) == journal_before + 1
    entry = entries.iloc[0]
    assert entry["command"] == "provenance suggest --apply"
    assert entry["reason"] == "names say so"
    assert f"recorded {len(applied)} suggested parent links" in entry["summary"]

    details = loaded.dataset(MERGED)
    assert details.producer["production"] == production_name(MERGED) == f"suggested:{MERGED}"
    assert details.producer["transformation"] == "p4910"
    assert list(details.producer_inputs["did"]) == [AOD]
    # nothing is left to apply; ties and cycles stay listed
    again = loaded.suggest_parents()
    assert not again["applicable"].any()
    assert set(again["child"]) == {TIE_MERGED, LOOP_CHILD}


def test_applied_links_keep_unknown_software_irreproducible(loaded):
    loaded.suggest_parents(apply=True)
    reasons = loaded.reproducibility().set_index("did")["reason"]
    # r13286 was recorded in full and the RAW is available: the guessed link is enough
    assert pd.isna(reasons[AOD])
    assert reasons[MERGED] == "transformation p4910 records no image digest"
    assert reasons[SKIP_PHYS] == "transformation r13286_p4910_p5980 records no image digest"


def test_apply_twice_writes_nothing_the_second_time(loaded):
    loaded.suggest_parents(apply=True)
    before = snapshot(loaded)
    loaded.suggest_parents(apply=True)
    assert snapshot(loaded) == before  # no journal entry either


def test_applied_catalog_round_trips(loaded, tmp_path, new_catalog_url):
    loaded.suggest_parents(apply=True)
    loaded.export_directory(tmp_path / "one")
    other = Catalog(new_catalog_url())
    other.import_directory(tmp_path / "one")
    other.export_directory(tmp_path / "two")
    other.close()
    for path in sorted((tmp_path / "one").iterdir()):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name


def test_a_cycle_through_two_new_links_is_refused(catalog, tmp_path):
    """G -> P and P -> C are suggested; C already feeds G: recording both would loop."""
    run = "data18_13TeV:data18_13TeV.00111111.physics_Main"
    g, p, c = f"{run}.recon.AOD.r1", f"{run}.merge.AOD.r1_p2", f"{run}.deriv.DAOD_PHYS.r1_p2_p3"
    tables = {
        "datasets": [dataset(d, "derived") for d in (g, p, c)],
        "transformations": [{"tag": "r1", "name": "Reco_tf", "release": "A,1"}],
        "productions": [{"id": "task-1", "transformation": "r1"}],
        "production_io": [
            {"production": "task-1", "did": c, "role": "input"},
            {"production": "task-1", "did": g, "role": "output"},
        ],
    }
    catalog.import_directory(write_catalog(tmp_path / "loop", tables))
    assert catalog.suggest_parents()["applicable"].all()
    before = snapshot(catalog)
    with pytest.raises(CatalogError, match="its own ancestor"):
        catalog.suggest_parents(apply=True)
    assert snapshot(catalog) == before


def test_empty_catalog(catalog):
    suggestions = catalog.suggest_parents(apply=True)
    assert suggestions.empty
    assert list(suggestions.columns) == [
        "child",
        "parent",
        "added_tags",
        "confidence",
        "applicable",
        "reason",
    ]
    assert catalog.journal().empty


def test_long_names_get_a_hashed_production_name():
    did = "mc20_13TeV:mc20_13TeV." + "x" * 300
    name = production_name(did)
    assert name.startswith("suggested:")
    assert len(name) <= 255
    assert name == production_name(did)


# -- lifecycle provenance suggest ---------------------------------------------------------------


def cli(url: str, *args: str):
    from typer.testing import CliRunner

    from lifecycle.cli.app import app

    return CliRunner().invoke(app, ["--db", url, "provenance", "suggest", *args])


def test_cli_previews_by_default(loaded):
    before = snapshot(loaded)
    result = cli(loaded.url, "-f", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rows = document["suggestions"]
    assert document["summary"] == {"suggestions": len(rows)}
    assert set(rows[0]) == {"child", "parent", "added_tags", "confidence", "applicable", "reason"}
    assert {r["child"]: r["parent"] for r in rows if r["applicable"]}[PHYS] == MERGED
    assert "--apply records them" in result.stderr
    assert snapshot(loaded) == before


def test_cli_apply(loaded):
    result = cli(loaded.url, "--apply", "--reason", "from names", "-f", "csv")
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header == "child,parent,added_tags,confidence,applicable,reason"
    recorded = sum(1 for r in EXPECTED if r[1] is not None)
    assert f"recorded {recorded} suggested parent links" in result.stderr
    assert loaded.journal().iloc[0]["reason"] == "from names"
    table = cli(loaded.url)
    assert table.exit_code == 0, table.output
    assert "data17_13TeV … recon.ESD.r13286" in table.stdout  # the tie stays listed
    assert "--apply" not in table.stderr  # nothing left to record
