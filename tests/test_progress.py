"""Issue 19: progress on stderr for people at a terminal, a closing line with what was done and how
long it took, and Ctrl-C that stops cleanly.

Progress is never on stdout and never drawn when stderr is not a terminal (a pty stands for the
terminal here); the closing line's counts are the work done; SIGINT in the middle of a real import
(a subprocess, its changes made but not committed) exits 130 with one line and leaves the catalog
as it was, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from interrupt import interrupt_at_pause
from typer.testing import CliRunner

from lifecycle.api import Catalog, policy_set
from lifecycle.cli.app import app
from lifecycle.output.progress import Bars, for_terminal, wanted
from lifecycle.progress import SILENT, Progress

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_catalog"
POLICIES = ROOT / "policies"
LIFECYCLE = str(Path(sys.executable).parent / "lifecycle")
CLOSING = re.compile(r"^(?P<what>.+) in (?P<seconds>\d+\.\d) s$")
runner = CliRunner()


class Recorder(Progress):
    """Every report of progress, in order: what the services said."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.names: dict[int, str] = {}

    def begin(self, name: str, total: int | None) -> object:
        handle = len(self.names) + 1
        self.names[handle] = name
        self.events.append(("begin", handle, total))
        return handle

    def update(self, handle: object, done: int, total: int | None) -> None:
        self.events.append(("update", handle, done, total))

    def end(self, handle: object) -> None:
        self.events.append(("end", handle))

    def final(self) -> dict[str, tuple[int | None, int | None]]:
        """Phase name -> (done, total) as last reported."""
        last: dict[int, tuple[int | None, int | None]] = {}
        for event in self.events:
            if event[0] == "begin":
                last[event[1]] = (None, event[2])
            elif event[0] == "update":
                last[event[1]] = (event[2], event[3])
        return {self.names[h]: value for h, value in last.items()}

    def balanced(self) -> bool:
        begun = [e[1] for e in self.events if e[0] == "begin"]
        ended = [e[1] for e in self.events if e[0] == "end"]
        return sorted(begun) == sorted(ended)


