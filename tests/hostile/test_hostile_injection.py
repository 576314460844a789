"""Issue 10, items 4 and 5: catalog text never becomes shell syntax or terminal markup.

Item 4: ``recipe --format shell`` quotes every catalog value, keeps comments on one line, and is
runnable as printed; run in a sandbox (a fake ``apptainer`` first on PATH, or ``LIFECYCLE_RUN``)
it creates none of the files the hostile values try to ``touch``.

Item 5: every table, tree and text view shows catalog text literally: rich markup in a name is
printed as written, control characters are shown as escapes (``\\x1b``), and json/csv keep the
exact values.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from catalogs import write_catalog

from hostile.conftest import assert_refused, invoke
from lifecycle.api import Catalog
from lifecycle.text import printable

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")

DIGEST = "sha256:" + "d" * 64
# each {f} becomes the field's name: a PWNED_<field> file says which value broke out
PAYLOADS = (
    "x\ntouch PWNED_{f}\n#",
    "$(touch PWNED_{f})",
    "`touch PWNED_{f}`",
    "'; touch PWNED_{f}; '",
    'x"; touch PWNED_{f}; echo "',
    "x\x0btouch PWNED_{f}\x85\u2028\x1b[2J\n#",  # other line ends, and a terminal command
)
FIELDS = (
    "production",  # both productions' ids
    "conditions_tag",
    "tag",
    "name",
    "release",
    "image",
    "image_digest",
    "code_repo",
    "code_commit",
    "command",
    "scope",
    "dataset",  # the names of the intermediate and the target datasets
    "site",
)


def shell_catalog(payload: str, *fields: str) -> tuple[dict, dict[str, str]]:
    """RAW (available) -> task 1 -> AOD (no replica) -> task 2 -> DAOD; ``fields`` are hostile.

    Returns the tables and the values used (what the script must pass on literally).
    """
    v = {
        "scope": "data18_13TeV",
        "aod": "data18_13TeV.00357772.physics_Main.recon.AOD.r1",
        "daod": "data18_13TeV.00357772.physics_Main.deriv.DAOD_PHYS.r1_p1",
        "production": "task-1",
        "conditions_tag": "CONDBR2-BLKPA-RUN2-09",
        "tag": "r1",
        "name": "Reco_tf",
        "release": "Athena,22.0.40",
        "image": "registry.cern.ch/atlas/athena:22.0.40",
        "image_digest": DIGEST,
        "code_repo": "https://gitlab.cern.ch/atlas/athena",
        "code_commit": "b" * 40,
        "command": "Reco_tf.py --inputBSFile %IN --outputAODFile %OUT.pool.root",
        "site": "CERN-PROD",
    }
    for field in fields:
        evil = payload.replace("{f}", field)
        if field == "dataset":
            v["aod"] = f"aod.{evil}.AOD"
            v["daod"] = f"daod.{evil}.DAOD"
        elif field == "command":
            v["command"] = f"Reco_tf.py --inputBSFile %IN --outputAODFile %OUT.pool.root {evil}"
        else:  # a prefix keeps the value apart from the others (a payload starting with '-')
            v[field] = f"{field}-{evil}"
    # DIDs are checked on import (letters, digits, _.-+/): hostile ones are written afterwards
    raw, aod, daod = "data18_13TeV:raw.RAW", "data18_13TeV:aod.AOD", "data18_13TeV:daod.DAOD"
    renames = {aod: f"{v['scope']}:{v['aod']}", daod: f"{v['scope']}:{v['daod']}"}

    def dataset(did: str, kind: str) -> dict:
        return {"did": did, "kind": kind, "data_type": "AOD", "bytes": "10", "files": "1",
                "created_at": "2019-01-01T00:00:00Z"}  # fmt: skip

    def transformation(tag: str) -> dict:
        keys = ("name", "release", "image", "image_digest", "code_repo", "code_commit", "command")
        return {"tag": tag, **{k: v[k] for k in keys}}

    tables = {
        "sites": [{"name": v["site"], "tier": "0", "country": "ch"}],
        "endpoints": [{"name": "DISK", "site": v["site"], "media": "disk"}],
        "datasets": [dataset(raw, "raw"), dataset(aod, "derived"), dataset(daod, "derived")],
        "replicas": [{"did": raw, "endpoint": "DISK", "created_at": "2019-01-01T00:00:00Z"}],
        "transformations": [transformation(v["tag"]), transformation(v["tag"] + "_2")],
        "productions": [
            {
                "id": v["production"] + f"/{n}",
                "transformation": tag,
                "conditions_tag": v["conditions_tag"],
                "site": v["site"],
            }
            for n, tag in ((1, v["tag"]), (2, v["tag"] + "_2"))
        ],  # fmt: skip
        "production_io": [
            {"production": v["production"] + "/1", "did": raw, "role": "input"},
            {"production": v["production"] + "/1", "did": aod, "role": "output"},
            {"production": v["production"] + "/2", "did": aod, "role": "input"},
            {"production": v["production"] + "/2", "did": daod, "role": "output"},
        ],
    }
    return tables, v | {"raw": raw, "aod_did": renames[aod], "daod_did": renames[daod]}


def load(url: str, directory: Path, tables: dict, v: dict[str, str]) -> None:
    """Import ``tables``, then give the datasets their (hostile) DIDs straight in the database,
    as another tool or an older version could have written them."""
    imported = invoke(url, "import", str(write_catalog(directory, tables)))
    assert imported.exit_code == 0, (imported.stdout, imported.stderr)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for old, new in (("data18_13TeV:aod.AOD", v["aod_did"]),
                             ("data18_13TeV:daod.DAOD", v["daod_did"])):  # fmt: skip
                scope, name = new.split(":", 1)
                conn.execute(
                    sa.text("UPDATE dataset SET did = :new, scope = :scope, name = :name "
                            "WHERE did = :old"),
                    {"new": new, "scope": scope, "name": name, "old": old},
                )  # fmt: skip
    finally:
        engine.dispose()


def sandbox(root: Path) -> tuple[Path, dict[str, str]]:
    """A directory with a fake ``apptainer`` first on PATH recording its arguments (NUL-ended)."""
    box = root / "sandbox"
    (box / "bin").mkdir(parents=True)
    fake = box / "bin" / "apptainer"
    fake.write_text('#!/bin/sh\n{ printf "\\n\\0"; printf "%s\\0" "$@"; } >> "$RUN_LOG"\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{box / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "RUN_LOG": str(root / "run.log"),
        "HOME": str(box),
    }
    return box, env


def run_script(script: str, root: Path, **extra_env: str) -> tuple[Path, list[list[str]]]:
    """``sh -n`` then ``sh`` the script in a fresh sandbox; the executor's calls (one per step)."""
    box, env = sandbox(root)
    path = root / "rebuild.sh"
    path.write_text(script)
    checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, (checked.stderr, script)
    ran = subprocess.run(
        ["sh", str(path)], cwd=box, env=env | extra_env, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, (ran.stderr, script)
    log = root / "run.log"
    words = log.read_bytes().decode().split("\0")[:-1] if log.exists() else []
    calls: list[list[str]] = []
    for word in words:  # every call starts with a lone newline
        if word == "\n":
            calls.append([])
        else:
            calls[-1].append(word)
    assert all(call[0] == "exec" for call in calls), calls  # apptainer exec IMAGE WORD...
    return box, [call[1:] for call in calls]


def pwned(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("PWNED*"))


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_recipe_shell_with_every_field_hostile_runs_no_injected_command(
    payload, catalog_url, tmp_path
):
    """All fields hostile at once, each with its own marker file name."""
    tables, v = shell_catalog(payload, *FIELDS)
    load(catalog_url, tmp_path / "catalog", tables, v)
    result = invoke(catalog_url, "recipe", v["daod_did"], "--format", "shell")
    assert result.exit_code == 0, result.stderr
    _assert_safe_script(result.stdout, v, tmp_path, "every field")


def test_recipe_shell_with_one_field_hostile_runs_no_injected_command(tmp_path):
    """Each field alone (a value could be safe only next to the others). On SQLite only: the
    script does not depend on the database, and the case above runs on both."""
    for field in FIELDS:
        tables, v = shell_catalog(PAYLOADS[0], field)
        url = f"sqlite:///{tmp_path / field}.db"
        load(url, tmp_path / field / "catalog", tables, v)
        result = invoke(url, "recipe", v["daod_did"], "--format", "shell")
        assert result.exit_code == 0, (field, result.stderr)
        _assert_safe_script(result.stdout, v, tmp_path / field, field)


def comments_and_code(script: str) -> tuple[list[str], str]:
    """The comments of a script and its text outside quotes and comments, read as sh does
    (enough of it for what the recipe writes: single and double quotes, backslashes, ``#``)."""
    comments, code, i, n = [], [], 0, len(script)
    while i < n:
        c = script[i]
        if c == "'":
            i = script.index("'", i + 1) + 1
        elif c == '"':
            i += 1
            while script[i] != '"':
                i += 2 if script[i] == "\\" else 1
            i += 1
        elif c == "\\":
            i += 2
        elif c == "#" and (i == 0 or script[i - 1] in " \t\n;"):
            end = script.find("\n", i)
            end = n if end < 0 else end
            comments.append(script[i:end])
            i = end
        else:
            code.append(c)
            i += 1
    return comments, "".join(code)


def _assert_safe_script(script: str, v: dict[str, str], root: Path, field: str) -> None:
    comments, code = comments_and_code(script)
    for comment in comments:  # one line each, nothing that moves the cursor
        assert printable(comment) == comment, (field, comment)
    assert printable(code.replace("\n", " ")) == code.replace("\n", " "), (field, code)
    _, calls = run_script(script, root)
    assert pwned(root) == [], (field, script)
    # the executor got the catalog's values, word for word: image, then the command's words
    image = f"docker://{v['image']}@{v['image_digest']}"
    words = shlex.split(v["command"])
    expected = [
        [image, *[{"%IN": v["raw"]}.get(w, w.replace("%OUT", v["aod_did"])) for w in words]],
        [image, *[{"%IN": v["aod_did"]}.get(w, w.replace("%OUT", v["daod_did"])) for w in words]],
    ]
    assert calls == expected, (field, script)


def test_recipe_shell_runs_through_lifecycle_run(catalog_url, tmp_path):
    """LIFECYCLE_RUN replaces the executor: here ``echo``, which prints every step's words."""
    tables, v = shell_catalog(PAYLOADS[1], "command")
    load(catalog_url, tmp_path / "c", tables, v)
    script = invoke(catalog_url, "recipe", v["daod_did"], "-f", "shell").stdout
    path = tmp_path / "rebuild.sh"
    path.write_text(script)
    box, env = sandbox(tmp_path)
    ran = subprocess.run(
        ["sh", str(path)], cwd=box, env=env | {"LIFECYCLE_RUN": "echo"}, capture_output=True,
        text=True, timeout=30, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "run.log").exists()  # apptainer was not called
    lines = ran.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"docker://{v['image']}@{DIGEST} Reco_tf.py --inputBSFile ")
    assert lines[1].endswith("$(touch PWNED_command)")
    assert pwned(tmp_path) == []


