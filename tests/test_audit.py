"""The audit: every rule type on hand-built catalogs with their edge cases; exit codes; history."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, RAW, mini, write_catalog
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.errors import InvalidPolicy, UnknownAuditRun, UsageError
from lifecycle.policy import load_policies

runner = CliRunner()
NOW = datetime(2026, 11, 25, tzinfo=UTC)
DIGEST = "sha256:" + "d" * 64

TAPE_RULE = """
[[rule]]
name = "raw-tape"
type = "replication"
select = {{ kind = ["raw"] }}
copies = 2
endpoints = "media=tape"
distinct = "{distinct}"
{extra}
"""


def policy(tmp_path: Path, rules: str, name: str = "test") -> object:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[policy]\nname = "{name}"\n{rules}')
    return load_policies([path])


def loaded(catalog: Catalog, tmp_path: Path, tables) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "cat", tables))
    return catalog


def findings(report) -> dict[str, str]:
    return dict(zip(report.findings["did"], report.findings["message"], strict=True))


def replica(tables, did: str, endpoint: str):
    return next(r for r in tables["replicas"] if r["did"] == did and r["endpoint"] == endpoint)


# -- replication --------------------------------------------------------------------------------


def test_two_tape_copies_at_two_sites_pass(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, mini())
    report = cat.audit(policy(tmp_path, TAPE_RULE.format(distinct="site", extra="")), NOW)
    assert report.findings.empty
    assert not report.fails()


@pytest.mark.parametrize("state", ["lost", "copying", "unavailable", "deleted"])
def test_only_available_replicas_count(catalog, tmp_path, state):
    tables = mini()
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = state
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, TAPE_RULE.format(distinct="site", extra="")), NOW)
    assert findings(report) == {
        RAW: f"1 available tape copy (at CERN-PROD_DATATAPE); the one at BNL-OSG2_DATATAPE is "
        f"{state}; needs 2 at distinct sites matching 'media=tape'"
    }
    assert report.fails()


def _same_site_tables():
    tables = mini()
    tables["endpoints"].append(
        {"name": "CERN-PROD_MCTAPE", "site": "CERN-PROD", "media": "tape", "type": "MCTAPE"}
    )
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["endpoint"] = "CERN-PROD_MCTAPE"
    return tables


def test_two_endpoints_at_one_site_count_once(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, _same_site_tables())
    by_site = cat.audit(policy(tmp_path, TAPE_RULE.format(distinct="site", extra="")), NOW)
    assert findings(by_site) == {
        RAW: "2 tape copies, both at CERN-PROD; needs 2 at distinct sites matching 'media=tape'"
    }
    assert json.loads(by_site.findings["details"][0])["units"] == 1
    by_endpoint = cat.audit(policy(tmp_path, TAPE_RULE.format(distinct="endpoint", extra="")), NOW)
    assert by_endpoint.findings.empty


def test_distinct_country_and_cloud(catalog, tmp_path):
    tables = mini()
    tables["sites"].append({"name": "GENEVA-2", "tier": "2", "country": "ch", "cloud": "CERN"})
    tables["endpoints"].append({"name": "GENEVA-2_TAPE", "site": "GENEVA-2", "media": "tape"})
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["endpoint"] = "GENEVA-2_TAPE"
    cat = loaded(catalog, tmp_path, tables)
    assert cat.audit(
        policy(tmp_path, TAPE_RULE.format(distinct="site", extra="")), NOW
    ).findings.empty
    for unit in ("country", "cloud"):
        report = cat.audit(policy(tmp_path, TAPE_RULE.format(distinct=unit, extra="")), NOW)
        assert list(report.findings["did"]) == [RAW], unit


def test_endpoint_expression_limits_what_counts(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, mini())
    rule = TAPE_RULE.format(distinct="site", extra="").replace(
        'endpoints = "media=tape"', 'endpoints = "media=tape&tier<1"'
    )
    report = cat.audit(policy(tmp_path, rule), NOW)
    assert list(report.findings["did"]) == [RAW]


def test_expression_matching_nothing_is_a_policy_error(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, mini())
    rule = TAPE_RULE.format(distinct="site", extra="").replace("media=tape", "CERN-PROD_DATATAP")
    with pytest.raises(InvalidPolicy, match=r"rule 'raw-tape': endpoints: .*matches no endpoint"):
        cat.audit(policy(tmp_path, rule), NOW)
    assert cat.audit_history().empty  # nothing recorded


def test_grace_spares_young_datasets(catalog, tmp_path):
    tables = mini()
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = "copying"
    cat = loaded(catalog, tmp_path, tables)  # RAW created 2018-08-01T10:00Z
    rules = policy(tmp_path, TAPE_RULE.format(distinct="site", extra='grace = "7d"'))
    assert cat.audit(rules, datetime(2018, 8, 5, tzinfo=UTC)).findings.empty
    assert list(cat.audit(rules, datetime(2018, 8, 9, tzinfo=UTC)).findings["did"]) == [RAW]


def test_deleted_datasets_are_not_judged_for_copies(catalog, tmp_path):
    tables = mini()
    tables["datasets"][0]["state"] = "deleted"
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = "deleted"
    cat = loaded(catalog, tmp_path, tables)
    rules = policy(tmp_path, TAPE_RULE.format(distinct="site", extra=""))
    assert cat.audit(rules, NOW).findings.empty


# -- lifetime ------------------------------------------------------------------------------------

LIFETIME = """
[[rule]]
name = "short-lived"
type = "lifetime"
select = { kind = ["derived"] }
lifetime = "180d"
"""


def test_lifetime_and_explicit_expiry(catalog, tmp_path):
    tables = mini()
    datasets = {d["did"]: d for d in tables["datasets"]}
    datasets[AOD]["expires_at"] = ""  # created 2018: past 180 days
    datasets[PHYS]["expires_at"] = "2030-01-01T00:00:00Z"  # old, but an explicit date wins
    tables["pins"] = []
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, LIFETIME), NOW)
    assert findings(report) == {AOD: "past its 180d lifetime since 2019-01-30 (created 2018-08-03)"}
    assert report.findings["severity"].tolist() == ["info"]
    assert not report.fails("error")
    assert report.fails("warning") is False
    later = cat.audit(policy(tmp_path, LIFETIME), datetime(2030, 6, 1, tzinfo=UTC))
    assert findings(later)[PHYS] == "expired on 2030-01-01 (its expires_at)"


def test_explicit_expiry_before_the_lifetime_ends(catalog, tmp_path):
    tables = mini()
    datasets = {d["did"]: d for d in tables["datasets"]}
    datasets[AOD]["expires_at"] = "2018-09-01T00:00:00Z"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, LIFETIME), datetime(2018, 10, 1, tzinfo=UTC))
    assert list(report.findings["did"]) == [AOD]  # 180 days have not passed; expires_at has


def test_pins_in_force_exempt_from_expiry(catalog, tmp_path):
    tables = mini()  # PHYS is pinned until 2027-01-01
    {d["did"]: d for d in tables["datasets"]}[PHYS]["expires_at"] = "2020-01-01T00:00:00Z"
    cat = loaded(catalog, tmp_path, tables)
    rules = policy(tmp_path, LIFETIME)
    assert PHYS not in findings(cat.audit(rules, NOW))
    assert PHYS in findings(cat.audit(rules, datetime(2027, 6, 1, tzinfo=UTC)))


# -- reproducibility ---------------------------------------------------------------------------

REPRODUCIBLE = """
[[rule]]
name = "reproducible"
type = "reproducibility"
select = { kind = ["derived"] }
"""


def _digest_everywhere(tables):
    for t in tables["transformations"]:
        t["image_digest"] = DIGEST
    return tables


def test_transformation_without_digest(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, mini())  # p4910 has no digest
    report = cat.audit(policy(tmp_path, REPRODUCIBLE), NOW)
    assert findings(report) == {PHYS: "transformation p4910 records no image digest"}
    assert json.loads(report.findings["details"][0])["production"] == "task-00000002"


def test_reproducible_through_a_deleted_but_reproducible_intermediate(catalog, tmp_path):
    tables = _digest_everywhere(mini())
    {d["did"]: d for d in tables["datasets"]}[AOD]["state"] = "deleted"
    replica(tables, AOD, "CERN-PROD_DATADISK")["state"] = "deleted"
    cat = loaded(catalog, tmp_path, tables)
    assert cat.audit(policy(tmp_path, REPRODUCIBLE), NOW).findings.empty
    repro = cat.reproducibility().set_index("did")
    assert repro.loc[AOD, "reproducible"]
    assert repro.loc[PHYS, "reproducible"]
    assert not repro.loc[RAW, "reproducible"]  # raw data is not reproducible by nature


def test_calibration_input_without_available_replica(catalog, tmp_path):
    tables = _digest_everywhere(mini())
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"
    replica(tables, AOD, "CERN-PROD_DATADISK")["state"] = "deleted"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, REPRODUCIBLE), NOW)
    assert findings(report) == {
        AOD: f"input {CALIB} has no available replica and is not reproducible",
        PHYS: f"input {AOD} has no available replica and is not reproducible",
    }


def test_no_producer_recorded(catalog, tmp_path):
    tables = _digest_everywhere(mini())
    tables["production_io"] = [r for r in tables["production_io"] if r["did"] != PHYS]
    cat = loaded(catalog, tmp_path, tables)
    assert findings(cat.audit(policy(tmp_path, REPRODUCIBLE), NOW)) == {
        PHYS: "no producing production recorded"
    }


ODD = '-\u00fcn\u00ef\x7f\u20ac\U0001d11e"\\\n'  # non-ASCII, DEL, astral, quote, backslash, newline


def _odd_names(tables, odd: str = ODD):
    """``mini()`` with every transformation tag and production name ending in ``odd``."""
    for t in tables["transformations"]:
        t["tag"] += odd
    for p in tables["productions"]:
        p["transformation"] += odd
        p["id"] += odd
    for r in tables["production_io"]:
        r["production"] += odd
    return tables


def test_reproducibility_details_are_the_text_json_dumps_writes(catalog, tmp_path):
    """The database composes these details: with quotes, control characters and characters
    from U+007F on in the names, they are still exactly ``json.dumps(..., sort_keys=True)``
    (the history compares them as text, the JSON output splices them in), on both engines."""
    cat = loaded(catalog, tmp_path, _odd_names(mini()))  # p4910 has no digest
    report = cat.audit(policy(tmp_path, REPRODUCIBLE), NOW)
    assert findings(report) == {PHYS: f"transformation p4910{ODD} records no image digest"}
    expected = {
        "blocking_input": None,
        "production": f"task-00000002{ODD}",
        "transformation": f"p4910{ODD}",
    }
    assert list(report.findings["details"]) == [json.dumps(expected, sort_keys=True)]


def test_reproducibility_findings_say_what_the_reproducibility_service_says(catalog, tmp_path):
    """The audit composes its reasons in SQL, the service in Python: the same words for every
    irreproducible dataset of a generated catalog (failed and running productions, missing
    releases and digests, blocked inputs, no producer)."""
    import sqlalchemy as sa

    from lifecycle.generate import generate

    generate(tmp_path / "grid", datasets=3_000, seed=5)
    catalog.import_directory(tmp_path / "grid")
    with catalog.atomic("test") as (conn, _):
        for sql in (
            "UPDATE production SET status = 'failed' WHERE id % 13 = 1",
            "UPDATE production SET status = 'running' WHERE id % 13 = 2",
            "UPDATE production SET status = '' WHERE id % 13 = 3",
            "UPDATE transformation SET release = ' \t' WHERE id % 5 = 1",
            "UPDATE transformation SET image_digest = NULL WHERE id % 5 = 2",
            "UPDATE replica SET state = 'lost' WHERE id % 3 = 0",
            "DELETE FROM production_output WHERE dataset_id % 17 = 4",
        ):
            conn.execute(sa.text(sql))
    rules = policy(tmp_path, REPRODUCIBLE.replace('["derived"]', '["derived", "simulated"]'))
    ours = findings(catalog.audit(rules, NOW))
    service = catalog.reproducibility(irreproducible_only=True)
    theirs = {
        did: reason
        for did, reason in zip(service["did"], service["reason"], strict=True)
        if did in ours
    }
    assert ours == theirs
    words = " ".join(ours.values())
    for reason in (
        "has no available replica and is not reproducible",
        "records no software release",
        "records no image digest",
        " failed",
        " is running",
        " is not done",
        "no producing production recorded",
    ):
        assert reason in words


# -- preservation ------------------------------------------------------------------------------

PRESERVED = """
[[rule]]
name = "calibration-kept"
type = "preservation"
select = { kind = ["calibration", "raw"] }
severity = "warning"
"""


def test_preservation(catalog, tmp_path):
    tables = mini()
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, PRESERVED), NOW)
    assert findings(report) == {CALIB: "no available replica (1 recorded, 1 lost)"}
    assert report.fails("warning")
    assert not report.fails("error")


def test_preservation_flags_deleted_state(catalog, tmp_path):
    tables = mini()
    tables["datasets"][0]["state"] = "lost"
    cat = loaded(catalog, tmp_path, tables)
    assert findings(cat.audit(policy(tmp_path, PRESERVED), NOW)) == {RAW: "dataset is lost"}


# -- the sample catalog and the ATLAS policy ----------------------------------------------------


def test_atlas_policy_on_the_sample_catalog(catalog):
    from conftest import ROOT, SAMPLE_CATALOG

    catalog.import_directory(SAMPLE_CATALOG)
    report = catalog.audit(load_policies([ROOT / "policies"]), NOW)
    by_rule = report.summary["by_rule"]
    assert by_rule["raw-archival-copies"] == 3
    assert by_rule["derived-reproducible"] == 1
    assert by_rule["analysis-formats-lifetime"] == 1
    assert by_rule["raw-reprocessable"] == 0  # every run's latest calibration is available
    assert report.summary["rules"] == 8
    assert report.summary["by_severity"] == {"error": 4, "warning": 0, "info": 1}


# -- CLI, exit codes, history --------------------------------------------------------------------


@pytest.fixture
def cli_catalog(catalog, tmp_path, monkeypatch):
    """The catalog for the CLI tests, with the present frozen at ``NOW``: only audits as of the
    present are recorded in the history (an explicit --now is a preview)."""
    return audit_catalog(catalog, tmp_path, monkeypatch)


def audit_catalog(catalog, tmp_path, monkeypatch) -> str:
    """The URL of ``catalog`` loaded with the mini catalog, RAW's tape copy at BNL lost, the
    present frozen at ``NOW``, and policies/p.toml holding a replication and a lifetime rule."""
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: NOW)
    tables = mini()
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = "lost"
    loaded(catalog, tmp_path, tables)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.toml").write_text(
        '[policy]\nname = "p"\n' + TAPE_RULE.format(distinct="site", extra="") + LIFETIME
    )
    return catalog.url


def audit_cli(url: str, *args: str):
    return runner.invoke(app, ["--db", url, "audit", *args])


def test_audit_exit_codes(cli_catalog, tmp_path):
    assert audit_cli(cli_catalog).exit_code == 1
    assert audit_cli(cli_catalog, "--fail-on", "never").exit_code == 0
    assert audit_cli(cli_catalog, "--fail-on", "warning").exit_code == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nname = "b"\n[[rule]]\nname = "x"\ntype = "replication"\n')
    broken = audit_cli(cli_catalog, "--policy", str(bad))
    assert broken.exit_code == 2
    assert (
        broken.stderr
        == f"lifecycle: error: {bad}: rule 'x': copies: required for a replication rule\n"
    )
    assert audit_cli(cli_catalog, "--now", "yesterday-ish").exit_code == 2


def test_audit_exit_0_when_only_info(catalog, tmp_path):
    loaded(catalog, tmp_path, mini())
    path = tmp_path / "l.toml"
    path.write_text('[policy]\nname = "l"\n' + LIFETIME)
    result = runner.invoke(app, ["--db", catalog.url, "audit", "--policy", str(path)])
    assert result.exit_code == 0, result.output
    assert "short-lived" in result.stdout


def test_audit_json_document(cli_catalog):
    result = audit_cli(cli_catalog, "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["kind", "summary", "run", "findings"]
    assert doc["kind"] == "audit"
    assert doc["summary"]["findings"] == len(doc["findings"])
    assert doc["run"]["as_of"] == "2026-11-25T00:00:00Z"
    assert doc["run"]["actor"] == "tester"
    assert doc["summary"]["by_severity"] == {"error": 1, "warning": 0, "info": 1}
    raw = next(f for f in doc["findings"] if f["rule"] == "raw-tape")
    assert set(raw) == {"rule", "policy", "did", "severity", "message", "details"}
    assert raw["did"] == RAW
    assert raw["details"]["not_available"] == {"BNL-OSG2_DATATAPE": "lost"}


@pytest.mark.parametrize("odd", [ODD, '-"\\\n\t\x01/'], ids=["non-ascii", "ascii"])
def test_audit_json_findings_are_what_the_encoder_writes(catalog, tmp_path, odd):
    """The JSON output writes each finding as one line the database composes (details spliced
    in as stored): the line ``json.dumps`` writes for the finding, odd names included (ASCII
    ones quoted by the database, others encoded again in Python)."""
    tables = _odd_names(mini(), odd)
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = "lost"  # details with nested values
    loaded(catalog, tmp_path, tables)
    rules = Path(__file__).resolve().parent.parent / "policies"
    result = runner.invoke(
        app, ["--db", catalog.url, "audit", "--policy", str(rules), "-f", "json", "--no-record"]
    )
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)["findings"]
    assert {f["rule"] for f in found} >= {"derived-reproducible", "raw-archival-copies"}
    lines = [line.strip().rstrip(",") for line in result.stdout.splitlines()]
    for finding in found:
        assert json.dumps(finding) in lines


def test_audit_table_csv_parquet_and_quiet(cli_catalog, tmp_path):
    table = audit_cli(cli_catalog)
    assert "raw-tape" in table.stdout
    assert "the one at BNL-OSG2_DATATAPE is lost" in table.stdout
    quiet = audit_cli(cli_catalog, "--summary")
    assert quiet.stdout.count("\n") == 1
    assert "2 findings (1 error, 0 warnings, 1 info)" in quiet.stdout
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(audit_cli(cli_catalog, "-f", "csv").stdout)))
    assert len(rows) == 2
    assert json.loads(rows[0]["details"])
    parquet = runner.invoke(
        app, ["--db", cli_catalog, "audit", "-f", "parquet", "--fail-on", "never"]
    )
    (tmp_path / "f.parquet").write_bytes(parquet.stdout_bytes)
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "f.parquet")) == 2


def test_history_and_diff(cli_catalog, tmp_path):
    assert audit_cli(cli_catalog).exit_code == 1
    # resolve the RAW finding: a new tape copy at another site; add a new problem: a RAW with one copy
    more = {
        "sites": [{"name": "FZK-LCG2", "tier": "1", "country": "de", "cloud": "DE"}],
        "endpoints": [{"name": "FZK-LCG2_DATATAPE", "site": "FZK-LCG2", "media": "tape"}],
        "datasets": [
            {"did": "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW", "kind": "raw",
             "bytes": "1", "files": "1", "created_at": "2018-08-02T00:00:00Z"}
        ],
        "replicas": [
            {"did": RAW, "endpoint": "FZK-LCG2_DATATAPE", "created_at": "2019-01-01T00:00:00Z"},
            {"did": "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW",
             "endpoint": "FZK-LCG2_DATATAPE", "created_at": "2019-01-01T00:00:00Z"},
        ],
    }  # fmt: skip
    assert (
        runner.invoke(
            app, ["--db", cli_catalog, "import", str(write_catalog(tmp_path / "m", more))]
        ).exit_code
        == 0
    )
    assert audit_cli(cli_catalog).exit_code == 1
    history = json.loads(
        runner.invoke(app, ["--db", cli_catalog, "audit", "history", "-f", "json"]).stdout
    )
    assert (history["kind"], history["summary"]) == ("audit-history", {"runs": 2})
    history = history["runs"]
    assert [h["id"] for h in history] == [2, 1]
    assert history[0]["errors"] == 1
    assert len(history[0]["policy_hash"]) == 64
    diff = runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "-f", "json"])
    assert diff.exit_code == 0, diff.output
    doc = json.loads(diff.stdout)
    assert (doc["from"], doc["to"]) == (1, 2)
    assert [(f["rule"], f["did"]) for f in doc["resolved"]] == [("raw-tape", RAW)]
    assert [(f["rule"], f["did"]) for f in doc["appeared"]] == [
        ("raw-tape", "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW")
    ]
    explicit = json.loads(
        runner.invoke(app, ["--db", cli_catalog, "audit", "diff", "2", "1", "-f", "json"]).stdout
    )
    assert [f["did"] for f in explicit["appeared"]] == [RAW]
    table = runner.invoke(app, ["--db", cli_catalog, "audit", "diff"])
    assert "resolved since run 1" in table.stdout


def test_diff_errors(catalog):
    with pytest.raises(UsageError, match="needs two audit runs"):
        catalog.audit_diff()
    with pytest.raises(UsageError, match="give two run ids"):
        catalog.audit_diff(1, None)
    with pytest.raises(UnknownAuditRun):
        catalog.audit_diff(1, 2)


def test_audit_run_is_journaled(cli_catalog):
    audit_cli(cli_catalog)
    with Catalog(cli_catalog) as cat:
        journal = cat.journal()
    assert journal.iloc[0]["command"] == "audit"
    assert journal.iloc[0]["summary"] == "audit run 1: 2 findings"


def test_endpoints_list_expression(cli_catalog):
    result = runner.invoke(
        app,
        [
            "--db",
            cli_catalog,
            "endpoints",
            "list",
            "--expression",
            "media=tape&tier<1",
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["endpoints"]
    assert [(r["endpoint"], r["site"], r["media"]) for r in rows] == [
        ("CERN-PROD_DATATAPE", "CERN-PROD", "tape")
    ]
    none = runner.invoke(app, ["--db", cli_catalog, "endpoints", "list", "-e", "country=CH"])
    assert none.exit_code == 2
    assert "matches no endpoint" in none.stderr
    syntax = runner.invoke(app, ["--db", cli_catalog, "endpoints", "list", "-e", "tier<<1"])
    assert syntax.exit_code == 2
    assert "position 6" in syntax.stderr


def test_history_grows_with_changes_not_with_runs(cli_catalog, tmp_path):
    import sqlalchemy as sa

    for _ in range(3):
        assert audit_cli(cli_catalog).exit_code == 1
    with Catalog(cli_catalog) as cat, cat.read() as conn:
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM audit_finding")).scalar()
        runs = conn.execute(sa.text("SELECT COUNT(*), MIN(findings) FROM audit_run")).one()
    assert rows == 2  # the same two findings, found three times
    assert tuple(runs) == (3, 2)
    # a changed explanation (a new tape copy still copying) closes the row and opens another
    copying_at_fzk(cli_catalog, tmp_path)
    audit_cli(cli_catalog)
    with Catalog(cli_catalog) as cat:
        from lifecycle.audit.history import findings_of

        with cat.read() as conn:
            first, last = findings_of(conn, 1), findings_of(conn, 4)
            rows = conn.execute(sa.text("SELECT COUNT(*) FROM audit_finding")).scalar()
        assert rows == 3
        assert list(first["did"]) == list(last["did"])
        assert "FZK-LCG2_DATATAPE is copying" in last.set_index("rule").loc["raw-tape", "message"]
        assert "FZK" not in first.set_index("rule").loc["raw-tape", "message"]
        assert cat.audit_diff(1, 4)["appeared"].empty  # same (rule, DID): not new
        assert cat.audit_diff(3, 4)["resolved"].empty


def copying_at_fzk(url: str, tmp_path: Path) -> None:
    """A new tape copy of RAW, still copying: the raw-tape finding's message changes."""
    more = {
        "sites": [{"name": "FZK-LCG2", "tier": "1", "country": "de", "cloud": "DE"}],
        "endpoints": [{"name": "FZK-LCG2_DATATAPE", "site": "FZK-LCG2", "media": "tape"}],
        "replicas": [{"did": RAW, "endpoint": "FZK-LCG2_DATATAPE", "state": "copying",
                      "created_at": "2019-01-01T00:00:00Z"}],
    }  # fmt: skip
    runner.invoke(app, ["--db", url, "import", str(write_catalog(tmp_path / "m", more))])


