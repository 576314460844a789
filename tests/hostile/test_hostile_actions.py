"""Actions that must say what they change (issue 10, item 16), on both databases.

``replicas mark-lost`` previews by default, needs ``--reason`` and says what the loss means;
``unpin`` and ``plan delete`` say what they release to expiry; a deleted or lost dataset cannot
be pinned. The catalog is the chain of ``catalogs.chain``: RAW1 on two tapes, RAW2 and the
calibration on one copy each, AOD2 -> MERGED -> (DPHYS, deleted) -> LITE downstream.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from catalogs import AOD1, AOD2, CALIB, LITE, MERGED, RAW1, RAW2, chain, write_catalog

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog
from lifecycle.policy import Selector, load_policies

PLACEMENT = """
[policy]
name = "test-placement"

[[rule]]
name = "raw-archival-copies"
type = "replication"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"
"""
DIGEST = "sha256:" + "f" * 64
HINT = "run again with --apply to record it"


def tables(expired: tuple[str, ...] = ()):
    """The chain, with ``expired`` past an explicit end of life and software to plan with."""
    out = chain()
    for dataset in out["datasets"]:
        if dataset["did"] in expired:
            dataset["expires_at"] = "2020-01-01T00:00:00Z"
    out["transformations"].append(
        {"tag": "p99998", "name": "Deriv_tf", "release": "Athena,26.0.1",
         "image": "registry.cern.ch/atlas/athena:26.0.1", "image_digest": DIGEST,
         "cpu_seconds_per_event": "3.6", "output_ratio": "0.1"}
    )  # fmt: skip
    return out


def load(url: str, tmp_path: Path, expired: tuple[str, ...] = ()) -> str:
    cat = Catalog(url)
    try:
        cat.init()
        cat.import_directory(write_catalog(tmp_path / "chain", tables(expired)))
    finally:
        cat.close()
    return url


@pytest.fixture
def policy_dir(tmp_path) -> Path:
    """``./policies`` (the tests run in ``tmp_path``): the default of every command."""
    path = tmp_path / "policies"
    path.mkdir()
    (path / "placement.toml").write_text(PLACEMENT)
    return path


def states(url: str, did: str) -> list[str]:
    cat = Catalog(url)
    try:
        return sorted(cat.replicas(did)["state"])
    finally:
        cat.close()


def journal(url: str, did: str) -> list[dict]:
    cat = Catalog(url)
    try:
        return cat.journal(did=did).to_dict("records")
    finally:
        cat.close()


# -- replicas mark-lost ------------------------------------------------------------------------


def test_mark_lost_without_reason_is_refused(catalog_url, tmp_path, unchanged):
    url = load(catalog_url, tmp_path)
    check = unchanged(url)
    result = invoke(url, "replicas", "mark-lost", RAW2, "CERN-PROD_DATATAPE", "--apply")
    assert result.exit_code == 2
    assert "--reason" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    check()


def test_mark_lost_preview_of_the_last_raw_copy_says_lost_for_good(
    catalog_url, tmp_path, unchanged
):
    url = load(catalog_url, tmp_path)
    check = unchanged(url)
    result = invoke(url, "replicas", "mark-lost", RAW2, "CERN-PROD_DATATAPE", "--reason", "fire")
    assert result.exit_code == 1, result.output  # data would be lost for good
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"would mark the replica of {RAW2} at CERN-PROD_DATATAPE lost (it was available)"
    )
    assert lines[1].startswith("the last copy of this raw dataset: lost for good")
    assert lines[2].startswith("1 other dataset becomes irreproducible: ")  # AOD2, made from it
    assert HINT in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    check()  # a preview changes nothing, and journals nothing


def test_mark_lost_preview_counts_the_datasets_made_irreproducible(
    catalog_url, tmp_path, unchanged
):
    url = load(catalog_url, tmp_path)
    check = unchanged(url)
    result = invoke(url, "replicas", "mark-lost", CALIB, "CERN-PROD_DATADISK", "--reason", "x",
                    "-f", "json")  # fmt: skip
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["kind"] == "replicas-mark-lost"
    assert document["summary"]["lost_for_good"] is True
    assert document["summary"]["applied"] is False
    # every reconstruction read the calibration: both AODs, and MERGED made of the deleted AOD1
    assert document["irreproducible"] == sorted([AOD1, AOD2, MERGED])
    text = invoke(url, "replicas", "mark-lost", CALIB, "CERN-PROD_DATADISK", "--reason", "x")
    assert "3 other datasets become irreproducible: " in text.stdout
    check()


def test_mark_lost_preview_names_newly_violated_replication_rules(
    catalog_url, tmp_path, policy_dir, unchanged
):
    url = load(catalog_url, tmp_path)
    check = unchanged(url)
    args = ("replicas", "mark-lost", RAW1, "BNL-OSG2_DATATAPE", "--reason", "tape damaged")
    for extra in ((), ("--policy", str(policy_dir / "placement.toml"))):  # ./policies, or given
        result = invoke(url, *args, *extra)
        assert result.exit_code == 0, result.output  # CERN's copy remains: nothing lost for good
        assert f"{RAW1} keeps 1 available replica(s); copy it again from CERN-PROD_DATATAPE" in (
            result.stdout
        )
        assert (
            "replication rule raw-archival-copies (test-placement) newly violated: 2 -> 1 "
            "distinct sites"
        ) in result.stdout
    check()


def test_mark_lost_without_policies_says_rules_are_not_checked(catalog_url, tmp_path):
    url = load(catalog_url, tmp_path)  # no ./policies in the working directory
    result = invoke(url, "replicas", "mark-lost", RAW1, "BNL-OSG2_DATATAPE", "--reason", "x")
    assert result.exit_code == 0
    assert "newly violated replication rules are not checked" in result.stderr
    assert "newly violated" not in result.stdout


def test_mark_lost_apply_records_the_loss_with_its_reason(catalog_url, tmp_path):
    url = load(catalog_url, tmp_path)
    args = ("replicas", "mark-lost", RAW2, "CERN-PROD_DATATAPE", "--reason", "robot dropped it")
    result = invoke(url, *args, "--apply")
    assert result.exit_code == 1  # it records a fact; the data is lost for good
    assert result.stdout.startswith(f"marked the replica of {RAW2} at CERN-PROD_DATATAPE lost")
    assert HINT not in result.stderr
    assert states(url, RAW2) == ["lost"]
    entry = journal(url, RAW2)[0]
    assert entry["command"] == "replicas mark-lost --apply"
    assert entry["reason"] == "robot dropped it"
    assert entry["summary"].endswith(f"{RAW2} is lost for good")
    recoverable = invoke(url, "replicas", "mark-lost", LITE, "CERN-PROD_DATADISK",
                         "--reason", "disk failure", "--apply")  # fmt: skip
    assert recoverable.exit_code == 0  # reproducible: nothing is lost for good
    assert "recoverable, it is reproducible" in recoverable.stdout
    assert states(url, LITE) == ["lost"]


@pytest.mark.parametrize("apply", [(), ("--apply",)])
def test_mark_lost_of_a_replica_already_lost_or_deleted_is_refused(
    catalog_url, tmp_path, unchanged, apply
):
    url = load(catalog_url, tmp_path)
    invoke(url, "replicas", "mark-lost", AOD2, "CERN-PROD_DATADISK", "--reason", "x", "--apply")
    check = unchanged(url)
    again = invoke(url, "replicas", "mark-lost", AOD2, "CERN-PROD_DATADISK", "--reason", "x",
                   *apply)  # fmt: skip
    assert_refused(again, 2, AOD2, "already lost")
    deleted = "data18_13TeV:data18_13TeV.periodB.physics_Main.deriv.DAOD_PHYS.r13286_p4910_p5000"
    result = invoke(url, "replicas", "mark-lost", deleted, "CERN-PROD_DATADISK", "--reason", "x",
                    *apply)  # fmt: skip
    assert_refused(result, 2, "already deleted")
    check()


# -- pin and unpin -------------------------------------------------------------------------------


def test_pin_of_a_deleted_or_lost_dataset_is_refused(catalog_url, tmp_path, unchanged):
    url = load(catalog_url, tmp_path)
    invoke(url, "replicas", "mark-lost", AOD2, "CERN-PROD_DATADISK", "--reason", "x", "--apply")
    deleted = "data18_13TeV:data18_13TeV.periodB.physics_Main.deriv.DAOD_PHYS.r13286_p4910_p5000"
    check = unchanged(url)
    assert_refused(invoke(url, "pin", deleted, "--reason", "keep"), 2, f"cannot pin {deleted}",
                   "it is deleted")  # fmt: skip
    assert_refused(invoke(url, "pin", AOD2, "--reason", "keep"), 2, f"cannot pin {AOD2}",
                   "it is lost")  # fmt: skip
    check()


def test_pin_refuses_a_dataset_whose_replicas_are_all_gone_whatever_its_state(
    catalog_url, tmp_path, unchanged
):
    data = tables()
    for replica in data["replicas"]:  # an imported catalog: state closed, every copy lost
        if replica["did"] == RAW1:
            replica["state"] = "lost"
    cat = Catalog(catalog_url)
    try:
        cat.import_directory(write_catalog(tmp_path / "lost", data))
    finally:
        cat.close()
    check = unchanged(catalog_url)
    assert_refused(invoke(catalog_url, "pin", RAW1, "--reason", "keep"), 2, "it is lost")
    check()


def test_unpin_says_which_pins_went_and_what_expiry_now_decides(
    catalog_url, tmp_path, policy_dir, unchanged
):
    url = load(catalog_url, tmp_path, expired=(LITE,))
    assert invoke(url, "pin", LITE, "--reason", "paper", "--until", "2099-03-01").exit_code == 0
    assert invoke(url, "pin", LITE, "--reason", "talk").exit_code == 0
    first = invoke(url, "unpin", LITE, "--reason", "talk")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        f"unpinned {LITE}: removed the pin by tester with no end: talk",
        f"{LITE} is still kept from expiry: pinned: by tester until 2099-03-01T00:00:00Z: paper",
    ]
    last = invoke(url, "unpin", LITE)
    assert last.exit_code == 0
    assert last.stdout.splitlines() == [
        f"unpinned {LITE}: removed the pin by tester until 2099-03-01T00:00:00Z: paper",
        f"{LITE} is now eligible for expiry: 'lifecycle expire --apply' would delete it "
        "(reproducible)",
    ]
    assert [e["command"] for e in journal(url, LITE)][:2] == ["unpin", "unpin"]
    assert states(url, LITE) == ["available"]  # unpinning deletes nothing
    check = unchanged(url)
    assert_refused(invoke(url, "unpin", LITE), 2, f"{LITE} has no pin")
    assert_refused(invoke(url, "unpin", "data18_13TeV:nothing"), 2, "unknown dataset")
    check()


def test_unpin_of_a_dataset_not_past_its_end_and_without_policies(catalog_url, tmp_path):
    url = load(catalog_url, tmp_path)
    invoke(url, "pin", MERGED, "--reason", "a")
    invoke(url, "pin", RAW2, "--reason", "b")
    result = invoke(url, "unpin", MERGED)  # no ./policies: the decision is not taken
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"unpinned {MERGED}: removed the pin by tester with no end: a"
    ]
    assert "what expiry would now decide is not checked" in result.stderr
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "placement.toml").write_text(PLACEMENT)
    raw = invoke(url, "unpin", RAW2)
    assert raw.stdout.splitlines()[1] == (
        f"{RAW2} is not past its end of life: expiry would not delete it now"
    )


# -- plan delete ---------------------------------------------------------------------------------


def test_plan_delete_names_the_inputs_it_releases_to_expiry(catalog_url, tmp_path, policy_dir):
    url = load(catalog_url, tmp_path, expired=(AOD2, RAW2))
    cat = Catalog(url)
    try:
        policies = load_policies([policy_dir])
        chain_ = "p99998:DAOD_PHYSLITE"
        one = cat.plan_reprocess(Selector(did=(AOD2,)), chain_, None, "one", policies)
        two = cat.plan_reprocess(Selector(did=(AOD2,)), chain_, None, "two", policies)
        assert one.blockers.empty
        assert two.blockers.empty
    finally:
        cat.close()
    first = invoke(url, "plan", "delete", str(one.id))
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        f"deleted plan {one.id} (one): 1 step, 1 input",
        "its inputs stay protected from expiry by another plan",
    ]
    second = invoke(url, "plan", "delete", str(two.id))
    assert second.stdout.splitlines() == [
        f"deleted plan {two.id} (two): 1 step, 1 input",
        "1 input no longer protected from expiry",
        f"1 of them now eligible for expiry ('lifecycle expire --apply' would delete it): {AOD2}",
    ]
    assert states(url, AOD2) == ["available"]  # deleting a plan deletes no data
    assert_refused(invoke(url, "plan", "delete", str(two.id)), 2, f"no plan {two.id}")
