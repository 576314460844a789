"""Review of issue 10 (items 1-5, 16) by a hostile tester, on both databases.

Each test here failed on the merged branch before its fix: catalog text reaching a terminal raw
through the action messages (pin, unpin, mark-lost, plan delete, tradeoff notes), and the other
holes named in each test's docstring.
"""

from __future__ import annotations

import shlex
import subprocess
import unicodedata
from pathlib import Path

import pytest
from catalogs import AOD2, LITE, RAW1, chain, write_catalog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.policy import Selector, load_policies
from lifecycle.text import printable

# rich markup, a CSI colour, an OSC 8 hyperlink ended by BEL, a line separator, a bidi override
EVIL = "E[/]V[bold]I[/bold][link=http://x]L[/link]\x1b[31mR\x1b]8;;http://e\x07\u2028S\u202eT"
DIGEST = "sha256:" + "f" * 64
POLICY = """
[policy]
name = "review"

[[rule]]
name = "raw-archival-copies"
type = "replication"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"

[[rule]]
name = "analysis-formats"
type = "lifetime"
select = { data_type = ["DAOD_*", "AOD*"] }
lifetime = "30d"
"""


@pytest.fixture
def policy_dir(tmp_path) -> str:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.toml").write_text(POLICY)
    return str(tmp_path / "policies")


def invoke_tty(url: str, *args: str):
    """Run the CLI as on a terminal: click keeps ANSI sequences (``color=True``) as a tty would."""
    return CliRunner().invoke(app, ["--db", url, *args], color=True)


