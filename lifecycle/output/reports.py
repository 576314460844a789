"""Reports and listings: a command's output declared once, written in any listing format.

A :class:`Report` holds what a command has to show: its **records** (one row per thing listed:
what csv and parquet write), its JSON **document** (by default the records as an array of
objects) and its rendering for **people** (by default a table of the records). The ``listing``
formats (table, json, csv, parquet) and the ``detail`` ones (table, json) write any report; a
listing that is only a frame is ``Report(frame, title=...)``. A report of many rows can give
them as :class:`Rows` instead (read a chunk at a time, from the database): csv and parquet then
write them as they come.

JSON is an array of objects (or the report's document) with ISO 8601 UTC timestamps and
``null`` for missing values, streamed (:mod:`lifecycle.output.json_stream`); csv and parquet keep
the exact values; ``excel_safe`` guards CSV cells a spreadsheet would run
(:func:`~lifecycle.text.guard_formulas`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.output.files import write_csv, write_parquet, write_rows_csv, write_rows_parquet
from lifecycle.output.json_stream import CHUNK, write_json, write_json_entries
from lifecycle.output.tables import write_table
from lifecycle.text import guard_formulas
from lifecycle.values import records

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rows:
    """A report's records as rows of ``columns``, a chunk (a list of tuples) at a time; they
    can be read once."""

    columns: Sequence[str]
    chunks: Iterable[list[tuple]]
    # the same rows as CSV lines, composed where they are read (the header aside, each line
    # what the csv module writes for the row): csv then writes them as they are, unless it
    # must guard cells (excel_safe)
    csv_lines: Callable[[], Iterable[list[str]]] | None = None


@dataclass(frozen=True)
class Frames:
    """A report's records as frames of rows read a chunk at a time (same columns, any number of
    frames, at least one); csv and json write them as they come, the other formats join them."""

    frames: Iterable[pd.DataFrame]


@dataclass(frozen=True)
class Report:
    """What one command shows, declared once (see the module docstring)."""

    records: pd.DataFrame | Rows | Frames | None = None
    title: str | None = None
    document: Callable[[], Any] | None = None  # json; default: the records
    people: Callable[[IO[str]], None] | None = None  # table; default: a table of the records
    compact_entries: bool = False  # json: a document's list entries one compact line each
    excel_safe: bool = False  # csv: guard cells a spreadsheet would run

    def frame(self, fmt: str) -> pd.DataFrame | Rows | Frames:
        """The records, for a format that writes nothing else."""
        if self.records is None:
            raise UsageError(f"--format: {fmt} does not apply here; use table or json")
        return self.records

    def whole(self, fmt: str) -> pd.DataFrame:
        """The records as one frame (for formats that need them all; frames joined)."""
        found = self.frame(fmt)
        if isinstance(found, Rows):
            raise UsageError(f"--format: {fmt} does not apply here")
        if isinstance(found, Frames):
            import pandas as pd

            return pd.concat(list(found.frames), ignore_index=True)
        return found


def write_people(report: Report, out: IO[str]) -> None:
    """``table``: the report's rendering for people, else a table of its records."""
    if report.people is not None:
        report.people(out)
    else:
        write_table(report.whole("table"), out, report.title)


def write_document(report: Report, out: IO[str]) -> None:
    """``json``: the report's document, else its records as an array, a chunk at a time."""
    if report.document is not None:
        write_json(report.document(), out, compact_entries=report.compact_entries)
    else:
        write_json_entries(_record_chunks(report.frame("json")), out)


def write_records_csv(report: Report, out: IO[str]) -> None:
    """``csv``: the records (formula cells guarded with ``excel_safe``)."""
    found = report.frame("csv")
    if isinstance(found, Rows):
        if found.csv_lines is not None and not report.excel_safe:
            write_rows_csv(found.columns, [], out, excel_safe=False)  # the header
            for lines in found.csv_lines():
                out.write("".join(lines))
            return
        write_rows_csv(found.columns, found.chunks, out, excel_safe=report.excel_safe)
        return
    frames = found.frames if isinstance(found, Frames) else [found]
    for n, frame in enumerate(frames):
        write_csv(guard_formulas(frame) if report.excel_safe else frame, out, header=n == 0)


def write_records_parquet(report: Report, out: IO[bytes]) -> None:
    """``parquet``: the records."""
    found = report.frame("parquet")
    if isinstance(found, Rows):
        write_rows_parquet(found.columns, found.chunks, out)
    else:
        write_parquet(report.whole("parquet"), out)


def _record_chunks(found: pd.DataFrame | Rows | Frames) -> Iterator[list[dict[str, Any]]]:
    if isinstance(found, Rows):
        for chunk in found.chunks:
            yield [dict(zip(found.columns, row, strict=True)) for row in chunk]
        return
    for frame in found.frames if isinstance(found, Frames) else [found]:
        for start in range(0, len(frame), CHUNK):
            yield records(frame.iloc[start : start + CHUNK])
