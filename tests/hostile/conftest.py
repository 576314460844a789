"""The hostile-testing harness: run a command as cron would, and prove it refused cleanly.

Every hostile case asserts the same four things (issue 10): the exit code, one line on stderr,
no ``Traceback`` anywhere, and the catalog unchanged, compared as an export before and after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app

_runner = CliRunner()


def invoke(url: str | None, *args: str, input: str | None = None):
    """Run ``lifecycle [--db URL] ARGS`` in-process; stdout and stderr apart."""
    prefix = ["--db", url] if url is not None else []
    return _runner.invoke(app, [*prefix, *args], input=input)


def export_digest(url: str, directory: Path) -> dict[str, str]:
    """A fingerprint of the whole catalog: the sha256 of every exported CSV table."""
    cat = Catalog(url)
    try:
        cat.export_directory(directory, "csv")
    finally:
        cat.close()
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def assert_refused(result, code: int, *fragments: str) -> None:
    """Exit ``code``, one line on stderr naming every fragment, no traceback anywhere."""
    stderr = result.stderr
    assert result.exit_code == code, (result.exit_code, result.stdout, stderr, result.exception)
    assert "Traceback" not in stderr, stderr
    assert "Traceback" not in result.stdout, result.stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("lifecycle: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    # a crash that the runner caught (exit 1 with an exception) is never a refusal
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.fixture
def unchanged(tmp_path) -> Callable[[str], Callable[[], None]]:
    """``check = unchanged(url)`` before the hostile command; ``check()`` after it."""
    counter = iter(range(1_000_000))

    def watch(url: str) -> Callable[[], None]:
        n = next(counter)
        before = export_digest(url, tmp_path / f"unchanged-{n}-before")

        def check() -> None:
            after = export_digest(url, tmp_path / f"unchanged-{n}-after")
            assert after == before, "the catalog changed"

        return check

    return watch
