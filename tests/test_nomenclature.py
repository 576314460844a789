"""ATLAS dataset names: fields of names that follow the nomenclature, reasons for those that do not,
the column-wise parser agreeing with the one-name parser, and ``lifecycle names parse``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.nomenclature import (
    FIELDS,
    METADATA_KEYS,
    Tag,
    infer_data_types,
    name_metadata,
    normalize_did,
    normalize_dids,
    parse_name,
    parse_names,
    scope_of,
)

runner = CliRunner()
REAL_NAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "atlas"
REAL_NAMES /= "atlas_real_names.txt"

PHYSLITE = "data15_13TeV.00266904.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p6026"
TTBAR = "mc20_13TeV.410470.PhPy8EG_A14_ttbar_hdamp258p75_nonallhad"
HITS_SUB = (
    "mc15_13TeV.362002.Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025.simul.HITS."
    "e4376_s3022_tid10919503_00_sub0384058277"
)

# name -> the fields that differ from "not set" (scope defaults to the project)
PARSED = {
    "data18_13TeV.00357772.physics_Main.merge.AOD.r13286_p4910": dict(
        project="data18_13TeV", number="00357772", stream="physics_Main", prod_step="merge",
        data_type="AOD", tag_chain="r13286_p4910",
    ),
    f"mc20_13TeV:{TTBAR}.deriv.DAOD_PHYS.e6337_s3681_r13145_p5980": dict(
        project="mc20_13TeV", number="410470", stream=TTBAR.split(".")[2], prod_step="deriv",
        data_type="DAOD_PHYS", tag_chain="e6337_s3681_r13145_p5980",
    ),
    # raw data: five fields, no tags
    "data24_cos.00475431.physics_IDCosmic.merge.RAW": dict(
        project="data24_cos", number="00475431", stream="physics_IDCosmic", prod_step="merge",
        data_type="RAW", tag_chain="",
    ),
    # another scope than the project; the task suffix is stripped from the chain
    "archive:mc20_13TeV.345705.Sherpa_222_NNPDF30NNLO_ggllll_0M4l130.deriv.DAOD_PHYSLITE."
    "e6213_s3681_r13144_r13146_p6026_tid37222296_00": dict(
        scope="archive", project="mc20_13TeV", number="345705",
        stream="Sherpa_222_NNPDF30NNLO_ggllll_0M4l130", prod_step="deriv",
        data_type="DAOD_PHYSLITE", tag_chain="e6213_s3681_r13144_r13146_p6026", tid=37222296,
    ),
    HITS_SUB: dict(
        project="mc15_13TeV", number="362002", stream="Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025",
        prod_step="simul", data_type="HITS", tag_chain="e4376_s3022", tid=10919503, sub=384058277,
    ),
    # an old task suffix without the _00 index
    "mc08.106050.PythiaZee_1Lepton.recon.AOD.e347_s462_r541_tid028686": dict(
        project="mc08", number="106050", stream="PythiaZee_1Lepton", prod_step="recon",
        data_type="AOD", tag_chain="e347_s462_r541", tid=28686,
    ),
    # a period container: a period for number, a container version before the tags
    "data15_13TeV:data15_13TeV.periodAllYear.physics_Main.PhysCont.DAOD_PHYSLITE.grp15_v01_p6026":
    dict(
        project="data15_13TeV", number="periodAllYear", stream="physics_Main",
        prod_step="PhysCont", data_type="DAOD_PHYSLITE", tag_chain="p6026",
        container_version="grp15_v01",
    ),
    # a Rucio container written with its trailing slash
    f"{TTBAR}.recon.AOD.e6337_s3681_r13145/": dict(
        project="mc20_13TeV", number="410470", stream=TTBAR.split(".")[2], prod_step="recon",
        data_type="AOD", tag_chain="e6337_s3681_r13145", container=True,
    ),
    # the one lower-case data type: a task's log tarball
    "mc15_13TeV.362002.Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025.simul.log.e4376_s3022": dict(
        project="mc15_13TeV", number="362002", stream="Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025",
        prod_step="simul", data_type="log", tag_chain="e4376_s3022",
    ),
    # an overlay sample: a simulation project with a run number; a validation project
    "mc15_valid.00200010.overlay_streamsAll_2016_pp_1.skim.DRAW.r8381": dict(
        project="mc15_valid", number="00200010", stream="overlay_streamsAll_2016_pp_1",
        prod_step="skim", data_type="DRAW", tag_chain="r8381",
    ),
    "valid1.147406.PowhegPythia8_AZNLO_Zee.recon.AOD.e3099_s2578_r6220_tid05203475_00": dict(
        project="valid1", number="147406", stream="PowhegPythia8_AZNLO_Zee", prod_step="recon",
        data_type="AOD", tag_chain="e3099_s2578_r6220", tid=5203475,
    ),
    "  data11_7TeV.00183347.express_express.merge.HIST.f384_m875\n": dict(
        project="data11_7TeV", number="00183347", stream="express_express", prod_step="merge",
        data_type="HIST", tag_chain="f384_m875",
    ),
}  # fmt: skip

REJECTED = {
    "user.zmarshal.398384_OpenData_v0_p6026_2024-04-30": (
        "user.zmarshal",
        "user-scope name: free-form after user.<nick>, not the ATLAS nomenclature",
    ),
    "group.phys-gener.MGPy8EG.344177.Hbbajj_SM.TXT.mc15_v2.tar.gz": (
        "group.phys-gener",
        "group-scope name: free-form after group.<group>, not the ATLAS nomenclature",
    ),
    "data18_13TeV.00357772.physics_Main.daq.RAW._lb0154._SFO-1._0001.data": (
        "data18_13TeV",
        "file-name prefix, not a dataset: per-file suffix '._lb0154._SFO-1._0001.data' "
        "of dataset 'data18_13TeV.00357772.physics_Main.daq.RAW'",
    ),
    "AOD.27655096._000455.pool.root.1": (
        "AOD",
        "file-name prefix, not a dataset: per-file suffix '._000455.pool.root.1'",
    ),
    "calib:calib.CONDBR2-BLKPA-RUN2-09.v01": (
        "calib",
        "project 'calib' is not an ATLAS project (dataNN_<energy>, mcNN_<energy>, validN)",
    ),
    "data18_13TeV.00357772.physics_Main.AOD": (
        "data18_13TeV",
        "4 dot-fields; the nomenclature has 6 (project.number.stream.prod_step.data_type.tags), "
        "5 for raw data",
    ),
    f"{PHYSLITE}.v1_EXT0": ("data15_13TeV", "7 dot-fields; the nomenclature has 6"),
    "data18_13TeV.0035777.physics_Main.daq.RAW": (
        "data18_13TeV",
        "dataset number '0035777' is not a run number (8 digits), a DSID (6 digits) or a period",
    ),
    "data18_13TeV.\u0660\u0660357772.physics_Main.daq.RAW": (  # Arabic-Indic digits
        "data18_13TeV",
        "dataset number",
    ),
    "data18_13TeV.00357772.physics Main.daq.RAW": ("data18_13TeV", "stream / physics short"),
    "data18_13TeV.00357772.physics_Main.Merge.AOD.r13286": (
        "data18_13TeV",
        "production step 'Merge' is not lower-case letters",
    ),
    "data18_13TeV.00357772.physics_Main.merge.aod.r13286": (
        "data18_13TeV",
        "data type 'aod' is not upper-case letters, digits and '_'",
    ),
    "data18_13TeV.00357772.physics_Main.merge.AOD.": (
        "data18_13TeV",
        "empty tag field after the data type",
    ),
    "data18_13TeV.00357772.physics_Main.merge.AOD.r13286_P4910": (
        "data18_13TeV",
        "tag 'P4910' in 'r13286_P4910' is not an AMI tag (one lower-case letter and digits",
    ),
    "data18_13TeV.00357772.physics_Main.merge.AOD.r13286_tid12_00_p4910": (
        "data18_13TeV",
        "the _tid<task>_<nn> and _sub<n> suffixes do not close the tag chain",
    ),
    "data18_13TeV.00357772.physics_Main.merge.AOD.tid12_00": (
        "data18_13TeV",
        "no AMI tags before the suffix in 'tid12_00'",
    ),
    "": (None, "empty name"),
    "data18_13TeV:": ("data18_13TeV", "empty name"),
}


@pytest.mark.parametrize("name", list(PARSED))
def test_parsed_fields(name):
    expected = {f: None for f in FIELDS} | {"container": False}
    expected |= {"name": name.strip(), "scope": PARSED[name]["project"]} | PARSED[name]
    assert {f: getattr(parse_name(name), f) for f in FIELDS} == expected


@pytest.mark.parametrize("name", list(REJECTED))
def test_rejected_names_say_why(name):
    scope, reason = REJECTED[name]
    parsed = parse_name(name)
    assert parsed.error is not None
    assert parsed.error.startswith(reason), parsed.error
    assert parsed.scope == scope
    # nothing half-parsed
    kept = ("name", "scope", "error", "container")
    assert all(getattr(parsed, f) is None for f in FIELDS if f not in kept)
    assert parsed.container is False
    assert parsed.tags == []


def test_tags_are_letters_and_numbers():
    parsed = parse_name(f"{TTBAR}.merge.AOD.e6337_e5984_a907_r14860_r14919")
    assert parsed.tags == [Tag("e", 6337), Tag("e", 5984), Tag("a", 907), Tag("r", 14860),
                           Tag("r", 14919)]  # fmt: skip
    assert [str(t) for t in parsed.tags] == parsed.tag_chain.split("_")
    assert parsed.to_dict()["tags"][0] == {"letter": "e", "number": 6337}


def test_to_dict_has_the_documented_keys():
    data = parse_name(PHYSLITE).to_dict()
    required = {"name", "scope", "project", "number", "stream", "prod_step", "data_type", "tags"}
    assert required | {"error"} <= set(data)
    assert data["error"] is None
    assert json.loads(json.dumps(data)) == data


# -- the real names ----------------------------------------------------------------------------


def _real_names() -> list:
    if not REAL_NAMES.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{REAL_NAMES} not found"))]
    lines = REAL_NAMES.read_text(encoding="utf-8").splitlines()
    return [
        pytest.param(line.strip(), id=f"line{number}")
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.startswith("#")
    ]


@pytest.mark.parametrize("name", _real_names())
def test_real_name_parses_or_says_why(name):
    parsed = parse_name(name)
    given_scope, _, bare = name.rpartition(":")
    fields = bare.split(".")
    if fields[0] in ("user", "group"):  # the only real names outside the nomenclature
        assert parsed.error.startswith(f"{fields[0]}-scope name: free-form")
        assert parsed.scope == (given_scope or f"{fields[0]}.{fields[1]}")
        return
    assert parsed.error is None, parsed.error
    assert parsed.scope == (given_scope or fields[0])
    field_values = [parsed.project, parsed.number, parsed.stream, parsed.prod_step]
    assert [*field_values, parsed.data_type] == fields[:5]
    if parsed.project.startswith("data"):
        assert re.fullmatch(r"\d{8}|period\w+", parsed.number)
    if len(fields) == 5:  # raw data (RAW, RDO_BKG) carry no tags
        assert (parsed.tag_chain, parsed.tags, parsed.tid) == ("", [], None)
        return
    # the version field is container version, tags and task suffixes, nothing lost or added
    head = "_".join(filter(None, [parsed.container_version, parsed.tag_chain]))
    assert fields[5].startswith(head)
    suffix = re.fullmatch(r"(?:_tid(\d+)(?:_\d+)?)?(?:_sub(\d+))?", fields[5][len(head) :])
    assert suffix is not None
    assert parsed.tid == (int(suffix[1]) if suffix[1] else None)
    assert parsed.sub == (int(suffix[2]) if suffix[2] else None)
    assert "_".join(str(t) for t in parsed.tags) == parsed.tag_chain


# -- the column-wise parser -------------------------------------------------------------------


def _all_names() -> list[str]:
    real = [p.values[0] for p in _real_names() if p.values[0] is not None]
    return [*PARSED, *REJECTED, *real]


def test_parse_names_agrees_with_parse_name():
    names = _all_names()
    frame = parse_names(pd.Series(names, index=range(1000, 1000 + len(names))))
    assert list(frame.index) == list(range(1000, 1000 + len(names)))
    assert list(frame.columns) == list(FIELDS)
    for (_, row), name in zip(frame.iterrows(), names, strict=True):
        expected = vars(parse_name(name))
        got = {f: (None if pd.isna(row[f]) else row[f]) for f in FIELDS}
        assert got == expected, name


def test_parse_names_types_and_missing_names():
    frame = parse_names([HITS_SUB, None, "user.x.y"])
    assert str(frame["tid"].dtype) == "Int64"
    assert frame["container"].dtype == bool
    assert frame.loc[0, "sub"] == 384058277
    assert pd.isna(frame.loc[1, "name"])
    assert frame.loc[1, "error"] == "missing name"
    assert frame.loc[2, "scope"] == "user.x"


def test_parse_names_without_explaining():
    frame = parse_names(["calib:calib.x.y", PHYSLITE, "user.x.y/"], explain=False)
    assert list(frame["error"].fillna("")) == [
        "does not follow the ATLAS dataset nomenclature",
        "",
        "does not follow the ATLAS dataset nomenclature",
    ]
    assert list(frame["scope"]) == ["calib", "data15_13TeV", "user.x"]
    assert list(frame["container"]) == [False, False, True]
    assert frame.loc[1, "data_type"] == "DAOD_PHYSLITE"


def test_infer_data_types():
    dids = pd.Series(
        [
            f"data15_13TeV:{PHYSLITE}",
            "mc15_13TeV.362002.Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025.simul.log.e4376_s3022",
            f"{TTBAR}.recon.AOD.e6337_s3681_r13145/",
            "calib:calib.data15_13TeV.00266904.LArPedestals.COND.v0001",  # the fifth field
            "calib:calib.CONDBR2-BLKPA-RUN2-09.v01",
            "user.x.mc15_13TeV.1.b.c",
            None,
        ],
        index=list("abcdefg"),
    )
    types = infer_data_types(dids)
    assert list(types.index) == list("abcdefg")
    assert list(types.fillna("-")) == ["DAOD_PHYSLITE", "log", "AOD", "COND", "-", "-", "-"]


def test_scope_rule():
    assert scope_of(PHYSLITE) == "data15_13TeV"
    assert scope_of("user.alice.my.data") == "user.alice"
    assert scope_of("group.phys-higgs.x") == "group.phys-higgs"
    assert normalize_did(" user.alice.x ") == "user.alice:user.alice.x"
    assert normalize_did(f"archive:{PHYSLITE}") == f"archive:{PHYSLITE}"


# -- lifecycle names parse ---------------------------------------------------------------------


def test_cli_json():
    result = runner.invoke(app, ["names", "parse", "-f", "json", PHYSLITE, "user.x.y"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["kind"], document["summary"]) == ("names", {"names": 2, "errors": 1})
    rows = document["names"]
    assert [r["name"] for r in rows] == [PHYSLITE, "user.x.y"]
    assert rows[0]["tags"] == [
        {"letter": "r", "number": 13286},
        {"letter": "p", "number": 4910},
        {"letter": "p", "number": 6026},
    ]
    assert (rows[0]["number"], rows[0]["stream"], rows[0]["error"]) == (
        "00266904",
        "physics_Main",
        None,
    )
    assert rows[1]["error"].startswith("user-scope name")
    assert rows[1]["tags"] == []


def test_cli_exits_2_only_when_every_name_fails():
    result = runner.invoke(app, ["names", "parse", "-f", "json", "user.x.y", "a.b"])
    assert result.exit_code == 2
    assert len(json.loads(result.stdout)["names"]) == 2  # the reasons are still printed
    assert result.stderr.strip() == (
        "lifecycle: error: 'user.x.y' does not follow the ATLAS dataset nomenclature: "
        "user-scope name: free-form after user.<nick>, not the ATLAS nomenclature "
        "(nor does the other name)"
    )


def test_cli_reads_stdin_and_writes_csv():
    stdin = f"# a comment\n{PHYSLITE}\n\ncalib:calib.x.v1\n"
    result = runner.invoke(app, ["names", "parse", "-f", "csv", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(FIELDS)
    assert lines[1].startswith(f"{PHYSLITE},data15_13TeV,data15_13TeV,00266904,physics_Main,")
    assert len(lines) == 3


def test_cli_table_and_no_names():
    result = runner.invoke(app, ["names", "parse", PHYSLITE])
    assert result.exit_code == 0, result.output
    assert "DAOD_PHYSLITE" in result.stdout
    assert "r13286_p4910_p6026" in result.stdout
    assert "container_version" not in result.stdout  # empty columns are left out for people
    empty = runner.invoke(app, ["names", "parse", "-"], input="# nothing\n")
    assert empty.exit_code == 2
    assert "no names given" in empty.stderr


def test_name_metadata():
    dids = pd.Series(
        [
            f"data15_13TeV:{PHYSLITE}",
            HITS_SUB,
            "mc15_valid.00200010.overlay_streamsAll_2016_pp_1.skim.DRAW.r8381",
            "data15_13TeV.periodAllYear.physics_Main.PhysCont.DAOD_PHYSLITE.grp15_v01_p6026",
            "calib:calib.data15_13TeV.00266904.LArPedestals.COND.v0001",
            "user.x.data15_13TeV.00266904.physics_Main.deriv.DAOD_PHYS.r1",
            None,
        ],
        index=range(10, 17),
    )
    frame = name_metadata(dids)
    assert list(frame.index) == list(range(10, 17))
    assert list(frame.columns) == ["data_type", *METADATA_KEYS]
    rows = [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]
    assert rows == [
        ["DAOD_PHYSLITE", "data15_13TeV", "266904", None, "physics_Main", "deriv"],
        [
            "HITS", "mc15_13TeV", None, "362002", "Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025",
            "simul",
        ],
        ["DRAW", "mc15_valid", None, "200010", "overlay_streamsAll_2016_pp_1", "skim"],
        ["DAOD_PHYSLITE", "data15_13TeV", None, None, "physics_Main", "PhysCont"],  # a period
        ["COND", None, None, None, None, None],  # not the nomenclature: the data type only
        [None] * 6,
        [None] * 6,
    ]  # fmt: skip


def test_name_metadata_agrees_with_parse_names():
    names = pd.Series(_all_names())
    implied = name_metadata(names)
    parsed = parse_names(names, explain=False)
    for field in ("project", "stream", "prod_step"):
        pd.testing.assert_series_equal(implied[field], parsed[field], check_dtype=False)
    number = parsed["number"].where(parsed["number"].str.isdigit().fillna(False))
    expected = number.dropna().astype(int).astype(str)
    got = implied["run_number"].fillna(implied["dsid"]).dropna()
    assert got.to_dict() == expected.to_dict()
    data = parsed["project"].str.startswith("data").fillna(False)
    assert implied.loc[data, "dsid"].isna().all()
    assert implied.loc[~data, "run_number"].isna().all()


def test_import_fills_data_types_and_metadata(catalog, tmp_path):
    """Import fills empty data types and name metadata from names; a file's value wins."""
    from catalogs import write_catalog

    log = "mc15_13TeV.362002.Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025.simul.log.e4376_s3022"
    rows = [
        {"did": log, "kind": "simulated", "data_type": "", "project": ""},
        {"did": PHYSLITE, "kind": "derived", "data_type": "", "project": "given"},
        {"did": "calib:calib.x.y.z.COND.v1", "kind": "calibration", "data_type": ""},
        {"did": f"{TTBAR}.recon.AOD.e6337_s3681", "kind": "simulated", "data_type": "ESD"},
        {"did": "user.jdoe.data15_13TeV.00266904.ntuple.v1", "kind": "derived", "data_type": ""},
    ]
    for row in rows:
        row.update(bytes="1", files="1", created_at="2020-01-01")
    catalog.import_directory(write_catalog(tmp_path / "names", {"datasets": rows}))
    datasets = catalog.datasets().set_index("did")["data_type"]
    assert datasets[f"mc15_13TeV:{log}"] == "log"
    assert datasets[f"data15_13TeV:{PHYSLITE}"] == "DAOD_PHYSLITE"
    assert datasets["calib:calib.x.y.z.COND.v1"] == "COND"
    assert datasets[f"mc20_13TeV:{TTBAR}.recon.AOD.e6337_s3681"] == "ESD"  # the file wins
    assert catalog.dataset(log).metadata == {
        "dsid": "362002",
        "prod_step": "simul",
        "project": "mc15_13TeV",
        "stream": "Sherpa_CT10_Znunu_Pt0_70_CVetoBVeto_fac025",
    }
    assert catalog.dataset(PHYSLITE).metadata == {
        "prod_step": "deriv",
        "project": "given",  # the file wins here too
        "run_number": "266904",
        "stream": "physics_Main",
    }
    # names outside the nomenclature get no metadata
    assert catalog.dataset("calib:calib.x.y.z.COND.v1").metadata == {}
    assert catalog.dataset("user.jdoe.data15_13TeV.00266904.ntuple.v1").metadata == {}


# DIDs of these characters: the valid ones, and the ways to miss (dots at the edges, no colon,
# two colons, characters outside the set, personal scopes given without scope)
_DID_TEXT = st.text(alphabet="ab9._-+/:Z é", max_size=12) | st.sampled_from(
    ["user", "user.", "user.jdoe.x", "group.phys.y/", "data15_13TeV.x", ".a:b", "a.:b", "a:.b",
     "a:b.", "a::b", ":", ""]
)  # fmt: skip


@given(st.lists(_DID_TEXT, max_size=30))
def test_normalize_dids_is_normalize_did_of_each_value_and_checks_the_did_grammar(values):
    dids, valid = normalize_dids(pd.Series(values, dtype="string[pyarrow]"))
    assert list(dids) == [normalize_did(v) if v.strip() == v else dids[i] for i, v in
                          enumerate(values)]  # fmt: skip
    part = r"[A-Za-z0-9_.\-+/]+"
    for did, ok in zip(dids, valid, strict=True):
        expected = re.fullmatch(f"{part}:{part}", did) is not None and not re.search(
            r"(?:^|:)\.|\.(?::|$)", did
        )
        assert ok == expected, did
