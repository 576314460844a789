"""Durability (issue 18): the model document, the analytical estimate against hand-derived
answers, and the Monte Carlo cross-check, on both databases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from catalogs import write_catalog
from conftest import ROOT
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.durability import durability, load_model
from lifecycle.durability.model import model_from_document
from lifecycle.durability.montecarlo import wilson
from lifecycle.errors import InvalidModel

R1 = "data18_13TeV:data18_13TeV.00357001.physics_Main.daq.RAW"  # tape at A and B (one country)
R2 = "data18_13TeV:data18_13TeV.00357002.physics_Main.daq.RAW"  # tape at A and C (two)
CAL = "calib:calib.COND-A.v01"  # 5 files, disk at A only
META = "meta:meta.GRL-A.v01"  # 3 files, tape and disk at A
runner = CliRunner()
DERIVED = "data18_13TeV:data18_13TeV.00357001.physics_Main.recon.AOD.r1"

# A deliberately weak model: losses every few years, so sampling sees them.
WEAK = {
    "model": {"name": "weak"},
    "site_loss": {f"tier{t}": {"disk": 0.3, "tape": 0.2} for t in range(4)},
    "media_loss": {"disk": 0.02, "tape": 0.0},
    "country_loss": {"probability": 0.1},
    "operator_error": {"probability": 0.2, "fraction": 0.5},
    "repair": {"detection_days": 1, "staging_hours": 2, "efficiency": 0.5, "window_days": 36.525},
}
N = 10  # windows a year (365.25 / 36.525)


def _pw(annual: float) -> float:
    return 1 - (1 - annual) ** (1 / N)


def _hand() -> dict[str, float]:
    """The annual probability of loss of each dataset, derived by hand (see the model)."""
    c, s_tape, s_disk, op, f, x = _pw(0.1), _pw(0.2), _pw(0.3), _pw(0.2), 0.5, _pw(0.02)
    tape_copy = s_tape + (1 - s_tape) * op * f  # one tape copy at a site, its country aside
    r1 = c + (1 - c) * tape_copy * tape_copy  # A and B share the country
    r2 = (c + (1 - c) * tape_copy) ** 2  # A and C: independent countries
    meta = c + (1 - c) * tape_copy * (s_disk + (1 - s_disk) * (1 - (1 - x) ** 3))
    year = {did: 1 - (1 - q) ** N for did, q in ((R1, r1), (R2, r2), (META, meta))}
    # one disk copy: lost unless the country, the site's disk and every file survive the year
    year[CAL] = 1 - (1 - 0.1) * (1 - 0.3) * (1 - 0.02) ** 5
    return year


def _site(name: str, country: str) -> dict[str, str]:
    return {"name": name, "tier": "1", "country": country, "cloud": "X", "status": ""}


def _endpoint(name: str, site: str, media: str) -> dict[str, str]:
    return {"name": name, "site": site, "media": media, "capacity_bytes": ""}


def _dataset(did: str, kind: str, files: int) -> dict[str, str]:
    return {"did": did, "kind": kind, "data_type": kind.upper(), "bytes": str(1000 * files),
            "files": str(files), "events": "100", "created_at": "2019-01-01T00:00:00Z",
            "expires_at": "", "state": "closed"}  # fmt: skip


def _replica(did: str, endpoint: str) -> dict[str, str]:
    return {"did": did, "endpoint": endpoint, "state": "available",
            "created_at": "2019-02-01T00:00:00Z", "accessed_at": ""}  # fmt: skip


def hand_tables() -> dict[str, list[dict[str, str]]]:
    """Sites A and B in France, C in Germany (all tier 1); four datasets nothing regenerates
    and one reproducible derived dataset."""
    placed = [(R1, "A_TAPE"), (R1, "B_TAPE"), (R2, "A_TAPE"), (R2, "C_TAPE"), (CAL, "A_DISK"),
              (META, "A_TAPE"), (META, "A_DISK"), (DERIVED, "B_DISK")]  # fmt: skip
    return {
        "sites": [_site("A", "fr"), _site("B", "fr"), _site("C", "de")],
        "endpoints": [
            _endpoint("A_TAPE", "A", "tape"),
            _endpoint("A_DISK", "A", "disk"),
            _endpoint("B_TAPE", "B", "tape"),
            _endpoint("B_DISK", "B", "disk"),
            _endpoint("C_TAPE", "C", "tape"),
        ],  # fmt: skip
        "datasets": [
            _dataset(R1, "raw", 1),
            _dataset(R2, "raw", 1),
            _dataset(CAL, "calibration", 5),
            _dataset(META, "metadata", 3),
            _dataset(DERIVED, "derived", 2),
        ],  # fmt: skip
        "transformations": [
            {
                "tag": "r1",
                "name": "reco",
                "release": "Athena,22.0.1",
                "image": "atlas/athena:22.0.1",
                "image_digest": "sha256:" + "a" * 64,
                "cpu_seconds_per_event": "36",
            }
        ],  # fmt: skip
        "productions": [
            {
                "id": "task-1",
                "transformation": "r1",
                "status": "done",
                "started_at": "2019-01-01T00:00:00Z",
                "finished_at": "2019-01-02T00:00:00Z",
                "site": "A",
            }
        ],  # fmt: skip
        "production_io": [
            {"production": "task-1", "did": R1, "role": "input"},
            {"production": "task-1", "did": DERIVED, "role": "output"},
        ],
        "replicas": [_replica(did, endpoint) for did, endpoint in placed],
    }


@pytest.fixture
def hand(catalog, tmp_path):
    catalog.import_directory(write_catalog(tmp_path / "hand", hand_tables()))
    return catalog


def test_the_shipped_model_loads_with_a_source_for_every_section():
    model = load_model(ROOT / "models" / "durability.toml")
    assert model.media_loss == {"tape": 3e-9, "disk": 6e-3}
    assert model.site_loss[(1, "tape")] == 5e-4
    text = (ROOT / "models" / "durability.toml").read_text(encoding="utf-8")
    for section in ("[site_loss]", "[media_loss]", "[country_loss]", "[operator_error]"):
        before = text.split(section)[0].rstrip().splitlines()[-1]
        assert before.startswith("#"), f"{section} has no comment before it"
    for source in ("Source", "CASTOR", "CNAF"):
        assert source in text


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (lambda d: d["country_loss"].update(probability=1.5), "country_loss.probability",
         "probability"),
        (lambda d: d["media_loss"].pop("tape"), "media_loss.tape", "missing"),
        (lambda d: d["repair"].update(typo=1), "repair.typo", "unknown key"),
        (lambda d: d.update(extra={}), "extra", "unknown section"),
        (lambda d: d["site_loss"].update(tier1={"dsk": 0.1}), "site_loss.tier1.dsk", "media"),
        (lambda d: d["operator_error"].update(fraction="half"), "operator_error.fraction",
         "number"),
    ],
)  # fmt: skip
def test_a_bad_model_names_the_file_and_the_key(change, key, reason):
    document = {k: dict(v) for k, v in WEAK.items()}
    change(document)
    with pytest.raises(InvalidModel) as caught:
        model_from_document(document, "weak.toml")
    assert str(caught.value).startswith(f"weak.toml: {key}: ")
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_model_that_is_not_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname=", encoding="utf-8")
    with pytest.raises(InvalidModel, match="bad.toml: not valid TOML"):
        load_model(bad)
    with pytest.raises(InvalidModel, match="no such file"):
        load_model(tmp_path / "missing.toml")


def test_the_estimate_equals_the_answer_derived_by_hand(hand):
    model = model_from_document(WEAK)
    with hand.read() as conn:
        report = durability(conn, model)
    exact = {row["did"]: row["probability"] for row in report.least}
    for did, expected in _hand().items():
        assert exact[did] == pytest.approx(expected, rel=1e-9), did
    assert report.summary["repair_window_days"] == pytest.approx(36.525)
    assert report.summary["non_regenerable"] == 4
    regenerable = [g for g in report.groups if g["status"] == "regenerable"]
    assert [(g["kind"], g["datasets"], g["cpu_hours"]) for g in regenerable] == [
        ("derived", 1, pytest.approx(100 * 36 / 3600))
    ]
    why = {row["did"]: row["why"] for row in report.least}
    assert why[CAL] == "one copy only, on disk at A"
    assert why[R1] == "all 2 copies in one country (fr)"
    assert why[META] == "all 2 copies at one site (A)"
    # the least durable first; one more tape copy in Germany makes R1 more durable
    assert [row["did"] for row in report.least][0] == CAL
    r1 = next(row for row in report.least if row["did"] == R1)
    assert r1["repaired_probability"] < r1["probability"]
    assert "tape copy at C (another country)" in r1["repair"]


def test_monte_carlo_agrees_with_the_estimate_within_its_interval(hand):
    model = model_from_document(WEAK)
    years = 2000
    with hand.read() as conn:
        report = durability(conn, model, monte_carlo=(years, 7))
    sampled = {row["did"]: row for row in report.monte_carlo["datasets"]}
    assert set(sampled) == set(_hand())
    for did, expected in _hand().items():
        low, high = wilson(sampled[did]["lost_years"], years, z=3.29)  # 99.9 %
        assert low <= expected <= high, (did, sampled[did]["sampled"], expected)
        assert sampled[did]["analytic"] == pytest.approx(expected, rel=1e-9)
    for kind in report.monte_carlo["by_kind"]:
        assert kind["agrees"], kind
    # the check can fail: a figure a third off lies outside the sampled interval
    low, high = wilson(sampled[CAL]["lost_years"], years, z=3.29)
    assert not low <= _hand()[CAL] * 0.67 <= high
    # deterministic for a seed
    with hand.read() as conn:
        again = durability(conn, model, monte_carlo=(years, 7))
    assert again.monte_carlo == report.monte_carlo


def test_nines_per_kind_and_expected_bytes(hand):
    model = model_from_document(WEAK)
    with hand.read() as conn:
        report = durability(conn, model)
    raw = next(g for g in report.groups if g["kind"] == "raw")
    assert raw["datasets"] == 2
    assert raw["expected_lost"] > 0
    assert raw["nines"] == pytest.approx(-math.log10(raw["expected_lost"] / 2))
    assert report.summary["expected_bytes_lost_per_year"] > 0


def test_models_path_is_the_repository_folder():
    assert (Path(ROOT) / "models" / "durability.toml").is_file()


def _model_file(tmp_path: Path, document: dict) -> Path:
    lines = []
    for section, content in document.items():
        lines.append(f"[{section}]")
        for key, value in content.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {v!r}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "weak.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_formats(hand, catalog_url, tmp_path):
    model = _model_file(tmp_path, WEAK)
    base = ["--db", catalog_url, "durability", "--model", str(model), "--policy",
            str(ROOT / "policies")]  # fmt: skip
    done = runner.invoke(app, [*base, "--format", "json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["kind"] == "durability"
    assert document["least_durable"][0]["did"] == CAL
    assert document["summary"]["non_regenerable"] == 4
    done = runner.invoke(app, [*base, "--format", "csv"])
    assert done.exit_code == 0
    header, *lines = done.stdout.splitlines()
    assert header.startswith("kind,data_type,status,datasets,bytes,expected_lost")
    assert [line.split(",")[0] for line in lines] == ["calibration", "metadata", "raw", "derived"]
    done = runner.invoke(app, base)
    assert done.exit_code == 0
    for title in ("durability per kind and data type", "regenerable", "least durable"):
        assert title in done.stdout


def test_cli_bad_model_is_one_line_exit_2(hand, catalog_url, tmp_path):
    document = {k: dict(v) for k, v in WEAK.items()}
    document["media_loss"]["disk"] = 2
    model = _model_file(tmp_path, document)
    done = runner.invoke(app, ["--db", catalog_url, "durability", "--model", str(model)])
    assert done.exit_code == 2
    assert done.stderr.strip() == (
        f"lifecycle: error: {model}: media_loss.disk: must be a probability from 0 to 1, got 2"
    )
    done = runner.invoke(app, ["--db", catalog_url, "durability", "--monte-carlo", "0"])
    assert done.exit_code == 2


def test_datasets_show_gives_the_durability(hand, catalog_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_MODEL", str(_model_file(tmp_path, WEAK)))
    done = runner.invoke(app, ["--db", catalog_url, "datasets", "show", CAL, "-f", "json"])
    assert done.exit_code == 0, done.output
    durable = json.loads(done.stdout)["durability"]
    assert durable["status"] == "non-regenerable"
    assert durable["probability"] == pytest.approx(_hand()[CAL], rel=1e-9)
    assert durable["why"] == "one copy only, on disk at A"
    done = runner.invoke(app, ["--db", catalog_url, "datasets", "show", DERIVED, "-f", "json"])
    assert json.loads(done.stdout)["durability"] == {"status": "regenerable"}
    done = runner.invoke(app, ["--db", catalog_url, "datasets", "show", CAL])
    assert "durability: 0.4 nines" in done.stdout