def test_history_rows_name_stored_runs(cli_catalog, tmp_path):
    """Every finding's ``first_run`` and ``last_run`` is a stored audit run: the database no
    longer checks it (migration 0012), the audit writes them in its run's transaction."""
    import sqlalchemy as sa

    assert audit_cli(cli_catalog).exit_code == 1
    copying_at_fzk(cli_catalog, tmp_path)
    for _ in range(2):
        assert audit_cli(cli_catalog).exit_code == 1
    with Catalog(cli_catalog) as cat, cat.read() as conn:
        runs = {i for (i,) in conn.execute(sa.text("SELECT id FROM audit_run"))}
        named = conn.execute(sa.text("SELECT first_run, last_run FROM audit_finding")).all()
        foreign = sa.inspect(conn).get_foreign_keys("audit_finding")
    assert runs == {1, 2, 3}
    assert foreign == []
    assert sorted(named, key=repr) == sorted([(1, 1), (1, None), (2, None)], key=repr)
    assert {first for first, _ in named} | {last for _, last in named if last} <= runs


def test_materialized_irreproducible_set_matches_the_recursive_definition(catalog, tmp_path):
    """Both ways of computing the set (per engine) agree with the CTE, on a generated catalog
    and as it would be with a third of its replicas gone."""
    from lifecycle.catalog.sql import temporary_table
    from lifecycle.generate import generate
    from lifecycle.provenance import irreproducible_sql, materialize_irreproducible

    generate(tmp_path / "gen", 4000, seed=11)
    catalog.import_directory(tmp_path / "gen")
    postgres = not catalog.url.startswith("sqlite")
    with catalog.read() as conn:
        # as if a third of the datasets had lost their replicas: chains of unavailable inputs
        gone = temporary_table(conn, "tmp_gone")
        conn.exec_driver_sql(
            f"INSERT INTO {gone} (id) SELECT id FROM replica "
            "WHERE dataset_id - 3 * (dataset_id / 3) = 0"
        )
        columns = "id, unavailable, production_id"
        producers = dict(
            conn.exec_driver_sql("SELECT dataset_id, production_id FROM production_output").all()
        )
        for what_if in (None, gone):
            materialize_irreproducible(conn, gone=what_if)
            stored = set(conn.exec_driver_sql(f"SELECT {columns} FROM tmp_irreproducible"))
            direct = set(
                conn.exec_driver_sql(
                    irreproducible_sql(what_if) + f" SELECT {columns} FROM irreproducible"
                )
            )
            conn.exec_driver_sql("DROP TABLE tmp_irreproducible")
            assert stored == direct, what_if
            assert len(stored) > 0
            # each dataset with its producer (none: null), as the explained findings read it
            assert {(i, p) for i, _, p in stored} == {(i, producers.get(i)) for i, _, _ in stored}
            assert len({i for i, _, _ in stored}) == len(stored)
        assert any(unavailable for _, unavailable, _ in stored)  # the walk went downstream
        if postgres:  # the walk's planner settings do not outlive it in the transaction
            setting = (
                "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"
            )
            assert tuple(conn.exec_driver_sql(setting).one()) == ("on", "on")
    assert {unavailable for _, unavailable, _ in stored} == {True, False}
    assert {p is None for _, _, p in stored} == {True, False}


