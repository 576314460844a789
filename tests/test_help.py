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
    assert not re.search(r"``|:(?:func|class|mod|meth|data):`", text)  # no reST markup
    # values are named for what they are (DID, SITE, FILE, N...), not by their Python type
    assert not re.search(r"<(?:str|path|int|float|list\[\w+\])", text), text
    assert not re.search(r"\w \.(?:\s|$)", text), re.search(r".{30}\w \.(?:\s|$)", text)


def test_defaults_written_in_help_survive_rich_markup():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert "(default: ./lifecycle.db)" in result.output
    result = runner.invoke(app, ["audit", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert "File to write (default: stdout)." in " ".join(result.output.split())


def test_lifecycle_policy_is_the_default_policy_path(catalog_url, tmp_path, monkeypatch):
    """LIFECYCLE_POLICY sets --policy as LIFECYCLE_DB sets --db: paths separated by os.pathsep;
    --policy given on the command line wins."""
    import os
    from pathlib import Path

    policies = Path(__file__).resolve().parents[1] / "policies" / "atlas-2015.toml"
    one = tmp_path / "one.toml"
    one.write_text(
        '[policy]\nname = "mine"\n[[rule]]\nname = "one-copy"\ntype = "replication"\n'
        'select = { kind = ["raw"] }\ncopies = 1\nseverity = "error"\n'
    )
    monkeypatch.setenv("LIFECYCLE_DB", catalog_url)
    monkeypatch.setenv("LIFECYCLE_POLICY", f"{policies}{os.pathsep}{one}")
    shown = runner.invoke(app, ["policy", "show", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert "one-copy" in shown.output
    assert "raw-archival-copies" in shown.output
    alone = runner.invoke(app, ["policy", "show", "--format", "json", "--policy", str(one)])
    assert "one-copy" in alone.output
    assert "raw-archival-copies" not in alone.output
    monkeypatch.setenv("LIFECYCLE_POLICY", str(tmp_path / "missing.toml"))
    refused = runner.invoke(app, ["policy", "show"])
    assert refused.exit_code == 2


def test_a_missing_argument_is_named_as_help_names_it():
    result = runner.invoke(app, ["replicas", "mark-lost"])
    assert result.exit_code == 2
    assert "Missing argument 'DID'" in result.output


def test_a_bad_file_argument_is_named_as_the_argument_not_as_an_option(tmp_path):
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "FILE: " in result.output
    assert "--policy" not in result.output
