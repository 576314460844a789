"""Two ``--apply`` runs at once, and a run killed mid-apply, in real processes, on both databases."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from catalogs import LITE, MERGED, chain, write_catalog
from conftest import snapshot

from lifecycle.api import Catalog

POLICY = """
[policy]
name = "test-lifetimes"

[[rule]]
name = "analysis-formats"
type = "lifetime"
select = { data_type = ["DAOD_*"] }
lifetime = "365d"
"""


@pytest.fixture
def setup(catalog: Catalog, tmp_path: Path):
    tables = chain()
    next(d for d in tables["datasets"] if d["did"] == MERGED)["expires_at"] = "2025-01-01"
    catalog.import_directory(write_catalog(tmp_path / "chain", tables))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "l.toml").write_text(POLICY)
    return catalog, str(tmp_path / "policies")


def start_expire(url: str, policies: str, **env: str) -> subprocess.Popen:
    # as of the present: --now is for previews
    argv = [
        sys.executable, "-m", "lifecycle.cli.app", "--db", url, "expire", "--policy", policies,
        "--apply",
    ]  # fmt: skip
    return subprocess.Popen(
        argv,
        env={**os.environ, "LIFECYCLE_ACTOR": "cron-a", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pause(proc: subprocess.Popen, seconds: float = 60) -> None:
    """Block until the process says it holds its changes uncommitted (or fail)."""
    ready, _, _ = select.select([proc.stderr], [], [], seconds)
    assert ready, "the first run never reached its pause"
    line = proc.stderr.readline()
    assert line == "lifecycle: paused before commit\n", line


def test_a_second_apply_waits_briefly_then_exits_3_naming_the_holder(setup):
    catalog, policies = setup
    first = start_expire(catalog.url, policies, LIFECYCLE_PAUSE_BEFORE_COMMIT="3")
    try:
        wait_for_pause(first)
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "lifecycle.cli.app",
                "--db",
                catalog.url,
                "expire",
                "--policy",
                policies,
                "--apply",
            ],  # fmt: skip
            env={**os.environ, "LIFECYCLE_LOCK_TIMEOUT": "0.5", "LIFECYCLE_ACTOR": "cron-b"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        out, err = first.communicate(timeout=60)
    assert second.returncode == 3, second.stderr
    assert second.stderr.startswith(
        "lifecycle: error: catalog locked by cron-a (expire --apply, pid "
    )
    assert " since 20" in second.stderr
    assert second.stdout == ""
    assert first.returncode == 0, err
    assert "deleted 2" in out
    entries = catalog.journal()
    assert list(entries["command"]).count("expire --apply") == 1  # only one run acted
    assert set(entries.loc[entries["command"] == "expire --apply", "actor"]) == {"cron-a"}


def test_a_run_killed_mid_apply_leaves_the_catalog_as_it_was(setup):
    catalog, policies = setup
    before = snapshot(catalog)
    proc = start_expire(catalog.url, policies, LIFECYCLE_PAUSE_BEFORE_COMMIT="60")
    try:
        wait_for_pause(proc)  # replicas and datasets are marked deleted, not committed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(catalog) == before
    # and the catalog is usable: the lock died with the process
    again = start_expire(catalog.url, policies, LIFECYCLE_LOCK_TIMEOUT="5")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert catalog.dataset(LITE).dataset["state"] == "deleted"
