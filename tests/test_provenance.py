"""Lineage, impact, recipes and the reproducibility service on a hand-built chain with merges.

The chain (two runs, one calibration used by both reconstructions, a merge, two derivations)::

    RAW1 ─┐                         CALIB is used by both reco productions (fan-out)
    CALIB ├─ task-reco1 ─> AOD1 (deleted) ─┐
    RAW2 ─┼─ task-reco2 ─> AOD2 ───────────┴─ task-merge ─> MERGED ─ task-phys ─> PHYS (deleted)
    CALIB ┘                                                         └─ PHYS ─ task-lite ─> LITE
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from catalogs import (
    AOD1,
    AOD2,
    CALIB,
    DIGEST,
    LITE,
    MERGED,
    RAW1,
    RAW2,
    chain,
    write_catalog,
)
from catalogs import (
    DPHYS as PHYS,
)
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import UnknownDataset, UsageError
from lifecycle.output import Entries, json_stream, render
from lifecycle.output import graphs as graph_writers
from lifecycle.provenance import WhatIf

runner = CliRunner()


def load(catalog: Catalog, tmp_path: Path, tables=None) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "chain", tables or chain()))
    return catalog


def replica_of(tables, did: str) -> dict:
    return next(r for r in tables["replicas"] if r["did"] == did)


@pytest.fixture
def cat(catalog, tmp_path) -> Catalog:
    return load(catalog, tmp_path)


# -- lineage -----------------------------------------------------------------------------------


def test_lineage_walks_to_the_raw_and_calibration_roots(cat):
    graph = cat.lineage(LITE)
    depths = {n.did: n.depth for n in graph.nodes}
    assert depths == {
        LITE: 0,
        PHYS: 1,
        MERGED: 2,
        AOD1: 3,
        AOD2: 3,
        RAW1: 4,
        RAW2: 4,
        CALIB: 4,
    }
    assert [n.did for n in graph.nodes][:3] == [LITE, PHYS, MERGED]  # by depth, then DID
    assert not graph.truncated
    edges = {(e.parent, e.child, e.production, e.role) for e in graph.edges}
    assert (CALIB, AOD1, "task-reco1", "calibration") in edges
    assert (CALIB, AOD2, "task-reco2", "calibration") in edges
    assert (AOD1, MERGED, "task-merge", "input") in edges  # a merge: two inputs
    assert (AOD2, MERGED, "task-merge", "input") in edges
    assert len(edges) == 8
    assert list(graph.productions) == sorted(
        ["task-lite", "task-merge", "task-phys", "task-reco1", "task-reco2"]
    )
    reco = graph.productions["task-reco1"]
    assert reco.transformation.tag == "r13286"
    assert reco.transformation.image_ref == f"registry.cern.ch/atlas/athena:22.0.40@{DIGEST}"
    assert reco.transformation.code_commit == "d" * 40
    assert reco.conditions_tag == "CONDBR2-BLKPA-RUN2-09"
    assert reco.site == "CERN-PROD"
    assert reco.started_at.isoformat() == "2019-01-02T00:00:00+00:00"


def test_deleted_datasets_keep_their_provenance_and_show_as_deleted(cat):
    graph = cat.lineage(LITE)
    assert graph.node(PHYS).deleted
    assert not graph.node(PHYS).available
    assert graph.node(AOD1).state == "deleted"
    assert not graph.node(MERGED).deleted
    assert graph.node(MERGED).available
    # the deleted intermediate's own lineage is still there
    assert {n.did for n in cat.lineage(PHYS).nodes} >= {MERGED, AOD1, RAW1, CALIB}
    document = cat.lineage(LITE).to_dict()
    assert {n["did"]: n["state"] for n in document["nodes"]}[PHYS] == "deleted"


def test_lineage_depth_counts_productions_crossed(cat):
    assert {n.did for n in cat.lineage(LITE, depth=0).nodes} == {LITE}
    one = cat.lineage(LITE, depth=1)
    assert {n.did for n in one.nodes} == {LITE, PHYS}
    # every shown dataset's producer is listed, also at the depth limit where its inputs are not
    assert list(one.productions) == ["task-lite", "task-phys"]
    assert [(e.parent, e.child) for e in one.edges] == [(PHYS, LITE)]
    two = cat.lineage(LITE, depth=2)
    assert {n.did for n in two.nodes} == {LITE, PHYS, MERGED}
    assert list(two.productions) == ["task-lite", "task-merge", "task-phys"]
    assert {n.did for n in cat.lineage(LITE, depth=3).nodes} == {
        LITE, PHYS, MERGED, AOD1, AOD2
    }  # fmt: skip


def test_node_cap_truncates_with_a_marker_but_summary_counts_everything(cat):
    graph = cat.lineage(LITE, max_nodes=3)
    assert graph.truncated
    assert [n.did for n in graph.nodes] == [LITE, PHYS, MERGED]
    assert all(e.parent in {LITE, PHYS, MERGED} for e in graph.edges)
    assert sum(s["datasets"] for s in graph.summary) == 7  # every ancestor, root excluded
    assert graph.to_dict()["truncated"] is True


def test_lineage_json_shape(cat):
    document = cat.lineage(MERGED).to_dict()
    assert document["root"] == MERGED
    assert set(document["nodes"][0]) >= {"did", "kind", "data_type", "depth", "available"}
    assert set(document["edges"][0]) == {"parent", "child", "production", "role"}


def test_graph_json_makes_its_lists_as_it_writes_them(cat, monkeypatch):
    """The json writer gets nodes, edges and productions as entries made a chunk at a time from
    the graph, never as lists the size of the graph (a walk of 100,000 datasets held them twice:
    0.45 GiB), and writes the text of the whole document."""
    graph = cat.lineage(LITE)
    handed = {}

    def spy(document, out, **options):
        handed.update(document)
        write_json(document, out, **options)

    write_json = graph_writers.write_json
    monkeypatch.setattr(graph_writers, "write_json", spy)
    monkeypatch.setattr(json_stream, "CHUNK", 2)  # several chunks, and a last short one
    out = io.StringIO()
    render(graph, "json", "graph", out)
    for key in ("nodes", "edges", "productions"):
        assert isinstance(handed[key], Entries)
        assert not isinstance(handed[key].chunks, list | tuple)
        assert not isinstance(graph.to_dict(lazy=True)[key], list)
    assert out.getvalue() == json.dumps(graph.to_dict(), indent=2) + "\n"
    assert len(graph.to_dict()["nodes"]) == len(graph.nodes) > 2


def test_unknown_dataset_and_bad_options(cat):
    with pytest.raises(UnknownDataset):
        cat.lineage("data18_13TeV:nothing")
    with pytest.raises(UsageError):
        cat.impact(RAW1, depth=-1)


def test_lineage_accepts_a_name_without_scope(cat):
    assert cat.lineage(LITE.split(":", 1)[1]).root == LITE


# -- impact -------------------------------------------------------------------------------------


def test_impact_of_a_calibration_fans_out_to_everything_downstream(cat):
    graph = cat.impact(CALIB)
    assert {n.did: n.depth for n in graph.nodes} == {
        CALIB: 0,
        AOD1: 1,
        AOD2: 1,
        MERGED: 2,
        PHYS: 3,
        LITE: 4,
    }
    by_type = {s["data_type"]: s for s in graph.summary}
    assert by_type["AOD"] == {
        "kind": "derived",
        "data_type": "AOD",
        "datasets": 3,
        "bytes": 5000,
        "available": 2,
        "deleted": 1,
    }
    assert by_type["DAOD_PHYS"]["deleted"] == 1
    assert by_type["DAOD_PHYS"]["available"] == 0
    assert by_type["DAOD_PHYSLITE"]["available"] == 1
    assert list(graph.productions) == [
        "task-lite", "task-merge", "task-phys", "task-reco1", "task-reco2"
    ]  # fmt: skip
    # a raw input reaches only its own branch
    assert {n.did for n in cat.impact(RAW2).nodes} == {RAW2, AOD2, MERGED, PHYS, LITE}
    assert {n.did for n in cat.impact(LITE).nodes} == {LITE}


def test_impact_of_a_root_does_not_list_other_inputs(cat):
    graph = cat.impact(RAW1)
    assert CALIB not in {n.did for n in graph.nodes}
    assert all(e.parent != CALIB for e in graph.edges)


# -- recipe ------------------------------------------------------------------------------------


def test_recipe_stops_at_the_first_available_inputs(cat):
    found = cat.recipe(LITE)
    assert found.reproducible
    assert [s.production.name for s in found.steps] == ["task-phys", "task-lite"]
    assert [i.did for i in found.starts_from] == [MERGED]  # not the deleted AOD1, not RAW
    document = found.to_dict()
    assert document["steps"][0]["inputs"] == [MERGED]
    assert document["steps"][0]["outputs"] == [PHYS]
    assert document["steps"][0]["deleted"] == [PHYS]
    assert document["steps"][1]["image_digest"] == DIGEST
    assert document["missing"] == []


def test_recipe_rebuilds_a_dataset_that_still_has_a_replica(cat):
    found = cat.recipe(MERGED)
    names = [s.production.name for s in found.steps]
    assert names == ["task-reco1", "task-merge"]  # AOD1 is deleted: rebuilt first
    assert {i.did for i in found.starts_from} == {RAW1, CALIB, AOD2}


def test_recipe_in_execution_order_when_more_is_gone(cat):
    """What if MERGED's replica were gone too: the walk goes further up, still in order."""
    found = cat.recipe(LITE, WhatIf(datasets=(MERGED,)))
    names = [s.production.name for s in found.steps]
    assert names == ["task-reco1", "task-merge", "task-phys", "task-lite"]
    assert {i.did for i in found.starts_from} == {RAW1, CALIB, AOD2}
    assert cat.recipe(LITE).steps[0].production.name == "task-phys"  # catalog unchanged


