"""``lifecycle audit`` for cron (--quiet, --summary, --fail-on new), ``audit diff`` bounded for
people and complete in csv/json, and ``audit --group-by``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from catalogs import RAW, write_catalog
from test_audit import audit_catalog, audit_cli, runner

from lifecycle.cli.app import app

NEW_RAW = "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW"
# resolves the RAW finding (a tape copy at another site) and adds one (a RAW with one copy)
MORE = {
    "sites": [{"name": "FZK-LCG2", "tier": "1", "country": "de", "cloud": "DE"}],
    "endpoints": [{"name": "FZK-LCG2_DATATAPE", "site": "FZK-LCG2", "media": "tape"}],
    "datasets": [
        {"did": NEW_RAW, "kind": "raw", "bytes": "1", "files": "1",
         "created_at": "2018-08-02T00:00:00Z"}
    ],
    "replicas": [
        {"did": RAW, "endpoint": "FZK-LCG2_DATATAPE", "created_at": "2019-01-01T00:00:00Z"},
        {"did": NEW_RAW, "endpoint": "FZK-LCG2_DATATAPE", "created_at": "2019-01-01T00:00:00Z"},
    ],
}  # fmt: skip


@pytest.fixture
def cli_catalog(catalog, tmp_path, monkeypatch):
    """As tests/test_audit.py's: the present frozen at ``NOW``, RAW's tape copy at BNL lost,
    policies/p.toml with a replication and a lifetime rule."""
    return audit_catalog(catalog, tmp_path, monkeypatch)


def change_catalog(url: str, tmp_path) -> None:
    result = runner.invoke(app, ["--db", url, "import", str(write_catalog(tmp_path / "m", MORE))])
    assert result.exit_code == 0, result.output


def test_quiet_prints_only_when_the_findings_changed(cli_catalog, tmp_path):
    first = audit_cli(cli_catalog, "--quiet")
    assert first.exit_code == 1  # --fail-on error still applies
    assert first.stdout.count("\n") == 1, first.stdout  # the first run: all is new
    assert first.stdout.startswith("audit run 1: 2 findings (1 error, 0 warnings, 1 info)")
    same = audit_cli(cli_catalog, "--quiet", "--fail-on", "never")
    assert same.exit_code == 0
    assert same.stdout == ""
    change_catalog(cli_catalog, tmp_path)
    changed = audit_cli(cli_catalog, "--quiet", "--fail-on", "never")
    lines = changed.stdout.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("audit run 3: 2 findings")
    assert lines[1] == "since run 2: 1 finding appeared, 1 resolved (lifecycle audit diff)"
    assert audit_cli(cli_catalog, "--quiet", "--fail-on", "never").stdout == ""


def test_quiet_reports_a_finding_whose_message_changed(cli_catalog, tmp_path):
    assert audit_cli(cli_catalog, "--summary").exit_code == 1
    # RAW still fails raw-tape, now with a copy being made at FZK: same finding, new message
    copying = {
        "sites": MORE["sites"],
        "endpoints": MORE["endpoints"],
        "replicas": [{**MORE["replicas"][0], "state": "copying"}],
    }
    result = runner.invoke(
        app, ["--db", cli_catalog, "import", str(write_catalog(tmp_path / "c", copying))]
    )
    assert result.exit_code == 0, result.output
    quiet = audit_cli(cli_catalog, "--quiet", "--fail-on", "new")
    assert quiet.exit_code == 0  # nothing appeared
    assert quiet.stdout.splitlines()[1] == (
        "since run 1: 0 findings appeared, 0 resolved, 1 changed (lifecycle audit diff)"
    )
    assert audit_cli(cli_catalog, "--quiet").stdout == ""


def test_summary_prints_the_line_always(cli_catalog):
    for run in (1, 2):
        result = audit_cli(cli_catalog, "--summary", "--fail-on", "never")
        assert result.exit_code == 0
        assert result.stdout.splitlines() == [result.stdout.strip()]
        assert result.stdout.startswith(f"audit run {run}: 2 findings (1 error")


def test_fail_on_new(cli_catalog, tmp_path):
    assert audit_cli(cli_catalog, "--summary", "--fail-on", "new").exit_code == 1  # all new
    assert audit_cli(cli_catalog, "--summary", "--fail-on", "new").exit_code == 0  # unchanged
    change_catalog(cli_catalog, tmp_path)
    assert audit_cli(cli_catalog, "--summary", "--fail-on", "new").exit_code == 1  # one appeared
    assert audit_cli(cli_catalog, "--summary", "--fail-on", "new").exit_code == 0
    refused = audit_cli(cli_catalog, "--fail-on", "new", "--no-record")
    assert refused.exit_code == 2
    assert "--fail-on new" in refused.output


def test_fail_on_new_ignores_resolved_findings(cli_catalog, tmp_path):
    assert audit_cli(cli_catalog, "--summary").exit_code == 1
    # only resolves: a second tape copy of RAW at another site
    only_fix = {k: v[:1] for k, v in MORE.items() if k != "datasets"}
    result = runner.invoke(
        app, ["--db", cli_catalog, "import", str(write_catalog(tmp_path / "f", only_fix))]
    )
    assert result.exit_code == 0, result.output
    quiet = audit_cli(cli_catalog, "--quiet", "--fail-on", "new")
    assert quiet.exit_code == 0
    assert "since run 1: 0 findings appeared, 1 resolved" in quiet.stdout


def test_quiet_writes_the_report_to_output(cli_catalog, tmp_path):
    out = tmp_path / "findings.json"
    args = ["--quiet", "--fail-on", "new", "--format", "json", "-o", str(out)]
    assert audit_cli(cli_catalog, *args).exit_code == 1
    assert len(json.loads(out.read_text())["findings"]) == 2
    out.unlink()
    again = audit_cli(cli_catalog, *args)
    assert again.exit_code == 0
    assert again.stdout == ""
    assert len(json.loads(out.read_text())["findings"]) == 2


def test_recorded_quiet_audit_does_not_load_pandas(cli_catalog, tmp_path):
    """cron's nightly ``audit --quiet --fail-on new`` compares with the previous run without
    pandas, pyarrow or numpy."""
    assert audit_cli(cli_catalog, "--summary").exit_code == 1
    code = (
        "import sys\n"
        "from lifecycle.cli.app import main\n"
        f"sys.argv = ['lifecycle', '--db', {cli_catalog!r}, 'audit', '--policy', "
        f"{str(tmp_path / 'policies')!r}, '--quiet', '--fail-on', 'new']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print(exit.code)\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["0", "[]"], out.stdout + out.stderr


# -- audit diff ------------------------------------------------------------------------------------


def two_runs(url: str, tmp_path) -> None:
    assert audit_cli(url).exit_code == 1
    change_catalog(url, tmp_path)
    assert audit_cli(url).exit_code == 1


def test_diff_table_is_summary_first_and_bounded(cli_catalog, tmp_path, monkeypatch):
    two_runs(cli_catalog, tmp_path)
    table = runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "--wide"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0] == "audit runs 1 -> 2: 1 finding appeared, 1 resolved"
    assert lines[1] == "  raw-tape: 1 appeared, 1 resolved"
    assert NEW_RAW in table.stdout
    assert "resolved since run 1: raw-tape" in table.stdout
    monkeypatch.setattr("lifecycle.cli.audit.PER_RULE_ON_SCREEN", 0)
    bounded = runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "--wide"]).stdout
    assert NEW_RAW not in bounded
    assert bounded.count("… and 1 more (--format json lists all)") == 2


def test_diff_csv_and_json_list_every_change(cli_catalog, tmp_path, monkeypatch):
    two_runs(cli_catalog, tmp_path)
    monkeypatch.setattr("lifecycle.cli.audit.PER_RULE_ON_SCREEN", 0)
    result = runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["change"], r["rule"], r["did"]) for r in rows] == [
        ("appeared", "raw-tape", NEW_RAW),
        ("resolved", "raw-tape", RAW),
    ]
    doc = json.loads(
        runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "--format", "json"]).stdout
    )
    assert doc["summary"] == {"from": 1, "to": 2, "appeared": 1, "resolved": 1}
    assert [f["did"] for f in doc["appeared"]] == [NEW_RAW]


# -- audit --group-by ------------------------------------------------------------------------------


def test_cause_of_drops_the_dates_of_lifetime_findings():
    from lifecycle.audit.grouping import cause_of

    message = "past its 5y lifetime since 2021-03-04 (created 2016-03-05)"
    assert cause_of("lifetime", message) == "past its 5y lifetime"
    assert cause_of("lifetime", "expired on 2020-01-01 (its expires_at)") == (
        "expired (its expires_at)"
    )
    reason = "transformation p3714 records no image digest"
    assert cause_of("reproducibility", reason) == reason
    assert cause_of("reproducibility", "production task-1 is running") == "production is running"
    assert cause_of("reproducibility", "production task-2 failed") == "production failed"
    calib = "calibration c:C.c1 used by task-7 has no available replica"
    assert cause_of("reprocessability", calib) == "calibration c:C.c1 has no available replica"


def test_group_by_cause_counts_datasets_per_cause(cli_catalog, tmp_path):
    # a second RAW dataset fails raw-tape for another cause (its one copy is at FZK)
    more = {**MORE, "replicas": MORE["replicas"][1:]}
    result = runner.invoke(
        app, ["--db", cli_catalog, "import", str(write_catalog(tmp_path / "n", more))]
    )
    assert result.exit_code == 0, result.output
    table = audit_cli(cli_catalog, "--group-by", "cause", "--fail-on", "never")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].startswith("audit run 1: 3 findings")  # summary first
    assert lines[1:4] == [
        "3 findings from 3 causes",
        "  raw-tape: 2 findings, 2 causes",
        "  short-lived: 1 finding, 1 cause",
    ]
    result = audit_cli(cli_catalog, "--group-by", "cause", "-f", "json", "--fail-on", "never")
    doc = json.loads(result.stdout)
    assert doc["kind"] == "audit-causes"
    assert doc["summary"]["causes"] == 3
    assert sum(c["datasets"] for c in doc["causes"]) == doc["summary"]["findings"] == 3
    assert [c["rule"] for c in doc["causes"]][:2] == ["raw-tape", "raw-tape"]
    lifetime = [c for c in doc["causes"] if c["type"] == "lifetime"]
    assert len(lifetime) == 1
    assert " since " not in lifetime[0]["cause"]
    rows = list(
        csv.DictReader(
            io.StringIO(audit_cli(cli_catalog, "--group-by", "rule", "-f", "csv").stdout)
        )
    )
    assert {r["rule"]: int(r["datasets"]) for r in rows} == {"raw-tape": 2, "short-lived": 1}


def test_group_by_tables_are_bounded(cli_catalog, tmp_path, monkeypatch):
    monkeypatch.setattr("lifecycle.cli.audit.CAUSES_ON_SCREEN", 1)
    table = audit_cli(cli_catalog, "--group-by", "cause", "--fail-on", "never").stdout
    assert "… and 1 more (--format json lists all)" in table


def _finding_sites(url: str, findings: list[dict]) -> dict[tuple[str, str | None], set[str]]:
    """(rule, site) -> the DIDs of findings whose dataset has a replica (not deleted) there,
    worked out from `replicas list` rather than from the grouping's SQL."""
    out: dict[tuple[str, str | None], set[str]] = {}
    for finding in findings:
        listed = runner.invoke(app, ["--db", url, "replicas", "list", finding["did"], "-f", "csv"])
        sites = {r["site"] for r in csv.DictReader(io.StringIO(listed.stdout))
                 if r["state"] != "deleted"} or {None}  # fmt: skip
        for site in sites:
            out.setdefault((finding["rule"], site), set()).add(finding["did"])
    return out


