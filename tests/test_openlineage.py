"""OpenLineage export: ``lineage --format openlineage`` and ``export-lineage``.

Every event is checked against OpenLineage's own JSON schema (``spec/OpenLineage.json`` 2-0-2 and
the two standard facet schemas used, vendored under ``tests/schemas/openlineage/``: no package
ships them, see the README there), and parsed back to what the client's serializer made of the
client's event classes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.output.openlineage import FACET_SCHEMA, PRODUCER, run_event, run_id
from lifecycle.provenance.graph import lineage
from lifecycle.provenance.runs import production_runs

SCHEMAS = Path(__file__).parent / "schemas" / "openlineage"
runner = CliRunner()


@pytest.fixture(scope="module")
def validate():
    """``validate(event_dict)``: raises unless the event is valid OpenLineage 2-0-2, with the
    standard facets valid against their own schemas and custom facets carrying their base."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:  # RFC 3339: a date, a time and an offset (or Z)
        return not isinstance(value, str) or (
            "T" in value and datetime.fromisoformat(value).tzinfo is not None
        )

    @checker.checks("uri")
    def _uri(value: object) -> bool:  # a scheme, then no whitespace
        return not isinstance(value, str) or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value)

    def validator(name: str):
        cls = jsonschema.validators.validator_for(schemas[name])
        return cls(schemas[name], registry=registry, format_checker=checker)

    event_schema = validator("OpenLineage")
    facet_schemas = {"nominalTime": validator("NominalTimeRunFacet")}
    facet_schemas["jobType"] = validator("JobTypeJobFacet")

    def check(event: dict) -> None:
        event_schema.validate(event)
        facets = [
            *event["run"].get("facets", {}).items(),
            *event["job"].get("facets", {}).items(),
            *(f for d in event["inputs"] + event["outputs"] for f in d["facets"].items()),
            *(f for d in event["inputs"] for f in d.get("inputFacets", {}).items()),
        ]
        for key, facet in facets:
            if key in facet_schemas:
                facet_schemas[key].validate({key: facet})
            else:
                assert key.startswith("lifecycle_"), key
                assert facet["_producer"] == PRODUCER
                assert facet["_schemaURL"].startswith(FACET_SCHEMA + "#/$defs/Lifecycle")

    return check


def load(catalog, tmp_path, tables=None):
    catalog.import_directory(write_catalog(tmp_path / "mini", tables or mini()))
    return catalog


def exported(catalog, *options: str) -> list[dict]:
    result = runner.invoke(app, ["--db", catalog.url, "export-lineage", *options])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("{") for line in lines)  # NDJSON: one event a line
    return [json.loads(line) for line in lines]


def test_each_production_is_one_valid_run_event(catalog, tmp_path, validate):
    events = exported(load(catalog, tmp_path))
    assert [e["run"]["facets"]["lifecycle_production"]["production"] for e in events] == [
        "task-00000001",
        "task-00000002",
    ]
    for event in events:
        validate(event)
    reco = events[0]
    assert reco["eventType"] == "COMPLETE"
    assert reco["eventTime"] == "2018-08-03T00:00:00Z"  # finished_at
    assert reco["producer"] == PRODUCER
    assert reco["job"]["namespace"] == "lifecycle://atlas"
    assert reco["job"]["name"] == "r13286"
    assert [(d["namespace"], d["name"]) for d in reco["inputs"]] == [
        ("lifecycle://atlas/calib", CALIB.split(":", 1)[1]),  # by role: calibration, then input
        ("lifecycle://atlas/data18_13TeV", RAW.split(":", 1)[1]),
    ]
    assert [d["inputFacets"]["lifecycle_input"]["role"] for d in reco["inputs"]] == [
        "calibration",
        "input",
    ]
    assert [d["facets"]["lifecycle_dataset"]["did"] for d in reco["outputs"]] == [AOD]


