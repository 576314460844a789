"""``lifecycle repair``: the plan that restores replication and preservation rules, on hand-built
grids (both databases), its explanations, determinism, Rucio output and drains."""

from __future__ import annotations

import json
import shlex

import pytest
from repair_grids import PRESERVED, SITES, TB, endpoint, grid, load, policy, rule
from typer.testing import CliRunner

from lifecycle.api import rucio_lines
from lifecycle.cli.app import app

runner = CliRunner()
RAW = "data18_13TeV:data18_13TeV.00357772.physics_Main.daq.RAW"
RAW2 = "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW"
RAW3 = "data18_13TeV:data18_13TeV.00357774.physics_Main.daq.RAW"
TAPE_SITES = rule("raw-archival-copies", 2, "media=tape", "site")


def targets(plan) -> list[tuple[str, str]]:
    return [(t["did"], t["target"]) for t in plan.transfers]


def test_a_missing_tape_copy_goes_to_another_site_with_its_reason(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert len(plan.transfers) == 1
    move = plan.transfers[0]
    assert move["target"].endswith("_DATATAPE")
    assert move["target_site"] != "CERN-PROD"
    assert move["source"] == "CERN-PROD_DATATAPE"
    assert move["staging"] is True
    assert move["reason"].startswith("2nd tape copy at another site (raw-archival-copies); ")
    assert "PB free" in move["reason"] or "TB free" in move["reason"]
    assert "(tape, staged first)" in move["reason"]
    assert plan.summary["repaired"] == 1
    assert not plan.unrepaired
    assert not plan.blocked


def test_one_copy_fixes_a_site_a_country_and_a_cloud_rule_at_once(catalog, tmp_path):
    rules = (
        rule("two-sites", 2, "media=tape", "site")
        + rule("two-countries", 2, "media=tape", "country")
        + rule("two-clouds", 2, "media=tape", "cloud")
    )
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    plan = catalog.repair(policy(tmp_path, rules))
    assert len(plan.transfers) == 1  # the fewest: one copy outside ch and CERN
    move = plan.transfers[0]
    assert move["target_site"] not in ("CERN-PROD", "CSCS-LCG2")
    assert move["rules"] == "two-sites,two-countries,two-clouds"
    assert "in another country (two-countries)" in move["reason"]


def test_a_disk_copy_prefers_a_disk_source_in_the_same_cloud(catalog, tmp_path):
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW, "FZK-LCG2_DATADISK")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], replicas))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert [t["source"] for t in plan.transfers] == ["FZK-LCG2_DATADISK"]
    assert plan.transfers[0]["staging"] is False


def test_a_tape_only_expression_never_targets_disk(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATADISK")]))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert len(plan.transfers) == 2
    assert all(t["target"].endswith("_DATATAPE") for t in plan.transfers)
    assert len({t["target_site"] for t in plan.transfers}) == 2


def test_full_endpoints_and_down_sites_are_never_targets(catalog, tmp_path):
    sites = [s if s[0] != "FZK-LCG2" else (*s[:4], "down") for s in SITES[:3]]
    endpoints = [
        endpoint("CERN-PROD", "tape"),
        endpoint("CSCS-LCG2", "tape", capacity=TB // 2),  # too small
        endpoint("FZK-LCG2", "tape"),  # site down
    ]
    load(
        catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")], endpoints, sites)
    )
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert plan.transfers == []
    assert plan.blocked
    [left] = plan.unrepaired
    assert left["rule"] == "raw-archival-copies"
    assert not left["lost_for_good"]
    assert left["reason"].startswith("no eligible endpoint has 1.00 TB free")


def test_an_expression_matching_only_sites_already_holding_a_copy_says_so(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "tape"), endpoint("CERN-PROD", "tape", suffix="MCTAPE")]
    load(
        catalog,
        tmp_path,
        grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")], endpoints, SITES[:1]),
    )
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    [left] = plan.unrepaired
    assert left["reason"] == "'media=tape' matches only sites already holding a copy"


def test_a_dataset_without_an_available_replica_is_lost_for_good(catalog, tmp_path):
    replicas = [(RAW, "CERN-PROD_DATATAPE", "lost")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], replicas))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES + PRESERVED))
    assert plan.transfers == []
    assert {u["rule"] for u in plan.unrepaired} == {"raw-archival-copies", "raw-preserved"}
    assert all(u["lost_for_good"] for u in plan.unrepaired)
    assert "lost for good (raw data cannot be regenerated)" in plan.unrepaired[0]["reason"]
    assert plan.summary["lost_for_good"] == 1


