"""Issue 10, exits: a crash exits 4 (never 1), bad values exit 2, and the machine failing under a
command (disk full, lost connection, SIGINT, corrupt or read-only catalog) says so in one line."""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from catalogs import LITE, MERGED, MINI, _dataset, _replica, _transformation, chain, write_catalog
from conftest import write_lock_held
from interrupt import interrupt_at_pause, start_paused, wait_for_pause

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.cli.options import INT_MAX

HUGE = "99999999999999999999999"
LIFETIMES = """
[policy]
name = "test-lifetimes"

[[rule]]
name = "analysis-formats"
type = "lifetime"
select = { data_type = ["DAOD_*"] }
lifetime = "365d"
"""


def _load(url: str, directory: Path) -> str:
    """The chain of ``tests/catalogs.py`` (LITE and MERGED past their life) into ``url``, and
    a lifetime policy in ``directory/policies``."""
    tables = chain()
    for row in tables["datasets"]:
        if row["did"] in (MERGED, LITE):
            row["expires_at"] = "2025-01-01"
    cat = Catalog(url)
    cat.import_directory(write_catalog(directory / "chain", tables))
    cat.close()
    (directory / "policies").mkdir()
    (directory / "policies" / "l.toml").write_text(LIFETIMES)
    return url


@pytest.fixture
def loaded(catalog_url, tmp_path) -> str:
    """A catalog of its own on each backend (for what touches the database)."""
    return _load(catalog_url, tmp_path)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> str:
    """One SQLite catalog for refusals made while parsing options, before any database work."""
    directory = tmp_path_factory.mktemp("parsed")
    return _load(f"sqlite:///{directory / 'c.db'}", directory)


# -- an unexpected error: exit 4, one line, the traceback only with --debug --------------------
def test_an_unexpected_error_exits_4_in_one_escaped_line(parsed, monkeypatch):
    loaded = parsed

    def broken(*_args, **_kwargs):
        raise RuntimeError("first line \x1b[31mred\x1b[0m\nsecond line " + "x" * 1000)

    monkeypatch.setattr(Catalog, "datasets", broken)
    result = invoke(loaded, "datasets", "list")
    assert_refused(result, 4, "unexpected RuntimeError in 'datasets list': first line ")
    line = result.stderr.strip()
    assert "\x1b" not in line  # terminal escapes shown, not obeyed
    assert "\\x1b[31mred" in line
    assert line.endswith("; run with --debug for the traceback")
    assert len(line) < 500  # cut, not the whole message
    debug = invoke(loaded, "--debug", "datasets", "list")
    assert debug.exit_code == 4
    assert "Traceback" in debug.stderr
    assert "RuntimeError" in debug.stderr


def test_keyboard_interrupt_exits_130_in_one_line(parsed, monkeypatch):
    loaded = parsed

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Catalog, "overview", interrupted)
    assert_refused(invoke(loaded, "overview"), 130, "interrupted")


@pytest.mark.parametrize(
    "args",
    [
        ("datasets", "list", "--limit", "abc"),
        ("datasets", "list", "--no-such-option"),
        ("no-such-command",),
        ("--no-such-global",),
    ],
)
def test_typer_usage_errors_are_one_line_exit_2(parsed, args):
    result = invoke(parsed, *args)
    assert_refused(result, 2, "--help')")


# -- bad option values: exit 2 naming the option ------------------------------------------------
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("datasets", "list", "--limit", HUGE), "--limit"),
        (("journal", "--limit", HUGE), "--limit"),
        (("audit", "history", "--limit", HUGE), "--limit"),
        (("audit", "diff", HUGE, "1"), "RUN_A"),
        (("plan", "show", "99999999999999999999"), "PLAN_ID"),
        (("plan", "export", HUGE), "PLAN_ID"),
        (("plan", "delete", HUGE), "PLAN_ID"),
        (("plan", "apply", HUGE), "PLAN_ID"),
        (("lineage", LITE, "--depth", HUGE), "--depth"),
        (("impact", LITE, "--max-nodes", HUGE), "--max-nodes"),
        (("generate", "out", "--seed", "-1"), "--seed"),
        (("generate", "out", "--datasets", HUGE), "--datasets"),
        (("tradeoff", "--storage-cost", "1e999"), "--storage-cost"),
    ],
)
def test_integers_out_of_range_are_usage_errors(parsed, args, named):
    assert_refused(invoke(parsed, *args), 2, named)


@pytest.mark.parametrize("command", ["show", "export", "delete"])
def test_the_largest_integer_is_just_not_found(catalog_url, command):
    """The bound itself reaches SQL on both engines: a plain "not found"."""
    assert invoke(catalog_url, "init").exit_code == 0
    result = invoke(catalog_url, "plan", command, str(INT_MAX))
    assert_refused(result, 2, f"no plan {INT_MAX}")


