"""OpenLineage ``RunEvent``s of productions (``openlineage``), built with ``openlineage-python``.

One event per production, one JSON object a line (NDJSON: what OpenLineage consumers such as
Marquez take, one ``POST /api/v1/lineage`` per line). The mapping:

- the **run** is the production: ``runId`` a UUID derived from the experiment and production
  name (:func:`run_id`; the same production gets the same id in every export, so a later export
  of a running production completes the same run);
- ``eventType`` from its status: ``done`` is ``COMPLETE``, ``failed`` is ``FAIL``, and
  ``running`` is ``START`` at ``started_at``: the one transition known to have happened, and
  the first event OpenLineage requires of a run; a later export gives it its ``COMPLETE``.
  ``eventTime`` is ``finished_at`` for a finished run and ``started_at`` for a running one,
  else the other of the two, else the latest ``created_at`` of its outputs, else the Unix
  epoch (the production facet's ``eventTimeFrom`` says which);
- the **job** is the transformation: its tag in the namespace ``lifecycle://<experiment>``;
- **inputs** and **outputs** are datasets in the namespace ``lifecycle://<experiment>/<scope>``,
  named by the rest of their DID;
- facets under the ``lifecycle`` prefix carry what HEP needs to run it again:
  ``lifecycle_production`` (run: production name, status, conditions tag, site, times),
  ``lifecycle_transformation`` (job: tag, name, release, image, image digest, code, command),
  ``lifecycle_dataset`` (dataset: DID, kind, data type, state) and ``lifecycle_input`` (input
  facet: role ``input``, ``calibration`` or ``config``); standard ``nominalTime`` and
  ``jobType`` facets too. Custom facets name their schema by URN (:data:`FACET_SCHEMA`).

Missing values are left out. The events of a graph (``lineage DID --format openlineage``) are
of the productions it shows, with the inputs and outputs it shows; ``export-lineage`` streams
every production of the catalog with all of its inputs and outputs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO
from urllib.parse import quote
from uuid import NAMESPACE_URL, UUID, uuid5

from lifecycle.values import json_value

if TYPE_CHECKING:
    from lifecycle.provenance.graph import Production, ProductionRun, ProvenanceGraph, RunDataset
    from lifecycle.provenance.runs import Runs

PRODUCER = "urn:lifecycle"  # who made the events (a URI, as OpenLineage asks)
FACET_SCHEMA = "urn:lifecycle:openlineage:facets:1"
DEFAULT_EXPERIMENT = "atlas"
EVENT_TYPES = {"done": "COMPLETE", "failed": "FAIL", "running": "START"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def run_id(experiment: str, production: str) -> UUID:
    """The run id of a production: stable across exports (a UUID 5 of its URN)."""
    return uuid5(NAMESPACE_URL, f"urn:lifecycle:{experiment}:production:{production}")


def job_namespace(experiment: str) -> str:
    return f"lifecycle://{quote(experiment, safe='')}"


def dataset_namespace_and_name(experiment: str, did: str) -> tuple[str, str]:
    """The namespace (one per scope) and name of a dataset: ``scope:name`` split at its ``:``."""
    scope, _, name = did.partition(":")
    if not name:
        scope, name = "", did
    return f"{job_namespace(experiment)}/{quote(scope, safe='')}", name


def run_events(experiment: str, runs: Iterable[ProductionRun]) -> Iterator[Any]:
    """The ``RunEvent`` of each run, in the order given."""
    for run in runs:
        yield run_event(experiment, run)


def run_event(experiment: str, run: ProductionRun) -> Any:
    """The ``openlineage.client.event_v2.RunEvent`` of one production."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.facet_v2 import job_type_job, nominal_time_run
    from openlineage.client.generated.base import EventType

    facets = _facet_classes()
    p, t = run.production, run.production.transformation
    event_type = EVENT_TYPES.get(p.status, "OTHER")
    when, source = _event_time(p, event_type, run.outputs)
    run_facets: dict[str, Any] = {
        "lifecycle_production": facets.production(
            production=p.name,
            status=p.status,
            conditionsTag=_text(p.conditions_tag),
            site=_text(p.site),
            startedAt=json_value(p.started_at),
            finishedAt=json_value(p.finished_at),
            eventTimeFrom=source,
            producer=PRODUCER,
        )
    }
    if p.started_at is not None:
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=json_value(p.started_at),
            nominalEndTime=json_value(p.finished_at),
            producer=PRODUCER,
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="LIFECYCLE", jobType="PRODUCTION", producer=PRODUCER
        ),
        "lifecycle_transformation": facets.transformation(
            tag=t.tag,
            name=t.name,
            release=_text(t.release),
            image=_text(t.image),
            imageDigest=_text(t.image_digest),
            codeRepo=_text(t.code_repo),
            codeCommit=_text(t.code_commit),
            command=_text(t.command),
            producer=PRODUCER,
        ),
    }
    inputs = []
    for d in run.inputs:
        namespace, name = dataset_namespace_and_name(experiment, d.did)
        inputs.append(
            InputDataset(
                namespace=namespace,
                name=name,
                facets={"lifecycle_dataset": _dataset_facet(facets, d)},
                inputFacets={"lifecycle_input": facets.input(role=d.role, producer=PRODUCER)},
            )
        )
    outputs = []
    for d in run.outputs:
        namespace, name = dataset_namespace_and_name(experiment, d.did)
        outputs.append(
            OutputDataset(
                namespace=namespace,
                name=name,
                facets={"lifecycle_dataset": _dataset_facet(facets, d)},
            )
        )
    return RunEvent(
        eventType=EventType(event_type),
        eventTime=json_value(when),
        run=Run(runId=str(run_id(experiment, p.name)), facets=run_facets),
        job=Job(namespace=job_namespace(experiment), name=t.tag, facets=job_facets),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def to_ndjson(experiment: str, runs: Iterable[ProductionRun]) -> Iterator[str]:
    """Each event as one line of JSON (keys sorted, as the client's serializer writes them)."""
    from openlineage.client.serde import Serde

    for event in run_events(experiment, runs):
        yield Serde.to_json(event) + "\n"


def write_runs_openlineage(runs: Runs, out: TextIO) -> None:
    """``openlineage`` of ``export-lineage``: one event a line, written as they are made."""
    for line in to_ndjson(runs.experiment, runs.runs):
        out.write(line)


def write_graph_openlineage(graph: ProvenanceGraph, out: TextIO) -> None:
    """``openlineage`` of a graph: one event a line per production shown (experiment from
    ``LIFECYCLE_EXPERIMENT``, default ``atlas``)."""
    import os

    experiment = os.environ.get("LIFECYCLE_EXPERIMENT") or DEFAULT_EXPERIMENT
    for line in to_ndjson(experiment, graph.runs()):
        out.write(line)


def _event_time(p: Production, event_type: str, outputs: list[RunDataset]) -> tuple[datetime, str]:
    """When the event happened, and which record said so (see the module docstring)."""
    order = (
        ("started_at", "finished_at") if event_type == "START" else ("finished_at", "started_at")
    )
    for name in order:
        value = getattr(p, name)
        if value is not None:
            return value, name
    made = [d.created_at for d in outputs if d.created_at is not None]
    if made:
        return max(made), "outputs_created_at"
    return EPOCH, "unknown"


def _text(value: str | None) -> str | None:
    """A recorded value, or None (blank records nothing, and None is left out of the JSON)."""
    return value if value is not None and value.strip() else None


def _dataset_facet(facets: Any, d: RunDataset) -> Any:
    return facets.dataset(
        did=d.did, kind=d.kind, dataType=d.data_type, state=d.state, producer=PRODUCER
    )


class _Facets(NamedTuple):
    production: type
    transformation: type
    dataset: type
    input: type


@functools.cache
def _facet_classes() -> _Facets:
    """lifecycle's custom facets as the client's facet classes (made once, on first use: the
    client is imported only by the writers that need it)."""
    import attr
    from openlineage.client.generated.base import (
        DatasetFacet,
        InputDatasetFacet,
        JobFacet,
        RunFacet,
    )

    def schema(name: str) -> staticmethod:
        return staticmethod(lambda: f"{FACET_SCHEMA}#/$defs/{name}")

    optional = functools.partial(attr.field, default=None)

    @attr.define(kw_only=True)
    class LifecycleProductionRunFacet(RunFacet):
        production: str
        status: str
        conditionsTag: str | None = optional()  # noqa: N815 (OpenLineage's camelCase)
        site: str | None = optional()
        startedAt: str | None = optional()  # noqa: N815
        finishedAt: str | None = optional()  # noqa: N815
        eventTimeFrom: str | None = optional()  # noqa: N815
        _get_schema = schema("LifecycleProductionRunFacet")

    @attr.define(kw_only=True)
    class LifecycleTransformationJobFacet(JobFacet):
        tag: str
        name: str
        release: str | None = optional()
        image: str | None = optional()
        imageDigest: str | None = optional()  # noqa: N815
        codeRepo: str | None = optional()  # noqa: N815
        codeCommit: str | None = optional()  # noqa: N815
        command: str | None = optional()
        _get_schema = schema("LifecycleTransformationJobFacet")

    @attr.define(kw_only=True)
    class LifecycleDatasetFacet(DatasetFacet):
        did: str
        kind: str | None = optional()
        dataType: str | None = optional()  # noqa: N815
        state: str | None = optional()
        _get_schema = schema("LifecycleDatasetFacet")

    @attr.define(kw_only=True)
    class LifecycleInputDatasetFacet(InputDatasetFacet):
        role: str
        _get_schema = schema("LifecycleInputDatasetFacet")

    return _Facets(
        LifecycleProductionRunFacet,
        LifecycleTransformationJobFacet,
        LifecycleDatasetFacet,
        LifecycleInputDatasetFacet,
    )
