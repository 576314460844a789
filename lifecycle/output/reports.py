"""Reports and listings: a command's output declared once, written in any listing format.

A :class:`Report` holds what a command has to show: its **records** (one row per thing listed:
what csv and parquet write), its JSON **document** (by default the records as an array of
objects) and its rendering for **people** (by default a table of the records). The ``listing``
formats (table, json, csv, parquet) and the ``detail`` ones (table, json) write any report; a
listing that is only a frame is ``Report(frame, title=...)``. A report of many rows can give
them as :class:`Rows` instead (read a chunk at a time, from the database): csv and parquet then
write them as they come.

JSON is always one object, the envelope of :func:`lifecycle.values.envelope`: the report's
document (a result's ``to_dict()``, which builds it), or for a listing ``{"kind": ...,
"summary": {<items>: N, "bytes": B}, <items>: [...]}`` (:func:`listing_document`; a listing
streamed from the database gives its summary after the items, counted as they go out). Values
are ISO 8601 UTC timestamps and ``null`` for missing values, streamed
(:mod:`lifecycle.output.json_stream`); csv and parquet keep the exact values; ``excel_safe``
guards CSV cells a spreadsheet would run (:func:`~lifecycle.text.guard_formulas`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.output.files import write_csv, write_parquet, write_rows_csv, write_rows_parquet
from lifecycle.output.json_stream import CHUNK, Entries, Later, write_json
from lifecycle.output.tables import write_table
from lifecycle.text import guard_formulas
from lifecycle.values import envelope, json_value, records

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Rows:
    """A report's records as rows of ``columns``, a chunk (a list of tuples) at a time; they
    can be read once."""

    columns: Sequence[str]
    chunks: Iterable[list[tuple]]


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
    kind: str | None = None  # json of a listing (no document): the envelope's kind
    items: str | None = None  # json of a listing: the key of its records (default: kind)
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
    """``json``: the report's document, else its records in a listing's envelope."""
    if report.document is not None:
        write_json(report.document(), out, compact_entries=report.compact_entries)
    else:
        write_json(listing_document(report), out, compact_entries=report.compact_entries)


def listing_document(report: Report) -> dict[str, Any]:
    """A listing's envelope: its kind, a summary (how many records, under the items' key, and
    their ``bytes`` when they have sizes), the records under the items' key. Records read a
    chunk at a time (:class:`Rows`, :class:`Frames`) are counted as they are written and the
    summary follows them."""
    if report.kind is None:
        raise ValueError("a listing written as json needs a kind (Report(kind=...))")
    key = report.items or report.kind
    found = report.frame("json")
    if not isinstance(found, Rows | Frames):
        return envelope(
            report.kind, listing_summary(key, found), {key: Entries(_record_chunks(found))}
        )
    if isinstance(found, Frames):  # the columns of the first frame, which every frame has
        frames = iter(found.frames)
        first = next(frames)
        columns, found = list(first.columns), Frames(chain([first], frames))
    else:
        columns = list(found.columns)
    totals = {key: 0, **({"bytes": 0} if "bytes" in columns else {})}
    counted = _counted(_record_chunks(found), totals, key)
    return envelope(report.kind, Later(lambda: totals), {key: Entries(counted)}, summary_last=True)


def listing_summary(key: str, frame: pd.DataFrame) -> dict[str, int]:
    """How many rows ``frame`` has (under ``key``) and, if it has sizes, their total ``bytes``."""
    summary = {key: len(frame)}
    if "bytes" in frame.columns:
        summary["bytes"] = sum(int(v) for v in map(json_value, frame["bytes"]) if v is not None)
    return summary


def _counted(
    chunks: Iterator[list[dict[str, Any]]], totals: dict[str, int], key: str
) -> Iterator[list[dict[str, Any]]]:
    """``chunks`` as they are, adding up their records (and their bytes) in ``totals``."""
    for chunk in chunks:
        totals[key] += len(chunk)
        for record in chunk:
            size = record.get("bytes")
            if isinstance(size, int):
                totals["bytes"] += size
        yield chunk


def write_records_csv(report: Report, out: IO[str]) -> None:
    """``csv``: the records (formula cells guarded with ``excel_safe``)."""
    found = report.frame("csv")
    if isinstance(found, Rows):
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
