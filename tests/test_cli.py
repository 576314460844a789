"""The command line: listings in every format, filters, exit codes, error style, start-up time."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from catalogs import AOD, CALIB, PHYS, RAW
from conftest import write_lock_held
from typer.testing import CliRunner

from lifecycle.catalog.migrations import HEAD
from lifecycle.cli.app import app

runner = CliRunner()


@pytest.fixture
def loaded(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    return catalog.url


def run(url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


LISTINGS = [  # command, the key of its rows in the JSON envelope
    (("sites", "list"), "sites"),
    (("endpoints", "list"), "endpoints"),
    (("datasets", "list"), "datasets"),
    (("replicas", "list", RAW), "replicas"),
    (("journal",), "entries"),
]


@pytest.mark.parametrize(("command", "key"), LISTINGS, ids=lambda c: " ".join(c[:2]))
def test_every_listing_speaks_table_json_and_csv(loaded, command, key):
    as_json = run(loaded, *command, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    rows = document[key]
    assert isinstance(rows, list)
    assert rows
    assert document["summary"][key] == len(rows)  # the envelope counts its rows
    as_csv = run(loaded, *command, "--format", "csv")
    assert as_csv.exit_code == 0
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(parsed) == len(rows)
    assert list(parsed[0]) == list(rows[0])
    as_table = runner.invoke(app, ["--db", loaded, *command], env={"COLUMNS": "250"})
    assert as_table.exit_code == 0
    assert "┃" in as_table.stdout  # narrower, see test_tables.py


def test_sites_list_content(loaded):
    rows = json.loads(run(loaded, "sites", "list", "-f", "json").stdout)["sites"]
    cern = next(r for r in rows if r["site"] == "CERN-PROD")
    assert cern == {
        "site": "CERN-PROD", "tier": 0, "country": "ch", "cloud": "CERN", "status": "active",
        "endpoints": 2, "tape_endpoints": 1, "disk_endpoints": 1,
    }  # fmt: skip


def test_endpoints_list_has_attributes_and_filters(loaded):
    rows = json.loads(run(loaded, "endpoints", "list", "-f", "json").stdout)["endpoints"]
    tape = next(r for r in rows if r["endpoint"] == "BNL-OSG2_DATATAPE")
    assert (tape["site"], tape["media"], tape["archival"], tape["type"]) == (
        "BNL-OSG2", "tape", True, "DATATAPE"
    )  # fmt: skip
    only_tape = json.loads(run(loaded, "endpoints", "list", "--media", "tape", "-f", "json").stdout)
    names = {r["endpoint"] for r in only_tape["endpoints"]}
    assert names == {"BNL-OSG2_DATATAPE", "CERN-PROD_DATATAPE"}
    at_bnl = json.loads(run(loaded, "endpoints", "list", "--site", "BNL-OSG2", "-f", "json").stdout)
    assert [r["endpoint"] for r in at_bnl["endpoints"]] == ["BNL-OSG2_DATATAPE"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), {RAW, CALIB, AOD, PHYS}),
        (("--kind", "derived"), {AOD, PHYS}),
        (("--kind", "raw", "--kind", "calibration"), {RAW, CALIB}),
        (("--data-type", "DAOD_*"), {PHYS}),
        (("--data-type", "AOD", "--data-type", "RAW"), {AOD, RAW}),
        (("--scope", "calib"), {CALIB}),
        (("--name", "*.merge.*"), {AOD}),
        (("--name", "data18_13TeV:*RAW"), {RAW}),
        (("--name", "*_p4910"), {PHYS}),
        (("--site", "BNL-OSG2"), {RAW}),
        (("--site", "CERN-PROD", "--kind", "derived"), {AOD, PHYS}),
        (("--limit", "1"), {CALIB}),
        (("--kind", "outreach"), set()),
    ],
)
def test_datasets_list_filters(loaded, options, expected):
    result = run(loaded, "datasets", "list", *options, "-f", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {r["did"] for r in document["datasets"]} == expected
    assert document["summary"]["datasets"] == len(expected)


def test_datasets_list_json_fields(loaded):
    document = json.loads(run(loaded, "datasets", "list", "--kind", "raw", "-f", "json").stdout)
    assert list(document) == ["kind", "datasets", "summary"]  # streamed: the summary last
    assert document["summary"] == {"datasets": 1, "bytes": 2000000000000}
    assert document["datasets"] == [
        {
            "did": RAW, "kind": "raw", "data_type": "RAW", "bytes": 2000000000000, "files": 400,
            "events": 1000000, "state": "closed", "created_at": "2018-08-01T10:00:00Z",
            "expires_at": None, "available_replicas": 2,
        }
    ]  # fmt: skip


def test_datasets_show(loaded):
    result = run(loaded, "datasets", "show", AOD.split(":", 1)[1], "-f", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["kind"] == "dataset"
    assert shown["dataset"]["did"] == AOD
    assert shown["dataset"]["kind"] == "derived"
    assert shown["dataset"]["metadata"] == {  # run_number from the file, the rest from the name
        "project": "data18_13TeV",
        "prod_step": "merge",
        "run_number": "357772",
        "stream": "physics_Main",
    }
    assert [r["endpoint"] for r in shown["replicas"]] == ["CERN-PROD_DATADISK"]
    producer = shown["producer"]
    assert producer["production"] == "task-00000001"
    assert producer["transformation"] == "r13286"
    assert producer["image_digest"] == "sha256:" + "a" * 64
    assert {(i["did"], i["role"]) for i in producer["inputs"]} == {
        (RAW, "input"),
        (CALIB, "calibration"),
    }
    assert [(c["production"], c["output"]) for c in shown["consumers"]] == [("task-00000002", PHYS)]
    table = run(loaded, "datasets", "show", PHYS)
    assert table.exit_code == 0
    assert "HIGG-2018-01 unblinding" in table.stdout  # its pin
    assert "produced by" in table.stdout


def test_overview(loaded):
    result = run(loaded, "overview", "-f", "json")
    shown = json.loads(result.stdout)
    assert [(r["tier"], r["sites"], r["endpoints"]) for r in shown["sites_by_tier"]] == [
        (0, 1, 2),
        (1, 1, 1),
    ]
    kinds = {(r["kind"], r["data_type"]): r["datasets"] for r in shown["datasets_by_kind"]}
    assert kinds == {
        ("calibration", "COND"): 1,
        ("derived", "AOD"): 1,
        ("derived", "DAOD_PHYS"): 1,
        ("raw", "RAW"): 1,
    }
    states = {(r["media"], r["state"]): r["replicas"] for r in shown["replicas_by_state"]}
    assert states == {("disk", "available"): 2, ("disk", "lost"): 1, ("tape", "available"): 2}
    assert "datasets by kind" in run(loaded, "overview").stdout


def test_unknown_dataset_exits_2_with_one_line(loaded):
    result = run(loaded, "replicas", "list", "data18_13TeV:nothing")
    assert result.exit_code == 2
    assert result.stderr == (
        "lifecycle: error: unknown dataset 'data18_13TeV:nothing': check the scope and name "
        "(see 'datasets list')\n"
    )
    assert result.stdout == ""


def test_debug_shows_traceback(loaded):
    result = runner.invoke(app, ["--db", loaded, "--debug", "replicas", "list", "x:y"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_bad_option_value_exits_2(loaded):
    assert run(loaded, "sites", "list", "--format", "xml").exit_code == 2
    assert run(loaded, "datasets", "list", "--limit", "-3").exit_code == 2
    assert run(loaded, "export", "out", "--format", "json").exit_code == 2


def test_locked_catalog_exits_3(loaded, mini_dir, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0.2")
    with write_lock_held(loaded):
        result = run(loaded, "import", str(mini_dir))
    assert result.exit_code == 3
    # the waiting run names the holder: who, which command, since when
    assert result.stderr.startswith("lifecycle: error: catalog locked by ")
    assert "(holder, pid " in result.stderr
    assert " since 20" in result.stderr


def test_init_and_db_commands(catalog_url):
    first = run(catalog_url, "init")
    assert first.exit_code == 0
    assert "(created)" in first.stdout
    assert "already current" in run(catalog_url, "init").stdout
    assert run(catalog_url, "db", "version").stdout.strip() == f"catalog: {HEAD}  code: {HEAD}"
    assert run(catalog_url, "db", "upgrade").stdout.strip() == f"schema {HEAD}"


def test_import_export_commands(catalog_url, mini_dir, tmp_path):
    result = run(catalog_url, "import", str(mini_dir))
    assert result.exit_code == 0
    assert "4 datasets" in result.stdout
    again = run(catalog_url, "import", str(mini_dir))
    assert "nothing new" in again.stdout
    out = run(catalog_url, "export", str(tmp_path / "x"), "--format", "parquet")
    assert out.exit_code == 0
    assert (tmp_path / "x" / "datasets.parquet").exists()


def test_db_option_and_environment(tmp_path, mini_dir, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_DB", str(tmp_path / "env.db"))
    assert runner.invoke(app, ["import", str(mini_dir)]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_cli_import_does_not_load_heavy_modules():
    code = (
        "import sys, lifecycle.cli.app; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy', 'sqlalchemy', 'sqlmodel', "
        "'alembic', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_starts_fast():
    """cron runs the tool thousands of times: ``--help`` stays well under half a second of CPU.

    The child's CPU time (user + system), not the wall clock: other work on the machine (the
    suite's own parallel workers) stretches the wall clock but not the work done."""
    best = min(_time_help() for _ in range(3))
    assert best < 0.45, f"lifecycle --help took {best:.3f} s of CPU"


