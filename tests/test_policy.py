"""Policy documents: loading, validation errors naming file, rule and field, the ATLAS policy."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.errors import InvalidPolicy, UsageError
from lifecycle.policy import (
    Selector,
    load_policies,
    load_policy_file,
    optional_policies,
    parse_duration,
)

runner = CliRunner()
ATLAS = ROOT / "policies" / "atlas-2015.toml"
SEED = ROOT.parent / "shared" / "seeds" / "atlas-data-preservation-talk.txt"

GOOD = """
[policy]
name = "p"

[[rule]]
name = "raw-copies"
type = "replication"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"
grace = "7d"
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("P180D", timedelta(days=180)),
        ("PT12H", timedelta(hours=12)),
        ("P1W", timedelta(weeks=1)),
        ("P1Y", timedelta(days=365)),
        ("P1DT2H", timedelta(days=1, hours=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "7 days", "d", "P", "PT", "-3d", "1.5d", ""])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_minimal_rule_gets_defaults(tmp_path):
    policy = load_policy_file(write(tmp_path, GOOD))
    rule = policy.rules[0]
    assert (rule.copies, rule.endpoints, rule.distinct, rule.severity) == (
        2, "media=tape", "site", "error"
    )  # fmt: skip
    assert rule.grace == timedelta(days=7)
    lifetime = load_policy_file(
        write(
            tmp_path, '[policy]\nname="q"\n[[rule]]\nname="l"\ntype="lifetime"\nlifetime="180d"\n'
        )
    ).rules[0]
    assert lifetime.severity == "info"
    assert lifetime.select.kind == ()  # every dataset
    assert lifetime.endpoints == "*"


# (replace in GOOD, or full text) -> (rule, field, reason fragment)
BROKEN = [
    (("copies = 2", "copies = 0"), "raw-copies", "copies", "positive integer"),
    (("copies = 2", 'copies = "two"'), "raw-copies", "copies", "positive integer"),
    (("copies = 2\n", ""), "raw-copies", "copies", "required for a replication rule"),
    (('type = "replication"', 'type = "replicate"'), "raw-copies", "type", "is not one of"),
    (('distinct = "site"', 'distinct = "rack"'), "raw-copies", "distinct", "is not one of"),
    (('grace = "7d"', 'grace = "a week"'), "raw-copies", "grace", "not a duration"),
    (('grace = "7d"', 'severity = "fatal"'), "raw-copies", "severity", "is not one of"),
    (('grace = "7d"', 'lifetime = "7d"'), "raw-copies", "lifetime", "used by lifetime rules"),
    (('grace = "7d"', "colour = 1"), "raw-copies", "colour", "unknown field"),
    (('kind = ["raw"]', 'kind = ["RAW"]'), "raw-copies", "select.kind", "is not one of"),
    (('kind = ["raw"]', 'tier = ["raw"]'), "raw-copies", "select.tier", "unknown selector"),
    (('kind = ["raw"]', "kind = []"), "raw-copies", "select.kind", "non-empty list"),
    (('"media=tape"', '"media=tape&"'), "raw-copies", "endpoints", "invalid endpoint expression"),
    (('"media=tape"', '"(media=tape"'), "raw-copies", "endpoints", "invalid endpoint expression"),
]


@pytest.mark.parametrize(("change", "rule", "field", "reason"), BROKEN)
def test_broken_rule_names_file_rule_and_field(tmp_path, change, rule, field, reason):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(InvalidPolicy) as info:
        load_policy_file(path)
    assert (info.value.rule, info.value.field) == (rule, field)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}: rule '{rule}': {field}: ")


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("[[rule]]\nname='x'\ntype='preservation'\n", "policy", "missing [policy]"),
        ("[policy]\ndescription='d'\n[[rule]]\nname='x'\ntype='preservation'\n",
         "policy.name", "required"),
        ("[policy]\nname='p'\n", "rule", "at least one"),
        ("[policy]\nname='p'\n[rules]\n", "rules", "unknown table"),
        ("[policy]\nname='p'\nowner='me'\n[[rule]]\nname='x'\ntype='preservation'\n",
         "policy.owner", "unknown field"),
        ("[policy]\nname='p'\n[[rule]]\ntype='preservation'\n", "name", "required"),
    ],
)  # fmt: skip
def test_broken_document(tmp_path, text, field, reason):
    with pytest.raises(InvalidPolicy) as info:
        load_policy_file(write(tmp_path, text))
    assert info.value.field == field
    assert reason in info.value.reason


def test_not_toml(tmp_path):
    with pytest.raises(InvalidPolicy, match="not valid TOML"):
        load_policy_file(write(tmp_path, "[policy\nname="))


def test_rule_names_unique_across_documents(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD.replace('name = "p"', 'name = "q"'), "b.toml")
    with pytest.raises(InvalidPolicy, match=r"b.toml: rule 'raw-copies': name: .*also used in"):
        load_policies([tmp_path])
    duplicate = GOOD + GOOD.split("\n", 3)[3]
    with pytest.raises(InvalidPolicy, match="appears twice"):
        load_policy_file(write(tmp_path, duplicate, "c.toml"))