def test_an_unavailable_replica_is_not_lost_for_good(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE", "unavailable")]))
    plan = catalog.repair(policy(tmp_path, PRESERVED))
    [left] = plan.unrepaired
    assert not left["lost_for_good"]
    assert "CERN-PROD_DATATAPE is unavailable" in left["reason"]


def test_two_datasets_competing_for_the_last_free_space(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "tape"), endpoint("FZK-LCG2", "tape", capacity=3 * TB)]
    datasets = [(RAW, "raw", 2 * TB), (RAW2, "raw", 2 * TB)]
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW2, "CERN-PROD_DATATAPE")]
    load(catalog, tmp_path, grid(datasets, replicas, endpoints, SITES))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert targets(plan) == [(RAW, "FZK-LCG2_DATATAPE")]  # DID order decides
    assert [u["did"] for u in plan.unrepaired] == [RAW2]
    assert "no eligible endpoint has 2.00 TB free" in plan.unrepaired[0]["reason"]


def test_space_counts_available_and_copying_replicas(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "tape"), endpoint("FZK-LCG2", "tape", capacity=3 * TB)]
    datasets = [(RAW, "raw", 2 * TB), (RAW2, "raw", 2 * TB)]
    replicas = [
        (RAW, "CERN-PROD_DATATAPE"),
        (RAW2, "CERN-PROD_DATATAPE"),
        (RAW2, "FZK-LCG2_DATATAPE", "copying"),
    ]
    load(catalog, tmp_path, grid(datasets, replicas, endpoints, SITES))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert plan.transfers == []
    assert [u["did"] for u in plan.unrepaired] == [RAW]
    assert [f["did"] for f in plan.in_flight] == [RAW2]


def test_a_copy_in_flight_is_not_planned_again(catalog, tmp_path):
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW, "FZK-LCG2_DATATAPE", "copying")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], replicas))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert plan.transfers == []
    assert not plan.blocked
    assert plan.in_flight == [
        {"did": RAW, "rule": "raw-archival-copies", "copying": ["FZK-LCG2_DATATAPE"]}
    ]
    assert plan.summary["in_flight"] == 1


def test_unlimited_endpoints_are_said_so(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "tape"), endpoint("FZK-LCG2", "tape", capacity=None)]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")], endpoints))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    assert targets(plan) == [(RAW, "FZK-LCG2_DATATAPE")]
    assert "no capacity recorded: unlimited" in plan.transfers[0]["reason"]
    assert plan.summary["unlimited_targets"] == ["FZK-LCG2_DATATAPE"]


def test_max_per_site_caps_what_one_site_receives(catalog, tmp_path):
    endpoints = [
        endpoint("CERN-PROD", "tape"),
        endpoint("FZK-LCG2", "tape"),
        endpoint("BNL-OSG2", "tape"),
    ]
    datasets = [(RAW, "raw", 2 * TB), (RAW2, "raw", 2 * TB), (RAW3, "raw", 2 * TB)]
    replicas = [(d, "CERN-PROD_DATATAPE") for d, _, _ in datasets]
    load(catalog, tmp_path, grid(datasets, replicas, endpoints))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES), max_per_site=2 * TB)
    assert sorted(t["target_site"] for t in plan.transfers) == ["BNL-OSG2", "FZK-LCG2"]
    assert plan.unrepaired[0]["reason"].startswith("every eligible site has reached --max-per-site")


def test_select_narrows_the_datasets_repaired(catalog, tmp_path):
    datasets = [(RAW, "raw", TB), (RAW2, "raw", TB)]
    load(
        catalog,
        tmp_path,
        grid(datasets, [(RAW, "CERN-PROD_DATATAPE"), (RAW2, "CERN-PROD_DATATAPE")]),
    )
    plan = catalog.repair(policy(tmp_path, TAPE_SITES), select=[f"did={RAW2}"])
    assert [t["did"] for t in plan.transfers] == [RAW2]


def test_the_same_catalog_gives_the_same_plan_byte_for_byte(catalog, tmp_path):
    datasets = [(f"data18_13TeV:data18_13TeV.0035{i:04d}.physics_Main.daq.RAW", "raw", TB)
                for i in range(30)]  # fmt: skip
    replicas = [(d, "CERN-PROD_DATATAPE") for d, _, _ in datasets]
    load(catalog, tmp_path, grid(datasets, replicas))
    rules = policy(tmp_path, TAPE_SITES)
    first = json.dumps(catalog.repair(rules).to_dict())
    assert first == json.dumps(catalog.repair(rules).to_dict())
    spread = {t["target_site"] for t in catalog.repair(rules).transfers}
    assert len(spread) > 1  # weighted by free space, not all on one site


