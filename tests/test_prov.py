"""W3C PROV export of provenance graphs: the mapping, determinism, and round trips through prov."""

from __future__ import annotations

import dataclasses
import functools
import io
import re
import subprocess
import sys
from datetime import UTC, datetime

import prov
import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from hypothesis import given, settings
from hypothesis import strategies as st
from prov.constants import PROV
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDerivation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvInvalidation,
    ProvUsage,
)

from lifecycle.output.prov import (
    NAMESPACES,
    from_local_name,
    local_name,
    prov_document,
    to_prov_json,
    to_prov_n,
    to_prov_xml,
)
from lifecycle.provenance.graph import (
    Edge,
    Node,
    Production,
    ProvenanceGraph,
    Transformation,
    lineage,
)

LC = prov.identifier.Namespace("lc", NAMESPACES["lc"])
DATASET_NS = prov.identifier.Namespace("dataset", NAMESPACES["dataset"])


class _DatasetIds:
    """``DATASET[did]``: the identifier of the dataset entity of ``did``."""

    def __getitem__(self, did: str):
        return DATASET_NS[local_name(did)]


DATASET = _DatasetIds()
PRODUCTION = prov.identifier.Namespace("production", NAMESPACES["production"])


def mini_lineage(catalog, tmp_path, tables=None, **options) -> ProvenanceGraph:
    catalog.import_directory(write_catalog(tmp_path / "mini", tables or mini()))
    with catalog.read() as conn:
        return lineage(conn, PHYS, **options)


def with_deleted_aod() -> dict:
    """MINI with AOD, the intermediate of PHYS's lineage, deleted (and its replica with it)."""
    tables = mini()
    next(d for d in tables["datasets"] if d["did"] == AOD)["state"] = "deleted"
    next(r for r in tables["replicas"] if r["did"] == AOD)["state"] = "deleted"
    return tables


def records(doc: ProvDocument, cls: type) -> list:
    return [r for r in doc.get_records(cls) if type(r) is cls]


def attribute(record, name: str):
    values = record.get_attribute(name)
    assert len(values) == 1, f"{name}: {values}"
    return next(iter(values))


@pytest.fixture
def graph(catalog, tmp_path) -> ProvenanceGraph:
    return mini_lineage(catalog, tmp_path)