def test_recipe_shell_of_the_sample_catalog_runs_cleanly(catalog_url, tmp_path):
    """Real recipes: one step, two steps (a deleted intermediate), a merge with a config input."""
    sample = Path(__file__).resolve().parents[2] / "sample_catalog"
    assert invoke(catalog_url, "import", str(sample)).exit_code == 0
    cat = Catalog(catalog_url)
    try:
        derived = cat.datasets(kind=["derived"], limit=None)["did"].tolist()
        recipes = {did: cat.recipe(did) for did in derived}
    finally:
        cat.close()
    runnable = [did for did, r in recipes.items() if r.reproducible and r.steps]
    assert len(runnable) >= 10
    longest = max(runnable, key=lambda did: len(recipes[did].steps))
    merge = next(did for did in runnable if "PhysCont" in did)
    assert len(recipes[longest].steps) >= 2
    for n, did in enumerate(dict.fromkeys([runnable[0], longest, merge])):
        result = invoke(catalog_url, "recipe", did, "--format", "shell")
        assert result.exit_code == 0, result.stderr
        _, calls = run_script(result.stdout, tmp_path / str(n))
        steps = recipes[did].steps
        assert len(calls) == len(steps)
        for call, step in zip(calls, steps, strict=True):
            t = step.production.transformation
            assert call[0] == f"docker://{t.image}@{t.image_digest}"
            assert call[1] == shlex.split(t.command)[0]
            assert not any("%" in word for word in call), call  # every placeholder filled
            assert any(o.did in word for word in call for o in step.outputs)
            assert any(i.did in call for i in step.inputs if i.role == "input")
        if did == merge:  # the good-run list is the merge's config input
            grl = calls[-1][calls[-1].index("--grl") + 1]
            assert grl.startswith("meta:meta.GRL.")


