"""The Rucio bridge end to end against a real Rucio server (issue 17 item 5), on the catalog
database under test: rucio -> sync -> audit -> repair -> rules on Rucio -> transfers done ->
sync -> audit clean.

The server (:mod:`rucio_server`) is shared by the run; each test makes RSEs, a scope and datasets
named with a suffix of its own and pulls only them (``--rses lctest=SUFFIX``), so tests do not
see each other's data.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from repair_grids import rule
from rucio_server import rucio_server  # noqa: F401  (the session fixture)
from typer.testing import CliRunner

from lifecycle.api import Catalog
from lifecycle.cli.app import app

runner = CliRunner()
POLICY = rule("raw-archival-copies", 2, "media=tape", "site")
FILES = 2
FILE_BYTES = 1000


class Grid:
    """A small grid on the server: four sites' RSEs and raw datasets; see :func:`grid`."""

    def __init__(self, server, suffix: str) -> None:
        self.server = server
        self.client = server.client()
        self.suffix = suffix
        self.scope = f"data18_{suffix}"
        self.rses = {
            site: f"{site}{suffix.upper()}_DATA{media.upper()}"
            for site, media in (("CERN", "tape"), ("FZK", "tape"), ("BNL", "tape"),
                                ("CERNX", "disk"))
        }  # fmt: skip

    def rse(self, site: str) -> str:
        return self.rses[site]

    def dataset(self, number: int) -> str:
        return f"{self.scope}.00{348000 + number}.physics_Main.daq.RAW"

    def did(self, number: int) -> str:
        return f"{self.scope}:{self.dataset(number)}"

    def options(self) -> list[str]:
        s = self.server
        return ["--url", s.url, "--account", "root", "--auth", "userpass",
                "--username", s.username, "--password", s.password]  # fmt: skip


def _ignore_existing(call, *args, **kw) -> None:
    try:
        call(*args, **kw)
    except Exception as exc:  # Duplicate: made by an earlier test on this server
        if type(exc).__name__ not in ("Duplicate", "RucioException"):
            raise


def make_grid(server, copies: dict[int, list[str]]) -> Grid:
    """RSEs at CERN, FZK, BNL (tape) and a CERN disk, with attributes; a scope; one closed RAW
    dataset per key of ``copies`` with :data:`FILES` files, replicated on those sites' RSEs."""
    grid = Grid(server, uuid.uuid4().hex[:8])
    c = grid.client
    countries = {"CERN": "ch", "FZK": "de", "BNL": "us", "CERNX": "ch"}
    for site, name in grid.rses.items():
        tape = name.endswith("TAPE")
        c.add_rse(name, rse_type="TAPE" if tape else "DISK", deterministic=True)
        real = "CERN" if site == "CERNX" else site
        attributes = {"site": f"{real}-{grid.suffix}", "tier": "0" if real == "CERN" else "1",
                      "country": countries[site], "cloud": real, "lctest": grid.suffix,
                      "archive": tape, "quota_tb": "2"}  # fmt: skip
        for key, value in attributes.items():
            c.add_rse_attribute(name, key, value)
        c.set_local_account_limit("root", name, -1)
    c.add_scope("root", grid.scope)
    _ignore_existing(c.add_key, "datatype", "ALL")
    _ignore_existing(c.add_value, "datatype", "RAW")
    for number, sites in copies.items():
        name = grid.dataset(number)
        c.add_dataset(grid.scope, name, meta={"datatype": "RAW", "project": "data18_13TeV",
                                              "run_number": 348000 + number,
                                              "stream_name": "physics_Main"})  # fmt: skip
        files = [{"scope": grid.scope, "name": f"{name}._{i:04d}.data", "bytes": FILE_BYTES,
                  "adler32": "0cc737eb"} for i in range(FILES)]  # fmt: skip
        for site in sites:
            c.add_replicas(grid.rse(site), files)
        c.attach_dids(grid.scope, name, [{"scope": f["scope"], "name": f["name"]} for f in files])
        c.close(grid.scope, name)
    return grid