def test_recipe_says_why_a_transformation_without_digest_blocks(catalog, tmp_path):
    tables = chain()
    tables["transformations"][1]["image_digest"] = ""  # p4910, the merge
    found = load(catalog, tmp_path, tables).recipe(MERGED)
    assert not found.reproducible
    assert [(m.did, m.reason, m.production) for m in found.missing] == [
        (MERGED, "transformation p4910 records no image digest", "task-merge")
    ]
    assert found.to_dict()["reproducible"] is False


def test_recipe_says_why_when_an_input_is_lost_and_not_reproducible(catalog, tmp_path):
    tables = chain()
    replica_of(tables, CALIB)["state"] = "lost"
    cat = load(catalog, tmp_path, tables)
    found = cat.recipe(MERGED)  # needs AOD1 again, whose reco needs the lost calibration
    assert not found.reproducible
    assert [(m.did, m.reason) for m in found.missing] == [
        (CALIB, "has no available replica and no producing production recorded")
    ]
    assert cat.recipe(LITE).reproducible  # MERGED is still available: the walk stops there


def test_recipe_of_a_dataset_without_producer(cat):
    found = cat.recipe(RAW1)
    assert not found.reproducible
    assert found.steps == []
    assert [(m.did, m.reason) for m in found.missing] == [
        (RAW1, "no producing production recorded")
    ]