def test_runs_with_other_policies_neither_resolve_nor_repeat_findings(cli_catalog, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[policy]\nname = "other"\n' + PRESERVED)
    assert audit_cli(cli_catalog).exit_code == 1  # run 1: the test policies
    assert audit_cli(cli_catalog, "--policy", str(other)).exit_code == 0  # run 2: other rules
    assert audit_cli(cli_catalog).exit_code == 1  # run 3: the test policies again
    with Catalog(cli_catalog) as cat:
        for a, b in ((1, 2), (2, 3), (1, 3)):
            changes = cat.audit_diff(a, b)
            assert changes["appeared"].empty, (a, b)
            assert changes["resolved"].empty, (a, b)
        from lifecycle.audit.history import findings_of

        with cat.read() as conn:
            assert findings_of(conn, 2).empty
            assert len(findings_of(conn, 3)) == 2


def test_quiet_audit_does_not_load_pandas(cli_catalog, tmp_path):
    """cron runs ``audit --quiet`` nightly: it stays off pandas, pyarrow and numpy."""
    code = (
        "import sys\n"
        "from lifecycle.cli.app import main\n"
        f"sys.argv = ['lifecycle', '--db', {cli_catalog!r}, 'audit', '--policy', "
        f"{str(tmp_path / 'policies')!r}, '--now', '2026-11-25T00:00:00Z', '--quiet']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print(exit.code)\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith(  # --now: a preview, not recorded
        "audit as of 2026-11-25T00:00:00Z (a preview, not recorded): 2 findings (1 error, "
        "0 warnings, 1 info)"
    ), lines
    assert lines[1:] == ["1", "[]"]


# -- reprocessability ----------------------------------------------------------------------------

REPROCESSABLE = """
[[rule]]
name = "raw-reprocessable"
type = "reprocessability"
select = { kind = ["raw"] }
"""
CALIB_V02 = "calib:calib.CONDBR2-BLKPA-RUN2-09.v02"


def _reprocessed_again(tables, *, status: str = "done", started: str = "2020-03-01T00:00:00Z"):
    """A second reconstruction of RAW, later than task-00000001, with calibration v02."""
    tables["datasets"].append(
        {"did": CALIB_V02, "kind": "calibration", "data_type": "COND", "bytes": "1000000",
         "files": "1", "created_at": "2020-02-01T00:00:00Z"}
    )  # fmt: skip
    tables["replicas"].append(
        {"did": CALIB_V02, "endpoint": "CERN-PROD_DATADISK", "state": "available",
         "created_at": "2020-02-01T00:00:00Z"}
    )  # fmt: skip
    tables["productions"].append(
        {"id": "task-00000003", "transformation": "r13286", "started_at": started, "status": status}
    )
    tables["production_io"] += [
        {"production": "task-00000003", "did": RAW, "role": "input"},
        {"production": "task-00000003", "did": CALIB_V02, "role": "calibration"},
    ]
    return tables


def test_reprocessable_raw_passes(catalog, tmp_path):
    cat = loaded(catalog, tmp_path, mini())
    report = cat.audit(policy(tmp_path, REPROCESSABLE), NOW)
    assert report.findings.empty
    assert report.summary["by_rule"] == {"raw-reprocessable": 0}


def test_raw_with_only_lost_or_copying_replicas_is_not_reprocessable(catalog, tmp_path):
    tables = mini()
    replica(tables, RAW, "CERN-PROD_DATATAPE")["state"] = "lost"
    replica(tables, RAW, "BNL-OSG2_DATATAPE")["state"] = "copying"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, REPROCESSABLE), NOW)
    assert findings(report) == {RAW: "no available replica (2 recorded, 1 lost)"}
    assert report.findings["severity"].tolist() == ["error"]  # the default severity
    details = json.loads(report.findings["details"][0])
    assert details == {
        "available_replicas": 0,
        "replicas": 2,
        "latest_production": "task-00000001",
        "missing_calibrations": [],
    }