def test_recipe_shell_of_an_unreproducible_dataset_exits_1_quoting_the_reason(
    catalog_url, tmp_path
):
    tables, v = shell_catalog(PAYLOADS[0], "dataset", "production")
    for t in tables["transformations"]:
        t["image_digest"] = ""
    load(catalog_url, tmp_path / "c", tables, v)
    result = invoke(catalog_url, "recipe", v["daod_did"], "-f", "shell")
    assert result.exit_code == 1
    path = tmp_path / "rebuild.sh"
    path.write_text(result.stdout)
    box, env = sandbox(tmp_path)
    ran = subprocess.run(
        ["sh", str(path)], cwd=box, env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 1
    assert "cannot regenerate" in ran.stderr
    assert pwned(tmp_path) == []


def test_recipe_shell_commands_it_cannot_fill_stop_the_script(catalog_url, tmp_path):
    """A placeholder without dataset stops at that step; an unbalanced quote splits at spaces."""
    tables, v = shell_catalog(PAYLOADS[0])
    tables["transformations"][0]["command"] = "Reco_tf.py --in 'unbalanced %IN --out %OUT"
    tables["transformations"][1]["command"] = "Merge_tf.py --grl %CONFIG"
    load(catalog_url, tmp_path / "c", tables, v)
    script = invoke(catalog_url, "recipe", v["daod_did"], "-f", "shell").stdout
    path = tmp_path / "rebuild.sh"
    path.write_text(script)
    box, env = sandbox(tmp_path)
    ran = subprocess.run(
        ["sh", str(path)], cwd=box, env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 1
    assert "step 2: the command names %CONFIG but the production records no config" in ran.stderr
    calls = (tmp_path / "run.log").read_bytes().decode().split("\0")[:-1]
    assert calls[1:] == [  # step 1 ran, word for word
        "exec", f"docker://{v['image']}@{DIGEST}", "Reco_tf.py", "--in", "'unbalanced",
        v["raw"], "--out", v["aod_did"],
    ]  # fmt: skip


def test_recipe_text_keeps_every_value_on_its_line(catalog_url, tmp_path):
    tables, v = shell_catalog(PAYLOADS[5], "command")
    load(catalog_url, tmp_path / "c", tables, v)
    result = invoke(catalog_url, "recipe", v["daod_did"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\u2028" not in result.stdout
    assert "touch PWNED_command\\x85\\u2028\\x1b[2J\\n#" in result.stdout
    commands = [line for line in result.stdout.split("\n") if "command" in line]
    assert len(commands) == 2
    document = json.loads(invoke(catalog_url, "recipe", v["daod_did"], "-f", "json").stdout)
    assert document["steps"][0]["command"] == v["command"]  # json keeps the exact value


def test_hostile_dids_are_refused_on_import(catalog_url, tmp_path, unchanged):
    tables, _ = shell_catalog(PAYLOADS[0])
    load_ok = invoke(catalog_url, "import", str(write_catalog(tmp_path / "ok", tables)))
    assert load_ok.exit_code == 0
    check = unchanged(catalog_url)
    for n, payload in enumerate((PAYLOADS[0], PAYLOADS[5])):
        bad = copy.deepcopy(tables)
        bad["datasets"][1]["did"] = "data18_13TeV:" + payload.replace("{f}", "did")
        result = invoke(catalog_url, "import", str(write_catalog(tmp_path / f"bad{n}", bad)))
        assert_refused(result, 2, "datasets.csv", "is not a DID")
    check()


# -- item 5: terminal markup ----------------------------------------------------------------------

CLOSE = "EVIL[/]SITE"  # a closing tag with nothing open: rich raised MarkupError
LINK = "[link=https://evil]CERN-PROD[/link]"  # would display as "CERN-PROD", linked elsewhere
BOLD = "[bold red]x"
BARE = "[/]"
RED = "\x1b[31mRED"  # ANSI colour
OSC8 = "\x1b]8;;http://evil\x1b\\L"  # a terminal hyperlink
RAW_DID = f"data18_13TeV:raw.{BOLD}.RAW"
AOD_DID = f"data18_13TeV:aod.{BARE}{RED}.AOD"
DAOD_DID = f"data18_13TeV:daod.{LINK}.DAOD"
MARKUP_POLICY = """
[policy]
name = "hostile"

[[rule]]
name = "rule-1"
type = "replication"
description = "EVIL[/]SITE \\u001b[31mred"
select = { kind = ["raw"] }
copies = 2
endpoints = "media=tape"
distinct = "site"
"""


def markup_catalog() -> dict:
    """Hostile text in every field a table or tree shows; DIDs renamed in the database after."""

    def dataset(did: str, kind: str, data_type: str, expires: str = "") -> dict:
        return {"did": did, "kind": kind, "data_type": data_type, "bytes": "1000", "files": "1",
                "events": "10", "created_at": "2019-01-01T00:00:00Z", "expires_at": expires}  # fmt: skip

    def replica(did: str, endpoint: str) -> dict:
        return {"did": did, "endpoint": endpoint, "created_at": "2019-01-01T00:00:00Z"}

    def transformation(tag: str) -> dict:
        return {"tag": tag, "name": BOLD, "release": BARE, "image": CLOSE, "image_digest": DIGEST,
                "code_repo": OSC8, "code_commit": RED, "command": f"{LINK} %IN %OUT",
                "cpu_seconds_per_event": "1", "output_ratio": "0.5"}  # fmt: skip

    return {
        "sites": [
            {"name": CLOSE, "tier": "0", "country": BOLD, "cloud": BARE},
            {"name": LINK, "tier": "1", "country": "us", "cloud": RED},
            {"name": f"S{OSC8}", "tier": "2", "country": "de", "cloud": ""},
        ],
        "endpoints": [
            {"name": f"{CLOSE}_TAPE", "site": CLOSE, "media": "tape", BOLD: BARE},
            {"name": f"{LINK}_TAPE", "site": LINK, "media": "tape", BOLD: RED},
            {"name": f"DISK{RED}", "site": f"S{OSC8}", "media": "disk", BOLD: ""},
        ],
        "datasets": [
            dataset("data18_13TeV:raw.RAW", "raw", "RAW"),
            dataset("data18_13TeV:aod.AOD", "derived", BARE, "2020-01-01T00:00:00Z"),
            dataset("data18_13TeV:daod.DAOD", "derived", RED, "2020-01-01T00:00:00Z"),
        ],
        "replicas": [
            replica("data18_13TeV:raw.RAW", f"{CLOSE}_TAPE"),
            replica("data18_13TeV:aod.AOD", f"DISK{RED}"),
            replica("data18_13TeV:daod.DAOD", f"DISK{RED}"),
        ],
        "transformations": [transformation("r1"), transformation("r2")],
        "productions": [
            {"id": LINK, "transformation": "r1", "conditions_tag": BOLD, "site": CLOSE},
            {"id": f"p{OSC8}", "transformation": "r1", "conditions_tag": "", "site": ""},
        ],
        "production_io": [
            {"production": LINK, "did": "data18_13TeV:raw.RAW", "role": "input"},
            {"production": LINK, "did": "data18_13TeV:aod.AOD", "role": "output"},
            {"production": f"p{OSC8}", "did": "data18_13TeV:aod.AOD", "role": "input"},
            {"production": f"p{OSC8}", "did": "data18_13TeV:daod.DAOD", "role": "output"},
        ],
        "pins": [{"did": "data18_13TeV:aod.AOD", "reason": f"{BARE}{RED}", "actor": LINK}],
    }


@pytest.fixture
def markup_url(catalog_url, tmp_path):
    directory = Path(f"i{CLOSE}{RED}")  # relative (tests run in tmp_path): the journal shows it
    imported = invoke(catalog_url, "import", str(write_catalog(directory, markup_catalog())))
    assert imported.exit_code == 0, imported.stderr
    engine = sa.create_engine(catalog_url)
    try:
        with engine.begin() as conn:
            for old, new in (("data18_13TeV:raw.RAW", RAW_DID), ("data18_13TeV:aod.AOD", AOD_DID),
                             ("data18_13TeV:daod.DAOD", DAOD_DID)):  # fmt: skip
                conn.execute(
                    sa.text("UPDATE dataset SET did = :new, name = :name WHERE did = :old"),
                    {"new": new, "name": new.split(":", 1)[1], "old": old},
                )
    finally:
        engine.dispose()
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "hostile.toml").write_text(MARKUP_POLICY)
    return catalog_url


def shown(text: str) -> str:
    """How a terminal view shows ``text``: literally, control characters as escapes."""
    return printable(text)


MARKUP_VIEWS = {  # command -> the literal texts it must show
    "sites list": (("sites", "list"), (CLOSE, LINK, shown(f"S{OSC8}"), BOLD, BARE, shown(RED))),
    "endpoints list": (("endpoints", "list"), (f"{CLOSE}_TAPE", f"{LINK}_TAPE", BOLD, BARE)),
    "datasets list": (("datasets", "list"), (RAW_DID, shown(AOD_DID), DAOD_DID, BARE)),
    "datasets show": (
        ("datasets", "show", AOD_DID),
        (shown(AOD_DID), BARE, shown(f"DISK{RED}"), LINK, shown(f"{BARE}{RED}"), RAW_DID),
    ),
    "replicas list": (("replicas", "list", RAW_DID), (RAW_DID, f"{CLOSE}_TAPE", CLOSE)),
    "pins list": (("pins", "list"), (shown(AOD_DID), shown(f"{BARE}{RED}"), LINK)),
    "journal": (("journal",), (shown(f"import i{CLOSE}{RED}"),)),
    "audit": (
        ("audit", "--policy", "policies"),
        ("rule-1", shown("EVIL[/]SITE \x1b[31mred"), RAW_DID),
    ),
    "audit --group-by": (
        ("audit", "--policy", "policies", "--group-by", "rule,site", "--wide"),
        ("rule-1", CLOSE),
    ),
    "policy show": (("policy", "show", "--policy", "policies"), ("rule-1",)),
    "lineage": (
        ("lineage", DAOD_DID),
        (DAOD_DID, shown(AOD_DID), RAW_DID, LINK, CLOSE, BOLD, shown(OSC8), shown(RED), BARE),
    ),
    "impact": (("impact", RAW_DID), (RAW_DID, shown(AOD_DID), DAOD_DID, LINK, BARE, shown(RED))),
    "recipe": (("recipe", DAOD_DID), (DAOD_DID, shown(f"p{OSC8}"), BOLD, BARE, CLOSE)),
    "overview": (("overview",), (BARE, shown(RED))),
    "expire": (
        ("expire", "--policy", "policies"),
        (shown(AOD_DID), LINK, shown(f"{BARE}{RED}"), shown(RED), shown(f"S{OSC8}")),
    ),
    "plan reprocess": (
        (
            "plan",
            "reprocess",
            "--chain",
            "r2",
            "--name",
            f"{CLOSE}{RED}",
            "--save",
            "--policy",
            "policies",
        ),
        (shown(f"{CLOSE}{RED}"), RAW_DID, f"{CLOSE}_TAPE"),
    ),
    "plan list": (("plan", "list"), (shown(f"{CLOSE}{RED}"),)),
    "plan show": (("plan", "show", "1"), (shown(f"{CLOSE}{RED}"), RAW_DID, f"{CLOSE}_TAPE")),
    "simulate loss": (("simulate", "loss", "--site", CLOSE, "--policy", "policies"), (RAW_DID,)),
}


def test_terminal_views_show_catalog_text_literally(markup_url, monkeypatch):
    """Every view for people of one hostile catalog (one catalog: loading it is the slow part)."""
    monkeypatch.setenv("COLUMNS", "200")  # wide: texts whole on one line (test_tables: narrow)
    for view, (args, texts) in MARKUP_VIEWS.items():
        result = invoke(markup_url, *args)
        output = result.stdout
        failed = (view, result.exit_code, output, result.stderr, result.exception)
        assert result.exit_code in (0, 1), failed  # 1: audit findings, data lost for good
        assert result.exception is None or isinstance(result.exception, SystemExit), failed
        assert "Traceback" not in output + result.stderr, failed
        assert "\x1b" not in output + result.stderr, failed
        for text in texts:
            assert text in output, (text, *failed)


def test_machine_output_keeps_the_exact_values(markup_url):
    sites = json.loads(invoke(markup_url, "sites", "list", "-f", "json").stdout)["sites"]
    assert {s["site"] for s in sites} == {CLOSE, LINK, f"S{OSC8}"}
    csv_text = invoke(markup_url, "pins", "list", "-f", "csv").stdout
    assert f"{BARE}{RED}" in csv_text
    lineage = json.loads(invoke(markup_url, "lineage", DAOD_DID, "-f", "json").stdout)
    assert {n["did"] for n in lineage["nodes"]} == {RAW_DID, AOD_DID, DAOD_DID}


def test_printable_shows_control_characters_and_keeps_the_rest():
    assert printable("CERN-PROD é [/] ✓") == "CERN-PROD é [/] ✓"
    assert printable(OSC8) == "\\x1b]8;;http://evil\\x1b\\L"
    assert printable("a\nb\rc\td\x7f\x85\u2028\u202e\U000e0041") == (
        "a\\nb\\rc\\td\\x7f\\x85\\u2028\\u202e\\U000e0041"
    )
