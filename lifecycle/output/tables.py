"""A table of records for people: a rich table, sizes readable, catalog text shown literally.

Catalog values are untrusted text. The table shows them literally: every cell, header and title
is a rich ``Text`` (never parsed as markup, so ``EVIL[/]SITE`` or ``[link=...]`` print as
written) and control characters are shown as escapes by :func:`~lifecycle.text.printable` (an
``ESC`` could otherwise rewrite the terminal).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from lifecycle.text import human_bytes, printable
from lifecycle.values import json_value

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.text import Text

TABLE_WIDTH = 200  # columns of a table when the output is not a terminal


def console(out: IO[str], width: int = TABLE_WIDTH) -> Console:
    """A rich console writing to ``out``: the terminal's width, else ``width`` columns."""
    from rich.console import Console

    return Console(file=out, width=None if out.isatty() else width, soft_wrap=False)


def literal(value: str, style: str = "") -> Text:
    """Catalog text as a rich ``Text``: never read as markup, control characters escaped."""
    from rich.text import Text

    return Text(printable(value), style=style)


def write_table(frame: pd.DataFrame, out: IO[str], title: str | None = None) -> None:
    """``frame`` as a rich table under ``title`` (or "nothing to show" when it is empty)."""
    from rich.table import Table

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
    screen = console(out)
    if frame.empty:
        screen.print(literal(f"{title + ': ' if title else ''}nothing to show"))
        return
    screen.print(table)


def _cell(column: str, value: Any) -> str:
    value = json_value(value)
    if value is None:
        return ""
    if column == "bytes" or column.endswith("_bytes") or column.startswith("bytes_"):
        return human_bytes(value)
    if isinstance(value, str) and value.endswith("Z") and "T" in value[:11]:
        return value.replace("T", " ")[:16]  # minutes are enough on screen
    return str(value)


def _is_number(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