def test_latest_production_calibration_lost_even_if_older_one_is_available(catalog, tmp_path):
    tables = _reprocessed_again(mini())
    replica(tables, CALIB_V02, "CERN-PROD_DATADISK")["state"] = "lost"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, REPROCESSABLE), NOW)
    assert findings(report) == {
        RAW: f"calibration {CALIB_V02} used by task-00000003 has no available replica"
    }
    assert json.loads(report.findings["details"][0])["missing_calibrations"] == [CALIB_V02]


def test_only_the_latest_production_calibration_counts(catalog, tmp_path):
    tables = _reprocessed_again(mini())
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"  # the older production's
    cat = loaded(catalog, tmp_path, tables)
    assert cat.audit(policy(tmp_path, REPROCESSABLE), NOW).findings.empty


@pytest.mark.parametrize(
    ("status", "started", "latest"),
    [
        ("failed", "2020-03-01T00:00:00Z", "task-00000001"),  # a failed attempt does not count
        ("running", "2020-03-01T00:00:00Z", "task-00000001"),  # nor one still running
        ("done", "", "task-00000001"),  # an undated production counts as the oldest
        ("done", "2018-08-02T00:00:00Z", "task-00000003"),  # same start: the greater name
    ],
)
def test_which_production_is_the_latest(catalog, tmp_path, status, started, latest):
    tables = _reprocessed_again(mini(), status=status, started=started)
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"
    replica(tables, CALIB_V02, "CERN-PROD_DATADISK")["state"] = "lost"
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, REPROCESSABLE), NOW)
    assert list(report.findings["did"]) == [RAW]
    assert json.loads(report.findings["details"][0])["latest_production"] == latest
    assert f"used by {latest}" in report.findings["message"][0]


