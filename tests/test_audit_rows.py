"""A run's findings as the database composes them for output: CSV lines and JSON texts equal
what the csv and json modules write for the same rows, whatever characters the values hold."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import lifecycle.audit as audit
from lifecycle.audit import FINDING_COLUMNS, FINDINGS_TABLE, FindingRows
from lifecycle.catalog.sql import temporary_table
from lifecycle.policy import Rule

AWKWARD = [
    "plain",
    "a,b",
    'say "hi"',
    '"',
    "two\nlines",
    "carriage\rreturn",
    "both\r\nends",
    "tab\there",
    " spaced ",
    "'quote",
    "=1+1",
    "ünïcödé ✓ 𝔘",
    "del\x7fete",
    "back\\slash",
    ",",
    '""',
]


def _rules() -> tuple[Rule, ...]:
    """A rule for each awkward text, in its name, its policy's name and its severity."""
    return tuple(
        Rule(name=f"rule {text}", type="preservation", policy=f"policy {text}", file="t.toml",
             severity=f"severity {text}")
        for text in AWKWARD
    )  # fmt: skip


def _rows() -> list[tuple[str, ...]]:
    """Findings of every rule, every awkward text in every column (DIDs unique and sorted)."""
    out = []
    for rule in _rules():
        for n, text in enumerate(AWKWARD):
            did = f"scope:{n:02d}.{text}"
            details = json.dumps({"note": text, "n": n}, sort_keys=True)
            out.append((rule.name, rule.policy, did, rule.severity, f"message {text}", details))
    return out


def _found(conn) -> FindingRows:
    """The rows inserted as the audit inserts them: a rule's findings at once, in DID order."""
    temporary_table(conn, FINDINGS_TABLE, audit.findings_columns(conn))
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    ranges = {}
    for rule in reversed(_rules()):  # the order inserted is not the order read
        rows = [row for row in _rows() if row[0] == rule.name]
        conn.exec_driver_sql(
            f"INSERT INTO {FINDINGS_TABLE} ({', '.join(FINDING_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * 6)})",
            rows,
        )
        last = audit._last_position(conn)
        ranges[rule.name] = (last - len(rows) + 1, last)
    return FindingRows(conn, _rules(), ranges)


def test_csv_lines_are_what_the_csv_module_writes(catalog):
    with catalog.read() as conn:
        found = _found(conn)
        composed = "".join(line for chunk in found.csv_lines() for line in chunk)
        rows = [row for chunk in found for row in chunk]
    assert rows == _rows()
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(rows)
    assert composed == expected.getvalue()
    assert '"rule a,b"' in composed  # quoting did happen
    assert '"policy say ""hi"""' in composed


def test_json_texts_are_what_json_dumps_writes(catalog):
    with catalog.read() as conn:
        found = _found(conn)
        texts = [text for chunk in found.json_texts() for text in chunk]
        rows = [row for chunk in found for row in chunk]
    assert texts == [
        json.dumps({**dict(zip(FINDING_COLUMNS, row, strict=True)), "details": None}).replace(
            '"details": null', '"details": ' + row[5]
        )
        for row in rows
    ]


def test_the_csv_format_of_an_audit_is_the_csv_modules(catalog, tmp_path, monkeypatch):
    """``audit --format csv`` writes the composed lines; with ``--excel-safe`` the csv module
    writes the rows (guarding no cell here): the same file."""
    from typer.testing import CliRunner

    from lifecycle.cli.app import app
    from lifecycle.generate import generate

    generate(tmp_path / "gen", 1500, seed=3)
    catalog.import_directory(tmp_path / "gen")
    composed = []
    csv_lines = FindingRows.csv_lines

    def spy(self):
        composed.append(True)
        return csv_lines(self)

    monkeypatch.setattr(FindingRows, "csv_lines", spy)
    policies = str(Path(__file__).resolve().parent.parent / "policies")
    out = {}
    for name, extra in (("composed", []), ("module", ["--excel-safe"])):
        path = tmp_path / f"{name}.csv"
        args = ["--db", catalog.url, "audit", *extra, "--policy", policies, "--format", "csv"]
        result = CliRunner().invoke(app, [*args, "--fail-on", "never", "-o", str(path)])
        assert result.exit_code == 0, result.output
        out[name] = path.read_text(encoding="utf-8")
    assert composed == [True]  # only the first run composed its lines
    assert out["composed"] == out["module"]
    assert out["composed"].count("\n") > 100


def test_parquet_texts_built_from_their_bytes_equal_pyarrows():
    """The audit's Parquet (all text) does not go through ``pyarrow.array``, which imports
    pandas; the arrays, and the file read back, are what ``pyarrow.array`` would give."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.output.files import _text_array, write_rows_parquet

    assert _text_array(AWKWARD).equals(pa.array(AWKWARD, type=pa.string()))
    assert _text_array(["", "é"]).equals(pa.array(["", "é"]))
    assert _text_array(["a", 1]) is None  # not all texts: pyarrow.array decides
    assert _text_array(["a", None]) is None
    assert _text_array(["lone \ud800"]) is None  # pyarrow.array says what is wrong
    rows = [(text, n, None if n % 3 else text) for n, text in enumerate(AWKWARD)]
    out = io.BytesIO()
    write_rows_parquet(["text", "n", "maybe"], [rows[:3], rows[3:9], rows[9:]], out)
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.schema.types == [pa.string(), pa.int64(), pa.string()]
    assert [tuple(r.values()) for r in table.to_pylist()] == rows