def _time_help() -> float:
    child = subprocess.Popen(
        [sys.executable, "-m", "lifecycle.cli.app", "--help"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    assert child.returncode == 0
    return usage.ru_utime + usage.ru_stime


def test_generate_command(tmp_path):
    result = runner.invoke(
        app, ["generate", str(tmp_path / "gen"), "--datasets", "500", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "generated" in result.stdout
    assert "planted:" in result.stdout
    assert (tmp_path / "gen" / "datasets.parquet").exists()
    bad = runner.invoke(app, ["generate", str(tmp_path / "none"), "--datasets", "0"])
    assert bad.exit_code == 2
    assert bad.stderr == "lifecycle: error: --datasets: must be at least 1\n"
    assert not (tmp_path / "none").exists()


def test_generate_replaces_csv_tables_of_the_same_name(tmp_path, mini_dir):
    assert (mini_dir / "sites.csv").exists()
    result = runner.invoke(app, ["generate", str(mini_dir), "--datasets", "300"])
    assert result.exit_code == 0, result.output
    assert not (mini_dir / "sites.csv").exists()
    imported = runner.invoke(app, ["--db", str(tmp_path / "g.db"), "import", str(mini_dir)])
    assert imported.exit_code == 0, imported.output


def test_datasets_list_limits_tables_not_machine_output(tmp_path, monkeypatch):
    from lifecycle.cli import catalog as cli_catalog
    from lifecycle.generate import generate

    generate(tmp_path / "gen", 400, seed=5)
    url = str(tmp_path / "g.db")
    assert runner.invoke(app, ["--db", url, "import", str(tmp_path / "gen")]).exit_code == 0
    monkeypatch.setattr(cli_catalog, "TABLE_ROWS", 10)
    table = runner.invoke(app, ["--db", url, "datasets", "list"])
    assert "showing the first 10 datasets" in table.stderr
    listed = runner.invoke(app, ["--db", url, "datasets", "list", "-f", "json"]).stdout
    assert len(json.loads(listed)["datasets"]) == json.loads(listed)["summary"]["datasets"] == 400
    limited = runner.invoke(app, ["--db", url, "datasets", "list", "-f", "json", "--limit", "7"])
    assert len(json.loads(limited.stdout)["datasets"]) == 7


@pytest.mark.parametrize(
    "args", [["overview"], ["audit", "--quiet"], ["expire"], ["journal"], ["datasets", "list"]]
)
def test_a_mistyped_db_fails_and_creates_nothing(tmp_path, args):
    path = tmp_path / "typo.db"
    if args[0] in ("audit", "expire"):
        args = [*args, "--policy", str(Path(__file__).parent.parent / "policies")]
    result = runner.invoke(app, ["--db", str(path), *args])
    assert result.exit_code == 2
    assert "no catalog there" in result.stderr
    assert not path.exists()


@pytest.mark.parametrize(("argv", "status"), [(["--help"], 0), (["sites", "list"], 2)])
def test_the_entry_point_freezes_what_is_left_before_the_shutdown(argv, status, tmp_path):
    """The console script's ``main`` freezes the objects left once the command is done (the
    interpreter's shutdown then does not trace them for cycles), whether it ends well or in an
    error (no catalog there: exit 2); atexit handlers still run."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, file=sys.stderr))\n"
        "from lifecycle.cli.app import main\n"
        f"sys.argv = ['lifecycle', '--db', {str(tmp_path / 'c.db')!r}, *{argv!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == status, done.stderr
    assert "frozen True" in done.stderr