def test_every_integer_option_of_the_cli_is_bounded():
    """A contract: an int option without a bound reaches SQL as an integer it cannot hold."""
    import typer.main

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        for param in command.params:
            yield " ".join(path), param

    checked = 0
    for path, param in walk(typer.main.get_command(app), []):
        annotation = param.type_descriptor.annotation
        if annotation in (int, int | None):
            checked += 1
            assert param.max is not None, (path, param.name)
            assert param.max <= INT_MAX, (path, param.name)
            assert param.min is None or param.min >= -INT_MAX, (path, param.name)
    assert checked >= 10


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"])
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("journal", "--since"), "--since"),
        (("audit", "--now"), "--now"),
        (("expire", "--now"), "--now"),
        (("simulate", "loss", "--site", "CERN-PROD", "--now"), "--now"),
        (("pin", LITE, "--reason", "x", "--until"), "--until"),
    ],
)
def test_dates_out_of_range_are_usage_errors(parsed, args, option, stamp):
    policy = Path(sa.engine.make_url(parsed).database).parent / "policies"
    extra = ("--policy", str(policy)) if args[0] in ("audit", "expire", "simulate") else ()
    assert_refused(invoke(parsed, *args, stamp, *extra), 2, option, "out of range")


def test_plan_export_into_a_missing_directory_is_a_usage_error(parsed, tmp_path):
    target = tmp_path / "missing" / "plan.json"
    assert_refused(invoke(parsed, "plan", "export", "1", "-o", str(target)), 2, "--output")
    assert not target.parent.exists()