def test_two_missing_calibrations_and_no_replica_in_one_finding(catalog, tmp_path):
    tables = _reprocessed_again(mini())
    tables["production_io"].append(
        {"production": "task-00000003", "did": CALIB, "role": "calibration"}
    )
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"
    replica(tables, CALIB_V02, "CERN-PROD_DATADISK")["state"] = "deleted"
    tables["replicas"] = [r for r in tables["replicas"] if r["did"] != RAW]
    cat = loaded(catalog, tmp_path, tables)
    assert findings(cat.audit(policy(tmp_path, REPROCESSABLE), NOW)) == {
        RAW: f"no replica at all; calibrations {CALIB}, {CALIB_V02} used by task-00000003 have "
        "no available replica"
    }


def test_never_processed_raw_is_judged_on_its_replicas(catalog, tmp_path):
    other = "data18_13TeV:data18_13TeV.00357773.physics_Main.daq.RAW"
    lonely = "data18_13TeV:data18_13TeV.00357774.physics_Main.daq.RAW"
    tables = mini()
    for did in (other, lonely):
        tables["datasets"].append(
            {"did": did, "kind": "raw", "bytes": "1", "files": "1",
             "created_at": "2018-08-02T00:00:00Z"}
        )  # fmt: skip
    tables["replicas"].append(
        {"did": other, "endpoint": "CERN-PROD_DATATAPE", "created_at": "2018-08-02T00:00:00Z"}
    )
    tables["replicas"].append(
        {"did": lonely, "endpoint": "CERN-PROD_DATATAPE", "state": "lost",
         "created_at": "2018-08-02T00:00:00Z"}
    )  # fmt: skip
    replica(tables, CALIB, "CERN-PROD_DATADISK")["state"] = "lost"  # RAW's calibration
    cat = loaded(catalog, tmp_path, tables)
    report = cat.audit(policy(tmp_path, REPROCESSABLE), NOW)
    assert findings(report) == {
        RAW: f"calibration {CALIB} used by task-00000001 has no available replica",
        lonely: "no available replica (1 recorded, 1 lost)",
    }
    details = json.loads(report.findings.set_index("did").loc[lonely, "details"])
    assert details["latest_production"] is None


