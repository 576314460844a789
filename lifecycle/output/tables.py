"""A table of records for people: a rich table, sizes readable, catalog text shown literally.

Catalog values are untrusted text. The table shows them literally: every cell, header and title
is a rich ``Text`` (never parsed as markup, so ``EVIL[/]SITE`` or ``[link=...]`` print as
written) and control characters are shown as escapes by :func:`~lifecycle.text.printable` (an
``ESC`` could otherwise rewrite the terminal).

**Width.** A table is at most ``COLUMNS`` wide when that is set, else the terminal's width, else
(a pipe, a file, cron) rich's default: the width of a terminal on stdin or stderr, else 80. It is
never wider, and nothing in it is cut. ATLAS names carry what tells them apart (data type, tag chain) at their
end, so a name column (:func:`is_name_column`: ``did``, ``*_did``, ``dataset``, ...) is never
shortened with an ellipsis: too long, it folds onto several lines. A table that does not fit
drops its outer border and narrows in stages, widest column first: the other columns down to a
comfortable width (numbers whole, text its longest word up to ``TEXT_WIDTH``, a timestamp its
date, prose ``PROSE_WIDTH``), names down to ``NAME_WIDTH``, the others to ``SHORT_WIDTH``, names
to twice that, then a number column's header to its numbers' width (at least 6); names still wider
than that then share with the text narrowed for them. Every
column folds rather than cuts, so a narrowed table is taller, never lossy. When even that does
not fit, each row becomes a block of "column  value" lines (psql's expanded display,
``\\x auto``). Under :func:`wide` (the ``--wide`` option) nothing folds: each table is as wide
as its longest row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any

from lifecycle.text import human_bytes, number, printable
from lifecycle.values import json_value

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

# Columns that hold dataset names (DIDs) or other names people tell apart by their end: folded,
# never cut, and the last to narrow. A column ``*_did`` is one too.
NAME_COLUMNS = frozenset({"did", "dataset", "input", "output", "parent", "child", "name", "value"})
NAME_WIDTH = 24  # a name column keeps this many columns (or its longest name) while others narrow
TEXT_WIDTH = 24  # other text keeps this many (or its longest value) while names are wide
PROSE_WIDTH = 20  # long text (a reason, a message) keeps this many while names are wide
SHORT_WIDTH = 10  # text, then names at twice this, when nothing else is left to narrow
WIDE_COLUMNS = 1_000_000  # "unlimited": a console under --wide (rich pads nothing to it)
_WIDE: ContextVar[bool] = ContextVar("wide", default=False)


@contextmanager
def wide(active: bool = True) -> Iterator[None]:
    """While ``active``, tables and lines for people are never folded (``--wide``)."""
    token = _WIDE.set(active)
    try:
        yield
    finally:
        _WIDE.reset(token)


def console(out: IO[str], width: int | None = None) -> Console:
    """A rich console writing to ``out``: ``COLUMNS`` wide, else the terminal's width, else
    ``width`` when given (a tree's), else rich's default (see the module docstring); unlimited
    under :func:`wide`."""
    from rich.console import Console

    if _WIDE.get():
        width = WIDE_COLUMNS
    elif out.isatty() or os.environ.get("COLUMNS", "").isdigit():
        width = None  # rich reads the terminal, then COLUMNS
    return Console(file=out, width=width, soft_wrap=False)


def literal(value: str, style: str = "") -> Text:
    """Catalog text as a rich ``Text``: never read as markup, control characters escaped."""
    from rich.text import Text

    return Text(printable(value), style=style)


def is_name_column(column: str) -> bool:
    """Whether ``column`` holds names that must not be cut (see the module docstring)."""
    return column in NAME_COLUMNS or column.endswith("_did")


def write_table(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    """``frame`` as a rich table under ``title`` (or "nothing to show" when it is empty)."""
    screen = console(out)
    if frame.empty:
        screen.print(literal(f"{title + ': ' if title else ''}nothing to show"))
        return
    columns = [printable(str(c)) for c in frame.columns]
    numeric = {i for i, c in enumerate(frame.columns) if _is_number(frame[c])}
    cells = [
        [printable(_cell(str(c), v)) for c, v in zip(frame.columns, row, strict=True)]
        for row in frame.itertuples(index=False, name=None)
    ]
    natural = [max(_width(c), *(_width(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if sum(natural) + 3 * len(columns) + 1 <= screen.width:  # rich's default box fits
        table, shown = _table(columns, numeric, None), sum(natural) + 3 * len(columns) + 1
    elif (widths := _fit(columns, cells, numeric, screen.width - _compact(columns))) is not None:
        table, shown = _table(columns, numeric, widths), sum(widths) + _compact(columns)
    else:
        table, shown = _records(columns, cells, screen.width), screen.width
    for row in cells:
        _add_row(table, row, columns)
    # a title longer than the table goes above it, on its own line(s), rather than folded narrow
    if title is not None and _width(title) > shown:
        screen.print(literal(title, "table.title"), highlight=False)
    elif title is not None:
        table.title = literal(title, "table.title")
    screen.print(table)


def _table(columns: Sequence[str], numeric: set[int], widths: list[int] | None) -> Table:
    """A table of ``columns``: rich's default box at natural ``widths`` (None), else compact
    (no outer border, one rule and one space between columns) at the given widths."""
    from rich import box
    from rich.table import Table

    compact = {"show_edge": False, "pad_edge": False, "collapse_padding": True}
    table = Table(header_style="bold", box=box.HEAVY_HEAD, **({} if widths is None else compact))
    for i, column in enumerate(columns):
        table.add_column(
            _header(column, None if widths is None else widths[i]),
            justify="right" if i in numeric else "left",
            overflow="fold",
            width=None if widths is None else widths[i],
        )
    return table


def _records(columns: Sequence[str], cells: list[list[str]], width: int) -> Table:
    """A table too wide even when narrowed, as one block per row (like psql's ``\\x auto``):
    each column's name, then its value folded to the rest of the width; a rule between rows."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.HORIZONTALS, show_header=False, show_edge=False, pad_edge=False)
    table.records = True  # type: ignore[attr-defined]  # read by _add_row
    names = min(max(_width(c) for c in columns), max(width // 3, 1))
    table.add_column(width=names, overflow="fold", style="bold")
    table.add_column(width=max(width - names - 3, 1), overflow="fold")
    return table


def _add_row(table: Table, row: list[str], columns: Sequence[str]) -> None:
    from rich.text import Text

    if not getattr(table, "records", False):
        table.add_row(*(Text(value) for value in row))
        return
    for i, (column, value) in enumerate(zip(columns, row, strict=True)):
        table.add_row(Text(column), Text(value), end_section=i == len(columns) - 1)


def _compact(columns: Sequence[str]) -> int:
    """Columns a compact table (no outer border, one rule and one space between columns) spends
    on neither cells."""
    return 2 * (len(columns) - 1)


def _header(column: str, width: int | None) -> Text:
    """A column's name, broken after underscores when it is wider than the column."""
    from rich.text import Text

    if width is None or _width(column) <= width:
        return Text(column, overflow="fold")
    lines = [""]
    for part in re.split(r"(?<=_)", column):
        if lines[-1] and _width(lines[-1] + part) > width:
            lines.append("")
        lines[-1] += part
    return Text("\n".join(lines), overflow="fold")


def _fit(
    columns: Sequence[str], cells: list[list[str]], numeric: set[int], width: int
) -> list[int] | None:
    """Column widths (without padding) that fit cells into ``width`` in all, narrowing in stages
    (see the module docstring)."""
    n = len(columns)
    content = [max((_width(row[i]) for row in cells), default=0) for i in range(n)]
    word = [max((_width(w) for row in cells for w in row[i].split()), default=0) for i in range(n)]
    header = [max(_width(p) for p in re.split(r"(?<=_)", c)) for c in columns]  # broken after _
    widths = [max(_width(c), content[i], 1) for i, c in enumerate(columns)]
    names = [i for i, c in enumerate(columns) if is_name_column(c) and i not in numeric]
    others = [i for i in range(n) if i not in names]
    # comfortable: numbers whole; other text its longest word up to TEXT_WIDTH (a timestamp its
    # date and time on two lines); a header its longest part
    comfortable = [
        max(
            header[i],
            content[i]
            if i in numeric
            else min(content[i], max(word[i], PROSE_WIDTH))
            if content[i] > 2 * PROSE_WIDTH  # prose (a reason, a message): a few words a line
            else min(max(word[i], 10), TEXT_WIDTH),
        )
        for i in range(n)
    ]
    # narrow: numbers still whole, a header in parts of up to SHORT_WIDTH, text SHORT_WIDTH
    narrow = [
        max(content[i], min(header[i], SHORT_WIDTH)) if i in numeric else SHORT_WIDTH
        for i in range(n)
    ]
    stages = [
        (others, comfortable),
        (names, [NAME_WIDTH] * n),
        (others, narrow),
        (names, [SHORT_WIDTH * 2] * n),
        # last, before a block per row: a number column's header folds to the numbers' width
        # (thousands separators make numbers wider; "available_replicas" above a "3")
        (sorted(numeric), [max(c, SHORT_WIDTH // 2 + 1) for c in content]),
    ]
    for eligible, floors in stages:
        _narrow(widths, eligible, [min(f, w) for f, w in zip(floors, widths, strict=True)], width)
    if sum(widths) > width:
        return None
    # names left wider than twice NAME_WIDTH share with the text that was narrowed for them
    natural = [max(_width(c), content[i], 1) for i, c in enumerate(columns)]
    wanting = [i for i in others if widths[i] < natural[i]]
    spare = sum(max(0, widths[i] - 2 * NAME_WIDTH) for i in names)
    shared = min(spare, sum(natural[i] - widths[i] for i in wanting))
    _narrow(widths, names, [2 * NAME_WIDTH] * n, sum(widths) - shared)
    for _ in range(shared):
        widest_gap = max(wanting, key=lambda i: natural[i] - widths[i])
        widths[widest_gap] += 1
    return widths


def _narrow(widths: list[int], eligible: list[int], floors: list[int], available: int) -> None:
    """Narrow the ``eligible`` columns, widest first, down to their ``floors``, until the widths
    sum to ``available``; in place."""
    while sum(widths) > available:
        wider = [i for i in eligible if widths[i] > floors[i]]
        if not wider:
            return
        top = max(widths[i] for i in wider)
        tops = [i for i in wider if widths[i] == top]
        below = max((widths[i] for i in wider if widths[i] < top), default=0)
        step = max(1, min(top - below, -(-(sum(widths) - available) // len(tops))))
        for i in tops:
            widths[i] -= max(0, min(step, widths[i] - floors[i], sum(widths) - available))


def _width(text: str) -> int:
    """Terminal columns of ``text`` (wide characters count two)."""
    from rich.cells import cell_len

    return cell_len(text)


def _cell(column: str, value: Any) -> str:
    value = json_value(value)
    if value is None:
        return ""
    if column == "bytes" or column.endswith("_bytes") or column.startswith("bytes_"):
        return human_bytes(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # counts as every message writes them (100,000), but not what names a thing (an id)
        return str(value) if _is_identifier(column) else number(value)
    if isinstance(value, str) and value.endswith("Z") and "T" in value[:11]:
        return value.replace("T", " ")[:16]  # minutes are enough on screen
    return str(value)


# integer columns that name something rather than count it (an id, a run, a year): no separators
_IDENTIFIER_COLUMNS = frozenset(("id", "run", "from", "to", "first_run", "last_run", "year", "seq"))


def _is_identifier(column: str) -> bool:
    return column in _IDENTIFIER_COLUMNS or column.endswith(("_id", "run_number"))


def _is_number(series: pd.Series) -> bool:
    import pandas as pd

    return (
        str(series.dtype) != "object"
        and pd.api.types.is_numeric_dtype(series)
        and not pd.api.types.is_bool_dtype(series)
    )
