"""Lifetime expiry on the chain of ``catalogs.chain`` (see its diagram), on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalogs import AOD1, AOD2, CALIB, LITE, MERGED, RAW1, RAW2, chain, write_catalog
from conftest import ROOT, snapshot
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app
from lifecycle.policy import load_policies

runner = CliRunner()
NOW = datetime(2026, 11, 25, tzinfo=UTC)
POLICY = """
[policy]
name = "test-lifetimes"

[[rule]]
name = "analysis-formats"
type = "lifetime"
select = { data_type = ["DAOD_*"] }
lifetime = "365d"

[[rule]]
name = "aod"
type = "lifetime"
select = { data_type = ["AOD"] }
lifetime = "3650d"

[[rule]]
name = "all-derived"
type = "lifetime"
select = { kind = ["derived"] }
lifetime = "30d"
"""


@pytest.fixture
def policies(tmp_path):
    path = tmp_path / "policies" / "lifetimes.toml"
    path.parent.mkdir()
    path.write_text(POLICY)
    return load_policies([path])


def load(catalog: Catalog, tmp_path: Path, tables=None) -> Catalog:
    catalog.import_directory(write_catalog(tmp_path / "chain", tables or chain()))
    return catalog


def dataset(tables, did: str) -> dict:
    return next(d for d in tables["datasets"] if d["did"] == did)


def decisions(report) -> dict[str, tuple[str, str]]:
    frame = report.decisions
    return {
        did: (decision, reason)
        for did, decision, reason in zip(
            frame["did"], frame["decision"], frame["reason"], strict=True
        )
    }


def test_lifetime_expires_analysis_formats_and_the_longest_lifetime_wins(
    catalog, tmp_path, policies
):
    report = load(catalog, tmp_path).expire(policies, NOW)
    # LITE (DAOD, 365d) is past its end; the AODs are selected by "aod" (3650d) and by
    # "all-derived" (30d): the longest lifetime holds them; PHYS is deleted already
    assert decisions(report) == {LITE: ("delete", "reproducible")}
    row = report.decisions.iloc[0]
    assert row["rule"] == "analysis-formats"
    assert row["end_of_life"] == datetime(2020, 1, 1, tzinfo=UTC)  # 2019-01-01 + 365 days
    assert not row["explicit"]


def test_explicit_expires_at_wins_over_the_lifetime(catalog, tmp_path, policies):
    tables = chain()
    dataset(tables, MERGED)["expires_at"] = "2025-01-01T00:00:00Z"  # before its 3650d
    dataset(tables, LITE)["expires_at"] = "2030-01-01T00:00:00Z"  # after its 365d
    report = load(catalog, tmp_path, tables).expire(policies, NOW)
    assert decisions(report) == {MERGED: ("delete", "reproducible")}
    assert bool(report.decisions.iloc[0]["explicit"])
    assert report.decisions.iloc[0]["end_of_life"] == datetime(2025, 1, 1, tzinfo=UTC)


def test_raw_calibration_and_metadata_never_expire_automatically(catalog, tmp_path, policies):
    tables = chain()
    for did in (RAW1, CALIB):
        dataset(tables, did)["expires_at"] = "2020-01-01T00:00:00Z"
    found = decisions(load(catalog, tmp_path, tables).expire(policies, NOW))
    assert found[RAW1] == ("keep", "kind: raw data never expires automatically")
    assert found[CALIB] == ("keep", "kind: calibration data never expires automatically")


def test_pins_in_force_keep_and_say_by_whom_until_when_and_why(catalog, tmp_path, policies):
    tables = chain()
    tables["pins"] = [
        {"did": LITE, "reason": "HIGG-2018-01 unblinding", "until": "2027-01-01T00:00:00Z",
         "actor": "alice"},
    ]  # fmt: skip
    cat = load(catalog, tmp_path, tables)
    assert decisions(cat.expire(policies, NOW))[LITE] == (
        "keep",
        "pinned: by alice until 2027-01-01T00:00:00Z: HIGG-2018-01 unblinding",
    )
    # once the pin's end has passed it no longer holds
    later = datetime(2027, 6, 1, tzinfo=UTC)
    assert decisions(cat.expire(policies, later))[LITE] == ("delete", "reproducible")


def test_irreproducible_datasets_are_kept_with_the_reason(catalog, tmp_path, policies):
    tables = chain()
    next(t for t in tables["transformations"] if t["tag"] == "p6026")["image_digest"] = ""
    found = decisions(load(catalog, tmp_path, tables).expire(policies, NOW))
    assert found[LITE] == ("keep", "not reproducible: transformation p6026 records no image digest")


def test_dry_run_changes_nothing(catalog, tmp_path, policies):
    cat = load(catalog, tmp_path)
    before = snapshot(cat)
    report = cat.expire(policies, NOW)
    assert not report.applied
    assert len(report.to_delete) == 1
    assert snapshot(cat) == before


def test_apply_deletes_replicas_keeps_provenance_and_journals(
    catalog, tmp_path, policies, monkeypatch
):
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: NOW)  # the present, frozen
    tables = chain()
    dataset(tables, MERGED)["expires_at"] = "2025-01-01T00:00:00Z"
    cat = load(catalog, tmp_path, tables)
    before = cat.reproducibility()
    report = cat.expire(policies, apply=True)
    assert report.applied
    assert sorted(report.to_delete["did"]) == sorted([LITE, MERGED])
    assert report.freed_by_site.to_dict("records") == [
        {"site": "CERN-PROD", "replicas": 2, "bytes": 2525}
    ]
    for did in (LITE, MERGED):
        replicas = cat.replicas(did)
        assert set(replicas["state"]) == {"deleted"}
        assert cat.dataset(did).dataset["state"] == "deleted"
    # deleting both together left every remaining dataset exactly as reproducible as before
    after = cat.reproducibility()
    assert before.to_dict("records") == after.to_dict("records")
    # provenance stays: the lineage of the deleted LITE still reaches the roots
    graph = cat.lineage(LITE)
    assert graph.node(LITE).deleted
    assert {RAW1, RAW2, CALIB, AOD1, AOD2} <= {n.did for n in graph.nodes}
    entries = cat.journal(did=LITE)
    assert list(entries["command"]) == ["expire --apply"]
    assert entries.iloc[0]["summary"].startswith(
        "expired 2 datasets as of 2026-11-25T00:00:00Z, freed 2.52 kB"
    )
    assert int(entries.iloc[0]["datasets"]) == 2
    changed = cat.journal_changes(int(entries.iloc[0]["id"]))
    assert sorted(map(tuple, changed[["entity", "row_key", "old_value", "new_value"]].values)) == [
        ("dataset", LITE, "closed", "deleted"),
        ("dataset", MERGED, "closed", "deleted"),
        ("replica", f"{LITE}@CERN-PROD_DATADISK", "available", "deleted"),
        ("replica", f"{MERGED}@CERN-PROD_DATADISK", "available", "deleted"),
    ]
    assert set(changed["field"]) == {"state"}
    assert cat.journal(did=AOD2).empty
    # a second run finds nothing left to do and writes no journal entry
    again = cat.expire(policies, apply=True)
    assert again.decisions.empty
    assert len(cat.journal()) == len(cat.journal(limit=None))
    assert list(cat.journal(limit=1)["command"]) == ["expire --apply"]


def test_the_set_check_keeps_what_the_deletion_would_make_irreproducible(
    catalog, tmp_path, policies, monkeypatch
):
    """Decided together: even if the per-dataset check let an irreproducible dataset through,
    the check against the catalog as it will be after the deletion keeps it."""
    import importlib

    service = importlib.import_module("lifecycle.expiry")  # the service's reasons, as expiry asks

    tables = chain()
    next(t for t in tables["transformations"] if t["tag"] == "p4910")["image_digest"] = ""
    dataset(tables, MERGED)["expires_at"] = "2025-01-01T00:00:00Z"  # irreproducible now
    cat = load(catalog, tmp_path, tables)
    monkeypatch.setattr(service, "irreproducible_reasons", lambda *a, **k: [])
    found = decisions(cat.expire(policies, NOW))
    assert found[MERGED] == (
        "keep",
        "needed: input of a dataset that would not be reproducible without it",
    )
    assert found[LITE] == ("delete", "reproducible")


def test_expire_cli(catalog, tmp_path, policies, monkeypatch):
    monkeypatch.setattr("lifecycle.catalog.store.clock", lambda: NOW)  # the present, frozen
    cat = load(catalog, tmp_path)
    policy_dir = str(tmp_path / "policies")
    args = ["--db", cat.url, "expire", "--policy", policy_dir, "--now", "2026-11-25T00:00:00Z"]
    dry = runner.invoke(app, args)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("1 dataset past their end of life: would delete 1 (25 B), keep 0")
    assert "dry run: nothing changed" in dry.stderr
    document = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    assert document["kind"] == "expire"
    assert document["summary"]["delete"] == 1
    assert document["decisions"][0]["did"] == LITE
    assert document["freed_by_site"] == [{"site": "CERN-PROD", "replicas": 1, "bytes": 25}]
    applied = runner.invoke(app, [*args[:-2], "--apply"])  # --now is for previews
    assert applied.exit_code == 0
    assert "deleted 1" in applied.stdout
    assert cat.dataset(LITE).dataset["state"] == "deleted"
    journal = runner.invoke(app, ["--db", cat.url, "journal", "--did", LITE, "-f", "json"])
    entries = json.loads(journal.stdout)["entries"]
    assert [e["command"] for e in entries] == ["expire --apply"]
    changes = runner.invoke(app, ["--db", cat.url, "journal", "--changes", str(entries[0]["id"]),
                                  "-f", "json"])  # fmt: skip
    assert json.loads(changes.stdout)["kind"] == "journal-changes"
    assert {(c["entity"], c["row_key"], c["new_value"]) for c in json.loads(changes.stdout)[
        "changes"]} == {("dataset", LITE, "deleted"), ("replica", f"{LITE}@CERN-PROD_DATADISK",
                                                          "deleted")}  # fmt: skip
    since = runner.invoke(app, ["--db", cat.url, "journal", "--since", "2100-01-01", "-f", "json"])
    assert json.loads(since.stdout) == {"kind": "journal", "summary": {"entries": 0}, "entries": []}
    bad = runner.invoke(app, ["--db", cat.url, "journal", "--since", "last tuesday"])
    assert bad.exit_code == 2
    assert "--since" in bad.stderr
    assert runner.invoke(app, [*args[:-2], "--now", "soon"]).exit_code == 2
    missing = runner.invoke(app, ["--db", cat.url, "expire", "--policy", str(tmp_path / "no")])
    assert missing.exit_code == 2


def test_pin_unpin_and_pins_list(catalog, tmp_path, policies, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_ACTOR", "bob")
    cat = load(catalog, tmp_path)

    def cli(*args: str):
        return runner.invoke(app, ["--db", cat.url, *args])

    result = cli("pin", LITE, "--reason", "paper in review", "--until", "2099-03-01")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"pinned {LITE} until 2099-03-01T00:00:00Z: paper in review\n"
    assert cli("pin", LITE).exit_code == 2  # --reason is required
    listed = json.loads(cli("pins", "list", "-f", "json").stdout)["pins"]
    assert [(p["did"], p["actor"], p["reason"], p["until"]) for p in listed] == [
        (LITE, "bob", "paper in review", "2099-03-01T00:00:00Z")
    ]
    assert decisions(cat.expire(policies, NOW))[LITE][0] == "keep"
    moved = cli("pin", LITE, "--reason", "paper in review")  # same reason: moves the end
    assert "with no end" in moved.stdout
    assert len(json.loads(cli("pins", "list", "-f", "json").stdout)["pins"]) == 1
    assert cli("unpin", LITE, "--reason", "other").exit_code == 2
    assert cli("unpin", LITE).exit_code == 0
    assert json.loads(cli("pins", "list", "-f", "json").stdout)["pins"] == []
    assert cli("unpin", LITE).exit_code == 2
    assert cli("pin", "data18_13TeV:nothing", "--reason", "x").exit_code == 2
    journal = cat.journal(did=LITE)
    assert list(journal["command"]) == ["unpin", "pin", "pin"]
    assert set(journal["actor"]) == {"bob"}
    assert decisions(cat.expire(policies, NOW))[LITE][0] == "delete"


def test_kept_counts_by_reason_in_the_summary(catalog, tmp_path, policies):
    tables = chain()
    dataset(tables, RAW2)["expires_at"] = "2020-01-01T00:00:00Z"
    summary = load(catalog, tmp_path, tables).expire(policies, NOW).summary()
    assert summary["expired"] == 2
    assert summary["kept_by_reason"] == {"kind": 1}
    assert summary["bytes_freed"] == 25


def test_a_pin_must_end_in_the_future(catalog, tmp_path):
    cat = load(catalog, tmp_path)
    result = runner.invoke(
        app, ["--db", cat.url, "pin", LITE, "--reason", "x", "--until", "2000-01-01"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "lifecycle: error: --until: 2000-01-01T00:00:00Z is in the past"
    )
    assert cat.pins().empty


@pytest.mark.parametrize(
    ("now", "horizon"),
    [
        (datetime(2026, 12, 6, tzinfo=UTC), datetime(2027, 12, 6, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), datetime(2029, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)),
    ],
    ids=["a year", "five years", "same time"],
)
def test_the_outlook_equals_two_previews(catalog, tmp_path, now, horizon):
    """expire_outlook shares the work of the previews at now and at the horizon: each equals
    expire's, on a generated catalog with pins ending between the two times, several pins on
    one dataset, running productions, a saved plan's inputs and irreproducible data."""
    import pandas as pd
    import sqlalchemy as sa

    from lifecycle.expiry import expire, expire_outlook, outlook_counts
    from lifecycle.generate import generate

    generate(tmp_path / "grid", datasets=4_000, seed=3)
    catalog.import_directory(tmp_path / "grid")
    policies = load_policies([ROOT / "policies" / "atlas-2015.toml"])
    with catalog.atomic("test") as (conn, _):
        ids = [row[0] for row in conn.execute(sa.text(
            "SELECT id FROM dataset WHERE kind IN ('derived', 'simulated') ORDER BY id"))]  # fmt: skip
        ends = [None, datetime(2025, 1, 1), datetime(2027, 3, 1), datetime(2031, 1, 1)]
        conn.execute(
            sa.text("INSERT INTO pin (dataset_id, reason, until, actor) VALUES (:d, :r, :u, :a)"),
            [
                {"d": d, "r": f"test {i % 3}", "u": ends[i % 4], "a": f"actor{i % 2}"}
                for i, d in enumerate(ids[::7])
            ]
            + [{"d": d, "r": "second pin", "u": ends[2], "a": "zz"} for d in ids[::14]],
        )
        # raw past an explicit end, pinned, but kept for its kind first
        conn.execute(
            sa.text("UPDATE dataset SET expires_at = :t WHERE kind = 'raw' AND id % 9 = 0"),
            {"t": datetime(2023, 1, 1)},
        )
        conn.execute(sa.text(
            "INSERT INTO pin (dataset_id, reason, until, actor) SELECT id, 'kind first', NULL, "
            "'a' FROM dataset WHERE kind = 'raw' AND id % 9 = 0"
        ))  # fmt: skip
        conn.execute(sa.text("UPDATE production SET status = 'running' WHERE id % 11 = 3"))
        conn.execute(sa.text("UPDATE transformation SET image_digest = NULL WHERE id % 5 = 2"))
    with catalog.read() as conn:
        today, ahead = expire_outlook(conn, policies, now, horizon)
        alone = (expire(conn, policies, now), expire(conn, policies, horizon))
        summary, months = outlook_counts(conn, policies, now, horizon)
    for together, single in zip((today, ahead), alone, strict=True):
        assert together.now == single.now
        pd.testing.assert_frame_equal(together.decisions, single.decisions)
        pd.testing.assert_frame_equal(together.freed_by_site, single.freed_by_site)
    # the counts alone (the report's): the summary at now, the months after now at the horizon
    assert summary == today.summary()
    later = ahead.decisions[ahead.decisions["end_of_life"] > pd.Timestamp(now)]
    expected = (
        later.assign(month=later["end_of_life"].dt.strftime("%Y-%m"))
        .groupby(["month", "decision"])
        .agg(datasets=("did", "size"), bytes=("bytes", lambda b: sum(int(v) for v in b)))
        .reset_index()
    )
    assert months.to_dict("records") == expected.to_dict("records")
    assert horizon == now or len(months) > 1
    # the comparison means something: the sets differ, a pin holds at now and not later, and
    # every kind of reason to keep occurs
    now_kept = dict(zip(today.decisions["did"], today.decisions["reason"], strict=True))
    later = dict(zip(ahead.decisions["did"], ahead.decisions["reason"], strict=True))
    reasons = {r.split(":")[0] for r in [*now_kept.values(), *later.values()]}
    assert {"kind", "pinned", "running", "not reproducible", "reproducible"} <= reasons
    if horizon > now:
        assert len(ahead.decisions) > len(today.decisions)
        assert any(
            r.startswith("pinned") and not later[did].startswith("pinned")
            for did, r in now_kept.items()
        )
