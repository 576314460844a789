"""Issue 10, data loss: a hypothetical --now never acts, blank is not recorded, and only a done
production makes anything reproducible (DESIGN.md invariants 4 and 6), on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from catalogs import LITE, MERGED, RAW1, chain, write_catalog

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog

POLICY = """
[policy]
name = "dataloss"

[[rule]]
name = "analysis-formats"
type = "lifetime"
select = { data_type = ["DAOD_*"] }
lifetime = "365d"

[[rule]]
name = "derived-reproducible"
type = "reproducibility"
select = { kind = ["derived"] }
"""
BLANKS = [" ", "\t", "\n", " \r\n\v\f "]
NEW_DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def policy_dir(tmp_path) -> str:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.toml").write_text(POLICY)
    return str(tmp_path / "policies")


def load(catalog: Catalog, tmp_path: Path, tables=None) -> str:
    catalog.import_directory(write_catalog(tmp_path / "chain", tables or chain()))
    return catalog.url


def write_sql(url: str, sql: str, **params) -> None:
    """Change the catalog behind the tool's back (as an older import or another client did)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def state(catalog: Catalog, did: str) -> str:
    return catalog.dataset(did).dataset["state"]


def kept_reason(url: str, policy_dir: str, did: str) -> str:
    result = invoke(url, "expire", "--policy", policy_dir, "--apply", "-f", "json")
    assert result.exit_code == 0, result.output
    decisions = {d["did"]: d for d in json.loads(result.stdout)["decisions"]}
    assert decisions[did]["decision"] == "keep", decisions[did]
    return decisions[did]["reason"]


# -- a hypothetical --now is for previews ------------------------------------------------------


@pytest.mark.parametrize("when", ["2030-01-01", "2001-01-01T00:00:00Z"])
def test_expire_now_with_apply_is_refused_unchanged(catalog, tmp_path, policy_dir, unchanged, when):
    tables = chain()
    tables["pins"] = [{"did": LITE, "reason": "HIGG-2018-01", "until": "2028-01-01",
                       "actor": "alice"}]  # fmt: skip
    url = load(catalog, tmp_path, tables)
    check = unchanged(url)
    journal = len(catalog.journal())
    result = invoke(url, "expire", "--policy", policy_dir, "--now", when, "--apply")
    assert_refused(result, 2, "--now", "--apply", "previews")
    check()
    assert state(catalog, LITE) == "closed"
    assert len(catalog.journal()) == journal


def test_expire_now_preview_still_works_and_apply_journals_its_as_of(catalog, tmp_path, policy_dir):
    tables = chain()
    tables["pins"] = [{"did": LITE, "reason": "HIGG-2018-01", "until": "2028-01-01",
                       "actor": "alice"}]  # fmt: skip
    url = load(catalog, tmp_path, tables)
    preview = invoke(url, "expire", "--policy", policy_dir, "--now", "2030-01-01", "-f", "json")
    assert preview.exit_code == 0, preview.output
    assert [d["did"] for d in json.loads(preview.stdout)["decisions"]] == [LITE]
    assert json.loads(preview.stdout)["summary"]["delete"] == 1  # the pin is over by 2030
    # today the pin holds: --apply acts as of the present and keeps LITE
    assert kept_reason(url, policy_dir, LITE).startswith("pinned: by alice until 2028-01-01")
    catalog.unpin(LITE)
    applied = invoke(url, "expire", "--policy", policy_dir, "--apply")
    assert applied.exit_code == 0, applied.output
    entry = catalog.journal(limit=1).iloc[0]
    assert entry["command"] == "expire --apply"
    assert " as of 20" in entry["summary"], entry["summary"]


