"""Output: the one registry of output formats, and every writer of them.

Owns how results leave the program: the format registry (:mod:`.registry`; the CLI's
``--format`` choices come from it), reports and listings declared once and written as table,
json, csv or parquet (:mod:`.reports`, :mod:`.tables`, :mod:`.files`), the one streaming JSON
writer (:mod:`.json_stream`), provenance graphs as tree, json, W3C PROV, dot, mermaid, or a
picture drawn here, svg or html (:mod:`.graphs`, :mod:`.graph_tree`, :mod:`.prov`,
:mod:`.diagrams`, :mod:`.svg`), and recipes as text, json
or a shell script (:mod:`.recipes`).

May import only the leaf modules (errors, values, text) at run time; the objects it writes
(graphs, recipes, reports) are taken duck-typed, their types imported for type checking only.
pandas, pyarrow, rich and prov load inside the writers that need them, so the CLI can import
this package and still start fast.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import lifecycle.output.builtins  # noqa: F401  (registers the built-in formats)
from lifecycle.output.files import check_destination, check_terminal, destination
from lifecycle.output.json_stream import Entries, write_json
from lifecycle.output.registry import Format, lookup, names, register
from lifecycle.output.reports import Frames, Report, Rows
from lifecycle.output.tables import write_table

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "Entries",
    "Format",
    "Frames",
    "Report",
    "Rows",
    "check_destination",
    "check_terminal",
    "destination",
    "lookup",
    "names",
    "register",
    "render",
    "write",
    "write_json",
    "write_table",
]


def write(value: object, fmt: str, family: str, *, output: Path | None = None) -> None:
    """Write ``value`` in format ``fmt`` of ``family`` to the file ``output``, else stdout
    (not a terminal for a format that is a file); the format's check refuses a value first."""
    found = lookup(family, fmt)
    check_terminal(family, fmt, output)
    if found.check is not None:
        found.check(value)
    with destination(output, binary=found.binary) as out:
        render(value, fmt, family, out)


def render(value: object, fmt: str, family: str, out: IO[Any]) -> None:
    """Write ``value`` in format ``fmt`` of ``family`` to the stream ``out``."""
    found = lookup(family, fmt)
    if found.write is None:
        raise ValueError(f"{family} format {fmt!r} has no writer in lifecycle.output")
    found.write(value, out)