def test_hep_facts_are_lifecycle_facets(catalog, tmp_path):
    reco = exported(load(catalog, tmp_path))[0]
    production = reco["run"]["facets"]["lifecycle_production"]
    assert production["conditionsTag"] == "CONDBR2-BLKPA-RUN2-09"
    assert production["site"] == "CERN-PROD"
    assert production["status"] == "done"
    assert production["startedAt"] == "2018-08-02T00:00:00Z"
    assert reco["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2018-08-02T00:00:00Z"
    transformation = reco["job"]["facets"]["lifecycle_transformation"]
    assert transformation["release"] == "Athena,22.0.40"
    assert transformation["imageDigest"] == "sha256:" + "a" * 64
    assert transformation["name"] == "Reco_tf"
    assert reco["job"]["facets"]["jobType"]["jobType"] == "PRODUCTION"
    dataset = reco["outputs"][0]["facets"]["lifecycle_dataset"]
    assert (dataset["kind"], dataset["dataType"], dataset["state"]) == ("derived", "AOD", "closed")


def test_missing_values_are_left_out(catalog, tmp_path):
    deriv = exported(load(catalog, tmp_path))[1]
    production = deriv["run"]["facets"]["lifecycle_production"]
    assert not {"conditionsTag", "site", "startedAt", "finishedAt"} & set(production)
    assert "nominalTime" not in deriv["run"]["facets"]
    assert "imageDigest" not in deriv["job"]["facets"]["lifecycle_transformation"]


def test_a_finished_run_without_times_happened_when_its_output_was_made(catalog, tmp_path):
    deriv = exported(load(catalog, tmp_path))[1]
    assert deriv["eventType"] == "COMPLETE"
    assert deriv["eventTime"] == "2018-08-05T10:00:00.250000Z"  # PHYS's created_at
    assert deriv["run"]["facets"]["lifecycle_production"]["eventTimeFrom"] == "outputs_created_at"


@pytest.mark.parametrize(
    ("status", "finished_at", "event_type", "event_time"),
    [
        ("running", "", "START", "2018-08-02T00:00:00Z"),  # running: START at started_at
        ("failed", "2018-08-03T00:00:00Z", "FAIL", "2018-08-03T00:00:00Z"),
        ("done", "2018-08-03T00:00:00Z", "COMPLETE", "2018-08-03T00:00:00Z"),
    ],
)
def test_the_status_gives_the_event_type(
    catalog, tmp_path, validate, status, finished_at, event_type, event_time
):
    tables = mini()
    tables["productions"][0].update(status=status, finished_at=finished_at)
    reco = exported(load(catalog, tmp_path, tables))[0]
    validate(reco)
    assert (reco["eventType"], reco["eventTime"]) == (event_type, event_time)


def test_run_ids_are_stable_uuids_of_the_production(catalog, tmp_path):
    first = exported(load(catalog, tmp_path))
    again = exported(catalog)
    assert [e["run"]["runId"] for e in first] == [e["run"]["runId"] for e in again]
    expected = uuid5(NAMESPACE_URL, "urn:lifecycle:atlas:production:task-00000001")
    assert UUID(first[0]["run"]["runId"]) == expected == run_id("atlas", "task-00000001")
    assert first == again  # byte-stable apart from nothing: no clock, no random


def test_the_experiment_names_the_namespaces(catalog, tmp_path, monkeypatch):
    load(catalog, tmp_path)
    [reco, _] = exported(catalog, "--experiment", "cms")
    assert reco["job"]["namespace"] == "lifecycle://cms"
    assert reco["inputs"][0]["namespace"] == "lifecycle://cms/calib"
    assert reco["run"]["runId"] == str(run_id("cms", "task-00000001"))
    monkeypatch.setenv("LIFECYCLE_EXPERIMENT", "lhcb")
    assert exported(catalog)[0]["job"]["namespace"] == "lifecycle://lhcb"
    result = runner.invoke(app, ["--db", catalog.url, "lineage", PHYS, "-f", "openlineage"])
    assert json.loads(result.stdout.splitlines()[0])["job"]["namespace"] == "lifecycle://lhcb"


def test_export_to_a_file(catalog, tmp_path):
    load(catalog, tmp_path)
    target = tmp_path / "lineage.ndjson"
    result = runner.invoke(app, ["--db", catalog.url, "export-lineage", "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert [json.loads(line)["job"]["name"] for line in target.read_text().splitlines()] == [
        "r13286",
        "p4910",
    ]


def test_lineage_gives_the_events_of_the_productions_it_shows(catalog, tmp_path, validate):
    load(catalog, tmp_path)
    full = runner.invoke(app, ["--db", catalog.url, "lineage", PHYS, "-f", "openlineage"])
    assert full.exit_code == 0, full.stderr
    events = [json.loads(line) for line in full.stdout.splitlines()]
    for event in events:
        validate(event)
    assert events == exported(catalog)  # the whole chain: the same events as the export
    shallow = runner.invoke(
        app, ["--db", catalog.url, "lineage", PHYS, "--depth", "1", "-f", "openlineage"]
    )
    [reco, deriv] = [json.loads(line) for line in shallow.stdout.splitlines()]
    assert reco["inputs"] == []  # task 1 made AOD (shown); what it used is beyond the depth
    assert [d["name"] for d in deriv["inputs"]] == [AOD.split(":", 1)[1]]


def test_events_parse_back_to_what_the_client_serialized(catalog, tmp_path):
    """The client's serializer over the client's classes is what is written, key for key."""
    from openlineage.client.serde import Serde

    load(catalog, tmp_path)
    with catalog.read() as conn:
        runs = list(production_runs(conn))
        graph = lineage(conn, PHYS)
    events = [run_event("atlas", run) for run in runs]
    assert [type(e).__name__ for e in events] == ["RunEvent", "RunEvent"]
    assert exported(catalog) == [Serde.to_dict(e) for e in events]
    assert [r.production.name for r in graph.runs()] == [r.production.name for r in runs]


def test_importing_lifecycle_output_does_not_load_the_client():
    import subprocess
    import sys

    code = "import sys, lifecycle.output\nprint('openlineage' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- hostile names --------------------------------------------------------------------------------

# what import lets through: DIDs of letters, digits and _.-+/ only; other names hold anything
HOSTILE = {
    RAW: "data18_13TeV:raw/+..-_x41_+/RAW",
    "task-00000001": 'task-"1"<&>%41:\x1b[31m',
    "r13286": "r1&<\"'>:%2F",
    "Athena,22.0.40": 'Athena,<22>&"0"',
    "CONDBR2-BLKPA-RUN2-09": "]]>--><!--\n\u202e",
}
# what a catalog written another way (the Python API, a bridge) could hold
HOSTILE_DIDS = [
    'data18_13TeV:raw."quoted"<b>&amp;%41:x_x41_\x1b[31m.RAW',
    "odd scope:aod.'<&>' %2F:/?#[]@!$&'()*+,;=\u202e.AOD",
    "no-scope-at-all",
]


def hostile() -> dict:
    """MINI with a DID, a production, a tag, a release and a conditions tag that quote, mark up,
    escape and control."""
    tables = mini()
    for rows in tables.values():
        for row in rows:
            for key, value in row.items():
                row[key] = HOSTILE.get(value, value)
    return tables


def test_hostile_names_give_valid_events_that_keep_them(catalog, tmp_path, validate):
    events = exported(load(catalog, tmp_path, hostile()))
    for event in events:
        validate(event)
    reco = next(e for e in events if e["job"]["name"] == HOSTILE["r13286"])
    production = reco["run"]["facets"]["lifecycle_production"]
    assert production["production"] == HOSTILE["task-00000001"]
    assert production["conditionsTag"] == HOSTILE["CONDBR2-BLKPA-RUN2-09"]
    transformation = reco["job"]["facets"]["lifecycle_transformation"]
    assert transformation["release"] == HOSTILE["Athena,22.0.40"]
    assert reco["inputs"][1]["facets"]["lifecycle_dataset"]["did"] == HOSTILE[RAW]
    result = runner.invoke(app, ["--db", catalog.url, "lineage", PHYS, "-f", "openlineage"])
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == events


def test_hostile_dids_keep_their_text_and_scope(validate):
    from lifecycle.provenance.graph import Production, ProductionRun, RunDataset, Transformation

    t = Transformation("t<1>", "X_tf", "R,1", None, "sha256:x", None, None, None)
    p = Production('p"1"', t, None, "S&1", None, None, "done")
    datasets = [RunDataset(did, "input", "raw", None, "closed", None) for did in HOSTILE_DIDS]
    out = RunDataset("s:o<u>t", "output", "derived", "AOD", "closed", None)
    event = json.loads(_serialized(run_event("atlas", ProductionRun(p, datasets, [out]))))
    validate(event)
    kept = [d["facets"]["lifecycle_dataset"]["did"] for d in event["inputs"]]
    assert kept == HOSTILE_DIDS
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        ("lifecycle://atlas/data18_13TeV", HOSTILE_DIDS[0].split(":", 1)[1]),
        ("lifecycle://atlas/odd%20scope", HOSTILE_DIDS[1].split(":", 1)[1]),
        ("lifecycle://atlas/", "no-scope-at-all"),
    ]


def _serialized(event) -> str:
    from openlineage.client.serde import Serde

    return Serde.to_json(event)