def hidden(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on rather than show (newline aside)."""
    return [
        repr(c)
        for c in text
        if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")
    ]


def hostile_tables() -> dict[str, list[dict[str, str]]]:
    """The chain with hostile text in the site, endpoint, data type, pin reason and actor."""
    tables = chain()
    site = "CERN" + EVIL
    tables["sites"][0]["name"] = site
    for endpoint in tables["endpoints"]:
        if endpoint["site"] == "CERN-PROD":
            endpoint["site"] = site
    for production in tables["productions"]:
        production["site"] = site
    tape = "TAPE" + EVIL
    tables["endpoints"][0]["name"] = tape
    for replica in tables["replicas"]:
        if replica["endpoint"] == "CERN-PROD_DATATAPE":
            replica["endpoint"] = tape
    for dataset in tables["datasets"]:
        if dataset["did"] == LITE:
            dataset["data_type"] = "DAOD_" + EVIL
            dataset["expires_at"] = "2020-01-01T00:00:00Z"
    for transformation in tables["transformations"]:
        transformation["cpu_seconds_per_event"] = "1"
        transformation["output_ratio"] = "0.5"
    tables["transformations"].append(
        {"tag": "p99998", "name": "Deriv_tf", "release": "Athena,26.0.1",
         "image": "registry.cern.ch/atlas/athena:26.0.1", "image_digest": DIGEST,
         "cpu_seconds_per_event": "3.6", "output_ratio": "0.1"}
    )  # fmt: skip
    tables["pins"] = [
        {"did": LITE, "reason": "why" + EVIL, "until": "2099-01-01", "actor": "who" + EVIL}
    ]
    return tables


def load(url: str, tmp_path: Path, tables=None) -> str:
    cat = Catalog(url)
    try:
        cat.init()
        cat.import_directory(write_catalog(tmp_path / "hostile", tables or hostile_tables()))
    finally:
        cat.close()
    return url


# -- item 5: action messages show catalog text literally ------------------------------------------


def test_action_messages_send_no_terminal_controls(catalog_url, tmp_path, policy_dir):
    """pin, unpin, mark-lost, plan delete and tradeoff notes printed catalog text raw: an OSC 8
    hyperlink, a BEL, a colour and a line separator reached the terminal."""
    url = load(catalog_url, tmp_path)
    cat = Catalog(url)
    try:
        plan = cat.plan_reprocess(
            Selector(did=(AOD2,)), "p99998:DAOD_PHYSLITE", None, "plan" + EVIL,
            load_policies([policy_dir]),
        )  # fmt: skip
    finally:
        cat.close()
    runs = [
        ("unpin", LITE, "--policy", policy_dir),
        ("pin", LITE, "--reason", "again" + EVIL),
        ("replicas", "mark-lost", RAW1, "TAPE" + EVIL, "--reason", "r", "--policy", policy_dir),
        ("replicas", "mark-lost", RAW1, "TAPE" + EVIL, "--reason", "r", "--policy", policy_dir,
         "--apply"),
        ("plan", "delete", str(plan.id), "--policy", policy_dir),
        ("tradeoff", "--cpu-cost", "0"),
    ]  # fmt: skip
    for args in runs:
        result = invoke_tty(url, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.exit_code in (0, 1), (args, result.output)
        assert hidden(result.stdout) == [], (args, result.stdout)
        assert hidden(result.stderr) == [], (args, result.stderr)
        assert "[/]" in result.stdout + result.stderr, (args, result.stdout, result.stderr)


# -- item 3: one "latest done production" for the audit rule and for plans ------------------------

REPROCESS = """
[policy]
name = "reprocess"

[[rule]]
name = "raw-reprocessable"
type = "reprocessability"
select = { kind = ["raw"] }
"""


def test_plan_and_reprocessability_rule_pick_the_same_latest_production(catalog_url, tmp_path):
    """The audit rule orders undated productions oldest; plans sorted ``started_at DESC``, which
    PostgreSQL reads NULLS FIRST: there the plan took the undated production's (lost)
    calibration while the audit called the raw data reprocessable."""
    tables = hostile_tables()
    old_calib = "calib:calib.OLD-CONDITIONS.v01"
    tables["datasets"].append(
        {"did": old_calib, "kind": "calibration", "data_type": "COND", "bytes": "10",
         "files": "1", "events": "", "created_at": "2017-01-01T00:00:00Z", "expires_at": "",
         "state": "closed"}
    )  # fmt: skip
    tables["replicas"].append(
        {"did": old_calib, "endpoint": "BNL-OSG2_DATATAPE", "state": "lost",
         "created_at": "2017-02-01T00:00:00Z", "accessed_at": ""}
    )  # fmt: skip
    old_aod = AOD2.replace("00357773", "00357772").replace(".r13286", ".r13000")
    tables["datasets"].append({**tables["datasets"][4], "did": old_aod, "data_type": "AOD"})
    tables["productions"].append(
        {"id": "task-undated", "transformation": "r13286", "conditions_tag": "OLD-CONDITIONS",
         "site": "BNL-OSG2", "started_at": "", "finished_at": "", "status": "done"}
    )  # fmt: skip
    tables["production_io"] += [
        {"production": "task-undated", "did": RAW1, "role": "input"},
        {"production": "task-undated", "did": old_calib, "role": "calibration"},
        {"production": "task-undated", "did": old_aod, "role": "output"},
    ]
    tables["transformations"].append(
        {**tables["transformations"][-1], "tag": "r99999", "name": "Reco_tf"}
    )
    url = load(catalog_url, tmp_path, tables)
    (tmp_path / "reprocess.toml").write_text(REPROCESS)
    cat = Catalog(url)
    try:
        audit = cat.audit(load_policies([tmp_path / "reprocess.toml"]), record=False)
        assert audit.findings.empty, audit.findings  # task-reco1 (dated) is RAW1's latest
        plan = cat.plan_reprocess(
            Selector(did=(RAW1,)), "r99999:AOD", None, "reco", None, save=False
        )
    finally:
        cat.close()
    assert plan.blockers.empty, plan.blockers
    assert plan.blockers.empty, plan.blockers  # not "calibration has no available replica"
    assert list(plan.inputs["conditions"]) == ["CONDBR2-BLKPA-RUN2-09"]


# -- item 4: the shell script writes no control character and echoes nothing it interprets ---------

BACKSLASHES = "a\\033[2Jb\\nc\\c"  # what dash's echo reads as ESC [2J, a newline, "stop here"
CONTROLS = "x\x1b[2J\x07\u2028y\n"  # raw controls (and a trailing newline) in catalog text


def test_recipe_shell_messages_are_printed_literally(catalog_url, tmp_path):
    """The script said why it cannot run with ``echo``, which dash reads backslash escapes in:
    catalog text reached the terminal as ESC sequences and cut lines."""
    from hostile.test_hostile_injection import load as load_shell
    from hostile.test_hostile_injection import sandbox, shell_catalog

    tables, v = shell_catalog(BACKSLASHES + CONTROLS, "production")
    tables["productions"][1]["status"] = "failed"
    load_shell(catalog_url, tmp_path / "c", tables, v)
    script = invoke_tty(catalog_url, "recipe", v["daod_did"], "-f", "shell")
    assert script.exit_code == 1, script.output
    assert hidden(script.stdout) == [], script.stdout
    path = tmp_path / "rebuild.sh"
    path.write_text(script.stdout)
    box, env = sandbox(tmp_path)
    ran = subprocess.run(
        ["sh", str(path)], cwd=box, env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 1
    assert hidden(ran.stderr) == [], ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert printable(f"production-{BACKSLASHES}{CONTROLS}/2 failed") in ran.stderr, ran.stderr


def test_recipe_shell_passes_control_characters_exactly_without_writing_them(catalog_url, tmp_path):
    """Arguments holding control characters were written raw into the script (a terminal
    printing it obeys them); they are built with printf, and reach the command exactly."""
    from hostile.test_hostile_injection import load as load_shell
    from hostile.test_hostile_injection import run_script, shell_catalog

    tables, v = shell_catalog(CONTROLS + "%'\\", "dataset")
    for transformation in tables["transformations"]:
        command = ["Tf.py", "--x=" + CONTROLS, "%IN,%OUT-" + CONTROLS]
        transformation["command"] = " ".join(shlex.quote(word) for word in command)
    load_shell(catalog_url, tmp_path / "c", tables, v)
    script = invoke_tty(catalog_url, "recipe", v["daod_did"], "-f", "shell")
    assert script.exit_code == 0, script.output
    assert hidden(script.stdout) == [], script.stdout
    _, calls = run_script(script.stdout, tmp_path)
    image = f"docker://{v['image']}@{v['image_digest']}"
    assert calls == [
        [image, "Tf.py", "--x=" + CONTROLS, f"{v['raw']},{v['aod_did']}-{CONTROLS}"],
        [image, "Tf.py", "--x=" + CONTROLS, f"{v['aod_did']},{v['daod_did']}-{CONTROLS}"],
    ]


# -- DESIGN.md invariant 3 over random catalogs: the last available copy of raw, calibration and
#    metadata is never deleted, by expiry or by a forced deletion ---------------------------------

KINDS = ("raw", "calibration", "metadata", "derived", "simulated")
ENDPOINTS = ("CERN-PROD_DATATAPE", "CERN-PROD_DATADISK", "BNL-OSG2_DATATAPE")


@st.composite
def preserved_catalogs(draw) -> dict[str, list[dict[str, str]]]:
    """Random datasets of every kind, random replica states, productions of random status and
    digest (blank too) reading any earlier dataset, end of life in the past or not."""
    tables = chain()
    for name in ("datasets", "replicas", "productions", "production_io", "transformations"):
        tables[name] = []
    for tag, digest in (("good", DIGEST), ("blank", " \t"), ("none", "")):
        tables["transformations"].append(
            {"tag": tag, "name": "Tf", "release": "Athena,1", "image": "img",
             "image_digest": digest, "command": "Tf.py %IN %OUT"}
        )  # fmt: skip
    dids: list[str] = []
    for i in range(draw(st.integers(2, 7))):
        kind = draw(st.sampled_from(KINDS))
        did = f"test:test.{kind}.{i:02d}"
        tables["datasets"].append(
            {"did": did, "kind": kind, "data_type": "DAOD_X", "bytes": "10", "files": "1",
             "created_at": "2019-01-01T00:00:00Z",
             "expires_at": draw(st.sampled_from(["", "2020-01-01T00:00:00Z"]))}
        )  # fmt: skip
        for endpoint in draw(st.lists(st.sampled_from(ENDPOINTS), max_size=3, unique=True)):
            tables["replicas"].append(
                {"did": did, "endpoint": endpoint,
                 "state": draw(st.sampled_from(["available", "available", "lost", "copying"])),
                 "created_at": "2019-01-01T00:00:00Z"}
            )  # fmt: skip
        if dids and kind in ("derived", "simulated") and draw(st.booleans()):
            production = f"task-{i}"
            tables["productions"].append(
                {"id": production, "transformation": draw(st.sampled_from(["good", "blank"])),
                 "status": draw(st.sampled_from(["done", "done", "failed", "running"]))}
            )  # fmt: skip
            for source in draw(
                st.lists(st.sampled_from(dids), min_size=1, max_size=2, unique=True)
            ):
                tables["production_io"].append(
                    {"production": production, "did": source, "role": "input"}
                )
            tables["production_io"].append({"production": production, "did": did, "role": "output"})
        dids.append(did)
    return tables


def _preserved_available(cat: Catalog) -> dict[str, int]:
    with cat.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT d.did, COUNT(r.id) FROM dataset d LEFT JOIN replica r ON r.dataset_id = d.id "
            "AND r.state = 'available' WHERE d.kind IN ('raw', 'calibration', 'metadata') "
            "GROUP BY d.did"
        ).all()
    return {did: int(n) for did, n in rows}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tables=preserved_catalogs(), order=st.randoms(use_true_random=False))
def test_no_command_deletes_the_last_available_copy_of_preserved_data(
    new_catalog_url, tmp_path_factory, tables, order
):
    url = new_catalog_url()
    directory = tmp_path_factory.mktemp("preserved")
    (directory / "p.toml").write_text(POLICY)
    policy = str(directory / "p.toml")
    load(url, directory, tables)
    cat = Catalog(url)
    try:
        before = _preserved_available(cat)
        expired = invoke_tty(url, "expire", "--policy", policy, "--apply")
        assert expired.exit_code == 0, expired.output
        replicas = [(r["did"], r["endpoint"]) for r in tables["replicas"]]
        order.shuffle(replicas)
        for did, endpoint in replicas:  # every replica, forced, in a random order
            invoke_tty(url, "replicas", "delete", did, endpoint, "--reason", "r", "--force",
                       "--apply", "--policy", policy)  # fmt: skip
        after = _preserved_available(cat)
    finally:
        cat.close()
    for did, n in before.items():
        assert n == 0 or after[did] > 0, f"the last available replica of {did} was deleted"