def test_the_rucio_rules_read_back_as_the_plan(catalog, tmp_path):
    tables = grid([(RAW, "raw", TB), (RAW2, "raw", TB)],
                  [(RAW, "CERN-PROD_DATADISK"), (RAW2, "CERN-PROD_DATATAPE")])  # fmt: skip
    load(catalog, tmp_path, tables)
    plan = catalog.repair(policy(tmp_path, TAPE_SITES))
    rules = [json.loads(line) for line in rucio_lines(plan, "json")]
    assert [r["did"] for r in rules] == [RAW, RAW2]
    for parsed in rules:
        mine = [t for t in plan.transfers if t["did"] == parsed["did"]]
        assert parsed["copies"] == len(mine)
        assert set(parsed["rse_expression"].split("|")) == {t["target"] for t in mine}
        assert set(parsed["source_replica_expression"].split("|")) == {t["source"] for t in mine}
        assert parsed["comment"].startswith("lifecycle repair: ")
    commands = rucio_lines(plan, "shell")
    assert commands[0] == "#!/bin/sh"
    parsed_commands = [shlex.split(line) for line in commands if line.startswith("rucio ")]
    assert len(parsed_commands) == len(rules)
    for words, parsed in zip(parsed_commands, rules, strict=True):
        assert words[:2] == ["rucio", "add-rule"]
        assert words[-3:] == [parsed["did"], str(parsed["copies"]), parsed["rse_expression"]]
        assert words[words.index("--comment") + 1] == parsed["comment"]


def test_drain_moves_every_replica_off_the_site_keeping_every_rule(catalog, tmp_path):
    datasets = [(RAW, "raw", TB), (RAW2, "raw", TB)]
    replicas = [
        (RAW, "CERN-PROD_DATATAPE"), (RAW, "FZK-LCG2_DATATAPE"), (RAW, "FZK-LCG2_DATADISK"),
        (RAW2, "CERN-PROD_DATATAPE"), (RAW2, "BNL-OSG2_DATATAPE"),
    ]  # fmt: skip
    load(catalog, tmp_path, grid(datasets, replicas))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES), drain_sites=["FZK-LCG2"])
    assert plan.drain == ["FZK-LCG2_DATADISK", "FZK-LCG2_DATATAPE"]
    moved = targets(plan)
    assert [did for did, _ in moved] == [RAW, RAW]
    media = sorted(t.rsplit("_", 1)[1] for _, t in moved)
    assert media == ["DATADISK", "DATATAPE"]  # tape to tape, disk to disk
    assert all(not t.startswith("FZK-LCG2") and not t.startswith("CERN-PROD_DATATAPE")
               for _, t in moved)  # fmt: skip


def test_an_unknown_drained_site_is_a_usage_error(catalog, tmp_path):
    from lifecycle.errors import UsageError

    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    with pytest.raises(UsageError):
        catalog.repair(policy(tmp_path, TAPE_SITES), drain_sites=["NOWHERE"])


# -- the command ------------------------------------------------------------------------------


@pytest.fixture
def cli_catalog(catalog, tmp_path):
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW2, "CERN-PROD_DATATAPE", "lost")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB), (RAW2, "raw", TB)], replicas))
    path = tmp_path / "policy-cli" / "rules.toml"
    path.parent.mkdir()
    path.write_text('[policy]\nname = "rules"\n' + TAPE_SITES)
    return catalog, path


def invoke(catalog, path, *args):
    return runner.invoke(app, ["--db", catalog.url, "repair", "--policy", str(path), *args])


def test_the_command_previews_and_exits_1_when_something_cannot_be_repaired(cli_catalog):
    catalog, path = cli_catalog
    result = invoke(catalog, path)
    assert result.exit_code == 1, result.output
    assert "2 datasets violating a replication or preservation rule: 1 repaired" in result.stdout
    assert "(1 lost for good)" in result.stdout
    assert "plan digest" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "rucio", "rucio-shell"])
def test_the_command_writes_every_format(cli_catalog, fmt):
    catalog, path = cli_catalog
    result = invoke(catalog, path, "--format", fmt)
    assert result.exit_code == 1, result.output
    if fmt == "json":
        document = json.loads(result.stdout)
        assert document["kind"] == "repair"
        assert document["summary"]["transfers"] == 1
        assert [u["did"] for u in document["unrepaired"]] == [RAW2]
    elif fmt == "csv":
        assert result.stdout.splitlines()[0].startswith("section,did,bytes,target")
        assert len(result.stdout.splitlines()) == 3
    elif fmt == "rucio":
        assert json.loads(result.stdout.splitlines()[0])["did"] == RAW
    else:
        assert result.stdout.splitlines()[-1].startswith("rucio add-rule ")


def test_max_per_site_takes_sizes(cli_catalog):
    catalog, path = cli_catalog
    assert invoke(catalog, path, "--max-per-site", "lots").exit_code == 2
    result = invoke(catalog, path, "--max-per-site", "0.5TB", "--format", "json")
    assert json.loads(result.stdout)["summary"]["transfers"] == 0