def test_importing_the_modules_loads_neither_prov_nor_pandas():
    code = (
        "import sys, lifecycle.output\n"
        "print(sorted(m for m in ('prov', 'pandas', 'pyarrow', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_entity_per_dataset_one_activity_per_production(graph):
    doc = prov_document(graph)
    datasets = {
        r.identifier for r in records(doc, ProvEntity) if r.identifier.namespace == DATASET_NS
    }
    assert datasets == {DATASET[d] for d in (PHYS, AOD, RAW, CALIB)}
    assert len(records(doc, ProvEntity)) == 4 + 2  # and one plan per transformation
    assert {r.identifier for r in records(doc, ProvActivity)} == {
        PRODUCTION["task-00000001"],
        PRODUCTION["task-00000002"],
    }


def test_datasets_are_entities_typed_by_kind_with_their_facts(graph):
    doc = prov_document(graph)
    raw, phys = (doc.get_record(DATASET[did])[0] for did in (RAW, PHYS))
    assert attribute(raw, "prov:type") == LC["RawDataset"]
    assert attribute(doc.get_record(DATASET[CALIB])[0], "prov:type") == LC["CalibrationDataset"]
    assert attribute(phys, "prov:type") == LC["DerivedDataset"]
    assert attribute(phys, "prov:label") == PHYS
    assert attribute(phys, "lc:bytes") == 100_000_000_000
    assert attribute(phys, "lc:events") == 1_000_000
    assert attribute(phys, "lc:state") == "closed"
    assert attribute(phys, "lc:available") is False  # its only replica is lost
    assert attribute(phys, "lc:created_at") == datetime(2018, 8, 5, 10, 0, 0, 250000, tzinfo=UTC)
    assert attribute(raw, "lc:data_type") == "RAW"  # filled from the name on import


def test_productions_are_activities_with_times_and_missing_values_left_out(graph):
    doc = prov_document(graph)
    reco, deriv = (doc.get_record(PRODUCTION[n])[0] for n in ("task-00000001", "task-00000002"))
    assert reco.get_startTime() == datetime(2018, 8, 2, tzinfo=UTC)
    assert reco.get_endTime() == datetime(2018, 8, 3, tzinfo=UTC)
    assert attribute(reco, "lc:conditions_tag") == "CONDBR2-BLKPA-RUN2-09"
    assert attribute(reco, "lc:site") == "CERN-PROD"
    assert attribute(reco, "prov:type") == LC["Production"]
    assert deriv.get_startTime() is None
    assert deriv.get_endTime() is None
    assert not deriv.get_attribute("lc:site")
    assert not deriv.get_attribute("lc:conditions_tag")


def test_transformations_are_plans_and_releases_software_agents(graph):
    doc = prov_document(graph)
    plan = doc.get_record("transformation:r13286")[0]
    assert set(plan.get_attribute("prov:type")) == {PROV["Plan"], LC["Transformation"]}
    assert attribute(plan, "lc:image") == (
        "registry.cern.ch/atlas/athena:22.0.40@sha256:" + "a" * 64
    )
    assert attribute(plan, "lc:code_commit") == "b" * 40
    assert attribute(plan, "lc:command") == "Reco_tf.py --AMIConfig r13286"
    assert not doc.get_record("transformation:p4910")[0].get_attribute("lc:image")
    agents = {attribute(a, "prov:label"): a for a in records(doc, ProvAgent)}
    assert set(agents) == {"Athena,22.0.40", "AthDerivation,21.2.179.0"}
    assert all(attribute(a, "prov:type") == PROV["SoftwareAgent"] for a in agents.values())
    associations = {
        (str(r.get_attribute("prov:activity").pop()), str(r.get_attribute("prov:plan").pop()))
        for r in records(doc, ProvAssociation)
    }
    assert associations == {
        ("production:task-00000001", "transformation:r13286"),
        ("production:task-00000002", "transformation:p4910"),
    }


def test_one_release_is_one_agent_however_many_productions_run_it():
    t = Transformation("x1", "X_tf", "Athena,24.0.20", None, None, None, None, None)
    productions = {n: Production(n, t, None, None, None, None, "done") for n in ("a", "b")}
    graph = ProvenanceGraph("s:d", "upstream", [_node("s:d")], [], productions)
    doc = prov_document(graph)
    assert len(records(doc, ProvAgent)) == 1
    assert len(records(doc, ProvAssociation)) == 2


def test_inputs_are_used_with_their_role_and_outputs_generated_and_derived(graph):
    doc = prov_document(graph)
    used = {
        (str(attribute(r, "prov:activity")), attribute(r, "prov:entity"), attribute(r, "prov:role"))
        for r in records(doc, ProvUsage)
    }
    assert used == {
        ("production:task-00000001", DATASET[RAW], LC["input"]),
        ("production:task-00000001", DATASET[CALIB], LC["calibration"]),
        ("production:task-00000002", DATASET[AOD], LC["input"]),
    }
    generated = {
        (attribute(r, "prov:entity"), str(attribute(r, "prov:activity")))
        for r in records(doc, ProvGeneration)
    }
    assert generated == {
        (DATASET[AOD], "production:task-00000001"),
        (DATASET[PHYS], "production:task-00000002"),
    }
    derived = {
        (
            attribute(r, "prov:generatedEntity"),
            attribute(r, "prov:usedEntity"),
            str(attribute(r, "prov:activity")),
        )
        for r in records(doc, ProvDerivation)
    }
    assert derived == {
        (DATASET[AOD], DATASET[RAW], "production:task-00000001"),
        (DATASET[AOD], DATASET[CALIB], "production:task-00000001"),
        (DATASET[PHYS], DATASET[AOD], "production:task-00000002"),
    }


def test_a_deleted_intermediate_stays_and_is_invalidated(catalog, tmp_path):
    doc = prov_document(mini_lineage(catalog, tmp_path, with_deleted_aod()))
    aod = doc.get_record(DATASET[AOD])[0]
    assert attribute(aod, "lc:state") == "deleted"
    assert attribute(aod, "lc:available") is False
    [invalidation] = records(doc, ProvInvalidation)
    assert attribute(invalidation, "prov:entity") == DATASET[AOD]
    assert attribute(invalidation, "prov:type") == LC["Deletion"]
    assert (DATASET[AOD], "production:task-00000001") in {
        (attribute(r, "prov:entity"), str(attribute(r, "prov:activity")))
        for r in records(doc, ProvGeneration)
    }  # its provenance is kept


def test_a_lost_dataset_is_invalidated_as_a_loss():
    graph = ProvenanceGraph("s:d", "upstream", [_node("s:d", state="lost")], [], {})
    [invalidation] = records(prov_document(graph), ProvInvalidation)
    assert attribute(invalidation, "prov:type") == LC["Loss"]


def test_nothing_is_invalidated_in_a_catalog_without_deletions(graph):
    assert records(prov_document(graph), ProvInvalidation) == []


def test_prov_n_is_one_document(graph):
    text = to_prov_n(graph)
    assert text.startswith("document\n")
    assert text.endswith("\nendDocument")
    assert "prefix dataset <urn:lifecycle:dataset:>" in text


def test_timestamps_are_utc(graph):
    """AOD was imported as 10:00+02:00: exported as 08:00 UTC."""
    text = to_prov_n(graph)
    assert 'lc:created_at="2018-08-03T08:00:00+00:00" %% xsd:dateTime' in text
    assert "activity(production:task-00000001, 2018-08-02T00:00:00+00:00" in text
    assert "+02:00" not in text


def test_two_exports_are_byte_identical(graph):
    assert to_prov_json(graph) == to_prov_json(graph)
    assert to_prov_n(graph) == to_prov_n(graph)


def test_export_does_not_depend_on_the_order_of_the_graph(graph):
    shuffled = dataclasses.replace(
        graph,
        nodes=graph.nodes[::-1],
        edges=graph.edges[::-1],
        productions=dict(reversed(graph.productions.items())),
    )
    assert to_prov_json(shuffled) == to_prov_json(graph)
    assert to_prov_n(shuffled) == to_prov_n(graph)


def test_relations_get_blank_node_ids_numbered_per_export(graph):
    """prov numbers relations _:id1, _:id2... afresh for each serialization, in record order."""
    first = to_prov_json(graph)
    to_prov_json(dataclasses.replace(graph, edges=graph.edges[:1]))  # another export in between
    assert to_prov_json(graph) == first
    assert '"_:id1"' in first


@pytest.mark.parametrize("tables", [mini, with_deleted_aod], ids=["mini", "deleted-aod"])
def test_prov_json_loads_back_equal(catalog, tmp_path, tables):
    graph = mini_lineage(catalog, tmp_path, tables())
    text = to_prov_json(graph)
    loaded = ProvDocument.deserialize(content=text, format="json")
    assert loaded == prov_document(graph)
    assert prov.read(io.StringIO(text), format="json") == prov_document(graph)
    assert loaded.serialize(format="json", indent=2) == text  # nothing lost or reordered


def test_prov_n_parses_back_equal(graph):
    text = to_prov_n(graph)
    parsed = ProvDocument.deserialize(content=text, format="provn")
    assert parsed == prov_document(graph)
    assert parsed.get_provn() == text


def test_truncated_graph_exports_only_what_it_holds(catalog, tmp_path):
    graph = mini_lineage(catalog, tmp_path, max_nodes=2)
    doc = prov_document(graph)
    assert graph.truncated
    assert len([r for r in records(doc, ProvEntity) if r.identifier.namespace == DATASET_NS]) == 2


# -- producers whose inputs are not shown, and how the walk was limited -------------------------


def generations(doc: ProvDocument) -> set[tuple]:
    return {
        (attribute(r, "prov:entity"), str(attribute(r, "prov:activity")))
        for r in records(doc, ProvGeneration)
    }


def test_depth_1_says_which_production_made_aod(catalog, tmp_path):
    """lineage PHYS --depth 1: AOD's inputs are beyond the depth, yet it was generated by task 1."""
    graph = mini_lineage(catalog, tmp_path, depth=1)
    assert not any(e.child == AOD for e in graph.edges)
    doc = prov_document(graph)
    assert generations(doc) == {
        (DATASET[AOD], "production:task-00000001"),
        (DATASET[PHYS], "production:task-00000002"),
    }
    associations = {str(attribute(r, "prov:activity")) for r in records(doc, ProvAssociation)}
    assert "production:task-00000001" in associations
    used = {str(attribute(r, "prov:activity")) for r in records(doc, ProvUsage)}
    assert used == {"production:task-00000002"}  # what task 1 used is not shown
    [derivation] = records(doc, ProvDerivation)
    assert attribute(derivation, "prov:generatedEntity") == DATASET[PHYS]


def test_the_producer_of_a_truncated_graph_stays(catalog, tmp_path):
    doc = prov_document(mini_lineage(catalog, tmp_path, max_nodes=2))
    assert (DATASET[AOD], "production:task-00000001") in generations(doc)


def test_the_root_says_how_the_walk_was_limited(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "mini", mini()))
    with catalog.read() as conn:
        full, deep, capped, both = (
            lineage(conn, PHYS, **options)
            for options in ({}, {"depth": 1}, {"max_nodes": 2}, {"depth": 2, "max_nodes": 3})
        )
    walk_attributes = ("lc:max_depth", "lc:truncated", "lc:max_nodes")

    def limits(graph: ProvenanceGraph) -> dict:
        doc = prov_document(graph)
        limited = {
            r.identifier
            for r in records(doc, ProvEntity)
            if any(r.get_attribute(name) for name in walk_attributes)
        }
        assert limited <= {DATASET[PHYS]}  # only the root carries them
        root = doc.get_record(DATASET[PHYS])[0]
        return {name: attribute(root, name) for name in walk_attributes if root.get_attribute(name)}

    assert limits(full) == {}
    assert limits(deep) == {"lc:max_depth": 1}
    assert limits(capped) == {"lc:truncated": True, "lc:max_nodes": 2}
    assert limits(both) == {"lc:max_depth": 2, "lc:truncated": True, "lc:max_nodes": 3}
    assert 'lc:truncated="true" %% xsd:boolean, lc:max_nodes=2])' in to_prov_n(capped)
    assert "lc:truncated" not in to_prov_json(full) + to_prov_n(full)


