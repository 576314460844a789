"""``--help`` of every command reads cleanly: no value type after flags, no text that rich markup
swallowed (a ``[default: x]`` left as a stray space before a full stop), and ``--version``."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from lifecycle import __version__
from lifecycle.cli.app import app

runner = CliRunner()


def _paths(command, prefix=()):
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*prefix, name))


COMMANDS = list(_paths(get_command(app)))


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"lifecycle {__version__}\n"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "lifecycle")
def test_help_reads_cleanly(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text
    assert not re.search(r"\w \.(?:\s|$)", text), re.search(r".{30}\w \.(?:\s|$)", text)


def test_defaults_written_in_help_survive_rich_markup():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert "(default: ./lifecycle.db)" in result.output
    result = runner.invoke(app, ["audit", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert "File to write (default: stdout)." in " ".join(result.output.split())
