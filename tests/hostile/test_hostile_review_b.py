"""Issue 10, hostile review: what the merged fixes still let through, tried as an attacker and a
new user would, on both databases."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from catalogs import LITE, RAW1, chain, write_catalog

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog

# random letters: PostgreSQL compresses repetitive text before it reaches the index size check
LONG = "".join(random.Random(10).choice(string.ascii_letters) for _ in range(4000))
NOT_UTF8 = "bad\udcffbyte"  # how Python holds an argument whose bytes are not UTF-8


def _load(url: str, directory: Path, tables=None) -> str:
    cat = Catalog(url)
    cat.import_directory(write_catalog(directory / "chain", tables or chain()))
    cat.close()
    return url


@pytest.fixture
def loaded(catalog_url, tmp_path) -> str:
    return _load(catalog_url, tmp_path)


@pytest.fixture
def policies(tmp_path) -> str:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "l.toml").write_text(
        '[policy]\nname = "l"\n[[rule]]\nname = "short"\ntype = "lifetime"\nlifetime = "365d"\n'
    )
    return str(directory)


# --- text from the command line that lands in an index: both engines refuse it alike ---------


def test_an_over_long_pin_reason_is_refused_on_both_engines(loaded, unchanged):
    check = unchanged(loaded)
    assert_refused(invoke(loaded, "pin", LITE, "--reason", LONG), 2, "--reason", "1,024")
    check()


def test_an_over_long_actor_is_refused_on_both_engines(loaded, unchanged, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_ACTOR", LONG)
    check = unchanged(loaded)
    assert_refused(invoke(loaded, "pin", LITE, "--reason", "r"), 2, "LIFECYCLE_ACTOR", "1,024")
    check()


def test_an_over_long_plan_name_is_refused_on_both_engines(loaded, unchanged, policies):
    check = unchanged(loaded)
    result = invoke(loaded, "plan", "reprocess", "--select", "kind=raw", "--chain", "r13286",
                    "--name", LONG, "--policy", policies)  # fmt: skip
    assert_refused(result, 2, "--name", "1,024")
    check()


def test_an_over_long_rule_name_fails_policy_check_not_audit(loaded, tmp_path, unchanged):
    policies = tmp_path / "long-rule"
    policies.mkdir()
    (policies / "p.toml").write_text(
        f'[policy]\nname = "p"\n[[rule]]\nname = "{LONG}"\ntype = "lifetime"\nlifetime = "1d"\n'
    )
    assert_refused(invoke(None, "policy", "check", str(policies / "p.toml")), 2, "name", "1,024")
    check = unchanged(loaded)
    assert_refused(invoke(loaded, "audit", "--policy", str(policies)), 2, "name", "1,024")
    check()


@pytest.mark.parametrize(
    "args",
    [
        ("pin", LITE, "--reason", NOT_UTF8),
        ("pin", LITE, f"--reason={NOT_UTF8}"),
        (
            "plan",
            "reprocess",
            "--select",
            "kind=raw",
            "--chain",
            "r13286",
            "--name",
            NOT_UTF8,
            "--policy",
        ),
    ],
)
def test_an_option_value_that_is_not_utf8_is_named(loaded, unchanged, policies, args):
    check = unchanged(loaded)
    option = "--reason" if args[0] == "pin" else "--name"
    args = (*args, policies) if args[-1] == "--policy" else args
    assert_refused(invoke(loaded, *args), 2, option, "not UTF-8")
    check()


def test_an_argument_or_actor_that_is_not_utf8_is_bad_input(loaded, unchanged, monkeypatch):
    check = unchanged(loaded)
    assert_refused(invoke(loaded, "datasets", "show", NOT_UTF8), 2, "not UTF-8")
    assert_refused(invoke(loaded, "datasets", "list", "--name", NOT_UTF8), 2, "--name")
    monkeypatch.setenv("LIFECYCLE_ACTOR", NOT_UTF8)
    assert_refused(invoke(loaded, "pin", RAW1, "--reason", "r"), 2, "LIFECYCLE_ACTOR")
    check()


# --- integer totals beyond 2**63 - 1: never wrapped around, never a crash --------------------

BIG = str(2**63 - 1)


def _big_tables():
    tables = chain()
    for row in tables["datasets"]:
        row["bytes"] = row["events"] = row["files"] = BIG
    return tables


@pytest.fixture
def big(catalog_url, tmp_path) -> str:
    return _load(catalog_url, tmp_path, _big_tables())


def test_sums_beyond_a_bigint_are_exact_or_one_clear_line(big, backend, unchanged):
    check = unchanged(big)
    result = invoke(big, "overview", "--format", "json")
    if backend == "sqlite":  # SQLite's SUM stops at 2**63 - 1: said so, in one line
        assert_refused(result, 4, "exceeds 9223372036854775807", "PostgreSQL")
    else:
        assert result.exit_code == 0, result.output
        assert str(2 * (2**63 - 1)) in result.stdout  # the two raw datasets
    check()


def test_plan_totals_never_wrap_around(big, policies, unchanged):
    check = unchanged(big)
    result = invoke(big, "plan", "reprocess", "--select", "kind=raw", "--chain", "r13286",
                    "--save", "--policy", policies)  # fmt: skip
    assert_refused(result, 2, "--select", "more than a catalog stores")
    check()
    result = invoke(big, "plan", "reprocess", "--select", f"did={RAW1}", "--chain", "r13286",
                    "--format", "json", "--policy", policies)  # fmt: skip
    assert "Traceback" not in result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["events"] == 2**63 - 1
    assert summary["bytes_staged"] == 2**63 - 1
    assert 0 < summary["bytes_written"] <= 2**63 - 1