def test_audit_now_is_a_preview_not_recorded(catalog, tmp_path, policy_dir, unchanged):
    url = load(catalog, tmp_path)
    check = unchanged(url)
    journal = len(catalog.journal())
    result = invoke(url, "audit", "--policy", policy_dir, "--now", "2030-01-01", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("audit as of 2030-01-01T00:00:00Z (a preview, not recorded)")
    check()
    assert catalog.audit_history().empty
    assert len(catalog.journal()) == journal
    recorded = invoke(url, "audit", "--policy", policy_dir, "--quiet")
    assert recorded.stdout.startswith("audit run 1:")
    assert list(catalog.audit_history()["id"]) == [1]


def test_simulate_now_changes_nothing(catalog, tmp_path, policy_dir, unchanged):
    url = load(catalog, tmp_path)
    check = unchanged(url)
    journal = len(catalog.journal())
    result = invoke(url, "simulate", "loss", "--site", "BNL-OSG2", "--policy", policy_dir,
                    "--now", "2030-01-01")  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    check()
    assert len(catalog.journal()) == journal


def test_library_actions_refuse_a_hypothetical_now(catalog, tmp_path, unchanged):
    """The facade holds invariant 6 too: marking lost with a ``now`` is refused, and a plan is
    applied as of the present (``apply_plan`` takes no time at all)."""
    import inspect
    from datetime import UTC, datetime

    from lifecycle.errors import UsageError

    url = load(catalog, tmp_path)
    check = unchanged(url)
    with pytest.raises(UsageError, match="--now is for previews"):
        catalog.mark_lost(RAW1, "CERN-PROD_DATATAPE", "x", now=datetime(2030, 1, 1, tzinfo=UTC),
                          apply=True)  # fmt: skip
    check()
    assert "now" not in inspect.signature(Catalog.apply_plan).parameters


def test_a_blank_conditions_tag_is_bad_input(catalog, tmp_path, unchanged):
    url = load(catalog, tmp_path)
    check = unchanged(url)
    result = invoke(url, "plan", "reprocess", "--select", "kind=raw", "--chain",
                    "r99999,p99998:DAOD_PHYSLITE", "--conditions", "  ")  # fmt: skip
    assert_refused(result, 2, "--conditions")
    check()


# -- blank is not recorded ----------------------------------------------------------------------


@pytest.mark.parametrize("blank", BLANKS)
def test_import_stores_a_whitespace_only_digest_as_null(catalog, tmp_path, policy_dir, blank):
    tables = chain()
    next(t for t in tables["transformations"] if t["tag"] == "p6026")["image_digest"] = blank
    url = load(catalog, tmp_path, tables)
    with catalog.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT image_digest, code_repo FROM transformation WHERE tag = 'p6026'"
        ).one()
    assert stored[0] is None
    assert stored[1]  # other values are kept
    assert kept_reason(url, policy_dir, LITE) == (
        "not reproducible: transformation p6026 records no image digest"
    )
    assert state(catalog, LITE) == "closed"


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [("transformations", "release", 5), ("transformations", "tag", 3), ("datasets", "did", 4)],
)
def test_a_whitespace_only_required_cell_is_missing(
    catalog, tmp_path, unchanged, table, column, row
):
    url = load(catalog, tmp_path)
    check = unchanged(url)
    tables = chain()
    tables[table][row - 2][column] = " \t "
    result = invoke(url, "import", str(write_catalog(tmp_path / "blank", tables)))
    assert_refused(result, 2, f"{table}.csv:{row}", column, "missing value")
    check()


@pytest.mark.parametrize("column", ["image_digest", "release"])
@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_written_behind_import_is_not_recorded(
    catalog, tmp_path, policy_dir, column, blank
):
    url = load(catalog, tmp_path)
    write_sql(url, f"UPDATE transformation SET {column} = :v WHERE tag = 'p6026'", v=blank)
    what = "image digest" if column == "image_digest" else "software release"
    reason = f"transformation p6026 records no {what}"
    repro = catalog.reproducibility().set_index("did")
    assert not repro.loc[LITE, "reproducible"]
    assert repro.loc[LITE, "reason"] == reason
    recipe = invoke(url, "recipe", LITE)
    assert recipe.exit_code == 1, recipe.output
    assert reason in recipe.stdout
    assert kept_reason(url, policy_dir, LITE) == f"not reproducible: {reason}"
    assert state(catalog, LITE) == "closed"
    audit = invoke(url, "audit", "--policy", policy_dir, "-f", "json", "--fail-on", "never")
    found = {f["did"]: f["message"] for f in json.loads(audit.stdout)["findings"]}
    assert found[LITE] == reason
    (made_by,) = [p for p in catalog.lineage(LITE).productions.values()
                  if p.transformation.tag == "p6026"]  # fmt: skip
    shown = made_by.transformation
    if column == "image_digest":  # the image alone, not "image@<blank>"
        assert shown.image_ref is None or "@" not in shown.image_ref
    else:
        assert f"release {blank}" not in recipe.stdout


@pytest.mark.parametrize("column", ["image_digest", "release"])
def test_a_plan_with_a_blank_transformation_is_blocked(catalog, tmp_path, column):
    tables = chain()
    tables["transformations"].append(
        {"tag": "r55555", "name": "Reco_tf", "release": "Athena,26.0.1",
         "image_digest": NEW_DIGEST, "cpu_seconds_per_event": "1"}
    )  # fmt: skip
    url = load(catalog, tmp_path, tables)
    write_sql(url, f"UPDATE transformation SET {column} = '\t ' WHERE tag = 'r55555'")
    result = invoke(url, "plan", "reprocess", "--select", "kind=raw", "--chain", "r55555:AOD",
                    "--name", "blank")  # fmt: skip
    assert result.exit_code == 1, result.output
    what = "image digest" if column == "image_digest" else "software release"
    assert f"transformation records no {what}" in result.stdout


# -- failed and running productions make nothing reproducible ----------------------------------