def test_reprocessability_rule_takes_no_extra_field(tmp_path):
    with pytest.raises(InvalidPolicy, match="copies: unknown field for a reprocessability rule"):
        policy(tmp_path, REPROCESSABLE + "copies = 2\n")


def test_reprocessability_agrees_with_the_reference_sql(catalog, tmp_path):
    """lifecycle and the benchmark's hand-written SQL flag the same raw datasets."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from reference_audit import checks

    from lifecycle.generate import generate

    generate(tmp_path / "gen", 4000, seed=5)
    catalog.import_directory(tmp_path / "gen")
    with catalog.atomic("break things") as (conn, change):  # lose a few calibrations and raws
        conn.exec_driver_sql(
            "UPDATE replica SET state = 'lost' WHERE dataset_id IN (SELECT id FROM dataset "
            "WHERE kind IN ('calibration', 'raw') AND id - (id / 3) * 3 = 0)"
        )
        change.summary = "lost some replicas"
    atlas = load_policies([Path(__file__).resolve().parent.parent / "policies"])
    report = catalog.audit(atlas, NOW)
    ours = set(report.findings.loc[report.findings["rule"] == "raw-reprocessable", "did"])
    sql, params = checks(NOW, catalog.url.startswith("sqlite"))["raw-reprocessable"]
    import sqlalchemy as sa

    with catalog.read() as conn:
        reference = {row[0] for row in conn.execute(sa.text(sql), params)}
    assert ours == reference
    assert ours  # the breakage flagged something


def test_show_gets_the_findings_of_the_report_as_rows_in_its_order(catalog, tmp_path):
    """What the CLI writes as it reads (show) is the report's findings, row for row."""
    cat = loaded(catalog, tmp_path, mini())
    rules = load_policies([Path(__file__).resolve().parent.parent / "policies"])
    later = datetime(2190, 1, 1, tzinfo=UTC)  # past every lifetime too: findings of several rules
    whole = cat.audit(rules, later)
    seen = []

    def show(report, chunks):
        assert report.summary == whole.summary
        seen.extend(row for chunk in chunks for row in chunk)

    assert cat.audit(rules, later, show=show).findings is None
    assert len(set(whole.findings["rule"])) > 1
    assert seen == list(whole.findings.itertuples(index=False, name=None))


