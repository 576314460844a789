"""The Python API is what the README shows: its code runs, its names import, its methods explain
themselves, and the policies it defaults to are the CLI's."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_CATALOG

import lifecycle
import lifecycle.api as api
from lifecycle.api import Catalog
from lifecycle.errors import UsageError

README = ROOT / "README.md"
LATER = datetime(2035, 1, 1, tzinfo=UTC)  # past the sample's five-year lifetimes
ONE_RULE = """
[policy]
name = "mine"

[[rule]]
name = "one-copy"
type = "replication"
select = { kind = ["raw"] }
copies = 1
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Every ```python block of ``text``: (the line it starts on, its code)."""
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _environment() -> dict[str, str]:
    """This interpreter's environment without the catalog and policy of the developer."""
    env = {k: v for k, v in os.environ.items() if k not in ("LIFECYCLE_DB", "LIFECYCLE_POLICY")}
    env["LIFECYCLE_ACTOR"] = "tester"
    return env


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``code`` as a script of its own in ``cwd``, in a fresh interpreter (as a user runs it)."""
    script = cwd / "example.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 1
    assert any("cat.audit()" in code for _, code in BLOCKS)
    assert any("WhatIf" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_python_runs(backend, new_catalog_url, tmp_path, line, code):
    """Each Python block of the README runs as written, in the directory ``make demo`` leaves
    (``demo.db`` holding ``sample_catalog/``, and ``./policies``); on PostgreSQL the same code
    with the catalog's URL for ``demo.db``."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'demo.db'}"
    else:
        url = new_catalog_url()
        code = code.replace('"demo.db"', repr(url))
    with Catalog(url) as cat:
        cat.import_directory(SAMPLE_CATALOG)
    (tmp_path / "policies").symlink_to(ROOT / "policies", target_is_directory=True)
    done = run_python(code, tmp_path)
    assert done.returncode == 0, f"README.md:{line}:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    with Catalog(url) as cat:  # the example's audit was recorded in that catalog
        assert len(cat.audit_history()) >= 1


PUBLIC = [
    "Catalog",
    "LifecycleError",
    "PolicySet",
    "Selector",
    "WhatIf",
    "generate",
    "load_policies",
]


def test_public_names_import_from_the_package_on_first_use(tmp_path):
    """``from lifecycle import WhatIf`` works, and ``import lifecycle`` alone loads neither
    SQLAlchemy nor pandas (the command line starts fast)."""
    assert sorted(lifecycle.__all__) == sorted(PUBLIC)
    assert set(PUBLIC) <= set(dir(lifecycle))
    code = (
        "import sys\n"
        "import lifecycle\n"
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        f"from lifecycle import {', '.join(PUBLIC)}\n"
        "from lifecycle.provenance import WhatIf as What\n"
        "from lifecycle.api import Catalog as Facade\n"
        "assert WhatIf is What and Catalog is Facade\n"
        "print('ok')\n"
    )
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = lifecycle.Nope


def _public_callables():
    for name, member in inspect.getmembers(Catalog):
        if not name.startswith("_") and callable(member):
            yield f"Catalog.{name}", member
    for name in api.__all__:
        member = getattr(api, name)
        if inspect.isfunction(member):
            yield name, member


@pytest.mark.parametrize(("name", "member"), list(_public_callables()))
def test_every_public_facade_method_has_a_docstring(name, member):
    assert (inspect.getdoc(member) or "").strip(), f"lifecycle.api.{name} has no docstring"


@pytest.fixture
def sample(catalog):
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog


def test_audit_and_expire_read_the_default_policies(sample, tmp_path, monkeypatch):
    """Without policies, ``audit()`` and ``expire()`` read what the CLI reads:
    ``LIFECYCLE_POLICY``, else ``./policies``; with none of them, a usage error."""
    with pytest.raises(UsageError, match="no policies"):
        sample.audit()
    with pytest.raises(UsageError, match="no policies"):
        sample.expire()
    (tmp_path / "policies").symlink_to(ROOT / "policies", target_is_directory=True)
    atlas = sample.audit(record=False)
    assert atlas.summary["rules"] == 8
    assert atlas.summary["by_rule"]["raw-archival-copies"] > 0
    by_atlas = sample.expire(now=LATER).decisions
    assert (by_atlas["rule"] == "analysis-formats-lifetime").any()
    mine = tmp_path / "mine.toml"
    mine.write_text(ONE_RULE)
    monkeypatch.setenv("LIFECYCLE_POLICY", str(mine))
    assert list(sample.audit(record=False).summary["by_rule"]) == ["one-copy"]
    by_mine = sample.expire(now=LATER).decisions  # no lifetime rule: explicit expires_at only
    assert by_mine["rule"].isna().all()
    assert len(by_mine) < len(by_atlas)
    monkeypatch.delenv("LIFECYCLE_POLICY")
    given = sample.audit(str(mine), record=False)  # a path, as the notebook writes it
    assert list(given.summary["by_rule"]) == ["one-copy"]
    both = sample.audit([mine, ROOT / "policies"], record=False)
    assert both.summary["rules"] == 9


def test_cli_and_api_read_the_same_policies(tmp_path, monkeypatch):
    """The CLI no longer reads LIFECYCLE_POLICY itself: lifecycle.policy does, for both; its
    errors name the variable."""
    from typer.testing import CliRunner

    from lifecycle.cli.app import app

    mine = tmp_path / "mine.toml"
    mine.write_text(ONE_RULE)
    monkeypatch.setenv("LIFECYCLE_POLICY", str(mine))
    shown = CliRunner().invoke(app, ["policy", "show", "--format", "csv"])
    assert shown.exit_code == 0, shown.output
    assert [line.split(",")[1] for line in shown.stdout.splitlines()[1:]] == ["one-copy"]
    assert api.policy_rules()["rule"].tolist() == ["one-copy"]
    monkeypatch.setenv("LIFECYCLE_POLICY", str(tmp_path / "missing"))
    refused = CliRunner().invoke(app, ["policy", "show"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("lifecycle: error: LIFECYCLE_POLICY: ")


def test_a_folder_named_lifecycle_beside_a_script_does_not_hide_the_package(tmp_path):
    """A clone of this repository (or any folder called ``lifecycle`` without an
    ``__init__.py``) next to a script: the installed package is still the one imported."""
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "lifecycle" / "notes.txt").write_text("not code\n")
    code = "from lifecycle import Catalog, WhatIf\nprint(Catalog.__module__, WhatIf.__name__)\n"
    done = run_python(code, tmp_path)
    hint = "(an older editable install? `make` or `pip install -e .` installs it anew)"
    assert done.returncode == 0, f"{done.stderr}\n{hint}"
    assert done.stdout == "lifecycle.api WhatIf\n"


def test_a_package_named_lifecycle_beside_a_script_is_named_in_the_error(tmp_path):
    """A real package called ``lifecycle`` next to the script wins, as Python decides; the
    error names its file, so the user knows which folder to rename."""
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "lifecycle" / "__init__.py").write_text("")
    done = run_python("from lifecycle import Catalog\n", tmp_path)
    assert done.returncode == 1
    assert "cannot import name 'Catalog' from 'lifecycle'" in done.stderr
    assert str(tmp_path / "lifecycle" / "__init__.py") in done.stderr
