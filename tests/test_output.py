"""The output registry: one place for every format, writers that agree, the same -o everywhere."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest
from catalogs import AOD, PHYS, RAW
from conftest import ROOT
from typer.testing import CliRunner

from lifecycle.cli import options
from lifecycle.cli.app import app
from lifecycle.errors import UsageError
from lifecycle.output import Entries, Frames, Report, Rows, lookup, names, render
from lifecycle.output import json_stream as streaming
from lifecycle.output.json_stream import Later, write_json

runner = CliRunner()


@pytest.fixture
def loaded(catalog, mini_dir):
    catalog.import_directory(mini_dir)
    return catalog.url


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["a", "=SUM(1)", None],
            "bytes": [1, 2_000_000, 3],
            "at": pd.to_datetime(["2024-01-01T00:00:00Z"] * 3, utc=True),
        }
    )


def rendered(value, fmt: str, family: str = "listing") -> str | bytes:
    binary = lookup(family, fmt).binary
    out = io.BytesIO() if binary else io.StringIO()
    render(value, fmt, family, out)
    return out.getvalue()


# -- the registry ----------------------------------------------------------------------------------


def test_each_family_lists_its_formats_in_order():
    assert names("listing") == ("table", "json", "csv", "parquet")
    assert names("detail") == ("table", "json", "csv")  # csv: a report of one thing, its rows
    assert names("graph") == (
        "tree",
        "json",
        "prov-json",
        "prov-n",
        "dot",
        "mermaid",
        "svg",
        "html",
        "prov-xml",
        "openlineage",
    )
    assert names("recipe") == ("text", "json", "shell")
    assert names("plan") == ("json", "parquet")


def test_cli_format_choices_are_the_registry_names():
    for choices in (
        options.ListingFormat,
        options.DetailFormat,
        options.GraphFormat,
        options.RecipeFormat,
        options.PlanFormat,
        options.ExchangeFormat,
    ):
        assert tuple(c.value for c in choices) == names(choices.family)


def test_the_exchange_formats_are_those_the_exporter_writes():
    from lifecycle.exchange.exporter import EXPORT_FORMATS

    assert names("exchange") == EXPORT_FORMATS


def test_an_unknown_format_is_a_usage_error_naming_the_choices():
    with pytest.raises(
        UsageError, match=r"--format: 'xml' is not one of table, json, csv, parquet"
    ):
        lookup("listing", "xml")


def test_importing_output_loads_no_heavy_package_and_only_leaf_modules():
    code = (
        "import sys, lifecycle.output\n"
        "heavy = ('pandas', 'pyarrow', 'numpy', 'rich', 'prov', 'sqlalchemy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(sorted(m for m in sys.modules if m.startswith('lifecycle.')"
        " and not m.startswith('lifecycle.output')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, own = out.stdout.splitlines()
    assert heavy == "[]"
    assert set(eval(own)) <= {"lifecycle.errors", "lifecycle.text", "lifecycle.values"}


# -- every listing format writes a report ---------------------------------------------------------


@pytest.mark.parametrize("fmt", names("listing"))
def test_every_listing_format_writes_a_report_of_records(fmt):
    text = rendered(Report(frame(), title="things", kind="things"), fmt)
    if fmt == "table":
        assert "things" in text
        assert "2.00 MB" in text
        assert "=SUM(1)" in text
    elif fmt == "json":  # the envelope: kind, summary (rows and bytes), the rows
        document = json.loads(text)
        assert list(document) == ["kind", "summary", "things"]
        assert document["kind"] == "things"
        assert document["summary"] == {"things": 3, "bytes": 2_000_004}
        assert document["things"][1] == {
            "name": "=SUM(1)",
            "bytes": 2_000_000,
            "at": "2024-01-01T00:00:00Z",
        }
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[2] == {"name": "", "bytes": "3", "at": "2024-01-01T00:00:00Z"}
    else:
        back = pd.read_parquet(io.BytesIO(text))
        pd.testing.assert_frame_equal(back, frame())


def test_a_report_declares_its_document_and_its_text_for_people_once():
    report = Report(frame(), document=lambda: {"count": 3}, people=lambda out: out.write("three\n"))
    assert json.loads(rendered(report, "json")) == {"count": 3}
    assert rendered(report, "table") == "three\n"
    assert len(list(csv.DictReader(io.StringIO(rendered(report, "csv"))))) == 3


def test_a_listing_without_a_kind_has_no_json():
    with pytest.raises(ValueError, match="needs a kind"):
        rendered(Report(frame()), "json")


def test_a_report_without_records_refuses_csv():
    with pytest.raises(UsageError, match="csv does not apply"):
        rendered(Report(document=dict), "csv")


def test_excel_safe_guards_csv_cells_only():
    report = Report(frame(), excel_safe=True, kind="things")
    assert "'=SUM(1)" in rendered(report, "csv")
    assert json.loads(rendered(report, "json"))["things"][1]["name"] == "=SUM(1)"


# -- streamed JSON ---------------------------------------------------------------------------------

DOCUMENTS = [
    [],
    {},
    [{"did": f"s:d{i}", "n": i, "tags": ["a", "b"]} for i in range(11)],
    {
        "summary": {"lost": 3, "by": {"x": [1, 2]}},
        "lost": [[f"s:{i}", i] for i in range(7)],
        "none": [],
    },
    "text",
    None,
]


@pytest.mark.parametrize("value", DOCUMENTS)
def test_streamed_json_equals_json_dumps_of_the_whole(monkeypatch, value):
    monkeypatch.setattr(streaming, "CHUNK", 3)  # several chunks, and a last short one
    out = io.StringIO()
    write_json(value, out)
    assert out.getvalue() == json.dumps(value, indent=2) + "\n"
    compact = io.StringIO()
    write_json(value, compact, compact_entries=True)
    assert json.loads(compact.getvalue()) == value


def test_a_value_known_later_is_computed_when_it_is_written():
    seen: list[int] = []

    def rows():
        for i in range(8):
            seen.append(i)
            yield [{"n": i}]

    document = {"rows": Entries(rows()), "count": Later(lambda: len(seen))}
    out = io.StringIO()
    write_json(document, out)
    assert json.loads(out.getvalue()) == {"rows": [{"n": i} for i in range(8)], "count": 8}


def test_compact_entries_put_one_entry_on_a_line():
    out = io.StringIO()
    write_json({"lost": [{"did": "s:a"}, {"did": "s:b"}], "n": 2}, out, compact_entries=True)
    assert (
        out.getvalue()
        == '{\n  "lost": [\n    {"did": "s:a"},\n    {"did": "s:b"}\n  ],\n  "n": 2\n}\n'
    )


def test_listing_json_is_streamed_in_chunks_with_the_same_text(monkeypatch):
    big = pd.DataFrame({"n": range(10), "at": [datetime(2024, 1, 1, tzinfo=UTC)] * 10})
    whole = rendered(Report(big, kind="n"), "json")
    monkeypatch.setattr(streaming, "CHUNK", 4)
    monkeypatch.setattr("lifecycle.output.reports.CHUNK", 4)
    assert rendered(Report(big, kind="n"), "json") == whole
    assert json.loads(whole)["summary"] == {"n": 10}


# -- the same -o and stdout for every command ------------------------------------------------------


def test_parquet_goes_to_stdout_or_to_output_the_same(loaded, tmp_path):
    to_stdout = runner.invoke(app, ["--db", loaded, "replicas", "list", RAW, "-f", "parquet"])
    assert to_stdout.exit_code == 0, to_stdout.output
    path = tmp_path / "replicas.parquet"
    to_file = runner.invoke(
        app, ["--db", loaded, "replicas", "list", RAW, "-f", "parquet", "-o", str(path)]
    )
    assert to_file.exit_code == 0, to_file.output
    assert to_file.stdout_bytes == b""
    assert path.read_bytes() == to_stdout.stdout_bytes
    assert len(pd.read_parquet(path)) == 2


def test_json_to_output_is_what_stdout_gets(loaded, tmp_path):
    path = tmp_path / "sites.json"
    shown = runner.invoke(app, ["--db", loaded, "sites", "list", "-f", "json"]).stdout
    assert (
        runner.invoke(
            app, ["--db", loaded, "sites", "list", "-f", "json", "-o", str(path)]
        ).exit_code
        == 0
    )
    assert path.read_text() == shown


def _commands(group, path=()):
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_with_a_format_offers_output():
    import typer.main

    root = typer.main.get_command(app)
    with_format = []
    for path, command in _commands(root):
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        if "--format" in options:
            with_format.append(path)
            assert "--output" in options, f"{' '.join(path)} has --format but no --output"
    assert len(with_format) > 20  # the walk found the commands


@pytest.mark.parametrize(
    "args",
    [
        ["lineage", PHYS, "-f", "json"],
        ["impact", RAW, "-f", "dot"],
        ["recipe", PHYS, "-f", "shell"],
        ["datasets", "show", AOD, "-f", "json"],
        ["overview", "-f", "json"],
        ["simulate", "loss", "--site", "BNL-OSG2", "--now", "2026-11-25", "-f", "json",
         "--policy", str(ROOT / "policies")],
    ],
    ids=lambda a: " ".join(a[:2]),
)  # fmt: skip
def test_every_format_writes_to_output_what_stdout_gets(loaded, tmp_path, args):
    shown = runner.invoke(app, ["--db", loaded, *args])
    assert shown.exit_code in (0, 1), shown.output
    path = tmp_path / "out"
    to_file = runner.invoke(app, ["--db", loaded, *args, "-o", str(path)])
    assert to_file.exit_code == shown.exit_code, to_file.output
    assert to_file.stdout == ""
    assert path.read_text() == shown.stdout


def test_output_into_a_missing_directory_is_refused_before_any_work(loaded, tmp_path):
    path = tmp_path / "missing" / "x.parquet"
    result = runner.invoke(app, ["--db", loaded, "sites", "list", "-f", "parquet", "-o", str(path)])
    assert result.exit_code == 2
    assert "--output: directory of" in result.stderr


# -- records read a chunk at a time ----------------------------------------------------------------

ROWS = [
    ("s:a", "=SUM(1)", None),
    ("s:b", 'quote " and, comma', 3),
    ("s:c", "line\nbreak", 4),
]


@pytest.mark.parametrize("excel_safe", [False, True])
def test_rows_and_frames_write_the_csv_of_the_whole_frame(excel_safe):
    whole = pd.DataFrame(ROWS, columns=["did", "text", "n"]).astype({"n": "Int64"})
    expected = rendered(Report(whole, excel_safe=excel_safe), "csv")
    rows = Rows(["did", "text", "n"], iter([ROWS[:1], [], ROWS[1:]]))
    assert rendered(Report(rows, excel_safe=excel_safe), "csv") == expected
    frames = Frames(iter([whole.iloc[:2], whole.iloc[2:]]))
    assert rendered(Report(frames, excel_safe=excel_safe), "csv") == expected


def test_rows_and_frames_write_json_and_parquet_of_the_whole():
    whole = pd.DataFrame(ROWS, columns=["did", "text", "n"]).astype({"n": "Int64"})
    expected = json.loads(rendered(Report(whole, kind="rows"), "json"))
    assert expected["summary"] == {"rows": 3}
    frames = Frames(iter([whole.iloc[:1], whole.iloc[1:]]))
    streamed = json.loads(rendered(Report(frames, kind="rows"), "json"))
    assert list(streamed) == ["kind", "rows", "summary"]  # counted as they were written
    assert streamed == expected
    rows = Rows(["did", "text", "n"], iter([ROWS[:2], ROWS[2:]]))
    assert json.loads(rendered(Report(rows, kind="rows"), "json")) == expected
    with_bytes = Frames(
        iter([whole.assign(bytes=[1, 2, 3]).iloc[:2], whole.assign(bytes=[1, 2, 3]).iloc[2:]])
    )
    assert json.loads(rendered(Report(with_bytes, kind="rows"), "json"))["summary"] == {
        "rows": 3, "bytes": 6
    }  # fmt: skip
    out = io.BytesIO()
    render(
        Report(Rows(["did", "text", "n"], iter([ROWS[:2], [], ROWS[2:]]))),
        "parquet",
        "listing",
        out,
    )
    read = pd.read_parquet(io.BytesIO(out.getvalue()))
    assert read.astype({"n": "Int64"}).equals(whole)
    empty = io.BytesIO()
    render(Report(Rows(["did"], iter([]))), "parquet", "listing", empty)
    assert list(pd.read_parquet(io.BytesIO(empty.getvalue())).columns) == ["did"]


@pytest.mark.parametrize("compact", [False, True])
def test_entries_are_written_as_the_list_they_make(monkeypatch, compact):
    monkeypatch.setattr(streaming, "CHUNK", 3)
    entries = [{"did": f"s:d{i}", "n": i} for i in range(7)]
    document = {"run": {"id": 1}, "findings": entries, "none": []}
    expected = io.StringIO()
    write_json(document, expected, compact_entries=compact)
    for chunks in ([entries[:3], [], entries[3:]], [entries]):
        out = io.StringIO()
        write_json({**document, "findings": Entries(iter(chunks))}, out, compact_entries=compact)
        assert out.getvalue() == expected.getvalue()
        # entries given as their JSON texts: the same document (indented ones decoded first)
        texts = iter([[json.dumps(entry) for entry in chunk] for chunk in chunks])
        out = io.StringIO()
        write_json(
            {**document, "findings": Entries(texts, encoded=True)}, out, compact_entries=compact
        )
        assert out.getvalue() == expected.getvalue()
    out = io.StringIO()
    write_json({**document, "findings": Entries(iter([[]]))}, out, compact_entries=compact)
    assert json.loads(out.getvalue())["findings"] == []