def lifecycle(db: str, *args: str, code: int | None = 0):
    result = runner.invoke(app, ["--db", db, *args])
    if code is not None:
        assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def test_the_round_trip_repairs_single_tape_copies_through_rucio_rules(
    rucio_server,  # noqa: F811
    catalog_url,
    tmp_path: Path,
):
    grid = make_grid(rucio_server, {1: ["CERN", "FZK"], 2: ["CERN"], 3: ["CERN", "CERNX"]})
    policy = tmp_path / "policy" / "rules.toml"
    policy.parent.mkdir()
    policy.write_text('[policy]\nname = "rules"\n' + POLICY)
    pull = [*grid.options(), "--scope", grid.scope, "--rses", f"lctest={grid.suffix}"]

    # a fresh catalog follows Rucio: RSEs, datasets with metadata, replicas
    lifecycle(catalog_url, "rucio", "sync", "--snapshot", str(tmp_path / "snap1"), *pull, "--apply",
              "--max-change", "100")  # fmt: skip
    with Catalog(catalog_url) as cat:
        assert sorted(cat.endpoints()["name"]) == sorted(grid.rses.values())
        shown = cat.dataset(grid.did(2))
        assert shown.dataset["kind"] == "raw"
        assert shown.dataset["data_type"] == "RAW"
        assert shown.dataset["files"] == FILES
        assert shown.dataset["bytes"] == FILES * FILE_BYTES
        assert shown.metadata["stream"] == "physics_Main"
        assert list(shown.replicas["endpoint"]) == [grid.rse("CERN")]
        sites = cat.sites().set_index("name")
        assert sites.loc[f"CERN-{grid.suffix}", "tier"] == 0
        assert sites.loc[f"FZK-{grid.suffix}", "country"] == "de"

    # the audit finds the raw datasets with one tape copy; repair plans them as Rucio rules
    found = lifecycle(catalog_url, "audit", "--policy", str(policy), "--format", "json", code=1)
    violating = sorted(f["did"] for f in json.loads(found.stdout)["findings"])
    assert violating == [grid.did(2), grid.did(3)]
    plan = lifecycle(catalog_url, "repair", "--policy", str(policy), "--format", "rucio")
    plan_file = tmp_path / "plan.jsonl"
    plan_file.write_text(plan.stdout)

    # push: a preview changes nothing; --apply creates one rule per dataset, journaled
    preview = lifecycle(catalog_url, "rucio", "push", str(plan_file), *grid.options())
    assert "2 rules to create" in preview.stdout
    assert list(grid.client.list_did_rules(grid.scope, grid.dataset(2))) == []
    pushed = lifecycle(catalog_url, "rucio", "push", str(plan_file), *grid.options(), "--apply",
                       "--format", "json")  # fmt: skip
    document = json.loads(pushed.stdout)
    assert list(document)[:2] == ["kind", "summary"]  # the envelope (tests/test_envelopes.py)
    created = document["rules"]
    assert [r["status"] for r in created] == ["created", "created"]
    assert rucio_server.password not in pushed.stdout + pushed.stderr
    for entry in created:
        scope, name = entry["did"].split(":", 1)
        [there] = list(grid.client.list_did_rules(scope, name))
        assert there["id"] == entry["rule_id"]
        assert there["state"] == "REPLICATING"
    with Catalog(catalog_url) as cat:
        entry = int(cat.journal(limit=1)["id"].iloc[0])
        changes = cat.journal_changes(entry)
        ids = set(changes[changes["field"] == "rule_id"]["new_value"])
        assert ids == {r["rule_id"] for r in created}
        assert set(changes[changes["field"] == "finding"]["new_value"]) == {
            f"{grid.did(2)}: raw-archival-copies",
            f"{grid.did(3)}: raw-archival-copies",
        }
    again = lifecycle(catalog_url, "rucio", "push", str(plan_file), *grid.options(), "--apply",
                      "--format", "json")  # fmt: skip
    assert [r["status"] for r in json.loads(again.stdout)["rules"]] == ["exists", "exists"]

    # while Rucio copies, the catalog shows the copies and the rules covering the findings
    lifecycle(catalog_url, "rucio", "sync", "--snapshot", str(tmp_path / "snap2"), *pull, "--apply",
              "--max-change", "100")  # fmt: skip
    with Catalog(catalog_url) as cat:  # the rule's new copy, from its dataset locks (bulk)
        states = cat.dataset(grid.did(2)).replicas.set_index("endpoint")["state"]
        assert sorted(states.items()) == [
            (grid.rse("CERN"), "available"),
            (grid.rse("FZK"), "copying"),
        ]
    shown = lifecycle(catalog_url, "datasets", "show", grid.did(2))
    assert created[0]["rule_id"] in shown.stdout
    assert "REPLICATING" in shown.stdout
    table = lifecycle(catalog_url, "audit", "--policy", str(policy), code=None)
    assert f"covered by rule {created[0]['rule_id']} (REPLICATING)" in table.stdout

    # the transfers finish (standing in for Rucio's daemons); the next sync sees them done
    for entry in created:
        for lock in grid.client.list_replica_locks(entry["rule_id"]):
            grid.client.update_replicas_states(
                lock["rse"], [{"scope": lock["scope"], "name": lock["name"], "state": "A"}]
            )
    with Catalog(catalog_url) as cat:
        before = int(cat.journal(limit=1)["id"].iloc[0])
    synced = lifecycle(catalog_url, "rucio", "sync", "--snapshot", str(tmp_path / "snap3"), *pull,
                       "--apply", "--max-change", "100", "--format", "json")  # fmt: skip
    assert list(json.loads(synced.stdout))[:2] == ["kind", "summary"]
    with Catalog(catalog_url) as cat:  # one transaction, one journal entry: replicas and rules
        [entry] = [i for i in cat.journal(limit=5)["id"] if int(i) > before]
        journaled = cat.journal_changes(int(entry))
        assert {"replica", "replication_rule"} <= set(journaled["entity"])
        assert (
            "replication rules: 0 new rules, 2 changed" in cat.journal(limit=1)["summary"].iloc[0]
        )
    lifecycle(catalog_url, "audit", "--policy", str(policy))
    resolved = lifecycle(catalog_url, "audit", "diff", "--format", "json")
    assert sorted(f["did"] for f in json.loads(resolved.stdout)["resolved"]) == violating
    with Catalog(catalog_url) as cat:
        rules = cat.dataset(grid.did(2)).rules
        assert list(rules["state"]) == ["OK"]


