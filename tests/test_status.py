"""``datasets show``: one dataset's status under the policies (issue 13, item 8), on the sample
catalog whose planted problems its README documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLE_CATALOG
from test_sample_catalog import EXPIRED, NO_DIGEST, RAW_ONE_TAPE
from typer.testing import CliRunner

from lifecycle.cli.app import app

POLICIES = Path(__file__).resolve().parents[1] / "policies"
runner = CliRunner()


@pytest.fixture
def sample(catalog):
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


def verdicts(status) -> dict[str, tuple[str, str | None]]:
    return {r["rule"]: (r["verdict"], r["message"]) for r in status.rules}


def test_rules_that_select_it_with_the_audits_verdicts(sample):
    found = verdicts(sample.dataset_status(RAW_ONE_TAPE, POLICIES))
    assert set(found) == {"raw-archival-copies", "raw-preserved", "raw-reprocessable"}
    assert found["raw-archival-copies"][0] == "fails"
    assert "1 available tape copy" in found["raw-archival-copies"][1]
    assert found["raw-preserved"] == ("passes", None)
    # the same verdicts as the audit of the whole catalog gives this dataset
    report = sample.audit(POLICIES, record=False)
    audited = report.findings[report.findings["did"] == RAW_ONE_TAPE]
    failing = {r: m for r, (v, m) in found.items() if v == "fails"}
    assert failing == dict(zip(audited["rule"], audited["message"], strict=True))


def test_not_reproducible_says_why(sample):
    status = sample.dataset_status(NO_DIGEST, POLICIES)
    assert not status.reproducible
    assert verdicts(status)["derived-reproducible"][0] == "fails"
    assert any("no image digest" in m["reason"] for m in status.missing)
    assert status.end_of_life["from"] == "lifetime rule analysis-formats-lifetime"


def test_end_of_life_from_expires_at_and_what_expiry_decides(sample):
    status = sample.dataset_status(EXPIRED, POLICIES)
    assert status.end_of_life["from"] == "expires_at"
    assert status.end_of_life["decision"] == "delete"
    assert verdicts(status)["analysis-formats-lifetime"][0] == "fails"


def test_without_policies_details_and_reproducibility_only(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./policies here
    status = sample.dataset_status(NO_DIGEST)
    assert status.rules == []
    assert not status.reproducible


def test_cli_table_starts_with_the_status_json_has_it(sample):
    base = ["--db", sample.url, "datasets", "show", RAW_ONE_TAPE, "--policy", str(POLICIES)]
    table = runner.invoke(app, base)
    assert table.exit_code == 0, table.output
    first = table.stdout.splitlines()[0]
    assert first.startswith(f"{RAW_ONE_TAPE}: 1 of 3 rules failing; not reproducible")
    shown = json.loads(runner.invoke(app, [*base, "--format", "json"]).stdout)
    assert shown["kind"] == "dataset"
    assert shown["dataset"]["did"] == RAW_ONE_TAPE
    assert shown["summary"]["failing"] == 1
    assert {r["rule"] for r in shown["rules"]} == {
        "raw-archival-copies", "raw-preserved", "raw-reprocessable"
    }  # fmt: skip