def test_the_table_shows_the_first_findings_of_each_rule_and_counts_the_rest(catalog, tmp_path):
    """The table for people reads only the findings it shows: the first 25 of each rule by
    DID, the same as the first 25 of the full list, and how many more there are."""
    from lifecycle.cli import audit as audit_cli_module
    from lifecycle.generate import generate

    generate(tmp_path / "grid", datasets=3_000, seed=3)
    catalog.import_directory(tmp_path / "grid")
    rules = str(Path(__file__).resolve().parent.parent / "policies")
    args = ["--db", catalog.url, "audit", "--policy", rules, "--no-record", "--fail-on", "never"]
    table = runner.invoke(app, [*args, "--format", "table"])
    whole = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    shown = audit_cli_module.PER_RULE_ON_SCREEN
    by_rule = whole["summary"]["by_rule"]
    assert max(by_rule.values()) > shown
    # each finding shows its DID and message; repair's hint ("-> repair would ...") may follow
    lines = [
        line.strip() for line in table.stdout.splitlines() if not line.strip().startswith("->")
    ]
    assert len(lines) < len(table.stdout.splitlines())  # this grid has hints to skip
    for rule, n in by_rule.items():
        dids = [f["did"] for f in whole["findings"] if f["rule"] == rule][:shown]
        at = next(i for i, line in enumerate(lines) if f" {rule} (" in line)
        assert lines[at + 1 : at + 1 + 2 * len(dids) : 2] == dids
        if n > shown:
            assert lines[at + 1 + 2 * shown] == (
                f"... and {n - shown} more (--format json or csv lists all)"
            )


def test_a_reader_that_goes_away_does_not_undo_the_recorded_run(tmp_path):
    """Findings (far more than a pipe holds) reach stdout after the run is committed: a reader
    that stops early ends the command with 141, and the run stays in the history."""
    from lifecycle.generate import generate

    generate(tmp_path / "grid", datasets=3_000, seed=3)
    db = str(tmp_path / "c.db")
    with Catalog(db) as cat:
        cat.import_directory(tmp_path / "grid")
    policies = str(Path(__file__).resolve().parent.parent / "policies")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifecycle.cli.app", "--db", db, "audit", "--policy", policies,
         "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()
    proc.wait(timeout=120)
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.returncode == 141, err
    with Catalog(db) as cat:
        history = cat.audit_history()
    assert len(history) == 1
    assert history["findings"].iloc[0] > 300  # JSON of several pipe buffers (64 kB)