@pytest.mark.parametrize(
    "options", [{"depth": 0}, {"depth": 1}, {"max_nodes": 2}], ids=["depth0", "depth1", "capped"]
)
def test_limited_walks_export_deterministically_and_round_trip(catalog, tmp_path, options):
    graph = mini_lineage(catalog, tmp_path, **options)
    text, provn = to_prov_json(graph), to_prov_n(graph)
    assert (to_prov_json(graph), to_prov_n(graph)) == (text, provn)
    shuffled = dataclasses.replace(
        graph,
        nodes=graph.nodes[::-1],
        generated_by=dict(reversed(graph.generated_by.items())),
    )
    assert (to_prov_json(shuffled), to_prov_n(shuffled)) == (text, provn)
    doc = prov_document(graph)
    assert ProvDocument.deserialize(content=text, format="json") == doc
    assert ProvDocument.deserialize(content=provn, format="provn") == doc


def test_generated_by_alone_gives_one_generation_per_dataset():
    """A producer known from edges and ``generated_by`` both is one generation, not two."""
    t = Transformation("t1", "X_tf", None, None, None, None, None, None)
    productions = {n: Production(n, t, None, None, None, None, "done") for n in ("p1", "p2")}
    graph = ProvenanceGraph(
        "s:root",
        "upstream",
        [_node("s:root"), _node("s:in")],
        [Edge("s:in", "s:root", "p2", "input")],
        productions,
        {"s:root": "p2", "s:in": "p1", "s:not-shown": "p1"},
    )
    assert generations(prov_document(graph)) == {
        (DATASET["s:root"], "production:p2"),
        (DATASET["s:in"], "production:p1"),
    }