# -- reproducibility service -------------------------------------------------------------------


def reproducible(cat: Catalog, what_if: WhatIf | None = None) -> dict[str, bool]:
    table = cat.reproducibility(what_if)
    return dict(zip(table["did"], table["reproducible"], strict=True))


def test_reproducibility_through_a_deleted_intermediate(cat):
    assert reproducible(cat) == {
        RAW1: False,  # no producer: raw is preserved, never regenerated
        RAW2: False,
        CALIB: False,
        AOD1: True,
        AOD2: True,
        MERGED: True,  # AOD1 deleted but reproducible from RAW1 + CALIB
        PHYS: True,
        LITE: True,
    }


def test_recipe_and_service_agree_on_every_dataset_and_scenario(cat):
    for scenario in (
        None,
        WhatIf(datasets=(MERGED,)),
        WhatIf(datasets=(CALIB,)),
        WhatIf(datasets=(MERGED, CALIB)),
        WhatIf(endpoints=("CERN-PROD_DATADISK",)),
        WhatIf(sites=("CERN-PROD",)),
    ):
        service = reproducible(cat, scenario)
        for did, ok in service.items():
            assert cat.recipe(did, scenario).reproducible == ok, (did, scenario)


def test_what_if_answers_without_changing_the_catalog(cat):
    from conftest import snapshot

    before = snapshot(cat)
    gone = reproducible(cat, WhatIf(datasets=(CALIB, MERGED)))
    # without the calibration and the merged AOD, AOD1 (deleted) cannot be rebuilt, so neither
    # can MERGED nor what is derived from it; AOD2 still has its replica but needs CALIB too
    assert gone[AOD1] is False
    assert gone[MERGED] is False
    assert gone[LITE] is False
    assert gone[AOD2] is False
    site = reproducible(cat, WhatIf(sites=("CERN-PROD",)))
    assert site[LITE] is False  # every disk replica is at CERN-PROD
    assert snapshot(cat) == before
    assert reproducible(cat)[LITE] is True


