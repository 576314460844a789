"""Reprocessing plans on the chain of ``catalogs.chain``, extended with new software and a second
disk endpoint; on both databases."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalogs import AOD2, CALIB, RAW1, RAW2, chain, write_catalog
from conftest import snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog, ReprocessingPlan
from lifecycle.cli import planning
from lifecycle.cli.app import app
from lifecycle.errors import PlanBlocked, UsageError
from lifecycle.planning import STEP_COLUMNS, ChainLink
from lifecycle.policy import Selector, load_policies

runner = CliRunner()
DIGEST = "sha256:" + "f" * 64
POLICY = """
[policy]
name = "plans"

[[rule]]
name = "analysis-two-disk-sites"
type = "replication"
select = { kind = ["derived"], data_type = ["DAOD_*"] }
copies = 2
endpoints = "media=disk"
distinct = "site"

[[rule]]
name = "derived-reproducible"
type = "reproducibility"
select = { kind = ["derived"] }
"""
NEW_AOD1 = "data18_13TeV:data18_13TeV.00357772.physics_Main.recon.AOD.r99999"
NEW_LITE1 = "data18_13TeV:data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYSLITE.r99999_p99998"


def tables():
    out = chain()
    out["endpoints"].append(
        {"name": "BNL-OSG2_DATADISK", "site": "BNL-OSG2", "media": "disk", "capacity_bytes": "",
         "type": "DATADISK", "archival": "false"}
    )  # fmt: skip
    for tag, name, ratio, cpu in (("r99999", "Reco_tf", "0.5", "36"), ("p99998", "Deriv_tf",
                                  "0.1", "3.6")):  # fmt: skip
        out["transformations"].append(
            {"tag": tag, "name": name, "release": "Athena,26.0.1",
             "image": "registry.cern.ch/atlas/athena:26.0.1", "image_digest": DIGEST,
             "cpu_seconds_per_event": cpu, "output_ratio": ratio}
        )  # fmt: skip
    out["transformations"].append(
        {"tag": "p99997", "name": "Deriv_tf", "release": "Athena,26.0.1", "image_digest": ""}
    )
    return out


def load(catalog: Catalog, tmp_path: Path, data=None) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "cat", data or tables()))
    return catalog


@pytest.fixture
def policies(tmp_path):
    path = tmp_path / "policies" / "plans.toml"
    path.parent.mkdir()
    path.write_text(POLICY)
    return load_policies([path])


RAW = Selector(kind=("raw",))
CHAIN = "r99999,p99998:DAOD_PHYSLITE"


def test_a_plan_names_outputs_the_atlas_way_and_costs_the_campaign(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(RAW, CHAIN, None, "campaign", policies, save=False)
    assert plan.blockers.empty, plan.blockers
    steps = plan.steps.set_index("output_did")
    assert list(plan.steps["output_did"]) == [
        NEW_AOD1,
        NEW_LITE1,
        "data18_13TeV:data18_13TeV.00357773.physics_Main.recon.AOD.r99999",
        "data18_13TeV:data18_13TeV.00357773.physics_Main.deriv.DAOD_PHYSLITE.r99999_p99998",
    ]
    # RAW1: 2000 bytes, 1000 events; reco keeps half the bytes, derivation a tenth
    assert steps.loc[NEW_AOD1, "output_bytes"] == 1000
    assert steps.loc[NEW_LITE1, "output_bytes"] == 100
    assert steps.loc[NEW_AOD1, "cpu_hours"] == pytest.approx(10.0)  # 1000 events x 36 s
    assert steps.loc[NEW_LITE1, "cpu_hours"] == pytest.approx(1.0)
    # the calibration and conditions of each input's latest production
    first = plan.step_inputs[plan.step_inputs["seq"] == 1]
    assert sorted(zip(first["did"], first["role"], strict=True)) == [
        (CALIB, "calibration"),
        (RAW1, "input"),
    ]
    second = plan.step_inputs[plan.step_inputs["seq"] == 2]
    assert list(second["did"]) == [NEW_AOD1]
    assert set(plan.steps["conditions_tag"]) == {"CONDBR2-BLKPA-RUN2-09"}
    summary = plan.summary()
    assert summary["events"] == 2000
    assert summary["cpu_hours"] == pytest.approx(22.0)


def test_tape_staging_is_summed_per_tape_endpoint(catalog, tmp_path, policies):
    plan = load(catalog, tmp_path).plan_reprocess(RAW, CHAIN, None, "p", policies, save=False)
    # no disk copy of either raw dataset: RAW1 is read from BNL's tape (first by name),
    # RAW2 from CERN's
    assert plan.staging.to_dict("records") == [
        {"endpoint": "BNL-OSG2_DATATAPE", "site": "BNL-OSG2", "bytes": 2000},
        {"endpoint": "CERN-PROD_DATATAPE", "site": "CERN-PROD", "bytes": 3000},
    ]
    assert plan.summary()["bytes_staged_by_site"] == {"BNL-OSG2": 2000, "CERN-PROD": 3000}


def test_output_placement_obeys_distinct_site_rules(catalog, tmp_path, policies):
    plan = load(catalog, tmp_path).plan_reprocess(RAW, CHAIN, None, "p", policies, save=False)
    placement = dict(zip(plan.steps["output_did"], plan.steps["placement"], strict=True))
    # AODs: no rule selects them, one disk copy at the site that runs the step
    assert placement[NEW_AOD1] == "BNL-OSG2_DATADISK"
    # PHYSLITE: two disk copies at distinct sites, the running site first
    assert placement[NEW_LITE1] == "BNL-OSG2_DATADISK,CERN-PROD_DATADISK"
    assert plan.summary()["bytes_written"] == 1000 + 2 * 100 + 1500 + 2 * 150


def test_outputs_supersede_older_processings(catalog, tmp_path, policies):
    plan = load(catalog, tmp_path).plan_reprocess(RAW, CHAIN, None, "p", policies, save=False)
    assert plan.supersedes.to_dict("records") == [
        {"did": AOD2, "by": "data18_13TeV:data18_13TeV.00357773.physics_Main.recon.AOD.r99999"}
    ]  # AOD1 is deleted already: nothing to supersede


@pytest.mark.parametrize(
    ("change", "chain_text", "expected"),
    [
        (
            lambda t: [r.update(state="lost") for r in t["replicas"] if r["did"] == RAW2],
            CHAIN,
            (RAW2, "no available replica to read"),
        ),
        (
            lambda t: [r.update(state="lost") for r in t["replicas"] if r["did"] == CALIB],
            CHAIN,
            (CALIB, "calibration has no available replica"),
        ),
        (None, "r99999,p12345:DAOD_PHYS", ("p12345", "transformation unknown (import it first)")),
        (None, "r99999,p99997:DAOD_PHYS", ("p99997", "transformation records no image digest")),
        (None, "r13286", (AOD2, "output exists already (choose another tag chain)")),
    ],
)
def test_blockers_are_listed(catalog, tmp_path, policies, change, chain_text, expected):
    data = tables()
    if change:
        change(data)
    cat = load(catalog, tmp_path, data)
    plan = cat.plan_reprocess(RAW, chain_text, None, "blocked", policies)
    assert expected in set(zip(plan.blockers["subject"], plan.blockers["detail"], strict=True))
    with pytest.raises(PlanBlocked):
        cat.apply_plan(plan.id)
    assert cat.plan(plan.id).applied_at is None


def test_conditions_tag_picks_the_calibration(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(RAW, CHAIN, "CONDBR2-BLKPA-RUN2-09", "c", policies, save=False)
    assert plan.blockers.empty
    assert set(plan.steps["conditions_tag"]) == {"CONDBR2-BLKPA-RUN2-09"}
    missing = cat.plan_reprocess(RAW, CHAIN, "OFLCOND-NOTHING", "d", policies, save=False)
    assert ("OFLCOND-NOTHING", "no calibration dataset for these conditions") in set(
        zip(missing.blockers["subject"], missing.blockers["detail"], strict=True)
    )


def test_apply_registers_the_campaign_and_the_audit_is_clean(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(RAW, CHAIN, None, "campaign", policies)
    assert cat.plans()["name"].tolist() == ["campaign"]
    done = cat.apply_plan(plan.id)
    assert done == {"productions": 4, "datasets": 4, "replicas": 6}
    assert cat.dataset(NEW_LITE1).dataset["kind"] == "derived"
    assert sorted(cat.replicas(NEW_LITE1)["endpoint"]) == [
        "BNL-OSG2_DATADISK", "CERN-PROD_DATADISK"
    ]  # fmt: skip
    graph = cat.lineage(NEW_LITE1)
    assert {n.did for n in graph.nodes} == {NEW_LITE1, NEW_AOD1, RAW1, CALIB}
    assert graph.productions["campaign/2"].transformation.tag == "p99998"
    assert cat.recipe(NEW_LITE1).reproducible
    report = cat.audit(policies, datetime(2026, 11, 25, tzinfo=UTC))
    new = {NEW_AOD1, NEW_LITE1}
    assert not new & set(report.findings["did"]), report.findings
    assert cat.plan(plan.id).applied_at is not None
    with pytest.raises(UsageError, match="applied already"):
        cat.apply_plan(plan.id)
    assert list(cat.journal(did=NEW_LITE1)["command"]) == [f"plan apply {plan.id}"]


def test_inputs_of_saved_plans_are_protected_from_expiry(catalog, tmp_path, policies):
    data = tables()
    next(d for d in data["datasets"] if d["did"] == AOD2)["expires_at"] = "2020-01-01"
    cat = load(catalog, tmp_path, data)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    assert cat.expire(policies, now).decisions.set_index("did").loc[AOD2, "decision"] == "delete"
    plan = cat.plan_reprocess(Selector(did=(AOD2,)), "p99998:DAOD_PHYSLITE", None, "rederive",
                              policies)  # fmt: skip
    assert plan.blockers.empty, plan.blockers
    kept = cat.expire(policies, now).decisions.set_index("did")
    assert kept.loc[AOD2, "decision"] == "keep"
    assert kept.loc[AOD2, "reason"].startswith("planned:")
    cat.apply_plan(plan.id)
    assert cat.expire(policies, now).decisions.set_index("did").loc[AOD2, "decision"] == "delete"


def test_plan_cli(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    policy_dir = str(tmp_path / "policies")

    def cli(*args: str):
        return runner.invoke(app, ["--db", cat.url, "plan", *args])

    made = cli("reprocess", "--chain", CHAIN, "--name", "c1", "--save", "--policy", policy_dir)
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("plan 1: c1 [not applied]")
    blocked = cli(
        "reprocess", "--chain", "r13286", "--name", "c2", "--save", "--policy", policy_dir
    )
    assert blocked.exit_code == 1
    assert "output exists already" in blocked.stdout
    assert cli("reprocess", "--chain", "r99999", "--name", "c1", "--save").exit_code == 2  # taken
    assert cli("reprocess", "--chain", "R99999").exit_code == 2
    assert cli("reprocess", "--chain", "r99999", "--select", "colour=red").exit_code == 2
    assert cli("reprocess", "--chain", "r99999", "--select", "did=nothing:*").exit_code == 2
    listed = json.loads(cli("list", "-f", "json").stdout)["plans"]
    assert [(p["id"], p["name"], p["blockers"]) for p in listed] == [(1, "c1", 0), (2, "c2", 2)]
    document = json.loads(cli("export", "1").stdout)
    assert document["kind"] == "plan"
    assert document["summary"]["steps"] == 4
    assert document["steps"][1]["inputs"] == [{"did": NEW_AOD1, "role": "input"}]
    assert document["steps"][1]["placement"] == ["BNL-OSG2_DATADISK", "CERN-PROD_DATADISK"]
    parquet = runner.invoke(app, ["--db", cat.url, "plan", "export", "1", "-f", "parquet"])
    assert parquet.exit_code == 0
    import pandas as pd

    steps = pd.read_parquet(io.BytesIO(parquet.stdout_bytes))
    assert list(steps["output_did"])[:2] == [NEW_AOD1, NEW_LITE1]
    assert list(steps["inputs"][1]) == [NEW_AOD1]
    assert cli("show", "2").exit_code == 1
    before = snapshot(cat)
    preview = cli("apply", "1")
    assert preview.exit_code == 0
    assert "would register 4 productions, 4 datasets and 6 replicas" in preview.stdout
    assert snapshot(cat) == before
    assert cli("apply", "2", "--apply").exit_code == 1
    assert cli("apply", "1", "--apply").exit_code == 0
    assert cli("apply", "9", "--apply").exit_code == 2


def test_derived_inputs_keep_their_tag_chain(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(Selector(did=(AOD2,)), "p99998:DAOD_PHYS", None, "d", policies,
                              save=False)  # fmt: skip
    assert list(plan.steps["output_did"]) == [
        "data18_13TeV:data18_13TeV.00357773.physics_Main.deriv.DAOD_PHYS.r13286_p99998"
    ]


def test_an_output_lands_somewhere_even_without_a_disk_at_the_input_site(
    catalog, tmp_path, policies
):
    data = tables()
    data["endpoints"] = [e for e in data["endpoints"] if e["name"] != "BNL-OSG2_DATADISK"]
    plan = load(catalog, tmp_path, data).plan_reprocess(RAW, "r99999", None, "p", None,
                                                        save=False)  # fmt: skip
    # RAW1 is read from BNL's tape; BNL has no disk: the output goes to the Tier-0 disk
    assert set(plan.steps["placement"]) == {"CERN-PROD_DATADISK"}


def test_apply_checks_the_catalog_again(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(RAW, CHAIN, None, "stale", policies)
    cat.mark_lost(RAW2, "CERN-PROD_DATATAPE", "tape damaged", apply=True)
    with pytest.raises(PlanBlocked, match="the catalog changed since it was saved"):
        cat.apply_plan(plan.id)
    assert cat.plan(plan.id).applied_at is None
    second = cat.plan_reprocess(Selector(did=(RAW1,)), CHAIN, None, "one", policies)
    twin = cat.plan_reprocess(Selector(did=(RAW1,)), CHAIN, None, "twin", policies)
    cat.apply_plan(second.id)
    with pytest.raises(PlanBlocked, match="exists now"):
        cat.apply_plan(twin.id)


def test_blocked_plans_protect_nothing_and_plans_can_be_deleted(catalog, tmp_path, policies):
    data = tables()
    next(d for d in data["datasets"] if d["did"] == AOD2)["expires_at"] = "2020-01-01"
    cat = load(catalog, tmp_path, data)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    blocked = cat.plan_reprocess(Selector(did=(AOD2,)), "p12345:DAOD_PHYS", None, "b", policies)
    assert len(blocked.blockers)
    assert cat.expire(policies, now).decisions.set_index("did").loc[AOD2, "decision"] == "delete"
    good = cat.plan_reprocess(Selector(did=(AOD2,)), "p99998:DAOD_PHYS", None, "g", policies)
    assert cat.expire(policies, now).decisions.set_index("did").loc[AOD2, "decision"] == "keep"
    result = runner.invoke(app, ["--db", cat.url, "plan", "delete", str(good.id)])  # ./policies
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"deleted plan {good.id} (g): 1 step, 1 input",
        "1 input no longer protected from expiry",
        f"1 of them now eligible for expiry ('lifecycle expire --apply' would delete it): {AOD2}",
    ]
    assert cat.journal(limit=1).iloc[0]["summary"] == (
        f"deleted plan {good.id} (g): 1 input no longer protected from expiry"
    )
    assert cat.expire(policies, now).decisions.set_index("did").loc[AOD2, "decision"] == "delete"
    gone = runner.invoke(app, ["--db", cat.url, "plan", "delete", str(blocked.id)])
    assert gone.exit_code == 0
    assert gone.stdout.splitlines()[1].startswith("it protected no input from expiry (it has ")
    assert runner.invoke(app, ["--db", cat.url, "plan", "delete", "99"]).exit_code == 2


# -- preview first, save with --save ------------------------------------------------------------


def test_plan_reprocess_previews_and_saves_only_with_save(catalog, tmp_path):
    cat = load(catalog, tmp_path)
    policy_dir = str(tmp_path / "policies")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "plans.toml").write_text(POLICY)

    def reprocess(*args: str):
        return runner.invoke(app, ["--db", cat.url, "plan", "reprocess", "--chain", CHAIN,
                                   "--policy", policy_dir, *args])  # fmt: skip

    before = snapshot(cat)
    preview = reprocess("--name", "c1")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.startswith("plan (preview, not saved): c1\n")
    assert "run again with --save" in preview.stderr
    assert snapshot(cat) == before  # no plan, no journal entry
    saved = reprocess("--name", "c1", "--save")
    assert saved.exit_code == 0, saved.output
    assert saved.stdout.startswith("plan 1: c1 [not applied]\n")
    assert "--save" not in saved.stderr
    assert cat.journal(limit=1).iloc[0]["summary"].startswith("saved plan 1 (c1): 4 steps")
    after = snapshot(cat)
    again = reprocess("--name", "c1")  # a preview under a saved plan's name says so
    assert again.exit_code == 0, again.output
    assert "a plan named 'c1' exists already: save this one under another --name" in again.stderr
    clash = reprocess("--name", "c1", "--save")
    assert clash.exit_code == 2
    assert clash.stdout == ""
    assert clash.stderr.count("\n") == 1
    assert "--name: a plan named 'c1' exists already" in clash.stderr
    assert snapshot(cat) == after


def test_plan_show_csv_lists_the_steps_and_plan_list_shows_sizes(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    plan = cat.plan_reprocess(RAW, CHAIN, None, "campaign", policies)

    def cli(*args: str):
        return runner.invoke(app, ["--db", cat.url, "plan", *args])

    shown = cli("show", str(plan.id), "--format", "csv")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == ",".join(STEP_COLUMNS)
    assert [line.split(",")[5] for line in lines[1:]] == list(plan.steps["output_did"])
    previewed = cli("reprocess", "--chain", CHAIN, "--name", "other", "-f", "csv")
    assert previewed.stdout.splitlines()[0] == ",".join(STEP_COLUMNS)
    listed = cli("list")
    assert "5.00 kB" in listed.stdout  # staged: 2,000 + 3,000 bytes
    assert "3.00 kB" in listed.stdout  # written: 1,000 + 2 x 100 + 1,500 + 2 x 150 bytes
    assert " 5000 " not in listed.stdout
    assert "actor" not in listed.stdout  # the table keeps what tells plans apart
    document = json.loads(cli("list", "-f", "json").stdout)["plans"][0]
    assert document["bytes_staged"] == 5000
    assert document["actor"]


def big_plan(blocked: int, causes: int = 1) -> ReprocessingPlan:
    """A plan of 100 steps whose inputs are mostly blocked by the same cause, with 60
    superseded datasets and 30 tape endpoints to stage from."""
    import pandas as pd

    dids = [f"data18_13TeV:data18_13TeV.{n:08d}.physics_Main.daq.RAW" for n in range(blocked)]
    blockers = [(did, "no available replica to read") for did in dids]
    blockers += [(f"p{n}", f"cause {n}") for n in range(causes - 1)]
    steps = pd.DataFrame(
        {"seq": range(1, 101), "production": "p", "transformation": ["r1", "p2"] * 50,
         "conditions_tag": "c", "site": "CERN-PROD", "output_did": [f"s:o{n}" for n in range(100)],
         "output_data_type": ["AOD", "DAOD_PHYS"] * 50, "output_bytes": 10**12,
         "output_events": 1000, "cpu_hours": 1.5, "placement": "CERN-PROD_DATADISK"}
    )  # fmt: skip
    return ReprocessingPlan(
        name="big",
        selection={},
        chain=[ChainLink("r1"), ChainLink("p2", "DAOD_PHYS")],
        conditions_tag=None,
        inputs=pd.DataFrame({"id": range(50), "did": "s:in", "bytes": 1, "events": 1000}),
        steps=steps[STEP_COLUMNS],
        step_inputs=pd.DataFrame(columns=["seq", "did", "role"]),
        blockers=pd.DataFrame(blockers, columns=["subject", "detail"]),
        staging=pd.DataFrame(
            {"endpoint": [f"T{n}_TAPE" for n in range(30)], "site": "S", "bytes": 10**12}
        ),  # fmt: skip
        supersedes=pd.DataFrame({"did": [f"s:old{n}" for n in range(60)], "by": "s:new"}),
        id=7,
    )


def test_identical_blockers_are_counted_once_with_the_datasets_they_block():
    plan = big_plan(1262)
    out = io.StringIO()
    planning._plan(plan, out)
    text = out.getvalue()
    assert "1,262 blockers (1 cause): the plan cannot be applied" in text
    assert "  no available replica to read: 1,262 datasets\n" in text
    named = [line for line in text.splitlines() if line.startswith("    data18_13TeV:")]
    assert named == [
        f"    data18_13TeV:data18_13TeV.{n:08d}.physics_Main.daq.RAW" for n in range(3)
    ]
    assert "    … and 1,259 more (--format json lists all)" in text
    assert "… and 50 more (--format json lists all)" in text  # superseded: 10 of 60
    assert "… and 10 more (--format json lists all)" in text  # tape staging: 20 of 30
    assert "… and 80 more (--format json lists all)" in text  # steps: 20 of 100
    assert len(text.splitlines()) < 100
    document = plan.to_dict()  # json keeps everything
    assert len(document["blockers"]) == 1262
    assert len(document["supersedes"]) == 60
    assert len(document["steps"]) == 100


def test_blocker_causes_are_bounded_and_a_single_subject_is_named_inline():
    plan = big_plan(2, causes=13)
    assert [(d, len(s)) for d, s in plan.blocker_causes()[:2]] == [
        ("no available replica to read", 2),
        ("cause 0", 1),
    ]
    out = io.StringIO()
    planning._plan(plan, out)
    text = out.getvalue()
    assert "14 blockers (13 causes)" in text
    assert "  cause 0: p0\n" in text
    assert "  cause 8: p8\n" in text
    assert "cause 9" not in text
    assert "  … and 3 more causes (--format json lists all)" in text


def test_a_plan_shows_each_transformation_once_with_its_totals():
    found = big_plan(0).by_transformation()
    assert found.to_dict("records") == [
        {"transformation": "r1", "output_data_type": "AOD", "steps": 50,
         "output_bytes": 50 * 10**12, "cpu_hours": 75.0},
        {"transformation": "p2", "output_data_type": "DAOD_PHYS", "steps": 50,
         "output_bytes": 50 * 10**12, "cpu_hours": 75.0},
    ]  # fmt: skip