def test_sources_of_policies(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="no policies"):
        load_policies(None)  # tmp_path (the working directory) has no policies/
    (tmp_path / "policies").mkdir()
    write(tmp_path / "policies", GOOD)
    assert [r.name for r in load_policies(None).rules] == ["raw-copies"]
    with pytest.raises(UsageError, match="does not exist"):
        load_policies([tmp_path / "nope.toml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no \\*.toml"):
        load_policies([tmp_path / "empty"])


def test_content_hash_follows_the_text(tmp_path):
    one = load_policies([write(tmp_path, GOOD)]).content_hash
    assert one == load_policies([write(tmp_path, GOOD)]).content_hash
    changed = load_policies([write(tmp_path, GOOD.replace("7d", "8d"))]).content_hash
    assert changed != one


def test_atlas_policy_loads_and_quotes_the_policy():
    policy = load_policy_file(ATLAS)
    names = {r.name: r for r in policy.rules}
    raw = names["raw-archival-copies"]
    assert (raw.type, raw.copies, raw.endpoints, raw.distinct, raw.select.kind) == (
        "replication", 2, "media=tape", "site", ("raw",)
    )  # fmt: skip
    assert names["derived-reproducible"].select.kind == ("derived", "simulated")
    assert {r.type for r in policy.rules} == {
        "replication", "preservation", "reproducibility", "lifetime", "reprocessability"
    }  # fmt: skip
    assert names["raw-reprocessable"].select.kind == ("raw",)
    if not SEED.exists():
        pytest.skip("the seed text is not next to this checkout")
    seed = " ".join(SEED.read_text().split())
    blocks = ATLAS.read_text().split("[[rule]]")[1:]
    preceding = ATLAS.read_text().split("[[rule]]")[:-1]
    for before, block in zip(preceding, blocks, strict=True):
        comment = " ".join(
            line.lstrip("# ").strip() for line in before.splitlines() if line.startswith("#")
        )
        quotes = re.findall(r'"([^"]+)"', comment)
        assert quotes, f"rule without a quoted sentence: {block.splitlines()[1]}"
        last = " ".join(quotes[-1].split())
        assert last[:60] in seed, last


def test_policy_check_and_show_commands(tmp_path):
    ok = runner.invoke(app, ["policy", "check", str(ATLAS)])
    assert ok.exit_code == 0
    assert "atlas-data-preservation-2015" in ok.stdout
    broken = runner.invoke(
        app, ["policy", "check", str(write(tmp_path, GOOD.replace("2\n", "0\n")))]
    )
    assert broken.exit_code == 2
    assert broken.stderr.startswith("lifecycle: error: ")
    assert "rule 'raw-copies': copies:" in broken.stderr
    shown = runner.invoke(app, ["policy", "show", "--policy", str(ATLAS), "--format", "json"])
    assert shown.exit_code == 0
    import json

    document = json.loads(shown.stdout)
    assert {r["name"] for r in document["rules"]} >= {"raw-archival-copies", "derived-reproducible"}


@pytest.mark.parametrize("value", ["800000d", "99999999999d", "P9999999Y"])
def test_absurd_durations_are_policy_errors(tmp_path, value):
    with pytest.raises(InvalidPolicy, match="too long"):
        load_policy_file(write(tmp_path, GOOD.replace('"7d"', f'"{value}"')))


def test_short_durations_print_exactly():
    from lifecycle.policy import format_duration

    assert format_duration(parse_duration("PT30M")) == "PT30M"
    assert parse_duration(format_duration(parse_duration("PT30M"))) == timedelta(minutes=30)
    assert format_duration(parse_duration("12h")) == "12h"
    assert format_duration(timedelta(minutes=30)) == "PT30M"  # a timedelta no policy wrote
    assert format_duration(timedelta(seconds=90)) == "PT90S"


@pytest.mark.parametrize(
    ("written", "days"),
    [("7d", 7), ("14d", 14), ("1w", 7), ("5y", 1825), ("1826d", 1826), ("P180D", 180),
     (" 7d ", 7), ("p1y", 365)],
)  # fmt: skip
def test_durations_print_as_the_policy_writes_them(written, days):
    """``7d`` stays ``7d`` (not ``1w``), ``5y`` stays ``5y``: what the policy says, everywhere a
    rule's duration is printed; the value is the same ``timedelta`` as before."""
    import copy
    import pickle

    from lifecycle.policy import format_duration

    duration = parse_duration(written)
    assert duration == timedelta(days=days)
    assert format_duration(duration) == written.strip()
    assert format_duration(copy.deepcopy(duration)) == written.strip()
    assert format_duration(pickle.loads(pickle.dumps(duration))) == written.strip()
    assert format_duration(timedelta(days=days)) == f"{days}d"  # never weeks


def test_years_are_a_duration_unit_of_365_days(tmp_path):
    rule = load_policy_file(
        write(tmp_path, '[policy]\nname="q"\n[[rule]]\nname="l"\ntype="lifetime"\nlifetime="5y"\n')
    ).rules[0]
    assert rule.lifetime == timedelta(days=5 * 365)
    assert rule.as_dict()["lifetime"] == "5y"
    with pytest.raises(InvalidPolicy, match="too long"):
        load_policy_file(write(tmp_path, GOOD.replace('"7d"', '"201y"')))


def test_policy_show_prints_durations_as_written(tmp_path):
    path = write(tmp_path, GOOD + '\n[[rule]]\nname = "l"\ntype = "lifetime"\nlifetime = "5y"\n')
    for fmt in ("table", "csv", "json"):
        shown = runner.invoke(
            app, ["policy", "show", "--policy", str(path), "--format", fmt], terminal_width=300
        )
        assert shown.exit_code == 0, shown.output
        assert "7d" in shown.stdout
        assert "5y" in shown.stdout
        assert "1w" not in shown.stdout
        assert "1825d" not in shown.stdout


def test_policy_show_json_gives_each_rule_typed(tmp_path):
    """``policy show --format json``: the report envelope; each rule an object with the fields
    the TOML gives (defaults filled in), typed: ``copies`` a number, ``select`` lists."""
    import json

    lifetime = (
        '\n[[rule]]\nname = "l"\ntype = "lifetime"\nlifetime = "P180D"\nseverity = "warning"\n'
    )
    path = write(tmp_path, GOOD + lifetime)
    shown = runner.invoke(app, ["policy", "show", "--policy", str(path), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["kind"] == "policy"
    assert document["summary"] == {
        "policies": 1,
        "rules": 2,
        "by_type": {"replication": 1, "lifetime": 1},
        "by_severity": {"error": 1, "warning": 1},
        "policy_hash": load_policies([path]).content_hash,
    }
    assert document["policies"] == [{"name": "p", "description": "", "file": str(path), "rules": 2}]
    copies, life = document["rules"]
    assert copies == {
        "name": "raw-copies",
        "type": "replication",
        "policy": "p",
        "severity": "error",
        "select": {"kind": ["raw"]},
        "description": "",
        "grace": "7d",
        "copies": 2,
        "endpoints": "media=tape",
        "distinct": "site",
        "file": str(path),
    }
    assert life["lifetime"] == "P180D"
    assert life["grace"] is None
    assert life["select"] == {}
    assert "copies" not in life
    csv = runner.invoke(app, ["policy", "show", "--policy", str(path), "--format", "csv"])
    assert csv.stdout.splitlines()[0] == "policy,rule,type,severity,select,requirement"


def test_lifecycle_policy_is_read_by_the_library(tmp_path, monkeypatch):
    """LIFECYCLE_POLICY is looked up by lifecycle.policy, so the Python API and the CLI read the
    same documents; paths given win; a missing path names the variable."""
    import os

    from lifecycle.policy import optional_policies

    one = write(tmp_path, GOOD.replace('name = "p"', 'name = "one"'), "one.toml")
    two = write(
        tmp_path, GOOD.replace('name = "p"', 'name = "two"').replace("raw-copies", "r2"), "two.toml"
    )
    monkeypatch.chdir(tmp_path)  # no ./policies here
    assert optional_policies() is None
    monkeypatch.setenv("LIFECYCLE_POLICY", f"{one}{os.pathsep}{two}")
    assert [p.name for p in load_policies().policies] == ["one", "two"]
    assert [p.name for p in load_policies([two]).policies] == ["two"]
    monkeypatch.setenv("LIFECYCLE_POLICY", str(tmp_path / "missing.toml"))
    with pytest.raises(UsageError, match="^LIFECYCLE_POLICY: .*missing.toml does not exist"):
        load_policies()
    monkeypatch.setenv("LIFECYCLE_POLICY", "")
    with pytest.raises(UsageError, match="set LIFECYCLE_POLICY"):
        load_policies()


def test_a_select_text_parses_into_a_selector_with_defaults_for_keys_not_named():
    assert Selector.parse(["scope=data18,data17", "data_type=AOD*"], kind=("raw",)) == Selector(
        kind=("raw",), data_type=("AOD*",), scope=("data18", "data17")
    )
    assert Selector.parse(["kind=derived", "kind=simulated"], kind=("raw",)).kind == (
        "derived",
        "simulated",
    )
    for bad in ("scope", "colour=red", "kind="):
        with pytest.raises(UsageError, match=r"--select: .* is not KEY=VALUE"):
            Selector.parse([bad])


def test_optional_policies_are_none_only_without_a_policies_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert optional_policies(None) is None
    with pytest.raises(UsageError, match="no policies"):
        load_policies(None)
    assert optional_policies([ROOT / "policies"]) is not None
