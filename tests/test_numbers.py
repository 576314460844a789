"""Numbers for people are written one way everywhere: ``100,000 datasets``, ``8.35 TB``.

Unit tests of the one helper (:func:`lifecycle.text.count`, :func:`lifecycle.text.number`), and
the human outputs (tables, summaries, messages on stderr) of a set of commands over a generated
catalog of more than 1,000 datasets, where a bare ``3000 datasets`` would show. JSON and CSV keep
raw integers.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import _BACKENDS, ROOT, _catalog_urls
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.text import count, human_bytes, number

runner = CliRunner()
POLICIES = str(ROOT / "policies")
DATASETS = 3_000

# A bare integer of four digits or more followed by a word: "3000 datasets", "1262 blockers".
# Not a part of a name, a path, a time or a version (no letter, digit, dot, comma, colon, slash,
# dash or underscore next to it), so DIDs like data15_13TeV.00267168.express and 2015-06-05 pass.
BARE_COUNT = re.compile(r"(?<![\w.,:/+-])\d{4,}(?![\w.,:/%-]) +[A-Za-z(]")
# A table cell holding nothing but a bare integer of four digits or more ("│    3000 │").
BARE_CELL = re.compile(r"[│┃]\s*\d{4,}\s*(?=[│┃]|$)")
FORMATTED = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")


@pytest.mark.parametrize(
    ("n", "noun", "plural", "expected"),
    [
        (0, "dataset", None, "0 datasets"),
        (1, "dataset", None, "1 dataset"),
        (2, "dataset", None, "2 datasets"),
        (999, "finding", None, "999 findings"),
        (1000, "finding", None, "1,000 findings"),
        (100_000, "dataset", None, "100,000 datasets"),
        (1_234_567, "replica", None, "1,234,567 replicas"),
        (1, "copy", "copies", "1 copy"),
        (3, "copy", "copies", "3 copies"),
        (2_500, "info", "info", "2,500 info"),
        (-1_000, "byte", None, "-1,000 bytes"),
    ],
)
def test_count_writes_thousands_separators_and_the_plural(n, noun, plural, expected):
    assert count(n, noun, plural) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0"), (999, "999"), (1000, "1,000"), (13522277568633, "13,522,277,568,633")],
)
def test_number_groups_thousands(n, expected):
    assert number(n) == expected


def test_human_bytes_is_what_tables_show_for_sizes():
    assert human_bytes(13522277568633) == "13.52 TB"
    assert human_bytes(999) == "999 B"


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("audit run 1: 448 findings from 8 rules over 3000 datasets", True),
        ("imported x: 150 sites, 3000 datasets", True),
        ("  │   3000 │", True),
        ("audit run 1: 448 findings from 8 rules over 3,000 datasets", False),
        ("data15_13TeV:data15_13TeV.00267168.express_express.daq.RAW has 2 replicas", False),
        ("created 2015-06-05 23:20 by root", False),
        ("reprocess-r9364-20261206T071457 saved", False),
    ],
)
def test_the_bare_count_patterns_tell_bare_from_formatted(text, bare):
    assert bool(BARE_COUNT.search(text) or BARE_CELL.search(text)) is bare


@pytest.fixture(scope="module", params=_BACKENDS)
def big(request, tmp_path_factory) -> dict[str, str]:
    """A generated catalog of 3,000 datasets on each backend, audited twice and expired."""
    tmp = tmp_path_factory.mktemp("numbers")
    generated = runner.invoke(
        app, ["generate", str(tmp / "cat"), "--datasets", str(DATASETS), "--seed", "7"]
    )
    assert generated.exit_code == 0, generated.output
    with _catalog_urls(request.param, tmp) as make:
        db = make()
        imported = runner.invoke(app, ["--db", db, "import", str(tmp / "cat")])
        assert imported.exit_code == 0, imported.output
        for args in (
            ["audit", "--policy", POLICIES, "--fail-on", "never"],
            ["expire", "--policy", POLICIES, "--apply"],
            ["audit", "--policy", POLICIES, "--fail-on", "never"],
        ):
            done = runner.invoke(app, ["--db", db, *args])
            assert done.exit_code == 0, done.output
        listed = runner.invoke(app, ["--db", db, "datasets", "list", "--format", "json"])
        datasets = json.loads(listed.stdout)
        items = datasets["datasets"]  # the envelope: {kind, datasets, summary}
        raw = next(d["did"] for d in items if d["kind"] == "raw")
        derived = next(d["did"] for d in items if d["data_type"].startswith("DAOD"))
        yield {
            "db": db,
            "raw": raw,
            "derived": derived,
            "import": generated.stdout + imported.stdout + imported.stderr,
        }


COMMANDS = {
    "overview": ["overview"],
    "datasets list": ["datasets", "list", "--limit", "0"],
    "datasets show": ["datasets", "show", "{raw}", "--policy", POLICIES],
    "audit": ["audit", "--policy", POLICIES, "--no-record", "--fail-on", "never"],
    "audit --summary": ["audit", "--policy", POLICIES, "--summary", "--fail-on", "never"],
    "audit --group-by cause": [
        "audit",
        "--policy",
        POLICIES,
        "--group-by",
        "cause",
        "--no-record",
        "--fail-on",
        "never",
    ],  # fmt: skip
    "audit --group-by rule,site": [
        "audit",
        "--policy",
        POLICIES,
        "--group-by",
        "rule,site",
        "--no-record",
        "--fail-on",
        "never",
    ],  # fmt: skip
    "audit history": ["audit", "history"],
    "audit diff": ["audit", "diff"],
    "expire": ["expire", "--policy", POLICIES],
    "impact": ["impact", "{raw}"],
    "lineage": ["lineage", "{derived}"],
    "plan reprocess": [
        "plan",
        "reprocess",
        "--select",
        "kind=raw",
        "--chain",
        "r9364",
        "--policy",
        POLICIES,
    ],  # fmt: skip
    "simulate loss": ["simulate", "loss", "--site", "CERN-PROD", "--policy", POLICIES],
    "tradeoff": ["tradeoff"],
    "transformations list": ["transformations", "list"],
    "sites usage": ["sites", "usage"],
    "endpoints usage": ["endpoints", "usage"],
    "journal": ["journal"],
    "pins list": ["pins", "list"],
}


def _bare(text: str, cells: bool = True) -> list[str]:
    found = [m.group(0) for m in BARE_COUNT.finditer(text)]
    return found + ([m.group(0) for m in BARE_CELL.finditer(text)] if cells else [])


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_human_output_writes_no_bare_count(big, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    args = [a.format(**big) for a in COMMANDS[command]]
    result = runner.invoke(app, ["--db", big["db"], *args])
    assert result.exit_code in (0, 1), result.output
    # datasets show prints the dataset's metadata as recorded (a run number is not a count)
    cells = command != "datasets show"
    assert not _bare(result.stdout, cells), f"{command}: bare numbers\n{result.stdout[:3000]}"
    assert not _bare(result.stderr), f"{command}: bare numbers on stderr\n{result.stderr}"


@pytest.mark.slow
def test_the_large_counts_are_written_with_separators(big):
    """The catalog is big enough that the messages above hold numbers of 1,000 or more."""
    assert not _bare(big["import"]), big["import"]
    assert "3,000 datasets" in big["import"]
    summary = runner.invoke(
        app, ["--db", big["db"], "audit", "--policy", POLICIES, "--summary", "--no-record"]
    )
    assert "over 3,000 datasets" in summary.stdout
    listed = runner.invoke(app, ["--db", big["db"], "datasets", "list", "--limit", "0"])
    assert FORMATTED.search(listed.stdout)  # events in the table: 7,319,757


@pytest.mark.slow
def test_json_and_csv_keep_raw_integers(big):
    csv = runner.invoke(app, ["--db", big["db"], "datasets", "list", "--format", "csv"])
    header, *rows = csv.stdout.splitlines()
    bytes_column = header.split(",").index("bytes")
    assert all(re.fullmatch(r"\d+", row.split(",")[bytes_column]) for row in rows[:50] if row)
    document = json.loads(
        runner.invoke(app, ["--db", big["db"], "overview", "--format", "json"]).stdout
    )
    assert "3,000" not in json.dumps(document)


def test_bytes_are_humanised_in_the_plan_list_and_dataset_tables(tmp_path, catalog):
    """`plan list` and `datasets show` print sizes as 13.52 TB, never 13522277568633."""
    loaded = runner.invoke(app, ["--db", catalog.url, "import", str(ROOT / "sample_catalog")])
    assert loaded.exit_code == 0, loaded.output
    saved = runner.invoke(
        app,
        ["--db", catalog.url, "plan", "reprocess", "--select", "scope=data18_13TeV", "--chain",
         "r15800", "--policy", POLICIES, "--save"],
    )  # fmt: skip
    assert saved.exit_code in (0, 1), saved.output
    listed = runner.invoke(app, ["--db", catalog.url, "plan", "list"], env={"COLUMNS": "200"})
    assert re.search(r"\d+\.\d\d [kMGTP]B", listed.stdout), listed.stdout
    assert not re.search(r"(?<![\w.-])\d{4,}(?![\w-])", listed.stdout), listed.stdout
    did = json.loads(
        runner.invoke(app, ["--db", catalog.url, "datasets", "list", "--format", "json"]).stdout
    )
    items = did["datasets"]
    shown = runner.invoke(
        app, ["--db", catalog.url, "datasets", "show", items[0]["did"]], env={"COLUMNS": "200"}
    )
    assert re.search(r"bytes\s+│\s+\d+\.\d\d [kMGTP]?B \([\d,]+ bytes\)", shown.stdout), (
        shown.stdout
    )