def sample_rows() -> dict[str, int]:
    """Rows of each table of the sample catalog, counted from its files."""
    counts = {}
    for path in sorted(SAMPLE.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            counts[path.stem] = sum(1 for _ in csv.DictReader(handle))
    return counts


def digest(url: str, directory: Path) -> dict[str, str]:
    """The whole catalog, as the sha256 of each exported table."""
    with Catalog(url) as cat:
        cat.export_directory(directory, "csv")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def closing_line(stderr: str) -> re.Match:
    lines = stderr.strip().splitlines()
    found = CLOSING.match(lines[-1]) if lines else None
    assert found, stderr
    return found


# -- the progress a service reports -----------------------------------------------------------
def test_silent_progress_and_phases_always_end():
    with SILENT.phase("anything", 3) as phase:
        phase.advance(2)
    assert phase.done == 2
    recorder = Recorder()

    def interrupted() -> None:
        with recorder.stages("work", 2) as stage:
            with stage("first"):
                pass
            with stage("second"):
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert recorder.balanced()  # an interrupted phase ends too: a display is never left drawn
    assert recorder.final() == {"work": (1, 2), "first": (None, None), "second": (None, None)}
    assert list(recorder.each("rules", ["a", "b", "c"])) == ["a", "b", "c"]
    assert recorder.final()["rules"] == (3, 3)


def test_import_reports_each_table_rows_done_of_rows_total(catalog_url):
    recorder = Recorder()
    with Catalog(catalog_url, progress=recorder) as cat:
        result = cat.import_directory(SAMPLE)
    rows = sample_rows()
    final = recorder.final()
    assert {name: final[f"importing {name}"] for name in rows} == {
        name: (n, n) for name, n in rows.items()
    }
    assert result.rows == sum(rows.values())
    assert recorder.balanced()
    # per block of rows, never per row: a handful of updates per table
    updates = sum(1 for e in recorder.events if e[0] == "update")
    assert updates <= 4 * len(rows)


def test_audit_reports_each_rule_and_expire_each_phase(catalog_url):
    recorder = Recorder()
    with Catalog(catalog_url, progress=recorder) as cat:
        cat.import_directory(SAMPLE)
        rules = cat.audit(POLICIES, record=False).summary["rules"]
        cat.expire(POLICIES)
    final = recorder.final()
    assert final["auditing: rules evaluated"] == (rules, rules)
    assert final["expiry"] == (5, 5)
    assert recorder.balanced()


def test_simulated_years_advance_per_step_and_durability_per_phase(catalog_url):
    recorder = Recorder()
    with Catalog(catalog_url, progress=recorder) as cat:
        cat.import_directory(SAMPLE)
        years = cat.simulate_years(2, policy_set(POLICIES), step_days=120.0)
        report = cat.durability(monte_carlo=50, seed=1)
    final = recorder.final()
    steps = 2 * round(365.25 / 120.0)
    assert final["simulating 2 years (120-day steps)"] == (steps, steps)
    assert len(years.years) == 2
    assert final["durability"] == (4, 4)  # the irreproducible set, patterns, least, sampling
    assert "sampling 50 years (Monte Carlo)" in final
    assert report.monte_carlo is not None
    assert recorder.balanced()


def test_durability_and_simulate_years_closing_lines(catalog_url):
    runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE)])
    found = runner.invoke(app, ["--db", catalog_url, "durability", "--monte-carlo", "20"])
    assert found.exit_code in (0, 1), found.output
    with Catalog(catalog_url) as cat:
        summary = cat.durability().summary
    datasets = summary["non_regenerable"] + summary["regenerable"]
    line = closing_line(found.stderr)["what"]
    assert line == f"estimated the durability of {datasets:,} datasets and sampled 20 years"
    simulated = runner.invoke(app, ["--db", catalog_url, "simulate", "years", "1", "--policy",
                                    POLICIES, "--step-days", "120"])  # fmt: skip
    assert simulated.exit_code in (0, 1), simulated.output
    assert closing_line(simulated.stderr)["what"].startswith("simulated 1 years (")
    quiet = runner.invoke(app, ["--db", catalog_url, "durability", "--format", "json"])
    assert not CLOSING.search(quiet.stderr.strip().splitlines()[-1] if quiet.stderr.strip() else "")


# -- closing lines: what was done, how long, only for people ----------------------------------
def test_import_closing_line_counts_the_rows_imported(catalog_url):
    result = runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    found = closing_line(result.stderr)
    assert found["what"] == f"imported {sum(sample_rows().values()):,} rows"
    assert "in " not in result.stdout.split(":")[-1]  # stdout keeps only the summary
    assert "\x1b[" not in result.stdout + result.stderr  # no progress drawn: not a terminal


def test_closing_lines_in_table_mode_only(catalog_url):
    runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE)])
    base = ["--db", catalog_url, "audit", "--policy", str(POLICIES), "--fail-on", "never"]
    table = runner.invoke(app, [*base, "--no-record"])
    assert table.exit_code == 0, table.output
    rules = runner.invoke(app, ["policy", "show", "--policy", str(POLICIES), "--format", "json"])
    n_rules = len(json.loads(rules.stdout)["rules"])
    datasets = sample_rows()["datasets"]
    assert closing_line(table.stderr)["what"] == (
        f"audited {datasets} datasets against {n_rules} rules"
    )
    for fmt in ("json", "csv"):
        machine = runner.invoke(app, [*base, "--no-record", "--format", fmt])
        assert machine.exit_code == 0, machine.output
        assert " s\n" not in machine.stderr
        assert not CLOSING.search(machine.stdout.strip())
    quiet = runner.invoke(app, [*base, "--quiet"])  # cron: nothing unless the findings changed
    again = runner.invoke(app, [*base, "--quiet"])
    assert quiet.exit_code == again.exit_code == 0
    assert again.stdout == again.stderr == ""


def test_closing_line_after_exit_1(catalog_url):
    """A command that exits 1 with findings has done its work: it says how long it took too."""
    runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE)])
    result = runner.invoke(
        app, ["--db", catalog_url, "audit", "--policy", str(POLICIES), "--no-record"]
    )
    assert result.exit_code == 1, result.output
    assert closing_line(result.stderr)["what"].startswith("audited ")