def test_what_if_rejects_unknown_names(cat):
    for scenario in (
        WhatIf(datasets=("data18_13TeV:nothing",)),
        WhatIf(endpoints=("NOWHERE_DATADISK",)),
        WhatIf(sites=("NOWHERE",)),
    ):
        with pytest.raises(UsageError, match="unknown"):
            cat.reproducibility(scenario)


def test_irreproducible_only_lists_reasons(catalog, tmp_path):
    tables = chain()
    tables["transformations"][3]["image_digest"] = ""  # p6026: LITE
    table = load(catalog, tmp_path, tables).reproducibility(irreproducible_only=True)
    reasons = dict(zip(table["did"], table["reason"], strict=True))
    assert reasons == {
        CALIB: "no producing production recorded",
        LITE: "transformation p6026 records no image digest",
        RAW1: "no producing production recorded",
        RAW2: "no producing production recorded",
    }


# -- CLI ------------------------------------------------------------------------------------------


def cli(cat: Catalog, *args: str):
    return runner.invoke(app, ["--db", cat.url, *args])


def test_cli_lineage_and_impact_json(cat):
    result = cli(cat, "lineage", LITE, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["root"] == LITE
    assert len(document["nodes"]) == 8
    result = cli(cat, "impact", CALIB, "-f", "json", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert {n["did"] for n in json.loads(result.stdout)["nodes"]} == {CALIB, AOD1, AOD2}


def test_cli_recipe_formats_and_exit_codes(cat):
    result = cli(cat, "recipe", LITE, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [s["production"] for s in json.loads(result.stdout)["steps"]] == [
        "task-phys", "task-lite"
    ]  # fmt: skip
    shell = cli(cat, "recipe", LITE, "--format", "shell")
    assert shell.exit_code == 0
    assert shell.stdout.startswith("#!/bin/sh\n")
    assert shell.stdout.index("p5000 Derivation_tf") < shell.stdout.index("p6026 Derivation_tf")
    assert f"registry.cern.ch/atlas/athena:22.0.40@{DIGEST}" in shell.stdout
    text = cli(cat, "recipe", LITE)
    assert "reproducible: 2 step(s)" in text.stdout
    assert f"{PHYS} [deleted]" in text.stdout
    blocked = cli(cat, "recipe", RAW1)
    assert blocked.exit_code == 1
    assert "no producing production recorded" in blocked.stdout
    blocked_shell = cli(cat, "recipe", RAW1, "-f", "shell")
    assert blocked_shell.exit_code == 1
    assert "exit 1" in blocked_shell.stdout
    missing = cli(cat, "recipe", "data18_13TeV:nothing")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("lifecycle: error: unknown dataset")


def test_recipes_agree_with_the_service_on_a_generated_catalog(catalog, tmp_path):
    """On a generated catalog (merges, planted violations), for a sample of datasets."""
    from lifecycle.generate import generate

    generate(tmp_path / "gen", 1500, seed=5)
    catalog.import_directory(tmp_path / "gen")
    table = catalog.reproducibility()
    assert 0 < (~table["reproducible"]).sum() < len(table)
    derived = table[table["did"].str.contains(r"\.(?:deriv|merge|recon)\.", regex=True)]
    assert len(derived) > 100
    for did, ok in zip(derived["did"][::7], derived["reproducible"][::7], strict=True):
        found = catalog.recipe(did)
        assert found.reproducible == ok, (did, found.missing)
        if ok:  # every step's inputs are available or made by an earlier step
            made: set[str] = set()
            for step in found.steps:
                assert all(i.available or i.did in made for i in step.inputs), did
                made |= {o.did for o in step.outputs}
            assert did in made


def test_incremental_what_if_matches_the_full_recomputation(cat):
    """``newly_irreproducible`` (used by expiry and guarded deletion) is exact."""
    from lifecycle.provenance import materialize_irreproducible, what_if
    from lifecycle.provenance.reproducibility import newly_irreproducible

    def ids(conn, table: str) -> set[str]:
        return {
            row[0]
            for row in conn.exec_driver_sql(
                f"SELECT d.did FROM {table} t JOIN dataset d ON d.id = t.id"
            )
        }

    scenarios = [
        WhatIf(datasets=(CALIB,)),  # AOD2 (available) and what needs AOD1 turn irreproducible
        WhatIf(datasets=(MERGED,)),
        WhatIf(datasets=(RAW1, AOD2)),
        WhatIf(sites=("CERN-PROD",)),
        WhatIf(endpoints=("CERN-PROD_DATATAPE",)),
    ]
    seen_growth = False
    for scenario in scenarios:
        with cat.read() as conn, what_if(conn, scenario) as gone:
            before = ids(conn, materialize_irreproducible(conn, "tmp_before"))
            after = ids(conn, materialize_irreproducible(conn, "tmp_after", gone=gone))
            newly = ids(conn, newly_irreproducible(conn, "tmp_before", gone))
            for table in ("tmp_before", "tmp_after", "tmp_newly_irreproducible"):
                conn.exec_driver_sql(f"DROP TABLE {table}")
        assert newly == after - before, scenario
        assert before <= after
        seen_growth |= bool(newly)
    assert seen_growth
    with cat.read() as conn, what_if(conn, WhatIf(datasets=(CALIB,))) as gone:
        materialize_irreproducible(conn, "tmp_before")
        assert ids(conn, newly_irreproducible(conn, "tmp_before", gone)) == {AOD1, AOD2, MERGED}


def test_the_irreproducible_table_is_the_services_own_and_dropped_afterwards(cat):
    """Created, named and dropped by the reproducibility service (with the table of
    :func:`newly_irreproducible` made on top of it); a replica given by id is a what-if too."""
    import sqlalchemy as sa

    from lifecycle.provenance.reproducibility import (
        IRREPRODUCIBLE,
        irreproducible_table,
        newly_irreproducible,
        what_if,
    )

    with cat.read() as conn:
        replica = conn.exec_driver_sql(
            "SELECT r.id FROM replica r JOIN dataset d ON d.id = r.dataset_id "
            f"WHERE d.did = '{CALIB}' AND r.state = 'available'"
        ).scalar()
        with (
            what_if(conn, WhatIf(replicas=(replica,))) as gone,
            irreproducible_table(conn) as table,
        ):
            assert table == IRREPRODUCIBLE
            newly = newly_irreproducible(conn, table, gone)
            found = conn.exec_driver_sql(
                f"SELECT d.did FROM {newly} n JOIN dataset d ON d.id = n.id"
            ).all()
            assert {row[0] for row in found} == {AOD1, AOD2, MERGED}
        assert not sa.inspect(conn).has_table(IRREPRODUCIBLE)
        assert not sa.inspect(conn).has_table(newly)
