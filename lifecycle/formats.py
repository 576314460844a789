"""The output-format registry: every listing renders through one of these by name.

Renderers take a DataFrame and write to a text stream. ``table`` is for people (a rich table,
sizes made readable); ``json`` and ``csv`` are stable machine output: JSON is an array of objects
with ISO 8601 UTC timestamps and ``null`` for missing values.

Catalog values are untrusted text. The table shows them literally: every cell, header and title
is a rich ``Text`` (never parsed as markup, so ``EVIL[/]SITE`` or ``[link=...]`` print as written)
and control characters are shown as escapes by :func:`printable` (an ``ESC`` could otherwise
rewrite the terminal). ``json`` and ``csv`` keep the exact values.
"""

from __future__ import annotations

import json
import math
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

Renderer = Callable[["pd.DataFrame", IO[str], str | None], None]
FORMATS: dict[str, Renderer] = {}
LISTING_FORMATS = ("table", "json", "csv")


def register(name: str) -> Callable[[Renderer], Renderer]:
    """Register a renderer under ``name`` (built-in formats use this too)."""

    def decorate(fn: Renderer) -> Renderer:
        FORMATS[name] = fn
        return fn

    return decorate


def render(
    frame: pd.DataFrame,
    fmt: str,
    out: IO[str],
    title: str | None = None,
    *,
    excel_safe: bool = False,
) -> None:
    """Render ``frame`` in ``fmt``; ``excel_safe`` guards CSV cells (see :func:`guard_formulas`)."""
    from lifecycle.errors import UsageError

    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}") from None
    if excel_safe and fmt == "csv":
        frame = guard_formulas(frame)
    renderer(frame, out, title)


# What a spreadsheet reads as the start of a formula (OWASP's list: = + - @, tab, carriage return)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a spreadsheet formula.

    A text cell starting with one of :data:`FORMULA_STARTS` gets a leading single quote, which
    spreadsheets show as text. Numbers are left alone (``-5`` is a number, not a formula). The
    guard changes the data: such a CSV file is for people, and does not import back unchanged.
    """
    import pandas as pd

    def guard(value: Any) -> Any:
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out[column] = values.map(guard, na_action="ignore").astype(values.dtype)
    out.columns = [guard(c) for c in out.columns]
    return out


def json_value(value: Any) -> Any:
    """A JSON-safe scalar: ISO timestamps in UTC with Z, None for missing values."""
    if value is None:
        return None
    pd = sys.modules.get("pandas")  # pandas values only exist once pandas is loaded
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):  # pd.Timestamp included
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "item"):  # numpy scalars
        return json_value(value.item())
    return value


# characters that move the cursor, end a line, or reorder or hide text: never written raw
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))


def printable(text: str) -> str:
    """``text`` with control and format characters made visible: ``\\n``, ``\\x1b``, ``\\u202e``.

    For text from the catalog shown on a terminal or written into a comment: what the catalog
    holds is what is seen, and nothing in it can start a new line or send a terminal command.
    """
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(
        ascii(c)[1:-1] if unicodedata.category(c) in _HIDDEN else c  # \n, \x1b, \u202e
        for c in text
    )


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts."""
    if frame is None:
        return []
    columns = list(frame.columns)
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


@register("json")
def _json(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    json.dump(records(frame), out, indent=2)
    out.write("\n")


@register("csv")
def _csv(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    text = frame.copy()
    for column in text.columns:
        if str(text[column].dtype).startswith("datetime64"):
            from lifecycle.exchange.exporter import format_timestamps

            text[column] = format_timestamps(text[column])
    text.to_csv(out, index=False, na_rep="", lineterminator="\n")


def human_bytes(value: Any) -> str:
    """``1.23 TB``-style sizes (decimal units, as storage is sold)."""
    value = json_value(value)
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(size) < 1000 or unit == "PB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1000
    return str(value)


def _cell(column: str, value: Any) -> str:
    value = json_value(value)
    if value is None:
        return ""
    if column == "bytes" or column.endswith("_bytes"):
        return human_bytes(value)
    if isinstance(value, str) and value.endswith("Z") and "T" in value[:11]:
        return value.replace("T", " ")[:16]  # minutes are enough on screen
    return str(value)


@register("table")
def _table(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def literal(value: str, style: str = "") -> Text:
        return Text(printable(value), style=style)

    table = Table(
        title=literal(title, "table.title") if title else None,
        header_style="bold",
        show_lines=False,
    )
    numeric = {c for c in frame.columns if str(frame[c].dtype) != "object" and _is_number(frame[c])}
    for column in frame.columns:
        table.add_column(literal(str(column)), justify="right" if column in numeric else "left")
    columns = list(frame.columns)
    for row in frame.itertuples(index=False, name=None):
        table.add_row(*(literal(_cell(c, v)) for c, v in zip(columns, row, strict=True)))
    console = Console(file=out, width=None if out.isatty() else 200, soft_wrap=False)
    if frame.empty:
        console.print(literal(f"{title + ': ' if title else ''}nothing to show"))
        return
    console.print(table)


def _is_number(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