# -- identifiers ---------------------------------------------------------------------------------


def test_identifiers_keep_dids_and_names_readable():
    assert local_name(PHYS) == PHYS.replace(":", "_x003A_", 1)
    assert local_name("task-00000001") == "task-00000001"
    assert local_name("Athena,22.0.40") == "Athena_x002C_22.0.40"
    assert local_name("a b%") == "a_x0020_b_x0025_"
    assert local_name("_x1:") == "_x005F_x1_x003A_"  # a "_x" of the text is escaped: reversible
    assert local_name("1.x") == "_x0031_.x"  # an XML name starts with a letter or "_"


def _node(did: str, state: str = "closed") -> Node:
    return Node(did, "derived", "AOD", 0, False, state, 1, None, None)


def _graph_of(did: str, release: str) -> ProvenanceGraph:
    t = Transformation("t1", "X_tf", release, None, None, None, None, None)
    production = Production("p 1", t, None, None, None, None, "done")
    nodes = [_node(did), _node("s:input")]
    edges = [Edge("s:input", did, "p 1", "input")]
    return ProvenanceGraph(did, "upstream", nodes, edges, {"p 1": production})


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(deadline=None)  # the first example compiles the XML schema
@given(did=names, release=names)
def test_any_name_gives_an_identifier_that_round_trips(did, release):
    """Whatever a DID or release holds, the PROV-N parses, the PROV-JSON loads, the PROV-XML is
    valid against prov-core.xsd and reads back, ids decode."""
    graph = _graph_of(did, release)
    doc = prov_document(graph)
    assert ProvDocument.deserialize(content=to_prov_json(graph), format="json") == doc
    assert ProvDocument.deserialize(content=to_prov_n(graph), format="provn") == doc
    xml = to_prov_xml(graph)
    assert_valid_prov_xml(xml)
    assert ProvDocument.deserialize(content=xml, format="xml") == doc
    entity = next(r for r in records(doc, ProvEntity) if attribute(r, "prov:label") == did)
    assert from_local_name(entity.identifier.localpart) == did
    assert entity.identifier.uri == NAMESPACES["dataset"] + local_name(did)