def test_group_by_site_counts_the_findings_of_each_rule_at_each_site(cli_catalog, tmp_path):
    more = {**MORE, "replicas": MORE["replicas"][1:]}  # NEW_RAW: one tape copy, at FZK
    result = runner.invoke(
        app, ["--db", cli_catalog, "import", str(write_catalog(tmp_path / "n", more))]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(audit_cli(cli_catalog, "-f", "json", "--fail-on", "never").stdout)
    findings = doc["findings"]
    expected = _finding_sites(cli_catalog, findings)
    assert ("raw-tape", "BNL-OSG2") in expected  # RAW's lost copy is where data went missing
    for keys in ("rule,site", "site", "site,rule"):
        result = audit_cli(cli_catalog, "--group-by", keys, "-f", "csv", "--fail-on", "never")
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(rows[0])[:2] == (["site", "rule"] if keys[0] == "s" else ["rule", "type"])
        counted = {(r["rule"], r["site"] or None): int(r["datasets"]) for r in rows}
        assert counted == {key: len(dids) for key, dids in expected.items()}
        assert all(r["example"] == min(expected[(r["rule"], r["site"] or None)]) for r in rows)
    by_rule = list(csv.DictReader(io.StringIO(
        audit_cli(cli_catalog, "--group-by", "rule,site", "-f", "csv").stdout)))  # fmt: skip
    order = [r["rule"] for r in by_rule]
    assert order == sorted(order, key=order.index)  # each rule's sites together
    by_site = list(csv.DictReader(io.StringIO(
        audit_cli(cli_catalog, "--group-by", "site", "-f", "csv").stdout)))  # fmt: skip
    sites = [r["site"] for r in by_site]
    assert sites == sorted(sites, key=sites.index)  # each site's rules together


def test_group_by_cause_and_site_splits_each_cause_by_site(cli_catalog, tmp_path):
    change_catalog(cli_catalog, tmp_path)  # RAW copied to FZK: resolved; NEW_RAW one copy
    result = audit_cli(cli_catalog, "--group-by", "cause,site", "-f", "json", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "audit-groups"
    groups = doc["groups"]
    assert {(g["rule"], g["site"]) for g in groups if g["rule"] == "raw-tape"} == {
        ("raw-tape", "FZK-LCG2")
    }
    (raw,) = [g for g in groups if g["rule"] == "raw-tape"]
    assert raw["cause"].startswith("1 available tape copy")
    assert raw["datasets"] == 1
    table = audit_cli(cli_catalog, "--group-by", "cause,site", "--fail-on", "never")
    lines = table.stdout.splitlines()
    assert lines[1].startswith("2 findings from ")  # summary first
    assert "(a dataset counts at each site holding a copy)" in lines[1]
    assert any("FZK-LCG2" in line for line in lines[3:])


@pytest.mark.parametrize("given", ["nope", "rule,cause", "site,site", "rule,"])
def test_group_by_refuses_unknown_or_repeated_keys(cli_catalog, given):
    result = audit_cli(cli_catalog, "--group-by", given)
    assert result.exit_code == 2
    assert result.stderr.startswith("lifecycle: error: --group-by: ")
    assert result.stderr.count("\n") == 1
