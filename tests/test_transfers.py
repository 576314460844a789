"""The simulated grid: transfers queued by ``repair --apply`` move at shared site bandwidth,
stage from tape, fail and retry, and leave the rules satisfied (both databases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repair_grids import PRESERVED, SITES, TB, endpoint, grid, load, policy, rule
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import UsageError

runner = CliRunner()
RAW = "data18_13TeV:data18_13TeV.00357772.physics_Main.daq.RAW"
TAPE_SITES = rule("raw-archival-copies", 2, "media=tape", "site")
REPAIRED = ("replication", "preservation")


def raws(n: int) -> list[str]:
    return [f"data18_13TeV:data18_13TeV.0036{i:04d}.physics_Main.daq.RAW" for i in range(n)]


def repairable_findings(catalog: Catalog, rules) -> set[tuple[str, str]]:
    """(rule, DID) of the replication and preservation findings an audit makes now."""
    report = catalog.audit(rules, record=False)
    kinds = {r.name: r.type for r in rules.rules}
    return {
        (row.rule, row.did) for row in report.findings.itertuples() if kinds[row.rule] in REPAIRED
    }


def test_a_run_to_completion_makes_the_copies_available_and_the_audit_clean(catalog, tmp_path):
    dids = raws(4)
    load(
        catalog,
        tmp_path,
        grid([(d, "raw", TB) for d in dids], [(d, "CERN-PROD_DATADISK") for d in dids]),
    )
    rules = policy(tmp_path, TAPE_SITES + PRESERVED)
    assert len(repairable_findings(catalog, rules)) == 4
    plan = catalog.repair(rules, apply=True)
    assert len(plan.transfers) == 8  # two tape copies each
    journaled = len(catalog.journal(limit=None))
    preview = catalog.run_transfers()  # a preview: the same run, rolled back
    assert (preview.done, preview.applied) == (8, False)
    assert set(catalog.transfers()["state"]) == {"queued"}
    assert len(catalog.journal(limit=None)) == journaled
    run = catalog.run_transfers(apply=True)
    assert run.done == 8
    assert run.left == {"queued": 0, "active": 0, "done": 8, "failed": 0}
    assert run.moved_bytes == 8 * TB
    assert repairable_findings(catalog, rules) == set()
    listed = catalog.transfers()
    assert set(listed["state"]) == {"done"}
    entry = catalog.journal(limit=1).iloc[0]
    assert entry["command"] == "transfers run --simulate --apply"
    changes = catalog.journal_changes(int(entry["id"]))
    assert sorted(set(zip(changes["entity"], changes["new_value"], strict=True))) == [
        ("replica", "available"),
        ("transfer", "done"),
    ]


def test_a_run_for_some_hours_leaves_transfers_active_and_the_next_resumes(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", 40 * TB)], [(RAW, "CERN-PROD_DATADISK")]))
    rules = policy(tmp_path, rule("one-tape", 1, "media=tape", "site"))
    catalog.repair(rules, apply=True)
    first = catalog.run_transfers(hours=1, apply=True)
    assert first.left["active"] == 1
    assert 0 < first.moved_bytes < 40 * TB
    assert first.ended - first.started == timedelta(hours=1)
    second = catalog.run_transfers(apply=True)
    assert second.started == first.ended
    assert second.done == 1
    assert first.moved_bytes + second.moved_bytes == pytest.approx(40 * TB, rel=1e-6)


def durations(catalog: Catalog) -> list[float]:
    listed = catalog.transfers()
    return [
        (finished - created).total_seconds()
        for finished, created in zip(listed["finished_at"], listed["created_at"], strict=True)
    ]


def test_tape_sources_stage_first_and_a_site_shares_its_bandwidth(catalog, tmp_path):
    endpoints = [
        endpoint("CERN-PROD", "tape"),
        endpoint("FZK-LCG2", "disk"),
        endpoint("BNL-OSG2", "tape"),
    ]
    datasets = [(RAW, "raw", 10**9)]  # 1 GB: seconds of bandwidth, hours of staging
    load(catalog, tmp_path, grid(datasets, [(RAW, "CERN-PROD_DATATAPE")], endpoints))
    catalog.repair(policy(tmp_path, TAPE_SITES), apply=True)
    catalog.run_transfers(apply=True)
    [staged] = durations(catalog)
    assert 2 * 3600 <= staged <= 2 * 3600 + 120


def test_concurrent_transfers_to_one_site_share_its_bandwidth(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "disk"), endpoint("TRIUMF-LCG2", "tape", capacity=None)]
    one, two = raws(2)
    tables = grid([(one, "raw", 50 * TB), (two, "raw", 50 * TB)],
                  [(one, "CERN-PROD_DATADISK"), (two, "CERN-PROD_DATADISK")], endpoints)  # fmt: skip
    load(catalog, tmp_path, tables)
    catalog.repair(policy(tmp_path, rule("one-tape", 1, "media=tape", "site")), apply=True)
    catalog.run_transfers(apply=True)
    # TRIUMF is tier 1: 40 Gb/s = 5 GB/s shared by two: 100 TB in 20,000 s
    assert durations(catalog) == [pytest.approx(20_000, abs=120)] * 2


def test_a_bandwidth_attribute_overrides_the_tier_default(catalog, tmp_path):
    endpoints = [endpoint("CERN-PROD", "disk"), endpoint("TRIUMF-LCG2", "tape", capacity=None)]
    tables = grid([(RAW, "raw", 50 * TB)], [(RAW, "CERN-PROD_DATADISK")], endpoints)
    tables["endpoints"][1]["bandwidth_gbps"] = "400"
    tables["endpoints"][0]["bandwidth_gbps"] = ""
    load(catalog, tmp_path, tables)
    catalog.repair(policy(tmp_path, rule("one-tape", 1, "media=tape", "site")), apply=True)
    catalog.run_transfers(apply=True)
    assert durations(catalog) == [pytest.approx(50 * TB / (100e9 / 8), abs=120)]  # CERN: 100


def test_a_transfer_failing_every_attempt_fails_and_repair_tries_another_target(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    rules = policy(tmp_path, TAPE_SITES)
    [first] = catalog.repair(rules, apply=True).transfers
    run = catalog.run_transfers(failure_rate=1.0, attempts=2, apply=True)
    assert (run.failed, run.retried, run.done) == (1, 1, 0)
    listed = catalog.transfers()
    assert list(listed["state"]) == ["failed"]
    assert list(listed["attempts"]) == [2]
    replicas = catalog.replicas(RAW)
    assert (
        dict(zip(replicas["endpoint"], replicas["state"], strict=True))[first["target"]]
        == "deleted"
    )
    [again] = catalog.repair(rules).transfers
    assert again["target"] != first["target"]


def test_the_same_seed_gives_the_same_run(tmp_path):
    dids = raws(12)
    outcomes = []
    for name in ("a", "b"):
        path = tmp_path / name
        path.mkdir()
        cat = Catalog(path / "catalog.db")
        load(
            cat,
            path,
            grid([(d, "raw", TB) for d in dids], [(d, "CERN-PROD_DATATAPE") for d in dids]),
        )
        cat.repair(policy(path, TAPE_SITES), apply=True)
        cat.run_transfers(failure_rate=0.4, seed=7, apply=True)
        listed = cat.transfers()  # times from the apply's (real) time on: durations
        shown = listed[["did", "target", "state", "attempts"]].to_json()
        outcomes.append((shown, durations(cat)))
        cat.close()
    assert outcomes[0] == outcomes[1]


def test_repeating_repair_and_run_converges_despite_failures(catalog, tmp_path):
    dids = raws(10)
    load(
        catalog,
        tmp_path,
        grid([(d, "raw", TB) for d in dids], [(d, "CERN-PROD_DATATAPE") for d in dids]),
    )
    rules = policy(tmp_path, TAPE_SITES + PRESERVED)
    for round_ in range(8):
        plan = catalog.repair(rules, apply=True)
        if not plan.transfers and not plan.in_flight:
            break
        catalog.run_transfers(failure_rate=0.5, seed=round_, attempts=2, apply=True)
    assert repairable_findings(catalog, rules) == set()
    assert set(catalog.transfers()["state"]) <= {"done", "failed"}
    assert "failed" in set(catalog.transfers()["state"])  # failures happened, and were repaired


def test_run_options_are_checked(catalog):
    with pytest.raises(UsageError, match="--failure-rate"):
        catalog.run_transfers(failure_rate=1.5, apply=True)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="give one of them"):
        catalog.run_transfers(until=until, hours=1, apply=True)


def test_the_commands_list_and_run(catalog, tmp_path):
    load(catalog, tmp_path, grid([(RAW, "raw", TB)], [(RAW, "CERN-PROD_DATATAPE")]))
    path = tmp_path / "policy-cli" / "rules.toml"
    path.parent.mkdir()
    path.write_text('[policy]\nname = "rules"\n' + TAPE_SITES)
    base = ["--db", catalog.url]
    assert runner.invoke(app, [*base, "repair", "--policy", str(path), "--apply"]).exit_code == 0
    refused = runner.invoke(app, [*base, "transfers", "run"])
    assert refused.exit_code == 2
    assert "--simulate" in refused.output
    listed = json.loads(runner.invoke(app, [*base, "transfers", "list", "-f", "json"]).stdout)
    assert listed["kind"] == "transfers"
    assert listed["summary"]["by_state"]["queued"] == 1
    # a preview by default: what the run would do, nothing recorded
    preview = runner.invoke(app, [*base, "transfers", "run", "--simulate", "--failure-rate", "0"])
    assert preview.exit_code == 0, preview.output
    assert "1 transfer done" in preview.stdout
    assert "dry run: nothing changed" in preview.stdout
    still = json.loads(runner.invoke(app, [*base, "transfers", "list", "-f", "json"]).stdout)
    assert still["summary"]["by_state"]["queued"] == 1
    ran = runner.invoke(
        app, [*base, "transfers", "run", "--simulate", "--failure-rate", "0", "--apply"]
    )
    assert ran.exit_code == 0, ran.output
    assert "1 transfer done" in ran.stdout
    assert "dry run" not in ran.stdout
    done = runner.invoke(app, [*base, "transfers", "list", "--state", "done", "-f", "csv"])
    assert len(done.stdout.splitlines()) == 2


# -- properties over random grids -----------------------------------------------------------------

ENDPOINT_CHOICES = [
    endpoint(s[0], m, cap) for s in SITES for m, cap in (("tape", 6 * TB), ("disk", None))
]
RULES = [
    rule("tape-sites", 2, "media=tape", "site"),
    rule("countries", 2, "*", "country"),
    rule("clouds", 2, "media=tape", "cloud"),
    rule("three-endpoints", 3, "*", "endpoint"),
]


@st.composite
def grids(draw):
    n = draw(st.integers(1, 6))
    dids = raws(n)
    sizes = [draw(st.integers(1, 3)) * TB for _ in dids]
    names = [e[0] for e in ENDPOINT_CHOICES]
    replicas = []
    for did in dids:
        held = draw(st.lists(st.sampled_from(names), min_size=0, max_size=3, unique=True))
        for name in held:
            replicas.append((did, name, draw(st.sampled_from(["available", "available", "lost"]))))
    chosen = draw(st.lists(st.sampled_from(range(len(RULES))), min_size=1, max_size=3, unique=True))
    down = draw(st.sets(st.sampled_from([s[0] for s in SITES]), max_size=2))
    sites = [(*s[:4], "down" if s[0] in down else "active") for s in SITES]
    return grid(
        list(zip(dids, ["raw"] * n, sizes, strict=True)), replicas, ENDPOINT_CHOICES, sites
    ), chosen


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=grids())
def test_plans_never_overfill_never_recount_and_leave_nothing_repairable(
    catalog_url, tmp_path_factory, case
):
    tables, chosen = case
    directory = tmp_path_factory.mktemp("grid")
    url = catalog_url if catalog_url.startswith("postgresql") else str(directory / "catalog.db")
    if url.startswith("postgresql"):
        pytest.skip("one database per example: SQLite (the PostgreSQL runs use the fixed grids)")
    cat = Catalog(url)
    try:
        load(cat, directory, tables)
        rules = policy(directory, "".join(RULES[i] for i in chosen) + PRESERVED)
        plan = cat.repair(rules)
        capacity = {e[0]: e[3] for e in ENDPOINT_CHOICES}
        used: dict[str, int] = {}
        sizes = {d["did"]: int(d["bytes"]) for d in tables["datasets"]}
        for r in tables["replicas"]:
            if r["state"] in ("available", "copying"):
                used[r["endpoint"]] = used.get(r["endpoint"], 0) + sizes[r["did"]]
        held = {(r["did"], r["endpoint"]) for r in tables["replicas"] if r["state"] == "available"}
        for t in plan.transfers:
            used[t["target"]] = used.get(t["target"], 0) + t["bytes"]
            assert (t["did"], t["target"]) not in held  # never a copy already there
            assert (t["did"], t["source"]) in held  # always from an available copy
        for name, total in used.items():
            assert (
                capacity[name] is None
                or total <= capacity[name]
                or not any(t["target"] == name for t in plan.transfers)
            )
        site_of = {e[0]: e[1] for e in ENDPOINT_CHOICES}
        for t in plan.transfers:  # never at a site the tape-sites rule already counts
            if "tape-sites" in t["rules"].split(","):
                counted = {site_of[e] for d, e in held if d == t["did"] and e.endswith("TAPE")}
                assert t["target_site"] not in counted
        down = {s["name"] for s in tables["sites"] if s["status"] != "active"}
        assert not any(t["target_site"] in down for t in plan.transfers)
        if plan.transfers or plan.unrepaired:
            cat.repair(rules, apply=True)
            cat.run_transfers(apply=True)
        left = repairable_findings(cat, rules)
        impossible = {(u["rule"], u["did"]) for u in plan.unrepaired}
        assert left <= impossible
    finally:
        cat.close()
