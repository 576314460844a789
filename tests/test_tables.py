"""Tables for people at any width: names folded, never cut; ``COLUMNS`` honoured; ``--wide``."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest
from conftest import SAMPLE_CATALOG
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.output.tables import NAME_WIDTH, is_name_column, wide, write_table

runner = CliRunner()
SEPARATORS = re.compile("[│┃]")
POLICIES = str(SAMPLE_CATALOG.parent / "policies")

# ATLAS names: what tells them apart (data type, tag chain) is at their end
DIDS = [
    "mc20_13TeV:mc20_13TeV.301333.Pythia8EvtGen_A14NNPDF23LO_zprime3000_tt.deriv.DAOD_PHYSLITE"
    ".e3723_s3681_r13167_p6026",
    "mc20_13TeV:mc20_13TeV.301333.Pythia8EvtGen_A14NNPDF23LO_zprime3000_tt.deriv.DAOD_PHYS"
    ".e3723_s3681_r13167_p5980",
    "data15_13TeV:data15_13TeV.00279169.physics_Main.deriv.DAOD_PHYSLITE.r13286_p4910_p6026",
    "data15_13TeV:data15_13TeV.00279169.physics_Main.merge.AOD.r13286_p4910",
    "data15_13TeV:data15_13TeV.periodAllYear.physics_Main.PhysCont.DAOD_PHYSLITE.grp15_v01_p6026",
]


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)


def frame() -> pd.DataFrame:
    """A table shaped like a report: endpoints and times around two columns of names."""
    n = len(DIDS)
    return pd.DataFrame(
        {
            "endpoint": ["CERN-PROD_DATADISK", "BNL-OSG2_LOCALGROUPDISK", "NDGF-T1_DATATAPE"] * 2,
            "output_did": [*DIDS, DIDS[0]][: n + 1],
            "kind": ["derived"] * (n + 1),
            "data_type": ["DAOD_PHYSLITE"] * (n + 1),
            "bytes": [13522277568633, 1, 2**40, 0, 5, 77],
            "created_at": ["2024-02-06T09:45:00Z"] * (n + 1),
            "input_did": [DIDS[-1], *DIDS][: n + 1],
            "available_replicas": [2, 0, 1, 3, 4, 5],
        }
    )


def rendered(found: pd.DataFrame, title: str | None = "outputs") -> str:
    out = io.StringIO()
    write_table(found, out, title)
    return out.getvalue()


def column_text(text: str, index: int) -> str:
    """The text of column ``index`` (from 0) down the table's body, line after line: the lines a
    name was folded onto joined."""
    lines = text.splitlines()
    body = lines[next(i for i, line in enumerate(lines) if "━" in line) + 1 :]
    return "".join(
        SEPARATORS.split(line)[index + (1 if SEPARATORS.match(line) else 0)].strip()
        for line in body
        if SEPARATORS.search(line)
    )


def record_values(text: str, column: str) -> list[str]:
    """The values of ``column`` in a table shown as records (one block per row), the lines a
    value was folded onto joined."""
    values: list[str] = []
    key = None
    for line in text.splitlines()[1:]:
        if not line.strip() or set(line.strip()) == {"─"}:
            key = None
            continue
        name, value = re.match(r"^(\S*)\s+(.*?)\s*$", line).groups()
        key = name or key
        if key == column:
            values.append(value) if name else values.__setitem__(-1, values[-1] + value)
    return values


@pytest.mark.parametrize("columns", [60, 80, 100, 120, 160])
def test_names_fold_whole_and_no_line_is_wider_than_columns(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    text = rendered(frame())
    assert max(len(line) for line in text.splitlines()) <= columns
    assert "…" not in text  # nothing is cut, not even an endpoint or a number
    found = frame()
    sizes = ["13.52 TB", "1 B", "1.10 TB", "0 B", "5 B", "77 B"]  # numbers fold, never cut
    if "━" in text:  # a table, narrowed
        assert column_text(text, 1) == "".join(found["output_did"])  # every name whole, in order
        assert column_text(text, 6) == "".join(found["input_did"])
        assert column_text(text, 0) == "".join(found["endpoint"])
        assert column_text(text, 4).replace(" ", "") == "".join(sizes).replace(" ", "")
    else:  # too narrow for 8 columns: a block per row
        assert columns <= 100
        assert record_values(text, "output_did") == list(found["output_did"])
        assert record_values(text, "input_did") == list(found["input_did"])
        assert record_values(text, "bytes") == sizes


def test_a_table_that_fits_keeps_its_box_and_its_lines():
    narrow = frame()[["kind", "bytes"]]
    text = rendered(narrow)
    assert "┏" in text
    assert len(text.splitlines()) == 4 + len(narrow) + 1  # title, 3 rules, header, rows


def test_other_columns_give_way_before_names(monkeypatch):
    """At 120 columns the names keep at least NAME_WIDTH; the endpoint folds first."""
    monkeypatch.setenv("COLUMNS", "120")
    text = rendered(frame())
    rule = next(line for line in text.splitlines() if "━" in line)
    widths = [len(cell) for cell in rule.split("╇")]
    assert widths[1] >= NAME_WIDTH  # output_did
    assert widths[6] >= NAME_WIDTH  # input_did
    assert widths[0] < len("BNL-OSG2_LOCALGROUPDISK")  # endpoint: folded


def test_headers_break_after_underscores(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    text = rendered(pd.DataFrame({"did": DIDS[:1], "available_replicas": [1]}))
    lines = [line.split("┃")[-1].strip() for line in text.splitlines() if "┃" in line]
    assert lines == ["available_", "replicas"]


def test_a_title_longer_than_the_table_goes_above_it(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    title = f"replicas of {DIDS[0]}"
    text = rendered(pd.DataFrame({"endpoint": ["CERN-PROD_DATADISK"]}), title)
    assert text.splitlines()[0] == title


def test_wide_prints_every_name_whole_on_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with wide():
        text = rendered(frame())
    lines = text.splitlines()
    for did in DIDS:
        assert any(did in line for line in lines)
    assert max(len(line) for line in lines) > 200


def test_name_columns():
    assert all(is_name_column(c) for c in ("did", "output_did", "input_did", "dataset", "name"))
    assert not any(is_name_column(c) for c in ("kind", "bytes", "site", "created_at"))


# -- through the command line ------------------------------------------------------------------


@pytest.fixture
def sample(catalog):
    catalog.import_directory(SAMPLE_CATALOG)
    return catalog.url


def lifecycle(url: str, *args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {}
    result = runner.invoke(app, ["--db", url, *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def all_dids(url: str) -> list[str]:
    return [
        row["did"]
        for row in csv.DictReader(io.StringIO(lifecycle(url, "datasets", "list", "-f", "csv")))
    ]


@pytest.mark.parametrize("columns", [80, 120])
def test_datasets_list_honours_columns_when_piped(sample, columns):
    text = lifecycle(sample, "datasets", "list", columns=columns)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert max(len(line) for line in lines) > columns - 10  # the width is used, not 80 always
    if columns == 80:  # ten columns do not fit: one block per dataset
        assert record_values(text, "did") == all_dids(sample)
    else:
        assert column_text(text, 0) == "".join(all_dids(sample))


def test_without_columns_a_pipe_gets_richs_default(sample):
    from rich.console import Console

    text = lifecycle(sample, "datasets", "list")
    assert max(len(line) for line in text.splitlines()) <= Console(file=io.StringIO()).width


def test_datasets_list_wide(sample):
    lines = lifecycle(sample, "datasets", "list", "--wide", columns=80).splitlines()
    dids = all_dids(sample)
    assert max(len(d) for d in dids) > 100
    for did in dids:
        assert any(f" {did} " in line for line in lines), did


def test_layout_by_width(monkeypatch):
    """Natural and boxed when it fits; narrowed and compact; a block per row when even narrowed
    columns leave a name less than 20 columns."""
    layouts = {}
    for columns in (400, 160, 80):
        monkeypatch.setenv("COLUMNS", str(columns))
        text = rendered(frame())
        layouts[columns] = "┏" in text, "━" in text
    assert layouts == {400: (True, True), 160: (False, True), 80: (False, False)}


# -- summary first, so that `| head` answers -----------------------------------------------------


def test_expire_prints_its_summary_before_the_kept_datasets(sample):
    text = lifecycle(sample, "expire", "--now", "2030-01-01", "--policy", POLICIES, columns=200)
    lines = text.splitlines()
    assert "datasets past their end of life: would delete" in lines[0]
    titles = [line.strip() for line in lines]
    assert titles.index("to delete") < titles.index("to free per site") < titles.index("kept")


def test_simulate_loss_prints_every_summary_line_before_the_datasets(sample):
    result = runner.invoke(
        app,
        ["--db", sample, "simulate", "loss", "--site", "CERN-PROD", "--policy", POLICIES],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1  # data lost for good
    lines = result.stdout.splitlines()
    starts = ["losing ", "lost for good:", "recoverable by", "replication violations", "to re-"]
    assert [line.split(" ")[0] for line in lines[:5]] == [s.split(" ")[0] for s in starts]
    titles = [line.strip() for line in lines]
    assert titles.index("re-replication sources (sites)") < titles.index("lost for good")


def test_replicas_list_counts_first(sample):
    did = all_dids(sample)[6]
    first = lifecycle(sample, "replicas", "list", did, columns=200).splitlines()[0]
    assert re.fullmatch(
        rf"\d+ replicas? of {re.escape(did)}: \d+ available on (disk|tape).*", first
    )
