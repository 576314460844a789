"""Every command the README shows runs as written, in order, on the catalog `make demo` leaves.

The shell blocks of the "Using it" part of README.md are run one line at a time with bash (a line
ending in a backslash goes on), in a directory holding what a fresh clone holds next to
``demo.db`` (``sample_catalog/``, ``policies/``), with ``lifecycle`` on the path and a narrow
terminal width. A command fails the test when it prints a traceback, exits with anything but 0
or 1 (1 is the documented answer of audit, plan, recipe and simulate when they find something),
prints a table wider than ``COLUMNS``, or cuts a name with an ellipsis (a line of prose may be
longer: it is written whole, for grep). Two lines are changed for a test's sake, and named
here: the generated catalog is 2,000 datasets instead of a million, and a line piping into
Graphviz's ``dot`` is skipped when ``dot`` is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COLUMNS = 120
TABLE_RULE = re.compile(r"[│┃┏┗━─]")  # a line of a table
CUT_NAME = re.compile(r"[A-Za-z0-9_.:]{8,}…|…[A-Za-z0-9_.:]{8,}")  # a name cut with an ellipsis
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The commands of the README's shell blocks from "## Using it" up to "## Development"."""
    text = README.read_text()
    start, end = text.index("## Using it"), text.index("## Development")
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def _for_test(command: str) -> str | None:
    command = command.replace("--datasets 1000000", "--datasets 2000")
    if "| dot " in command and shutil.which("dot") is None:
        return None
    return command


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert len(commands) > 40
    assert commands[0].startswith("lifecycle --db demo.db import sample_catalog")


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    for name in ("sample_catalog", "policies"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": str(COLUMNS),
        "LIFECYCLE_ACTOR": "readme",
    }
    env.pop("LIFECYCLE_DB", None)
    env.pop("LIFECYCLE_POLICY", None)

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    # what `make demo` does to demo.db before the README's commands
    for command in (
        "lifecycle --db demo.db import sample_catalog",
        "lifecycle --db demo.db audit --policy policies --fail-on never",
    ):
        assert run(command).returncode == 0, command
    failures = []
    assignments = ""  # `D=...` lines: the shell the reader types into keeps them
    for command in readme_commands():
        if re.fullmatch(r"[A-Z_]+=\S+", command):
            assignments += f"{command}; "
            continue
        runnable = _for_test(command)
        if runnable is None:
            continue
        done = run(assignments + runnable)
        output = done.stdout + done.stderr
        lines = done.stdout.splitlines()
        # tables fit the width; a line of prose is written whole (grep finds it in cron mail)
        wide = [line for line in lines if len(line) > COLUMNS and TABLE_RULE.search(line)]
        cut = [line for line in lines if CUT_NAME.search(line)]
        if "Traceback" in output or done.returncode not in (0, 1):
            failures.append(f"{command}\n  exit {done.returncode}: {output.strip()[-500:]}")
        elif "--format" not in command and (wide or cut):
            failures.append(f"{command}\n  table over {COLUMNS} or a name cut: {(wide + cut)[0]!r}")
    assert not failures, "\n".join(failures)