# -- PROV-XML: valid against W3C prov-core.xsd -----------------------------------------------------


@functools.cache
def prov_core_schema():
    """W3C's ``prov-core.xsd``, as ``prov`` ships it for its own tests (with ``xml.xsd`` beside
    it, so it compiles without the network; see that directory's README for the licence)."""
    from importlib.resources import files

    from lxml import etree

    path = files("prov") / "tests" / "schemas" / "prov-core.xsd"
    assert path.is_file(), "prov >= 3.2.3 ships the W3C PROV-XML schemas (pyproject pins it)"
    return etree.XMLSchema(etree.parse(str(path)))


def assert_valid_prov_xml(text: str):
    from lxml import etree

    root = etree.fromstring(text.encode("utf-8"))
    schema = prov_core_schema()
    assert schema.validate(root), schema.error_log.filter_from_errors()
    return root


PROV_NS = "{http://www.w3.org/ns/prov#}"


@pytest.mark.parametrize("tables", [mini, with_deleted_aod], ids=["mini", "deleted-aod"])
@pytest.mark.parametrize("options", [{}, {"depth": 1}, {"max_nodes": 2}], ids=str)
def test_prov_xml_is_valid_against_prov_core_xsd_and_reads_back(catalog, tmp_path, tables, options):
    graph = mini_lineage(catalog, tmp_path, tables(), **options)
    text = to_prov_xml(graph)
    root = assert_valid_prov_xml(text)
    assert ProvDocument.deserialize(content=text, format="xml") == prov_document(graph)
    labels = {e.findtext(f"{PROV_NS}label") for e in root.iter(f"{PROV_NS}entity")}
    assert {n.did for n in graph.nodes} <= labels  # the DID is kept, as the label


def test_the_issue_s_identifier_is_now_a_valid_qname():
    """Issue 17: ``dataset:data15_13TeV:data15_13TeV.00279169...`` had a second ``:``."""
    did = "data15_13TeV:data15_13TeV.00279169.physics_Main.merge.AOD.r9264_p3083"
    text = to_prov_xml(_graph_of(did, "Athena,21.0.20"))
    root = assert_valid_prov_xml(text)
    ids = [e.get(f"{PROV_NS}id") for e in root.iter(f"{PROV_NS}entity")]
    assert f"dataset:{local_name(did)}" in ids
    assert (
        "dataset:data15_13TeV_x003A_data15_13TeV.00279169.physics_Main.merge.AOD.r9264_p3083" in ids
    )
    assert '"release:Athena_x002C_21.0.20"' in text.replace("'", '"')


# DID -> its label in PROV-XML: as it is, but what XML 1.0 cannot hold (written visibly)
HOSTILE_DIDS = {
    'data18_13TeV:raw."quoted"<b>&amp;%41:x_x41_.RAW': None,
    "odd scope:aod.'<&>' %2F:/?#[]@!$&'()*+,;=\u202e.AOD": None,
    "1starts-with-a-digit": None,
    "ctl:\x1b[31m\x00\x7f": "ctl:\\x1b[31m\\x00\x7f",  # DEL is an XML character
}


@pytest.mark.parametrize(("did", "label"), HOSTILE_DIDS.items())
def test_hostile_dids_give_valid_identifiers_in_every_serialization(did, label):
    graph = _graph_of(did, 'R<"&>,1')
    doc = prov_document(graph)
    root = assert_valid_prov_xml(to_prov_xml(graph))
    labels = [e.findtext(f"{PROV_NS}label") for e in root.iter(f"{PROV_NS}entity")]
    assert (label or did) in labels
    assert ProvDocument.deserialize(content=to_prov_json(graph), format="json") == doc
    assert ProvDocument.deserialize(content=to_prov_n(graph), format="provn") == doc
    entity = next(r for r in records(doc, ProvEntity) if attribute(r, "prov:label") == did)
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", entity.identifier.localpart)
    assert from_local_name(entity.identifier.localpart) == did
