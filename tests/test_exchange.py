"""The exchange format: round trips, idempotent re-import, and every rejection FORMAT.md lists."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from conftest import snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import ImportRowError, UsageError
from lifecycle.exchange import TABLES

runner = CliRunner()


def read_dir(directory: Path) -> dict[str, pd.DataFrame]:
    """Every table file of an export, read as text so any difference shows."""
    out = {}
    for path in sorted(directory.iterdir()):
        if path.suffix == ".csv":
            out[path.stem] = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif path.suffix == ".parquet":
            out[path.stem] = pd.read_parquet(path)
    return out


def assert_same_tables(a: Path, b: Path) -> None:
    left, right = read_dir(a), read_dir(b)
    assert set(left) == set(right) == set(TABLES)
    for name in TABLES:
        pd.testing.assert_frame_equal(left[name], right[name], check_dtype=True)


# -- round trip and idempotence ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_import_export_gives_identical_tables(
    catalog, mini_dir, tmp_path, fmt, new_catalog_url
):
    catalog.import_directory(mini_dir)
    catalog.export_directory(tmp_path / "one", fmt)
    again = Catalog(new_catalog_url())
    again.import_directory(tmp_path / "one")
    again.export_directory(tmp_path / "two", fmt)
    again.close()
    assert_same_tables(tmp_path / "one", tmp_path / "two")
    for name in TABLES:  # byte-identical too
        assert (tmp_path / "one" / f"{name}.{fmt}").read_bytes() == (
            tmp_path / "two" / f"{name}.{fmt}"
        ).read_bytes()


def test_export_holds_what_was_imported(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    catalog.export_directory(tmp_path / "out")
    tables = read_dir(tmp_path / "out")
    datasets = tables["datasets"].set_index("did")
    # offsets become UTC, fractions of seconds survive, data types are inferred from names
    assert datasets.loc[AOD, "created_at"] == "2018-08-03T08:00:00Z"
    assert datasets.loc[PHYS, "created_at"] == "2018-08-05T10:00:00.250000Z"
    assert datasets.loc[RAW, "data_type"] == "RAW"
    assert datasets.loc[PHYS, "data_type"] == "DAOD_PHYS"
    assert datasets.loc[CALIB, "state"] == "closed"  # the default
    assert datasets.loc[RAW, "run_number"] == "357772"  # an extra column kept as metadata
    endpoints = tables["endpoints"].set_index("name")
    assert endpoints.loc["CERN-PROD_DATATAPE", "archival"] == "true"  # TRUE -> true
    assert endpoints.loc["CERN-PROD_DATADISK", "capacity_bytes"] == ""
    replicas = tables["replicas"]
    assert (replicas["state"] != "").all()
    io = tables["production_io"]
    assert len(io) == 5
    assert set(io["role"]) == {"input", "calibration", "output"}
    assert len(tables["pins"]) == 1


def test_parquet_export_types(catalog, mini_dir, tmp_path):
    import pyarrow.parquet as pq

    catalog.import_directory(mini_dir)
    catalog.export_directory(tmp_path / "pq", "parquet")
    schema = pq.read_schema(tmp_path / "pq" / "datasets.parquet")
    assert str(schema.field("bytes").type) == "int64"
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("run_number").type) == "string"


def test_reimport_changes_nothing(catalog, mini_dir):
    first = catalog.import_directory(mini_dir)
    assert first.changed
    assert first.added["datasets"] == 4
    before = snapshot(catalog)
    second = catalog.import_directory(mini_dir)
    assert not second.changed
    assert second.unchanged["datasets"] == 4
    assert snapshot(catalog) == before  # no journal entry either


# Names that follow the nomenclature and names that do not, with and without metadata of their own.
NAMED = {
    "data": "data17_13TeV:data17_13TeV.00336782.physics_Main.merge.AOD.r13286_p4910",
    "mc": "mc20_13TeV:mc20_13TeV.410470.PhPy8EG_A14_ttbar_hdamp258p75_nonallhad.recon.AOD.e6337",
    "period": "data15_13TeV:data15_13TeV.periodAllYear.physics_Main.PhysCont.DAOD_PHYS.grp15_v01",
    "calib": "calib:calib.data15_13TeV.00266904.LArPedestals.COND.v0001",
    "user": "user.jdoe:user.jdoe.data17_13TeV.00336782.ntuple.v1",
}


def named_datasets() -> list[dict[str, str]]:
    rows = [
        {"did": NAMED["data"], "kind": "derived", "project": "", "campaign": "", "stream": ""},
        {"did": NAMED["mc"], "kind": "simulated", "project": "mc20", "campaign": "mc20e"},
        {"did": NAMED["period"], "kind": "derived"},
        {"did": NAMED["calib"], "kind": "calibration", "project": "data15_13TeV"},
        {"did": NAMED["user"], "kind": "derived"},
    ]
    for row in rows:
        row.update(bytes="1", files="1", created_at="2020-01-01T00:00:00Z")
    return rows


def test_names_fill_metadata_the_file_leaves_empty(catalog, tmp_path):
    result = catalog.import_directory(
        write_catalog(tmp_path / "named", {"datasets": named_datasets()})
    )
    assert result.added == {"datasets": 5}
    metadata = {key: catalog.dataset(did).metadata for key, did in NAMED.items()}
    assert metadata == {
        "data": {
            "project": "data17_13TeV", "run_number": "336782", "stream": "physics_Main",
            "prod_step": "merge",
        },
        "mc": {  # the file's project and campaign win; the dataset number is a DSID
            "project": "mc20", "campaign": "mc20e", "dsid": "410470",
            "stream": "PhPy8EG_A14_ttbar_hdamp258p75_nonallhad", "prod_step": "recon",
        },
        "period": {  # a period container has no run number
            "project": "data15_13TeV", "stream": "physics_Main", "prod_step": "PhysCont",
        },
        "calib": {"project": "data15_13TeV"},  # outside the nomenclature: only the file's
        "user": {},
    }  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_name_metadata_round_trips(catalog, tmp_path, fmt, new_catalog_url):
    """The first export holds the filled metadata; importing it fills nothing else."""
    directory = write_catalog(tmp_path / "named", {"datasets": named_datasets()})
    catalog.import_directory(directory)
    before = snapshot(catalog)
    assert not catalog.import_directory(directory).changed
    assert snapshot(catalog) == before  # no journal entry either
    catalog.export_directory(tmp_path / "one", fmt)
    again = Catalog(new_catalog_url())
    again.import_directory(tmp_path / "one")
    assert not again.import_directory(tmp_path / "one").changed
    again.export_directory(tmp_path / "two", fmt)
    again.close()
    for name in TABLES:
        assert (tmp_path / "one" / f"{name}.{fmt}").read_bytes() == (
            tmp_path / "two" / f"{name}.{fmt}"
        ).read_bytes(), name
    exported = read_dir(tmp_path / "one")["datasets"].set_index("did")
    extras = ["campaign", "dsid", "prod_step", "project", "run_number", "stream"]
    assert list(exported.columns[8:]) == extras
    # names outside the nomenclature keep their empty cells, in both exports
    unnamed = exported.loc[[NAMED["calib"], NAMED["user"]], ["dsid", "run_number", "stream"]]
    assert (unnamed.fillna("") == "").all().all()


def test_reimport_over_datasets_without_name_metadata(catalog, mini_dir):
    """A catalog imported before names filled metadata takes the same directory unchanged."""
    import sqlalchemy as sa

    catalog.import_directory(mini_dir)
    with catalog.atomic("forget name metadata") as (conn, _):
        conn.execute(sa.text("DELETE FROM dataset_metadata WHERE key <> 'run_number'"))
    before = snapshot(catalog)
    result = catalog.import_directory(mini_dir)
    assert not result.changed
    assert snapshot(catalog) == before
    assert catalog.dataset(AOD).metadata == {"run_number": "357772"}


def test_name_metadata_does_not_hide_a_difference(catalog, mini_dir, tmp_path):
    """A key the catalog holds and the file leaves empty still differs, whatever the name says."""
    tables = mini()
    tables["datasets"][0]["stream"] = "physics_Late"
    catalog.import_directory(write_catalog(tmp_path / "late", tables))
    with pytest.raises(ImportRowError) as info:
        catalog.import_directory(mini_dir)
    assert (info.value.file, info.value.row, info.value.column) == ("datasets.csv", 2, "stream")
    assert "the catalog has 'physics_Late', this row empty" in info.value.reason


def test_import_is_journaled(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    entry = catalog.journal().iloc[0]
    assert entry["command"] == f"import {mini_dir}"
    assert "4 datasets" in entry["summary"]
    assert entry["actor"] == "tester"


def test_postgres_import_into_empty_tables_leaves_them_all_visible(postgres_catalog_url, mini_dir):
    """COPY ... FREEZE: the pages an import writes into empty tables are all-visible at once
    (the visibility map a VACUUM would set; index-only scans then skip the heap). Imports into
    filled tables, a plain COPY: test_import_adds_to_a_filled_catalog."""
    cat = Catalog(postgres_catalog_url)
    cat.init()
    cat.import_directory(mini_dir)
    sql = (
        "SELECT relname, relpages, relallvisible FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = current_schema()::regnamespace AND relpages > 0 "
        "AND relname IN ('dataset', 'replica', 'production', 'production_input', 'site')"
    )
    with cat.read() as conn:
        pages = conn.exec_driver_sql(sql).all()
        assert len(pages) == 5
        assert all(visible == total for _, total, visible in pages), pages
    cat.close()


def test_import_adds_to_a_filled_catalog(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    more = {
        "datasets": [
            {
                "did": "data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p5000",
                "kind": "derived",
                "bytes": "5",
                "files": "1",
                "created_at": "2019-01-01",
            },
        ],
        "transformations": [{"tag": "p5000", "name": "Derivation_tf", "release": "A,1"}],
        "productions": [{"id": "task-3", "transformation": "p5000"}],
        "production_io": [
            {"production": "task-3", "did": PHYS, "role": "input"},
            {
                "production": "task-3",
                "did": "data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p5000",
                "role": "output",
            },
        ],
        "replicas": [{"did": RAW, "endpoint": "CERN-PROD_DATADISK", "created_at": "2019-01-01"}],
    }
    result = catalog.import_directory(write_catalog(tmp_path / "more", more))
    assert result.added == {
        "datasets": 1,
        "replicas": 1,
        "transformations": 1,
        "productions": 1,
        "production_io": 2,
    }
    details = catalog.dataset(PHYS)
    assert list(details.consumers["production"]) == ["task-3"]
    assert len(catalog.replicas(RAW)) == 3
    # the ids handed out after a bulk insert keep working for later inserts (PostgreSQL sequences)
    from lifecycle.catalog.models import Site

    with catalog.atomic("t") as (conn, _):
        import sqlalchemy as sa

        conn.execute(sa.insert(Site.__table__).values(name="NEW", tier=2, country="de"))
    assert "NEW" in set(catalog.sites()["name"])


def test_scope_is_inferred_for_dids_without_one(catalog, tmp_path):
    tables = mini()
    for row in tables["replicas"] + tables["production_io"] + tables["datasets"] + tables["pins"]:
        row["did"] = row["did"].split(":", 1)[1] if row["did"] != CALIB else row["did"]
    tables["datasets"].append(
        {
            "did": "user.jdoe.ntuple.v1",
            "kind": "derived",
            "bytes": "1",
            "files": "1",
            "created_at": "2020-01-01T00:00:00Z",
        }
    )
    catalog.import_directory(write_catalog(tmp_path / "noscope", tables))
    dids = set(catalog.datasets(limit=None)["did"])
    assert RAW in dids
    assert "user.jdoe:user.jdoe.ntuple.v1" in dids


def test_parquet_input_with_typed_columns(catalog, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = tmp_path / "typed"
    directory.mkdir()
    pq.write_table(
        pa.table({"name": ["CERN-PROD"], "tier": pa.array([0], pa.int64()), "country": ["ch"]}),
        directory / "sites.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "name": ["CERN-PROD_DATATAPE"],
                "site": ["CERN-PROD"],
                "media": ["tape"],
                "capacity_bytes": pa.array([None], pa.int64()),
                "archival": [True],
                "weight": [1.5],
            }
        ),
        directory / "endpoints.parquet",
    )
    catalog.import_directory(directory)
    endpoints = catalog.endpoints()  # stored as text, listed typed
    assert endpoints["archival"].tolist() == [True]
    assert endpoints["weight"].tolist() == [1.5]


# -- rejections ------------------------------------------------------------------------------------

Tables = dict[str, list[dict[str, str]]]


def _add(table: str, **row: str) -> Callable[[Tables], None]:
    def mutate(tables: Tables) -> None:
        tables.setdefault(table, []).append(row)

    return mutate


def _drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def mutate(tables: Tables) -> None:
        for row in tables[table]:
            row.pop(column)

    return mutate


def _many(*mutations: Callable[[Tables], None]) -> Callable[[Tables], None]:
    def mutate(tables: Tables) -> None:
        for m in mutations:
            m(tables)

    return mutate


NEW = "data18_13TeV:data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p6026"


def _dataset(**changes: str) -> dict[str, str]:
    row = {
        "did": NEW,
        "kind": "derived",
        "data_type": "",
        "bytes": "10",
        "files": "1",
        "events": "",
        "created_at": "2019-01-01T00:00:00Z",
        "expires_at": "",
        "state": "",
    }
    row.update(changes)
    return row


# (id, mutation, file, row, column, reason fragment). Rows are CSV line numbers (header = 1);
# each bad row is appended after MINI's rows so a filled catalog sees it as new.
REJECTIONS = [
    (
        "missing-column",
        _drop_column("datasets", "kind"),
        "datasets.csv",
        "header",
        "kind",
        "required column is missing",
    ),
    (
        "missing-value",
        _add("datasets", **_dataset(kind="")),
        "datasets.csv",
        6,
        "kind",
        "missing value",
    ),
    (
        "unknown-column",
        _add("sites", name="X", tier="1", country="de", colour="red"),
        "sites.csv",
        "header",
        "colour",
        "unknown column",
    ),
    (
        "not-an-integer",
        _add("datasets", **_dataset(bytes="lots")),
        "datasets.csv",
        6,
        "bytes",
        "expected an integer",
    ),
    (
        "fractional-integer",
        _add("datasets", **_dataset(files="1.5")),
        "datasets.csv",
        6,
        "files",
        "expected an integer",
    ),
    (
        "not-a-number",
        _add("transformations", tag="p9", name="D", release="A,1", cpu_seconds_per_event="fast"),
        "transformations.csv",
        4,
        "cpu_seconds_per_event",
        "expected a finite number",
    ),
    (
        "bad-kind",
        _add("datasets", **_dataset(kind="RAW")),
        "datasets.csv",
        6,
        "kind",
        "is not one of",
    ),
    (
        "bad-dataset-state",
        _add("datasets", **_dataset(state="gone")),
        "datasets.csv",
        6,
        "state",
        "is not one of",
    ),
    (
        "bad-replica-state",
        _add(
            "replicas", did=AOD, endpoint="BNL-OSG2_DATATAPE", state="ok", created_at="2019-01-01"
        ),
        "replicas.csv",
        7,
        "state",
        "is not one of",
    ),
    (
        "bad-media",
        _add("endpoints", name="X_DISK", site="CERN-PROD", media="ssd"),
        "endpoints.csv",
        5,
        "media",
        "is not one of",
    ),
    (
        "bad-role",
        _add("production_io", production="task-00000002", did=RAW, role="parent"),
        "production_io.csv",
        7,
        "role",
        "is not one of",
    ),
    (
        "bad-site-status",
        _add("sites", name="X", tier="2", country="de", status="closed"),
        "sites.csv",
        4,
        "status",
        "is not one of",
    ),
    (
        "tier-out-of-range",
        _add("sites", name="X", tier="7", country="de"),
        "sites.csv",
        4,
        "tier",
        "at most 3",
    ),
    (
        "negative-bytes",
        _add("datasets", **_dataset(bytes="-5")),
        "datasets.csv",
        6,
        "bytes",
        "negative",
    ),
    (
        "negative-files",
        _add("datasets", **_dataset(files="-1")),
        "datasets.csv",
        6,
        "files",
        "negative",
    ),
    (
        "negative-events",
        _add("datasets", **_dataset(events="-1")),
        "datasets.csv",
        6,
        "events",
        "negative",
    ),
    (
        "negative-capacity",
        _add("endpoints", name="X_DISK", site="CERN-PROD", media="disk", capacity_bytes="-1"),
        "endpoints.csv",
        5,
        "capacity_bytes",
        "negative",
    ),
    (
        "bad-timestamp",
        _add("datasets", **_dataset(created_at="last tuesday")),
        "datasets.csv",
        6,
        "created_at",
        "unparseable timestamp",
    ),
    (
        "impossible-date",
        _add("datasets", **_dataset(expires_at="2018-02-30T00:00:00Z")),
        "datasets.csv",
        6,
        "expires_at",
        "unparseable timestamp",
    ),
    (
        "bad-did",
        _add("datasets", **_dataset(did="no scope here")),
        "datasets.csv",
        6,
        "did",
        "is not a DID",
    ),
    (
        "dangling-endpoint-site",
        _add("endpoints", name="X_DISK", site="NOWHERE", media="disk"),
        "endpoints.csv",
        5,
        "site",
        "unknown site 'NOWHERE'",
    ),
    (
        "dangling-replica-endpoint",
        _add("replicas", did=AOD, endpoint="NOWHERE_DATADISK", created_at="2019-01-01"),
        "replicas.csv",
        7,
        "endpoint",
        "unknown endpoint",
    ),
    (
        "dangling-replica-did",
        _add(
            "replicas",
            did="data18_13TeV:nope",
            endpoint="BNL-OSG2_DATATAPE",
            created_at="2019-01-01",
        ),
        "replicas.csv",
        7,
        "did",
        "unknown dataset",
    ),
    (
        "dangling-transformation",
        _add("productions", id="task-9", transformation="x999"),
        "productions.csv",
        4,
        "transformation",
        "unknown transformation",
    ),
    (
        "dangling-production-site",
        _add("productions", id="task-9", transformation="r13286", site="NOWHERE"),
        "productions.csv",
        4,
        "site",
        "unknown site",
    ),
    (
        "dangling-io-production",
        _add("production_io", production="task-9", did=RAW, role="input"),
        "production_io.csv",
        7,
        "production",
        "unknown production",
    ),
    (
        "dangling-io-did",
        _add("production_io", production="task-00000002", did="x:y", role="input"),
        "production_io.csv",
        7,
        "did",
        "unknown dataset",
    ),
    (
        "dangling-pin",
        _add("pins", did="x:y", reason="r", actor="a"),
        "pins.csv",
        3,
        "did",
        "unknown dataset",
    ),
    (
        "duplicate-key-in-file",
        _add("sites", name="CERN-PROD", tier="1", country="ch", cloud="CERN", status="active"),
        "sites.csv",
        4,
        "tier",
        "duplicate key 'CERN-PROD' with different content",
    ),
    (
        "duplicate-io-key",
        _add("production_io", production="task-00000001", did=AOD, role="input"),
        "production_io.csv",
        7,
        "role",
        "duplicate key",
    ),
    (
        "produced-twice",
        _many(
            _add("productions", id="task-9", transformation="p4910"),
            _add("production_io", production="task-9", did=PHYS, role="output"),
        ),
        "production_io.csv",
        7,
        "did",
        "produced twice",
    ),
    (
        "raw-as-output",
        _many(
            _add("productions", id="task-9", transformation="r13286"),
            _add("production_io", production="task-9", did=RAW, role="output"),
        ),
        "production_io.csv",
        7,
        "role",
        "raw dataset",
    ),
    (
        "calibration-as-output",
        _many(
            _add("productions", id="task-9", transformation="r13286"),
            _add("production_io", production="task-9", did=CALIB, role="output"),
        ),
        "production_io.csv",
        7,
        "role",
        "calibration dataset",
    ),
    (
        "cycle",
        _many(
            _add("datasets", **_dataset()),
            _add("productions", id="task-9", transformation="p4910"),
            _add("production_io", production="task-9", did=PHYS, role="input"),
            _add("production_io", production="task-9", did=NEW, role="output"),
            _add("production_io", production="task-00000001", did=NEW, role="input"),
        ),
        "production_io.csv",
        9,
        "did",
        "provenance cycle",
    ),
]


@pytest.mark.parametrize("filled", [False, True], ids=["empty", "filled"])
@pytest.mark.parametrize(
    ("mutation", "file", "row", "column", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_rejection(catalog, tmp_path, filled, mutation, file, row, column, reason):
    if filled:
        catalog.import_directory(write_catalog(tmp_path / "base", mini()))
    before = snapshot(catalog)
    tables = mini()
    mutation(tables)
    bad = write_catalog(tmp_path / "bad", tables)
    result = runner.invoke(app, ["--db", catalog.url, "import", str(bad)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "\n" not in message
    assert "Traceback" not in result.output
    assert message.startswith(f"lifecycle: error: {file}:{row}: {column}: "), message
    assert reason in message
    assert snapshot(catalog) == before


def test_duplicate_key_against_catalog(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    before = snapshot(catalog)
    changed = mini()
    changed["transformations"][1]["image_digest"] = "sha256:" + "c" * 64
    with pytest.raises(ImportRowError) as info:
        catalog.import_directory(write_catalog(tmp_path / "changed", changed))
    assert (info.value.file, info.value.row, info.value.column) == (
        "transformations.csv",
        3,
        "image_digest",
    )
    assert "the catalog has empty" in info.value.reason
    assert snapshot(catalog) == before


def test_extra_attribute_missing_from_file_differs_from_catalog(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    changed = mini()
    for row in changed["endpoints"]:
        row.pop("type")
    with pytest.raises(ImportRowError, match=r"endpoints.csv:2: type: .*catalog has 'DATATAPE'"):
        catalog.import_directory(write_catalog(tmp_path / "changed", changed))


def test_produced_twice_against_catalog(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    before = snapshot(catalog)
    more = {
        "productions": [{"id": "task-9", "transformation": "p4910"}],
        "production_io": [{"production": "task-9", "did": PHYS, "role": "output"}],
    }
    with pytest.raises(ImportRowError, match="catalog records it as output of 'task-00000002'"):
        catalog.import_directory(write_catalog(tmp_path / "more", more))
    assert snapshot(catalog) == before


def test_cycle_through_catalog_edges(catalog, mini_dir, tmp_path):
    """A new edge closing a loop with edges the catalog already holds."""
    catalog.import_directory(mini_dir)
    more = {"production_io": [{"production": "task-00000001", "did": PHYS, "role": "input"}]}
    with pytest.raises(ImportRowError, match="provenance cycle"):
        catalog.import_directory(write_catalog(tmp_path / "more", more))


def test_parquet_rejection_names_record(catalog, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = tmp_path / "pq"
    directory.mkdir()
    pq.write_table(
        pa.table(
            {"name": ["A", "B"], "tier": pa.array([1, -1], pa.int64()), "country": ["x", "y"]}
        ),
        directory / "sites.parquet",
    )
    with pytest.raises(ImportRowError, match=r"^sites.parquet:2: tier: must not be negative"):
        catalog.import_directory(directory)


def test_directory_problems(catalog, tmp_path, mini_dir):
    with pytest.raises(UsageError, match="not a directory"):
        catalog.import_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no exchange-format tables"):
        catalog.import_directory(tmp_path / "empty")
    shutil.copy(mini_dir / "sites.csv", mini_dir / "site.csv")
    with pytest.raises(UsageError, match="unknown table 'site'"):
        catalog.import_directory(mini_dir)
    (mini_dir / "site.csv").unlink()
    catalog.export_directory(tmp_path / "pq", "parquet")
    shutil.copy(tmp_path / "pq" / "sites.parquet", mini_dir / "sites.parquet")
    with pytest.raises(UsageError, match="both sites.csv and sites.parquet"):
        catalog.import_directory(mini_dir)


def test_identical_duplicate_rows_are_accepted(catalog, tmp_path):
    tables = mini()
    tables["sites"].append(dict(tables["sites"][0]))
    result = catalog.import_directory(write_catalog(tmp_path / "dup", tables))
    assert result.added["sites"] == 2


def test_generated_catalog_round_trip(catalog, tmp_path, new_catalog_url):
    """A generated catalog imports cleanly, re-imports unchanged and round-trips through Parquet."""
    from lifecycle.generate import generate

    generate(tmp_path / "gen", 3000, seed=3)
    first = catalog.import_directory(tmp_path / "gen")
    assert first.added["datasets"] == 3000
    assert not catalog.import_directory(tmp_path / "gen").changed
    catalog.export_directory(tmp_path / "one", "parquet")
    other = Catalog(new_catalog_url())
    other.import_directory(tmp_path / "one")
    other.export_directory(tmp_path / "two", "parquet")
    other.close()
    assert_same_tables(tmp_path / "one", tmp_path / "two")
