"""Catalog text made safe to show (printable on a terminal, harmless in a spreadsheet, sizes and
counts for people: ``8.35 TB``, ``100,000 datasets``), and the size limit of indexed text that
both databases accept alike.

A leaf module (it imports nothing of lifecycle but :mod:`lifecycle.values`). Every catalog value
is untrusted text: :func:`printable` escapes what could rewrite a terminal, :func:`guard_formulas`
what a spreadsheet would run, :func:`indexed_text_problem` what a database index cannot hold.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from lifecycle.values import json_value

if TYPE_CHECKING:
    import pandas as pd


# Indexed text (keys, data types, pin actors and reasons, plan names, rule names, names of extra
# columns) holds at most this many bytes of UTF-8 on both databases alike: a PostgreSQL btree entry
# holds at most 2,704 bytes (8 kB pages), and the widest index, a pin's (dataset, actor, reason),
# holds two such texts plus an id and headers. SQLite has no limit, but the two engines must accept
# the same catalogs, whether the text comes from an imported file or from the command line.
INDEXED_TEXT_BYTES = 1024


def indexed_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored in an indexed column, or None when it can."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= INDEXED_TEXT_BYTES:
        return None
    return (
        f"{number(size)} bytes of UTF-8; indexed text holds at most "
        f"{number(INDEXED_TEXT_BYTES)} bytes "
        "(the limit of a database index entry)"
    )


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


def is_recorded(value: object) -> bool:
    """Whether ``value`` records something: blank or whitespace-only text records nothing
    (the Python twin of :func:`lifecycle.provenance.reproducibility.recorded`)."""
    return value is not None and str(value).strip() != ""


def number(n: int | float) -> str:
    """A number as every message and table writes it for people: ``100,000``, ``1,234.5``.

    JSON and CSV keep raw integers; this is for text a person reads.
    """
    return f"{n:,}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` things, as every message writes a number: ``1 dataset``, ``100,000 datasets``.

    The plural is ``noun`` + ``s`` unless ``plural`` says otherwise (``copy``, ``copies``).
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


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
