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
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.text import guard_formulas, human_bytes, printable
from lifecycle.values import format_timestamps, json_value, records

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
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}") from None
    if excel_safe and fmt == "csv":
        frame = guard_formulas(frame)
    renderer(frame, out, title)


@register("json")
def _json(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    json.dump(records(frame), out, indent=2)
    out.write("\n")


@register("csv")
def _csv(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    text = frame.copy()
    for column in text.columns:
        if str(text[column].dtype).startswith("datetime64"):
            text[column] = format_timestamps(text[column])
    text.to_csv(out, index=False, na_rep="", lineterminator="\n")


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