@pytest.mark.parametrize(("status", "words"), [("failed", "failed"), ("running", "is running")])
def test_outputs_of_a_production_not_done_are_irreproducible(
    catalog, tmp_path, policy_dir, status, words
):
    tables = chain()
    next(p for p in tables["productions"] if p["id"] == "task-lite")["status"] = status
    url = load(catalog, tmp_path, tables)
    reason = f"production task-lite {words}"
    repro = catalog.reproducibility().set_index("did")
    assert not repro.loc[LITE, "reproducible"]
    assert repro.loc[LITE, "reason"] == reason
    recipe = invoke(url, "recipe", LITE)
    assert recipe.exit_code == 1, recipe.output
    assert reason in recipe.stdout
    assert kept_reason(url, policy_dir, LITE) == f"not reproducible: {reason}"
    assert state(catalog, LITE) == "closed"
    # LITE's only replica is at CERN-PROD: losing the site loses it for good
    loss = invoke(url, "simulate", "loss", "--site", "CERN-PROD", "-f", "json",
                  "--policy", policy_dir)  # fmt: skip
    assert loss.exit_code == 1, loss.output
    lost = {row["did"]: row["reason"] for row in json.loads(loss.stdout)["lost"]}
    assert lost[LITE].startswith(f"not reproducible after the loss: {reason}")
    assert LITE not in {row["did"] for row in json.loads(loss.stdout)["recoverable"]}
    tradeoff = catalog.tradeoff()
    lite = tradeoff[tradeoff["data_type"] == "DAOD_PHYSLITE"].iloc[0]
    assert int(lite["irreproducible"]) == 1


def test_a_failed_upstream_production_blocks_the_downstream_recipe(catalog, tmp_path, policy_dir):
    """MERGED's producer failed: once CERN-PROD burns, MERGED is lost for good, and so is LITE,
    whose recipe needs it."""
    tables = chain()
    next(p for p in tables["productions"] if p["id"] == "task-merge")["status"] = "failed"
    url = load(catalog, tmp_path, tables)
    loss = invoke(url, "simulate", "loss", "--site", "CERN-PROD", "-f", "json")
    lost = {row["did"]: row["reason"] for row in json.loads(loss.stdout)["lost"]}
    assert "production task-merge failed" in lost[MERGED]
    assert LITE in lost


def test_inputs_of_a_running_production_are_kept(catalog, tmp_path, policy_dir):
    tables = chain()
    ntup = "mc20_13TeV:mc20_13TeV.periodB.physics_Main.ntup.NTUP.r13286_p4910_p5000_p6026_n1"
    tables["datasets"].append(
        {"did": ntup, "kind": "derived", "data_type": "NTUP", "bytes": "5", "files": "1",
         "created_at": "2026-01-01T00:00:00Z", "state": "open"}
    )  # fmt: skip
    tables["productions"].append(
        {"id": "task-ntup", "transformation": "p6026", "status": "running",
         "started_at": "2026-01-01T00:00:00Z"}
    )  # fmt: skip
    tables["production_io"] += [
        {"production": "task-ntup", "did": LITE, "role": "input"},
        {"production": "task-ntup", "did": ntup, "role": "output"},
    ]
    url = load(catalog, tmp_path, tables)
    assert catalog.reproducibility().set_index("did").loc[LITE, "reproducible"]
    reason = kept_reason(url, policy_dir, LITE)
    assert reason == "running: input of running production task-ntup"
    assert state(catalog, LITE) == "closed"
    assert set(catalog.replicas(LITE)["state"]) == {"available"}


def test_reprocessability_ignores_a_running_latest_production(catalog, tmp_path):
    """The latest *done* production names the calibration to keep, as plans read it."""
    tables = chain()
    tables["productions"].append(
        {"id": "task-reco9", "transformation": "r13286", "status": "running",
         "started_at": "2026-01-01T00:00:00Z"}
    )  # fmt: skip
    calib = "calib:calib.CONDBR2-BLKPA-RUN2-09.v09"  # its calibration is lost
    tables["datasets"].append(
        {"did": calib, "kind": "calibration", "data_type": "COND", "bytes": "1", "files": "1",
         "created_at": "2025-12-01T00:00:00Z"}
    )  # fmt: skip
    tables["replicas"].append({"did": calib, "endpoint": "CERN-PROD_DATADISK", "state": "lost",
                               "created_at": "2025-12-01T00:00:00Z"})  # fmt: skip
    tables["production_io"] += [
        {"production": "task-reco9", "did": RAW1, "role": "input"},
        {"production": "task-reco9", "did": calib, "role": "calibration"},
    ]
    url = load(catalog, tmp_path, tables)
    rule = Path(tmp_path / "r.toml")
    rule.write_text('[policy]\nname = "r"\n[[rule]]\nname = "raw-reprocessable"\n'
                    'type = "reprocessability"\nselect = { kind = ["raw"] }\n')  # fmt: skip
    result = invoke(url, "audit", "--policy", str(rule), "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
