"""The scale generator: schema, determinism, integrity, provenance shape and planted violations.

Only pyarrow and pandas: the generated directory is checked as the exchange format defines it,
without a database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifecycle.generate import TABLES, GenerateSummary, generate

N = 5_000
SEED = 11
TS = pa.timestamp("us", tz="UTC")
S, INT, F, B = pa.string(), pa.int64(), pa.float64(), pa.bool_()

# (column, type, nullable) per table, as the importer expects them.
EXPECTED = {
    "sites": [
        ("name", S, 0),
        ("tier", INT, 0),
        ("country", S, 0),
        ("cloud", S, 1),
        ("status", S, 0),
    ],
    "endpoints": [
        ("name", S, 0),
        ("site", S, 0),
        ("media", S, 0),
        ("capacity_bytes", INT, 1),
        ("type", S, 1),
        ("archival", B, 1),
    ],
    "datasets": [
        ("did", S, 0),
        ("kind", S, 0),
        ("data_type", S, 1),
        ("bytes", INT, 0),
        ("files", INT, 0),
        ("events", INT, 1),
        ("created_at", TS, 0),
        ("expires_at", TS, 1),
        ("state", S, 0),
        ("project", S, 1),
        ("run_number", INT, 1),
        ("dsid", INT, 1),
    ],
    "replicas": [
        ("did", S, 0),
        ("endpoint", S, 0),
        ("state", S, 0),
        ("created_at", TS, 0),
        ("accessed_at", TS, 1),
    ],
    "transformations": [
        ("tag", S, 0),
        ("name", S, 0),
        ("release", S, 0),
        ("image", S, 1),
        ("image_digest", S, 1),
        ("code_repo", S, 1),
        ("code_commit", S, 1),
        ("command", S, 1),
        ("platform", S, 1),
        ("cpu_seconds_per_event", F, 1),
        ("output_ratio", F, 1),
    ],
    "productions": [
        ("id", S, 0),
        ("transformation", S, 0),
        ("conditions_tag", S, 1),
        ("site", S, 1),
        ("started_at", TS, 1),
        ("finished_at", TS, 1),
        ("status", S, 0),
    ],
    "production_io": [("production", S, 0), ("did", S, 0), ("role", S, 0)],
    "pins": [("did", S, 0), ("reason", S, 0), ("until", TS, 1), ("actor", S, 0)],
}
ENUMS = {
    ("sites", "status"): {"active", "down", "decommissioned"},
    ("endpoints", "media"): {"tape", "disk"},
    ("datasets", "kind"): {"raw", "calibration", "derived", "simulated", "metadata", "outreach"},
    ("datasets", "state"): {"open", "closed", "deleted", "lost"},
    ("replicas", "state"): {"available", "copying", "unavailable", "lost", "deleted"},
    ("productions", "status"): {"done", "failed", "running"},
    ("production_io", "role"): {"input", "calibration", "config", "output"},
}
NOW = pd.Timestamp("2025-12-31", tz="UTC")


def read(directory: Path) -> dict[str, pa.Table]:
    return {name: pq.read_table(directory / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, dict]:
    directory = tmp_path_factory.mktemp("catalog") / "new" / "dir"
    summary = generate(directory, N, seed=SEED)
    return summary, read(directory)


@pytest.fixture(scope="module")
def frames(generated: tuple[GenerateSummary, dict]) -> dict[str, pd.DataFrame]:
    return {name: table.to_pandas() for name, table in generated[1].items()}


@pytest.fixture(scope="module")
def planted(generated: tuple[GenerateSummary, dict]) -> dict[str, int]:
    return generated[0].planted


# --- API and files ------------------------------------------------------------------------


@pytest.mark.parametrize("datasets", [0, -3])
def test_rejects_fewer_than_one_dataset(tmp_path: Path, datasets: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path / "out", datasets)
    assert not (tmp_path / "out").exists()


def test_writes_every_table_into_a_created_directory(generated, frames) -> None:
    summary, tables = generated
    assert summary.directory.is_dir()
    assert sorted(p.name for p in summary.directory.iterdir()) == sorted(
        f"{t}.parquet" for t in TABLES
    )
    assert summary.rows == {name: tables[name].num_rows for name in TABLES}
    assert summary.rows["datasets"] == N
    assert 140 <= summary.rows["sites"] <= 160
    assert set(summary.planted) == {
        "raw_single_tape_copy",
        "raw_tape_copies_same_site",
        "transformation_without_digest",
        "datasets_without_digest",
        "expired_derived",
        "lost_replica",
    }


@pytest.mark.parametrize("table", TABLES)
def test_columns_have_exact_types(generated, table: str) -> None:
    schema = generated[1][table].schema
    assert [(f.name, f.type, int(f.nullable)) for f in schema] == EXPECTED[table]
    for name, _, nullable in EXPECTED[table]:
        if not nullable:
            assert generated[1][table].column(name).null_count == 0, name


@pytest.mark.parametrize(("table", "column"), sorted(ENUMS))
def test_enumerations_use_format_values(frames, table: str, column: str) -> None:
    assert set(frames[table][column].unique()) <= ENUMS[(table, column)]


def test_progress_reports_every_stage_up_to_its_total(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    generate(tmp_path, 300, seed=1, progress=lambda *call: calls.append(call))
    stages = {stage for stage, _, _ in calls}
    assert stages == {"build", "write"}
    for stage in stages:
        mine = [(done, total) for s, done, total in calls if s == stage]
        assert [d for d, _ in mine] == sorted(d for d, _ in mine)
        assert mine[-1][0] == mine[-1][1] > 0


@pytest.mark.parametrize("datasets", [1, 2, 17, 150])
def test_tiny_catalogs_are_consistent(tmp_path: Path, datasets: int) -> None:
    summary = generate(tmp_path, datasets, seed=datasets)
    tables = read(tmp_path)
    assert tables["datasets"].num_rows == datasets == summary.rows["datasets"]
    dids = set(tables["datasets"].column("did").to_pylist())
    assert set(tables["replicas"].column("did").to_pylist()) <= dids
    assert set(tables["production_io"].column("did").to_pylist()) <= dids


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", 2_000, seed=5)
    generate(tmp_path / "b", 2_000, seed=5)
    a, b = read(tmp_path / "a"), read(tmp_path / "b")
    for name in TABLES:
        assert a[name].equals(b[name]), name
        file = f"{name}.parquet"
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_different_seed_gives_different_content(tmp_path: Path, generated) -> None:
    generate(tmp_path, N, seed=SEED + 1)
    other = read(tmp_path)
    mine = generated[1]
    for name in ("datasets", "replicas", "productions", "production_io", "transformations"):
        assert not mine[name].equals(other[name]), name
    # the grid is the same for every seed, its usage (capacities) is not
    assert mine["sites"].equals(other["sites"])
    assert mine["endpoints"].column("name").equals(other["endpoints"].column("name"))


# --- integrity ----------------------------------------------------------------------------

KEYS = {
    "sites": ["name"],
    "endpoints": ["name"],
    "datasets": ["did"],
    "replicas": ["did", "endpoint"],
    "transformations": ["tag"],
    "productions": ["id"],
    "production_io": ["production", "did"],
    "pins": ["did", "actor", "reason"],
}


@pytest.mark.parametrize("table", sorted(KEYS))
def test_keys_are_unique(frames, table: str) -> None:
    assert not frames[table].duplicated(KEYS[table]).any()


@pytest.mark.parametrize(
    ("table", "column", "target", "key"),
    [
        ("endpoints", "site", "sites", "name"),
        ("replicas", "did", "datasets", "did"),
        ("replicas", "endpoint", "endpoints", "name"),
        ("productions", "transformation", "transformations", "tag"),
        ("productions", "site", "sites", "name"),
        ("production_io", "production", "productions", "id"),
        ("production_io", "did", "datasets", "did"),
        ("pins", "did", "datasets", "did"),
    ],
)
def test_references_resolve(frames, table: str, column: str, target: str, key: str) -> None:
    values = frames[table][column].dropna()
    assert len(values) > 0
    assert values.isin(frames[target][key]).all()


def test_dids_are_scoped_and_data_types_match_the_name(frames) -> None:
    ds = frames["datasets"]
    scope, name = ds.did.str.split(":", n=1).str[0], ds.did.str.split(":", n=1).str[1]
    assert (name.str.split(".").str[0] == scope).all()
    fifth = name.str.split(".").str[4]
    assert (fifth == ds.data_type).all()
    assert (ds.data_type == "RAW").sum() == (ds.kind == "raw").sum()
    assert ds.did.str.contains("_tid\\d{8}_00$").any()


def test_kind_shares_are_atlas_like(frames) -> None:
    share = frames["datasets"].kind.value_counts(normalize=True)
    assert 0.12 <= share["raw"] <= 0.18
    assert 0.015 <= share["calibration"] <= 0.025
    assert 0.005 <= share["metadata"] <= 0.015
    assert 0.0005 <= share["outreach"] <= 0.01
    assert share["derived"] + share["simulated"] > 0.7


def test_calibration_is_versioned_and_fans_out(frames) -> None:
    ds, io = frames["datasets"], frames["production_io"]
    calib = ds[ds.kind == "calibration"].did
    assert calib.str.fullmatch(r"calib:calib\.\w+\.\d{8}\.\w+\.COND\.v\d{4}").all()
    folders = calib.str.rsplit(".", n=1).str[0]
    assert folders.value_counts().max() >= 3
    uses = io[io.role == "calibration"].did
    assert uses.isin(calib).all()
    assert uses.value_counts().max() >= 5
    reco = io[io.role == "calibration"].production
    assert len(reco) > 0.1 * N
    assert io[io.role == "config"].did.str.startswith("ddo:ddo.").all()


# --- provenance ---------------------------------------------------------------------------


def test_every_derived_dataset_is_the_output_of_exactly_one_production(frames) -> None:
    ds, io, prods = frames["datasets"], frames["production_io"], frames["productions"]
    outputs = io[io.role == "output"]
    assert not outputs.did.duplicated().any()
    kind = ds.set_index("did").kind
    assert set(kind[outputs.did].unique()) <= {"derived", "simulated", "outreach"}
    produced = ds[ds.kind.isin(["derived", "simulated", "outreach"])].did
    assert produced.isin(outputs.did).all()
    status = prods.set_index("id").status
    assert (status[outputs.production] != "failed").all()
    assert (status == "failed").sum() >= 1
    assert not io[io.production.isin(status[status == "failed"].index)].role.eq("output").any()


def _depths(frames) -> pd.Series:
    """Longest path in productions from a dataset without a generating production, by peeling
    the graph layer by layer (Kahn); raises if a cycle leaves datasets unpeeled."""
    io, ds = frames["production_io"], frames["datasets"]
    out = io[io.role == "output"][["production", "did"]]
    ins = io[io.role != "output"][["production", "did"]]
    edges = ins.merge(out, on="production", suffixes=("_in", "_out"))
    dids = ds.did.to_numpy()
    index = pd.Series(np.arange(len(dids)), index=dids)
    src = index[edges.did_in].to_numpy()
    dst = index[edges.did_out].to_numpy()
    indegree = np.bincount(dst, minlength=len(dids))
    depth = np.zeros(len(dids), dtype=np.int64)
    frontier = np.flatnonzero(indegree == 0)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    starts = np.searchsorted(src, np.arange(len(dids) + 1))
    peeled = 0
    while len(frontier):
        peeled += len(frontier)
        picks = np.concatenate([np.arange(starts[f], starts[f + 1]) for f in frontier])
        if not len(picks):
            break
        np.maximum.at(depth, dst[picks], depth[src[picks]] + 1)
        np.subtract.at(indegree, dst[picks], 1)
        touched = np.unique(dst[picks])
        frontier = touched[indegree[touched] == 0]
    assert peeled == len(dids), "provenance has a cycle"
    return pd.Series(depth, index=dids)


def test_provenance_is_acyclic_with_chains_of_depth_four_to_eight(frames) -> None:
    depth = _depths(frames)
    kind = frames["datasets"].set_index("did").kind
    assert (depth[kind.isin(["raw", "calibration", "metadata"]).to_numpy()] == 0).all()
    assert 4 <= depth.max() <= 8
    assert (depth >= 4).sum() > 0.1 * N
    assert depth.value_counts().index.max() <= 8


def test_merges_and_overlays_take_several_inputs(frames) -> None:
    io = frames["production_io"]
    inputs = io[io.role == "input"].groupby("production").size()
    assert (inputs >= 2).sum() > 0.02 * N
    merged = io[io.role == "output"].did
    assert merged.str.contains(r"\.merge\.AOD\.").any()
    assert merged.str.contains(r"\.merge\.HITS\.").any()


def test_times_follow_provenance(frames) -> None:
    ds, io, prods = frames["datasets"], frames["production_io"], frames["productions"]
    created = ds.set_index("did").created_at
    assert created.min() >= pd.Timestamp("2014-01-01", tz="UTC")
    assert created.max() <= NOW
    p = prods.set_index("id")
    outputs = io[io.role == "output"]
    assert (p.started_at[outputs.production].to_numpy() <= created[outputs.did].to_numpy()).all()
    inputs = io[io.role != "output"]
    assert (created[inputs.did].to_numpy() <= p.started_at[inputs.production].to_numpy()).all()
    done = p[p.status != "running"]
    assert (done.started_at <= done.finished_at).all()
    assert p[p.status == "running"].finished_at.isna().all()
    rep = frames["replicas"]
    assert (rep.created_at.to_numpy() >= created[rep.did].to_numpy()).all()
    accessed = rep.dropna(subset=["accessed_at"])
    assert (accessed.accessed_at >= accessed.created_at).all()


def test_sizes_are_realistic(frames) -> None:
    ds = frames["datasets"].set_index("did")
    raw = ds[ds.kind == "raw"]
    assert raw.bytes.between(1e12, 5e13).all()
    per_file = ds.bytes / ds.files
    big = ds.bytes > 20e9
    assert per_file[big].between(1.5e9, 10e9).all()
    assert ds.events[ds.kind.isin(["calibration", "metadata"])].isna().all()
    assert ds.events[ds.kind.isin(["raw", "derived", "simulated"])].notna().all()
    io = frames["production_io"]
    ins = io[io.role == "input"].merge(io[io.role == "output"], on="production")
    ins = ins[ins.groupby("production").did_x.transform("size") == 1]
    ratio = ds.bytes[ins.did_y].to_numpy() / ds.bytes[ins.did_x].to_numpy()
    fmt = ds.data_type[ins.did_y].to_numpy()
    src = ds.data_type[ins.did_x].to_numpy()
    assert 0.35 < np.median(ratio[(src == "RAW") & (fmt == "AOD")]) < 0.7
    assert 0.07 < np.median(ratio[(src == "AOD") & (fmt == "DAOD_PHYS")]) < 0.14
    lite = ds.bytes[ds.data_type == "DAOD_PHYSLITE"].median()
    aod = ds.bytes[ds.data_type == "AOD"].median()
    assert lite < 0.1 * aod


# --- planted violations -------------------------------------------------------------------


def _raw_tape(frames) -> pd.DataFrame:
    ds, rep, ep = frames["datasets"], frames["replicas"], frames["endpoints"]
    raw = ds[ds.kind == "raw"].did
    tape = rep[rep.did.isin(raw) & (rep.state == "available")].merge(
        ep[ep.media == "tape"][["name", "site"]], left_on="endpoint", right_on="name"
    )
    return tape.groupby("did").agg(copies=("site", "size"), sites=("site", "nunique"))


def test_raw_single_tape_copies_are_planted_and_counted(frames, planted) -> None:
    tape = _raw_tape(frames)
    n_raw = (frames["datasets"].kind == "raw").sum()
    assert len(tape) == n_raw  # every RAW has at least one tape copy
    assert (tape.copies == 1).sum() == planted["raw_single_tape_copy"]
    assert 0.005 * n_raw <= planted["raw_single_tape_copy"] <= 0.02 * n_raw


def test_raw_tape_copies_at_one_site_are_planted_and_counted(frames, planted) -> None:
    tape = _raw_tape(frames)
    n_raw = len(tape)
    assert ((tape.copies == 2) & (tape.sites == 1)).sum() == planted["raw_tape_copies_same_site"]
    assert 0.005 * n_raw <= planted["raw_tape_copies_same_site"] <= 0.02 * n_raw
    healthy = tape[(tape.copies == 2) & (tape.sites == 2)]
    assert len(healthy) == n_raw - sum(
        planted[k] for k in ("raw_single_tape_copy", "raw_tape_copies_same_site")
    )
    rep = frames["replicas"]
    healthy_tapes = rep[rep.did.isin(healthy.index) & rep.endpoint.str.endswith("TAPE")]
    assert (healthy_tapes.endpoint == "CERN-PROD_DATATAPE").sum() == len(healthy)


def test_transformations_without_digest_are_planted_and_counted(frames, planted) -> None:
    tr, io = frames["transformations"], frames["production_io"]
    bare = tr[tr.image_digest.isna()].tag
    assert len(bare) == planted["transformation_without_digest"] >= 1
    assert tr.image_digest.dropna().str.fullmatch("sha256:[0-9a-f]{64}").all()
    assert tr.code_commit.str.fullmatch("[0-9a-f]{40}").all()
    assert tr.release.str.fullmatch(r"Ath\w+,\d+\.\d+\.\d+").all()
    prods = frames["productions"]
    bare_prods = prods[prods.transformation.isin(bare)].id
    produced = io[(io.role == "output") & io.production.isin(bare_prods)]
    assert len(produced) == planted["datasets_without_digest"]


def test_expired_derived_datasets_are_planted_and_counted(frames, planted) -> None:
    ds = frames["datasets"]
    derived = ds[ds.kind == "derived"]
    expired = derived[derived.expires_at < NOW]
    assert len(expired) == planted["expired_derived"]
    assert 0.005 * len(derived) <= len(expired) <= 0.02 * len(derived)
    assert (expired.state == "closed").all()
    assert (expired.expires_at > expired.created_at).all()
    future = ds.expires_at.dropna()
    assert (future[future >= NOW] >= pd.Timestamp("2030-01-01", tz="UTC")).all()
    assert ds[ds.kind.isin(["raw", "calibration", "metadata"])].expires_at.isna().all()


def test_lost_replicas_are_planted_and_counted(frames, planted) -> None:
    rep, ds = frames["replicas"], frames["datasets"]
    lost = rep[rep.state == "lost"]
    assert len(lost) == planted["lost_replica"]
    assert 0.004 * len(rep) <= len(lost) <= 0.02 * len(rep)
    for state in ("copying", "unavailable", "deleted"):
        assert (rep.state == state).any(), state
    deleted = ds[ds.state == "deleted"].did
    assert (rep[rep.did.isin(deleted)].state == "deleted").all()
    assert not ds[ds.state == "deleted"].kind.isin(["raw", "calibration", "metadata"]).any()


def test_pins_exist_with_reasons_and_actors(frames) -> None:
    pins, ds = frames["pins"], frames["datasets"].set_index("did")
    assert len(pins) > 0
    assert (pins.reason.str.len() > 0).all()
    assert (pins.actor.str.len() > 0).all()
    assert pins.until.isna().any()
    assert set(ds.kind[pins.did]) <= {"derived", "simulated", "outreach"}


def test_importing_the_module_does_not_load_pyarrow_or_pandas() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lifecycle.generate; "
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
