"""``lifecycle simulate years`` (issue 18 items 5-6) on the hand-built catalog of
test_durability: a weak placement loses data, a seed gives one history, the catalog is unchanged."""

from __future__ import annotations

import json

import pytest
from catalogs import write_catalog
from conftest import ROOT, snapshot
from test_durability import CAL, R1, R2, WEAK, _model_file, hand_tables
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.policy import load_policies

POLICIES = load_policies([ROOT / "policies"])
runner = CliRunner()


@pytest.fixture
def hand(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "hand", hand_tables()))
    return catalog


def test_a_weak_placement_loses_data_and_a_seed_gives_one_history(hand, tmp_path):
    model = _model_file(tmp_path, WEAK)
    before = snapshot(hand)
    first = hand.simulate_years(2, POLICIES, model, seed=1, step_days=60, raw_per_day=0.05)
    assert snapshot(hand) == before  # simulated on a copy
    lost = {entry["did"]: entry for entry in first.lost}
    assert CAL in lost  # one disk copy: lost under the weak model
    assert lost[CAL]["cause"]
    assert first.years[0].new_raw + first.years[1].new_raw > 0
    again = hand.simulate_years(2, POLICIES, model, seed=1, step_days=60, raw_per_day=0.05)
    assert again.to_dict() == first.to_dict()
    other = hand.simulate_years(2, POLICIES, model, seed=3, step_days=60, raw_per_day=0.05)
    assert other.to_dict() != first.to_dict()


def test_the_shipped_model_keeps_two_tape_copies(hand):
    decade = hand.simulate_years(2, POLICIES, ROOT / "models" / "durability.toml", seed=1,
                                 step_days=60, raw_per_day=0.05)  # fmt: skip
    assert not {R1, R2} & {entry["did"] for entry in decade.lost}
    assert all(row["lost_raw"] == 0 for row in decade.records().to_dict("records"))


def test_without_repair_more_is_lost(hand, tmp_path):
    """New raw data waits at site A without repair: a loss of A's storage takes it all."""
    document = {k: dict(v) for k, v in WEAK.items()}
    document["country_loss"] = {"probability": 0.0}
    document["site_loss"] = {f"tier{t}": {"disk": 0.6, "tape": 0.6} for t in range(4)}
    model = _model_file(tmp_path, document)
    options = {"seed": 2, "step_days": 60, "raw_per_day": 0.1}  # seeds 1-6: 5 of 6 lose more
    repaired = hand.simulate_years(3, POLICIES, model, **options)
    unrepaired = hand.simulate_years(3, POLICIES, model, repair=False, **options)
    assert unrepaired.summary()["transfers"] == 0
    assert repaired.summary()["transfers"] > 0
    assert len(unrepaired.lost) > len(repaired.lost)


def test_cli_json_and_exit_codes(hand, catalog_url, tmp_path):
    model = _model_file(tmp_path, WEAK)
    args = ["--db", catalog_url, "simulate", "years", "2", "--model", str(model), "--policy",
            str(ROOT / "policies"), "--seed", "5", "--step-days", "60", "--format", "json"]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 1  # something was lost for good
    document = json.loads(done.stdout)
    assert document["kind"] == "simulate-years"
    assert [y["year"] for y in document["years"]] == [1, 2]
    assert document["lost"]
    done = runner.invoke(app, [*args[:4], "0"])
    assert done.exit_code == 2
    done = runner.invoke(app, [*args, "--step-days", "0"])
    assert done.exit_code == 2
