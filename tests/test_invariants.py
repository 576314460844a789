"""Invariants of expiry and deletion over random catalogs and random sequences of operations.

- the tool's own deletions (expiry) never reduce the available replicas of raw data, and guarded
  deletion never removes the last available replica of raw data;
- expiry deletes only reproducible data, and no dataset that was reproducible becomes
  irreproducible through expiry;
- every dry run leaves the catalog unchanged.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from catalogs import MINI, write_catalog
from conftest import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.api import Catalog
from lifecycle.errors import UsageError
from lifecycle.policy import load_policies

ENDPOINTS = ["CERN-PROD_DATATAPE", "CERN-PROD_DATADISK", "BNL-OSG2_DATATAPE"]
POLICY = """
[policy]
name = "invariants"

[[rule]]
name = "raw-archival-copies"
type = "replication"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"

[[rule]]
name = "derived-lifetime"
type = "lifetime"
select = { kind = ["derived"] }
lifetime = "730d"
"""
DIGEST = "sha256:" + "e" * 64


def _did(kind: str, i: int) -> str:
    return f"test:test.{kind}.{i:03d}"


@st.composite
def catalogs(draw) -> dict[str, list[dict[str, str]]]:
    """A random small catalog: raw and calibration roots, derived layers with merges."""
    tables: dict[str, list[dict[str, str]]] = {
        "sites": copy.deepcopy(MINI["sites"]),
        "endpoints": copy.deepcopy(MINI["endpoints"]),
        "datasets": [],
        "replicas": [],
        "transformations": [
            {"tag": "good", "name": "Good_tf", "release": "R,1", "image_digest": DIGEST},
            {"tag": "nodigest", "name": "Bad_tf", "release": "R,1", "image_digest": ""},
        ],
        "productions": [],
        "production_io": [],
        "pins": [],
    }
    roots = [("raw", i) for i in range(draw(st.integers(1, 3)))] + [("calibration", 0)]
    dids: list[str] = []
    for kind, i in roots:
        did = _did(kind, i)
        _dataset(tables, did, kind, draw)
        dids.append(did)
    for i in range(draw(st.integers(1, 7))):
        did = _did("derived", i)
        _dataset(tables, did, "derived", draw)
        production = f"task-{i:03d}"
        tables["productions"].append(
            {"id": production, "transformation": draw(st.sampled_from(["good"] * 3 + ["nodigest"]))}
        )
        inputs = draw(st.lists(st.sampled_from(dids), min_size=1, max_size=3, unique=True))
        for j, source in enumerate(inputs):
            role = "calibration" if "calibration" in source else ("input" if j == 0 else "config")
            tables["production_io"].append({"production": production, "did": source, "role": role})
        tables["production_io"].append({"production": production, "did": did, "role": "output"})
        if draw(st.booleans()):
            tables["pins"].append(
                {
                    "did": did,
                    "reason": "analysis",
                    "until": draw(st.sampled_from(["", "2020-01-01", "2030-01-01"])),
                    "actor": "alice",
                }
            )
        dids.append(did)
    return tables


def _dataset(tables, did: str, kind: str, draw) -> None:
    states = draw(
        st.lists(
            st.sampled_from(
                ["available", "available", "lost", "deleted", "unavailable", "copying", None]
            ),
            min_size=3,
            max_size=3,
        )
    )
    replicas = [(e, s) for e, s in zip(ENDPOINTS, states, strict=True) if s is not None]
    deleted = replicas and all(s == "deleted" for _, s in replicas)
    tables["datasets"].append(
        {
            "did": did,
            "kind": kind,
            "bytes": "100",
            "files": "1",
            "created_at": "2019-01-01T00:00:00Z",
            "expires_at": draw(st.sampled_from(["", "", "2020-06-01", "2031-01-01"])),
            "state": "deleted" if deleted else "closed",
        }
    )
    for endpoint, state in replicas:
        tables["replicas"].append(
            {"did": did, "endpoint": endpoint, "state": state, "created_at": "2019-02-01"}
        )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("expire"), st.booleans(), st.sampled_from([2026, 2032])),
        st.tuples(
            st.just("delete"),
            st.integers(0, 10),
            st.sampled_from(ENDPOINTS),
            st.booleans(),  # --force
            st.booleans(),  # --apply
        ),
        st.tuples(st.just("lost"), st.integers(0, 10), st.sampled_from(ENDPOINTS)),
        st.tuples(st.just("pin"), st.integers(0, 10)),
    ),
    min_size=1,
    max_size=5,
)


def _reset(catalog: Catalog) -> None:
    from sqlmodel import SQLModel

    with catalog.atomic("reset") as (conn, _):
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(sa.delete(table))


def _raw_available(catalog: Catalog) -> dict[str, int]:
    with catalog.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT d.did, COUNT(r.id) FROM dataset d LEFT JOIN replica r ON r.dataset_id = d.id "
            "AND r.state = 'available' WHERE d.kind = 'raw' GROUP BY d.did"
        ).all()
    return {did: int(n) for did, n in rows}


def _reproducible(catalog: Catalog) -> set[str]:
    table = catalog.reproducibility()
    return set(table.loc[table["reproducible"], "did"])


def _expire(catalog: Catalog, policies, when: datetime, apply: bool):
    """A dry run as of ``when``; an apply with the present frozen at ``when`` (--now is refused
    with --apply, and refused without changing anything)."""
    if not apply:
        return catalog.expire(policies, when)
    before = snapshot(catalog)
    with pytest.raises(UsageError, match="--now is for previews"):
        catalog.expire(policies, when, apply=True)
    assert snapshot(catalog) == before, "a refused --now --apply changed the catalog"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lifecycle.catalog.store.clock", lambda: when)
        return catalog.expire(policies, apply=True)


@pytest.fixture
def policies(tmp_path):
    path = tmp_path / "invariants.toml"
    path.write_text(POLICY)
    return load_policies([path])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tables=catalogs(), ops=operations)
def test_expiry_and_deletion_invariants(catalog, tmp_path_factory, policies, tables, ops):
    _reset(catalog)
    catalog.import_directory(write_catalog(Path(tmp_path_factory.mktemp("cat")), tables))
    dids = [d["did"] for d in tables["datasets"]]
    for op in ops:
        before = snapshot(catalog)
        raw_before = _raw_available(catalog)
        if op[0] == "expire":
            _, apply, year = op
            reproducible_before = _reproducible(catalog)
            report = _expire(catalog, policies, datetime(year, 1, 1, tzinfo=UTC), apply)
            doomed = set(report.to_delete["did"])
            assert doomed <= reproducible_before, "expiry chose irreproducible data"
            if not apply:
                assert snapshot(catalog) == before, "a dry run changed the catalog"
            assert _raw_available(catalog) == raw_before, "expiry touched raw replicas"
            lost = reproducible_before - _reproducible(catalog)
            assert not lost, f"expiry made {lost} irreproducible"
        elif op[0] == "delete":
            _, index, endpoint, force, apply = op
            did = dids[index % len(dids)]
            try:
                report = catalog.delete_replica(
                    did, endpoint, "test", policies, force=force, apply=apply
                )
            except UsageError:  # no such replica, or deleted already
                assert snapshot(catalog) == before
                continue
            if not report.applied:
                assert snapshot(catalog) == before, "a refused or previewed deletion changed it"
            after = _raw_available(catalog)
            for raw, n in raw_before.items():
                assert n == 0 or after[raw] > 0, f"the last available replica of {raw} went"
        elif op[0] == "lost":
            _, index, endpoint = op
            did = dids[index % len(dids)]
            try:
                catalog.mark_lost(did, endpoint, "test", policies)
            except UsageError:
                assert snapshot(catalog) == before
                continue
            assert snapshot(catalog) == before, "a mark-lost preview changed the catalog"
            catalog.mark_lost(did, endpoint, "test", policies, apply=True)
        else:
            try:
                catalog.pin(dids[op[1] % len(dids)], "hold", None)
            except UsageError:  # a deleted or lost dataset cannot be pinned
                assert snapshot(catalog) == before


BLANKS = ["", " ", "\t", "\n", " \r\n\v\f "]


@st.composite
def blank_catalogs(draw):
    """The random catalogs above, with transformations whose release or digest is blank (empty or
    whitespace only) and productions done, failed or running; plus which blank values to write
    straight into the database afterwards (bypassing import, as a catalog imported before import
    normalised them would hold)."""
    tables = draw(catalogs())
    tables["transformations"] = [
        {"tag": "good", "name": "Good_tf", "release": "R,1", "image_digest": DIGEST},
        {"tag": "blankdigest", "name": "B_tf", "release": "R,1",
         "image_digest": draw(st.sampled_from(BLANKS))},
        {"tag": "blankrelease", "name": "C_tf", "release": "R,1", "image_digest": DIGEST},
    ]  # fmt: skip
    tags = ["good", "good", "blankdigest", "blankrelease"]
    for production in tables["productions"]:
        production["transformation"] = draw(st.sampled_from(tags))
        production["status"] = draw(st.sampled_from(["done", "done", "failed", "running"]))
    raw_blanks = {
        "blankdigest": ("image_digest", draw(st.sampled_from([None, *BLANKS]))),
        "blankrelease": ("release", draw(st.sampled_from(BLANKS))),  # required: blanked in SQL
    }
    return tables, raw_blanks


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=blank_catalogs(), year=st.sampled_from([2026, 2032]))
def test_expiry_never_deletes_blank_failed_running_or_running_inputs(
    catalog, tmp_path_factory, policies, case, year
):
    """Blank release or digest records nothing, only done productions regenerate, and the inputs
    of a running production stay: whatever the catalog, ``expire --apply`` deletes nothing the
    reproducibility service calls irreproducible and no input of a running production."""
    tables, raw_blanks = case
    _reset(catalog)
    catalog.import_directory(write_catalog(Path(tmp_path_factory.mktemp("cat")), tables))
    with catalog.atomic("blank") as (conn, _):
        stored = conn.execute(
            sa.text("SELECT image_digest FROM transformation WHERE tag = 'blankdigest'")
        ).scalar()
        assert stored is None, "import kept a blank image digest"
        for tag, (column, value) in raw_blanks.items():
            conn.execute(
                sa.text(f"UPDATE transformation SET {column} = :v WHERE tag = :tag"),
                {"v": value, "tag": tag},
            )
    status = {p["id"]: p.get("status", "done") for p in tables["productions"]}
    tag_of = {p["id"]: p["transformation"] for p in tables["productions"]}
    unsound = {
        io["did"]
        for io in tables["production_io"]
        if io["role"] == "output"
        and (status[io["production"]] != "done" or tag_of[io["production"]] != "good")
    }
    running_inputs = {
        io["did"]
        for io in tables["production_io"]
        if io["role"] != "output" and status[io["production"]] == "running"
    }
    reproducible = _reproducible(catalog)
    assert not (unsound & reproducible), (
        "a blank, failed or running producer made data reproducible"
    )
    report = _expire(catalog, policies, datetime(year, 1, 1, tzinfo=UTC), apply=True)
    deleted = set(report.to_delete["did"])
    assert deleted <= reproducible, "expiry deleted data the service calls irreproducible"
    assert not (deleted & running_inputs), "expiry deleted an input of a running production"
    kept = report.kept.set_index("did")["reason"]
    for did in running_inputs & set(kept.index):
        assert kept[did].startswith(("kind:", "pinned:", "running: input of running production"))