# -- progress only on a terminal, and only on stderr -------------------------------------------
def test_progress_is_wanted_only_for_a_terminal(monkeypatch):
    monkeypatch.delenv("LIFECYCLE_PROGRESS", raising=False)
    assert not wanted(stream=io.StringIO())
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert wanted(stream=terminal)
        assert not wanted(no_progress=True, stream=terminal)
        for off in ("0", "no", "off"):
            monkeypatch.setenv("LIFECYCLE_PROGRESS", off)
            assert not wanted(stream=terminal)
    os.close(leader)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("LIFECYCLE_PROGRESS")
    assert for_terminal() is SILENT


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                break
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_bars_draw_on_a_terminal_with_names_shown_literally():
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        bars = Bars(terminal)
        with bars.phase("[bold]EVIL[/] rules", 1200) as phase:
            phase.advance(600)
            with bars.phase("a spinner"):
                pass
        assert bars._display is None  # stopped when the last phase ended
    drawn = _read_all(leader)
    os.close(leader)
    assert "[bold]EVIL[/] rules" in drawn
    assert "a spinner" in drawn


def _run_on_a_terminal(args: list[str], env: dict[str, str] | None = None):
    """``lifecycle ARGS`` with stderr on a pty (a terminal) and stdout on a pipe."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [LIFECYCLE, *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        text=True,
    )
    os.close(follower)
    terminal = _read_all(leader)
    out = proc.stdout.read()
    proc.wait(timeout=120)
    proc.stdout.close()
    os.close(leader)
    return proc.returncode, out, terminal


def test_import_progress_on_a_terminal_never_on_stdout(tmp_path, monkeypatch):
    monkeypatch.delenv("LIFECYCLE_PROGRESS", raising=False)
    total = f"{sum(sample_rows().values()):,}"
    code, out, terminal = _run_on_a_terminal(
        ["--db", str(tmp_path / "a.db"), "import", str(SAMPLE)]
    )
    assert code == 0, terminal
    assert out.startswith("imported ")
    assert out.count("\n") == 1
    assert "\x1b" not in out
    assert "importing datasets" in terminal  # drawn on the terminal
    assert f"imported {total} rows in " in terminal
    for args, env in (
        (["--no-progress"], {}),
        ([], {"LIFECYCLE_PROGRESS": "0"}),
    ):
        db = str(tmp_path / f"quiet-{len(args)}.db")
        code, out, terminal = _run_on_a_terminal([*args, "--db", db, "import", str(SAMPLE)], env)
        assert code == 0, terminal
        assert "importing" not in terminal
        assert f"imported {total} rows in " in terminal


# -- Ctrl-C --------------------------------------------------------------------------------------
def test_sigint_during_an_import_changes_nothing_and_exits_130(catalog_url, tmp_path):
    first = tmp_path / "first"  # the sites and endpoints first: the catalog is not empty
    first.mkdir()
    for table in ("sites", "endpoints"):
        shutil.copy(SAMPLE / f"{table}.csv", first)
    with Catalog(catalog_url) as cat:
        cat.import_directory(first)
    before = digest(catalog_url, tmp_path / "before")
    code, out, err = interrupt_at_pause([LIFECYCLE, "--db", catalog_url, "import", str(SAMPLE)])
    assert code == 130, err
    assert err == "lifecycle: error: interrupted; nothing was changed\n"
    assert out == ""
    assert digest(catalog_url, tmp_path / "after") == before


def test_interrupt_after_a_commit_says_what_stands(catalog_url, monkeypatch):
    from lifecycle.exchange.importer import ImportResult

    summary = ImportResult.summary
    calls = []

    def interrupted_after_commit(self):  # the journal's summary, then the CLI's line
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return summary(self)

    monkeypatch.setattr(ImportResult, "summary", interrupted_after_commit)
    result = runner.invoke(app, ["--db", catalog_url, "import", str(SAMPLE)])
    assert result.exit_code == 130
    assert result.stderr == (
        "lifecycle: error: interrupted; the change committed before it stands, nothing else "
        "was changed\n"
    )
    with Catalog(catalog_url) as cat:
        assert cat.count_datasets() == sample_rows()["datasets"]