def test_the_audit_table_says_what_repair_would_do(cli_catalog):
    catalog, path = cli_catalog
    result = runner.invoke(app, ["--db", catalog.url, "audit", "--policy", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == RAW)
    assert lines[at + 2].strip().startswith("-> repair would copy it to ")
    assert lines[at + 2].strip().endswith("from CERN-PROD_DATATAPE, staged from tape")
    at = next(i for i, line in enumerate(lines) if line.strip() == RAW2)
    assert lines[at + 2].strip() == (
        "-> repair cannot: no available replica: lost for good (raw data cannot be regenerated)"
    )


def test_drain_endpoints_takes_an_expression(catalog, tmp_path):
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW, "FZK-LCG2_DATATAPE")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], replicas))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES), drain_endpoints="FZK-LCG2_DATATAPE")
    assert plan.drain == ["FZK-LCG2_DATATAPE"]
    [move] = plan.transfers
    assert move["target"].endswith("_DATATAPE")
    assert move["target_site"] not in ("CERN-PROD", "FZK-LCG2")
    assert move["rules"] == "raw-archival-copies,drain:tape"


# -- --apply ------------------------------------------------------------------------------------


def replica_states(catalog, did: str) -> dict[str, str]:
    found = catalog.replicas(did)
    return dict(zip(found["endpoint"], found["state"], strict=True))


def test_apply_records_copying_replicas_and_queued_transfers_once(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    rules = policy(tmp_path, TAPE_SITES)
    preview = catalog.repair(rules)
    plan = catalog.repair(rules, apply=True, expect=preview.digest)
    assert plan.applied
    assert plan.transfers == preview.transfers
    [target] = [t["target"] for t in plan.transfers]
    assert replica_states(catalog, RAW)[target] == "copying"
    entry = catalog.journal(limit=1).iloc[0]
    assert entry["command"] == "repair --apply"
    assert entry["summary"].startswith("repair: 1 new replica copying (1.00 TB), 1 transfer queued")
    changes = catalog.journal_changes(int(entry["id"]))
    assert list(changes["entity"]) == ["replica", "transfer"]
    assert list(changes["row_key"]) == [f"{RAW}@{target}", f"{RAW}->{target}"]
    assert list(changes["new_value"]) == ["copying", "queued"]
    again = catalog.repair(rules)  # the copy in flight is not planned twice
    assert again.transfers == []
    assert [f["did"] for f in again.in_flight] == [RAW]


def test_apply_refuses_a_plan_other_than_the_previewed_one(catalog, tmp_path):
    from lifecycle.errors import RepairChanged

    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    rules = policy(tmp_path, TAPE_SITES)
    with pytest.raises(RepairChanged, match="the catalog changed since the preview"):
        catalog.repair(rules, apply=True, expect="0000000000000000")
    assert replica_states(catalog, RAW) == {"CERN-PROD_DATATAPE": "available"}
    assert len(catalog.journal()) == 1  # the import only


def test_apply_acts_as_of_the_present(catalog, tmp_path):
    from datetime import UTC, datetime

    from lifecycle.errors import UsageError

    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    with pytest.raises(UsageError, match="--now is for previews"):
        catalog.repair(policy(tmp_path, TAPE_SITES), datetime(2030, 1, 1, tzinfo=UTC), apply=True)


def test_a_lost_replica_row_at_the_target_comes_back_as_the_copy(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "tape"), endpoint("FZK-LCG2", "tape")]
    replicas = [(RAW, "CERN-PROD_DATATAPE"), (RAW, "FZK-LCG2_DATATAPE", "lost")]
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], replicas, endpoints))
    plan = catalog.repair(policy(tmp_path, TAPE_SITES), apply=True)
    assert targets(plan) == [(RAW, "FZK-LCG2_DATATAPE")]
    assert replica_states(catalog, RAW) == {
        "CERN-PROD_DATATAPE": "available",
        "FZK-LCG2_DATATAPE": "copying",
    }
    changes = catalog.journal_changes(int(catalog.journal(limit=1).iloc[0]["id"]))
    assert list(changes["old_value"])[:1] == ["lost"]


def test_the_command_applies_with_the_previewed_digest(cli_catalog):
    catalog, path = cli_catalog
    digest = json.loads(invoke(catalog, path, "--format", "json").stdout)["summary"]["digest"]
    assert invoke(catalog, path, "--apply", "--expect", "f" * 16).exit_code == 1
    result = invoke(catalog, path, "--apply", "--expect", digest)
    assert result.exit_code == 1, result.output  # RAW2 is lost for good: still exit 1
    assert "recorded: 1 new replica" in result.stdout