def test_an_export_path_that_cannot_be_written_names_it(parsed, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke(parsed, "export", str(blocker / "out"))
    assert_refused(result, 2, str(blocker))


POLICY_HUGE_COPIES = """
[policy]
name = "typo"

[[rule]]
name = "raw-copies"
type = "replication"
copies = 99999999999999999999
"""


def test_policy_copies_beyond_any_plausible_count(parsed, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(POLICY_HUGE_COPIES)
    assert_refused(invoke(None, "policy", "check", str(path)), 2, "raw-copies", "copies")
    assert_refused(invoke(parsed, "audit", "--policy", str(path)), 2, "copies", "at most 1000")


@pytest.mark.parametrize(
    "expression", ["(" * 3000 + "CERN-PROD_DATADISK" + ")" * 3000, "|".join(["media=tape"] * 3000)]
)
def test_expressions_too_deep_for_recursion_are_refused(parsed, expression):
    result = invoke(parsed, "endpoints", "list", "--expression", expression)
    assert_refused(result, 2, "nested too deeply")


# -- LIFECYCLE_LOCK_TIMEOUT --------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "five", "1e12", "\uff11"])
def test_an_invalid_lock_timeout_names_the_variable(catalog_url, monkeypatch, value):
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", value)
    assert_refused(invoke(catalog_url, "overview"), 2, "LIFECYCLE_LOCK_TIMEOUT", repr(value))


@pytest.mark.parametrize("value", ["0", "0.0001"])
def test_lock_timeout_zero_does_not_wait(loaded, monkeypatch, unchanged, value):
    """0 used to be ``lock_timeout = '0ms'`` on PostgreSQL: wait for ever."""
    check = unchanged(loaded)
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", value)
    with write_lock_held(loaded):
        started = time.monotonic()
        result = invoke(loaded, "pin", LITE, "--reason", "x")
        waited = time.monotonic() - started
    assert_refused(result, 3, "catalog locked")
    assert waited < 3, waited
    check()


def test_a_stale_holder_file_does_not_name_a_dead_process(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Catalog(url).init()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = (
        '{"actor": "ghost", "command": "expire --apply", "since": "2020-01-01T00:00:00Z", '
        f'"pid": {dead.pid}, "host": "{os.uname().nodename}"}}'
    )
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0")
    raw = sqlite3.connect(tmp_path / "c.db", isolation_level=None)  # a lock without a holder file
    raw.execute("BEGIN IMMEDIATE")
    try:
        (tmp_path / "c.db-holder").write_text(stale)
        result = invoke(url, "pin", "x:y", "--reason", "r")
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert_refused(result, 3, "catalog locked by another run")
    assert "ghost" not in result.stderr


# -- corrupt and read-only SQLite catalogs ------------------------------------------------------
@pytest.fixture
def loaded_sqlite(tmp_path) -> str:
    """The catalog of ``loaded`` in an SQLite file (what these cases are about)."""
    return _load(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)


def _sqlite_only(url: str) -> Path:
    return Path(sa.engine.make_url(url).database)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("args", [("datasets", "list"), ("pin", LITE, "--reason", "x")])
def test_a_corrupt_sqlite_file_is_named_in_one_line(loaded_sqlite, damage, args):
    path = _sqlite_only(loaded_sqlite)
    with sqlite3.connect(path) as conn:  # everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(os.urandom(8192) if damage == "garbage" else data[: len(data) // 3])
    assert_refused(invoke(loaded_sqlite, *args), 2, "corrupt")


def _read_only_url(path: Path) -> str:
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def test_a_read_only_catalog_can_be_read_but_not_written(loaded_sqlite, tmp_path, unchanged):
    """Opened with ``mode=ro`` SQLite itself refuses writes, even to root (whom chmod does not
    stop); the detection of an unwritable file is the next test."""
    path = _sqlite_only(loaded_sqlite)
    url = _read_only_url(path)
    check = unchanged(loaded_sqlite)
    assert invoke(url, "datasets", "list", "--format", "json").exit_code == 0
    assert invoke(url, "lineage", LITE, "--format", "json").exit_code == 0
    assert invoke(url, "export", str(tmp_path / "out")).exit_code == 0
    assert_refused(invoke(url, "pin", LITE, "--reason", "x"), 2, "read-only", "'pin'")
    audit = invoke(url, "audit", "--policy", str(tmp_path / "policies"), "--quiet")
    assert audit.exit_code == 0, audit.stderr
    assert audit.stdout.startswith("audit run not recorded: ")
    assert "read-only: this audit run was not recorded" in audit.stderr
    check()


def test_an_unwritable_catalog_file_is_opened_read_only(loaded_sqlite, monkeypatch, unchanged):
    """Tests may run as root, where chmod does not stop writes: ``os.access`` answers as for
    a user without write permission, and SQLite must then be asked only to read."""
    path = _sqlite_only(loaded_sqlite)
    check = unchanged(loaded_sqlite)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    cat = Catalog(path)
    assert cat.store.read_only
    assert len(cat.datasets()) == 8
    with pytest.raises(sa.exc.OperationalError, match="readonly"), cat.store.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM pin")  # SQLite itself refuses: not only our check
    cat.close()
    assert_refused(invoke(str(path), "pin", LITE, "--reason", "x"), 2, "read-only")
    assert invoke(str(path), "audit", "--no-record", "-q", "--fail-on", "never").exit_code == 0
    check()


def test_audit_no_record_keeps_no_run(loaded, tmp_path):
    result = invoke(loaded, "audit", "--policy", str(tmp_path / "policies"), "--no-record", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("audit run not recorded")
    assert result.stderr == ""
    cat = Catalog(loaded)
    assert cat.audit_history().empty
    assert not cat.journal()["command"].eq("audit").any()
    cat.close()


# -- disk full, lost connection, SIGINT ---------------------------------------------------------
def test_disk_full_is_one_line_exit_4(loaded_sqlite, tmp_path, monkeypatch, unchanged):
    """A real SQLITE_FULL: the catalog may not grow by a page (``max_page_count``)."""
    _sqlite_only(loaded_sqlite)
    from lifecycle.catalog import store

    configure = store._configure_sqlite

    def full_disk(engine, read_only=False):
        configure(engine, read_only)

        @sa.event.listens_for(engine, "connect")
        def _no_growth(dbapi_conn, _record):
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    check = unchanged(loaded_sqlite)
    monkeypatch.setattr(store, "_configure_sqlite", full_disk)
    big = copy.deepcopy(MINI)
    big["datasets"] = [_dataset(f"user:user.big.{i:05d}", "raw", "RAW", 10) for i in range(3000)]
    big["replicas"] = [_replica(row["did"], "CERN-PROD_DATATAPE") for row in big["datasets"]]
    for table in ("transformations", "productions", "production_io", "pins"):
        big[table] = []
    result = invoke(loaded_sqlite, "import", str(write_catalog(tmp_path / "big", big)))
    assert_refused(result, 4, "disk full", "rolled back")
    monkeypatch.setattr(store, "_configure_sqlite", configure)
    check()


def _expire(url: str, policies: str) -> list[str]:
    return [  # as of the present: --now is for previews
        sys.executable, "-m", "lifecycle.cli.app", "--db", url, "expire", "--policy", policies,
        "--apply",
    ]  # fmt: skip


def test_sigint_mid_apply_is_one_line_and_changes_nothing(loaded, tmp_path, unchanged):
    check = unchanged(loaded)
    code, out, err = interrupt_at_pause(_expire(loaded, str(tmp_path / "policies")), 30)
    assert code == 130, err
    assert err == "lifecycle: error: interrupted; nothing was changed\n"
    assert out == ""
    check()


def test_a_terminated_postgresql_backend_is_one_line_exit_4(
    postgres_catalog_url, tmp_path, unchanged
):
    loaded = _load(postgres_catalog_url, tmp_path)
    check = unchanged(loaded)
    proc = start_paused(_expire(loaded, str(tmp_path / "policies")), 2)
    try:
        wait_for_pause(proc, 60)
        engine = sa.create_engine(loaded)
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'lifecycle-lock:' || :pid || ':%'"
                ),
                {"pid": str(proc.pid)},
            ).all()
        engine.dispose()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
    assert killed == [(True,)]
    assert proc.returncode == 4, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "connection to the database was lost" in lines[0]
    check()


# -- a provenance chain 3,000 productions deep ---------------------------------------------------
DEPTH = 3000


def _deep(i: int) -> str:
    return f"user:user.deep.{i:05d}"


@pytest.fixture(scope="module")
def deep_url(tmp_path_factory) -> str:
    """RAW -> 3,000 productions in a row, on SQLite (rendering does not depend on the engine)."""
    directory = tmp_path_factory.mktemp("deep")
    runs = range(1, DEPTH + 1)
    tables = {
        "sites": copy.deepcopy(MINI["sites"]),
        "endpoints": copy.deepcopy(MINI["endpoints"]),
        "datasets": [_dataset(_deep(0), "raw", "RAW", 10)]
        + [_dataset(_deep(i), "derived", "AOD", 10, state="deleted") for i in runs],
        "replicas": [_replica(_deep(0), "CERN-PROD_DATATAPE")],
        "transformations": [_transformation("r1", "Step_tf")],
        "productions": [
            {
                "id": f"task-{i}",
                "transformation": "r1",
                "conditions_tag": "",
                "site": "CERN-PROD",
                "started_at": "2019-01-01T00:00:00Z",
                "finished_at": "2019-01-01T01:00:00Z",
                "status": "done",
            }
            for i in runs
        ],
        "production_io": [
            row
            for i in runs
            for row in (
                {"production": f"task-{i}", "did": _deep(i - 1), "role": "input"},
                {"production": f"task-{i}", "did": _deep(i), "role": "output"},
            )
        ],
    }
    url = f"sqlite:///{directory / 'deep.db'}"
    cat = Catalog(url)
    cat.import_directory(write_catalog(directory / "tables", tables))
    cat.close()
    return url


def _render(graph, fmt: str, recursion_margin: int | None = None) -> str:
    """``graph`` in ``fmt``; with a margin, under a recursion limit that many frames above the
    caller's, so that any recursion per level of the chain fails."""
    import inspect
    import io

    from lifecycle.output import render

    out = io.StringIO()
    limit = sys.getrecursionlimit()
    if recursion_margin is not None:
        sys.setrecursionlimit(len(inspect.stack(0)) + recursion_margin)
    try:
        render(graph, fmt, "graph", out)
    finally:
        sys.setrecursionlimit(limit)
    return out.getvalue()


@pytest.mark.parametrize("command", ["lineage", "impact"])
def test_a_3000_deep_chain_renders_in_every_format(deep_url, command):
    """json, dot and mermaid at 3,000 levels (and the CLI's json); the slow renderers (rich's
    tree, prov's serializers: seconds at 3,000 levels, measured) at 500 levels, under a
    recursion limit only 250 frames above this test's own."""
    did = _deep(DEPTH) if command == "lineage" else _deep(0)
    result = invoke(deep_url, command, did, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert _deep(DEPTH // 2) in result.stdout
    cat = Catalog(deep_url)
    try:
        graph = getattr(cat, command)(did)
        cut = getattr(cat, command)(did, max_nodes=500)
    finally:
        cat.close()
    assert len(graph.productions) == DEPTH
    for fmt in ("dot", "mermaid"):
        assert "task-1500" in _render(graph, fmt, recursion_margin=250)
    assert cut.truncated
    assert len(cut.productions) >= 499
    middle = "task-2800" if command == "lineage" else "task-200"
    for fmt in ("prov-json", "prov-n"):
        assert middle in _render(cut, fmt, recursion_margin=250)
    tree = _render(cut, "tree", recursion_margin=250)  # bounded: the nearest 40 productions
    assert f"by task-{2961 if command == 'lineage' else 40} ·" in tree
    assert len(tree.splitlines()) < 200


def test_a_3000_deep_recipe_renders(deep_url):
    from lifecycle.output.recipes import to_shell, to_text

    result = invoke(deep_url, "recipe", _deep(DEPTH), "--format", "json")
    assert result.exit_code == 0, result.stderr
    cat = Catalog(deep_url)
    try:
        found = cat.recipe(_deep(DEPTH))
    finally:
        cat.close()
    assert "task-3000" in to_text(found)
    assert "task-3000" in to_shell(found)


def test_a_3000_deep_tree_goes_on_below_instead_of_off_the_screen(deep_url):
    result = invoke(deep_url, "lineage", _deep(DEPTH), "--max-nodes", "40")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("(continued below)") == 3
    assert "continued: user:user.deep.02990" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 160
