"""Golden tests of the JSON envelope: every command's ``--format json`` on the small catalog of
``tests/catalogs.py``, byte for byte against ``tests/golden/envelopes/<command>.json``.

Every document is ``{"kind": ..., "summary": {...}, ...}`` (a streamed listing puts its summary
last). The clock is frozen (``lifecycle.catalog.store.clock``), so times are stable; what still
varies between runs (the seconds an audit took, paths under the test's directory) is masked.
Both databases must give the same text. After a deliberate change of a document, regenerate
the files and read the diff before committing it::

    LIFECYCLE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_envelopes.py

A test walks the command tree: a command offering ``--format json`` without a golden file here
fails, so a new command cannot skip the envelope.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalogs import AOD, PHYS, RAW, mini, write_catalog
from typer.main import get_command
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "envelopes"
POLICIES = str(ROOT / "policies")
UPDATE = os.environ.get("LIFECYCLE_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MASKED = {"seconds"}  # keys whose values vary from run to run
runner = CliRunner()

# golden file name -> the command's arguments (after ``--db URL``)
COMMANDS: dict[str, list[str]] = {
    "overview": ["overview"],
    "journal": ["journal"],
    "sites-list": ["sites", "list"],
    "sites-usage": ["sites", "usage"],
    "endpoints-list": ["endpoints", "list"],
    "endpoints-usage": ["endpoints", "usage"],
    "datasets-list": ["datasets", "list"],
    "datasets-show": ["datasets", "show", AOD, "--policy", POLICIES],
    "audit": ["audit", "--policy", POLICIES, "--no-record"],
    "audit-history": ["audit", "history"],
    "audit-diff": ["audit", "diff"],
    "policy-show": ["policy", "show", "--policy", POLICIES],
    "expire": ["expire", "--policy", POLICIES, "--now", "2031-01-01"],
    "pins-list": ["pins", "list"],
    "replicas-list": ["replicas", "list", RAW],
    "replicas-delete": ["replicas", "delete", PHYS, "CERN-PROD_DATADISK", "--reason", "test"],
    "replicas-mark-lost": [
        "replicas",
        "mark-lost",
        RAW,
        "BNL-OSG2_DATATAPE",
        "--reason",
        "test",
        "--policy",
        POLICIES,
    ],  # fmt: skip
    "consistency": [
        "consistency",
        "CERN-PROD_DATADISK",
        str(Path(__file__).parent / "dumps" / "CERN-PROD_DATADISK_2026-01-10.csv"),
        "--max-change",
        "50",
        "--policy",
        POLICIES,
    ],
    "dark-list": ["dark", "list"],
    "simulate-loss": ["simulate", "loss", "--site", "BNL-OSG2", "--policy", POLICIES],
    "repair": ["repair", "--drain", "BNL-OSG2", "--policy", POLICIES],
    "transfers-list": ["transfers", "list"],
    "transfers-run": ["transfers", "run", "--simulate", "--hours", "1", "--apply"],
    "tradeoff": ["tradeoff"],
    "lineage": ["lineage", PHYS],
    "impact": ["impact", RAW],
    "recipe": ["recipe", PHYS],
    "provenance-suggest": ["provenance", "suggest"],
    "names-parse": ["names", "parse", RAW, "not-a-dataset-name"],
    "transformations-list": ["transformations", "list"],
    "transformations-show": ["transformations", "show", "r13286"],
    "productions-show": ["productions", "show", "task-00000001"],
    "plan-reprocess": ["plan", "reprocess", "--chain", "r13286", "--name", "again"],
    "plan-list": ["plan", "list"],
    "plan-show": ["plan", "show", "1"],
    "plan-export": ["plan", "export", "1"],
    "sync": ["sync", "{mini}", "--complete", "replicas:media=tape"],  # {mini}: what it loaded
    "durability": ["durability", "--policy", POLICIES, "--monte-carlo", "20", "--seed", "1"],
    "simulate-years": ["simulate", "years", "1", "--policy", POLICIES, "--step-days", "120"],
}


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch):
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: NOW)


@pytest.fixture
def prepared(catalog, tmp_path) -> str:
    """The small catalog with two recorded audit runs and one saved plan (what ``audit diff``,
    ``audit history`` and ``plan show`` read)."""
    catalog.import_directory(write_catalog(tmp_path / "mini", mini()))
    for _ in range(2):
        invoke(catalog.url, ["audit", "--policy", POLICIES, "--fail-on", "never"])
    saved = invoke(catalog.url, ["plan", "reprocess", "--chain", "r13286", "--save", "--name", "p"])
    assert saved.exit_code in (0, 1), saved.output
    return catalog.url


def invoke(url: str, args: list[str]):
    return runner.invoke(app, ["--db", url, *args])


def masked(value, tmp: str):
    """``value`` with what varies between runs replaced by ``"<masked>"`` or ``<tmp>``."""
    if isinstance(value, dict):
        return {k: "<masked>" if k in MASKED else masked(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, tmp) for v in value]
    if isinstance(value, str):
        return value.replace(tmp, "<tmp>").replace(str(ROOT), "<root>")
    return value


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_envelope_matches_its_golden_file(prepared, tmp_path, name):
    args = [a.replace("{mini}", str(tmp_path / "mini")) for a in COMMANDS[name]]
    result = invoke(prepared, [*args, "--format", "json"])
    assert result.exit_code in (0, 1), result.output  # 1: findings, blockers, data lost
    document = json.loads(result.stdout)
    keys = list(document)
    assert keys[0] == "kind"
    assert isinstance(document["summary"], dict)
    assert keys[1] == "summary" or (keys[-1] == "summary" and name == "datasets-list")
    text = json.dumps(masked(document, str(tmp_path)), indent=2, ensure_ascii=False) + "\n"
    golden = GOLDEN / f"{name}.json"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no {golden.name}: run with LIFECYCLE_UPDATE_GOLDEN=1 to write it"
    assert text == golden.read_text(encoding="utf-8")


def _json_commands(command, path=()):
    """Every command path of the CLI whose ``--format`` offers json."""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _json_commands(sub, (*path, name))
    for param in getattr(command, "params", []):
        choices = getattr(param.type_descriptor, "choices", None) or ()
        if "--format" in getattr(param, "opts", ()) and "json" in {c.value for c in choices}:
            yield path


# commands that need a Rucio server: their envelopes are checked by the round trip, which
# starts one (tests/test_rucio_roundtrip.py), not on the small catalog here
SERVER_ENVELOPES = {("rucio", "push"), ("rucio", "sync")}


def test_every_command_with_json_has_a_golden_envelope():
    paths = [p for p in _json_commands(get_command(app)) if p not in SERVER_ENVELOPES]
    assert len(paths) > 25
    missing = [
        " ".join(path)
        for path in paths
        if not any(tuple(args[: len(path)]) == path for args in COMMANDS.values())
    ]
    assert not missing, f"commands with --format json and no golden envelope: {missing}"
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(COMMANDS)


def test_the_envelope_is_what_the_python_api_gives(prepared):
    """``to_dict()`` of a facade result is the document the command writes."""
    cat = Catalog(prepared)
    try:
        shown = json.loads(invoke(prepared, ["overview", "--format", "json"]).stdout)
        assert cat.overview().to_dict() == shown
        recipe = json.loads(invoke(prepared, ["recipe", PHYS, "--format", "json"]).stdout)
        assert cat.recipe(PHYS).to_dict() == recipe
    finally:
        cat.close()