def test_a_wrong_password_is_one_line_and_exit_2(rucio_server, catalog_url, tmp_path):  # noqa: F811
    options = ["--url", rucio_server.url, "--account", "root", "--auth", "userpass",
               "--username", rucio_server.username, "--password", "not-the-password"]  # fmt: skip
    result = lifecycle(catalog_url, "rucio", "pull", "-o", str(tmp_path / "s"), *options, code=2)
    assert "cannot authenticate account root" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not-the-password" not in result.stdout + result.stderr
    assert not (tmp_path / "s").exists()


def test_an_unreachable_server_is_one_line_and_exit_2(catalog_url, tmp_path):
    pytest.importorskip("rucio.client")
    options = ["--url", "http://127.0.0.1:9", "--account", "root", "--auth", "userpass",
               "--username", "u", "--password", "p4ss-w0rd"]  # fmt: skip
    result = lifecycle(catalog_url, "rucio", "pull", "-o", str(tmp_path / "s"), *options, code=2)
    assert "cannot reach Rucio at http://127.0.0.1:9" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "p4ss-w0rd" not in result.stdout + result.stderr


def test_credentials_come_from_the_rucio_config(rucio_server, catalog_url, tmp_path, monkeypatch):  # noqa: F811
    from rucio.common.config import clean_cached_config

    grid = make_grid(rucio_server, {1: ["CERN"]})
    config = tmp_path / "rucio.cfg"
    config.write_text(
        f"[client]\nrucio_host = {rucio_server.url}\nauth_host = {rucio_server.url}\n"
        f"account = root\nauth_type = userpass\nusername = {rucio_server.username}\n"
        f"password = {rucio_server.password}\nauth_token_file_path = {tmp_path}/token\n"
    )
    monkeypatch.setenv("RUCIO_CONFIG", str(config))
    clean_cached_config()
    try:
        result = lifecycle(catalog_url, "rucio", "pull", "-o", str(tmp_path / "s"),
                           "--scope", grid.scope, "--rses", f"lctest={grid.suffix}")  # fmt: skip
    finally:
        clean_cached_config()
    assert result.stdout.startswith("pulled 3 sites, 4 endpoints, 1 dataset, 1 replica, 0 rules")
    assert rucio_server.password not in result.stdout + result.stderr
