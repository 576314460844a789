"""Reports that also read as lines of text in formats of their own (``repair --format rucio``).

A :class:`LinedReport` is a :class:`~lifecycle.output.reports.Report` (table, json, csv as any
other) that carries, per extra format name, a function giving its lines; :func:`line_writer`
makes the writer registered for such a format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from lifecycle.errors import UsageError
from lifecycle.output.reports import Report


@dataclass(frozen=True)
class LinedReport(Report):
    """A report with ``lines[format]()``: the lines that format writes."""

    lines: dict[str, Callable[[], Iterable[str]]] = field(default_factory=dict)


def line_writer(name: str) -> Callable[[Report, IO[str]], None]:
    """The writer of format ``name``: the report's lines for it, as they are (their producer
    quotes or escapes what they hold, as the format requires)."""

    def write(report: Report, out: IO[str]) -> None:
        lines = getattr(report, "lines", {}).get(name)
        if lines is None:
            raise UsageError(f"--format: {name} does not apply here")
        for text in lines():
            out.write(text + "\n")

    return write
