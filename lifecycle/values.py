"""Values as lifecycle passes them around: UTC times, exact frames of rows, JSON-safe records.

A leaf module (it imports nothing of lifecycle). Both databases read timestamps differently
(SQLite: text in UTC; PostgreSQL: aware datetimes) and sum big integers differently (PostgreSQL:
``Decimal``); the helpers here turn either into one form, so the catalog's queries, the exchange
format, the services and every output format agree on what a value is.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def to_utc(values: pd.Series) -> pd.Series:
    """Timestamps as read from either database (SQLite text, PostgreSQL datetimes) in UTC."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        out = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
    else:
        out = pd.to_datetime(values, utc=True, format="ISO8601")
    return out.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def format_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 in UTC with ``Z``; microseconds only where a value has them."""
    utc = values.dt.tz_convert("UTC") if values.dt.tz is not None else values
    whole = utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    fraction = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return whole.where(utc.dt.microsecond.fillna(0) == 0, fraction).astype("string[pyarrow]")


def utc_datetime(value: Any) -> datetime | None:
    """A timestamp read by plain SQL (SQLite: text in UTC; PostgreSQL: aware) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rows_frame(columns, rows: list) -> pd.DataFrame:
    """A DataFrame from database rows that keeps integer columns exact.

    pandas would turn an integer column holding a NULL into float64 and lose precision above 2**53
    (byte counts, event counts); such columns become nullable ``Int64`` instead. PostgreSQL's
    SUM over bigint is ``numeric`` (Python ``Decimal``): whole decimals become exact ints here,
    so sums compare equal to SQLite's on every path that reads rows (never a float detour).
    """
    import pandas as pd

    columns = list(columns)
    if not rows:
        return pd.DataFrame(columns=columns)
    data = {}
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        present = [v for v in values if v is not None]
        if present and all(type(v) is Decimal and v == v.to_integral_value() for v in present):
            values = tuple(None if v is None else int(v) for v in values)
            present = [int(v) for v in present]
            if any(not -(2**63) <= v < 2**63 for v in present):  # beyond Int64: Python ints
                data[name] = pd.array(values, dtype=object)
                continue
            if len(present) == len(values):
                data[name] = pd.array(values, dtype="int64")
                continue
        if present and len(present) < len(values) and all(type(v) is int for v in present):
            data[name] = pd.array(values, dtype="Int64")
        else:
            data[name] = values
    return pd.DataFrame(data, columns=columns)


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


def envelope(
    kind: str,
    summary: Any,
    sections: Mapping[str, Any] | None = None,
    /,
    *,
    summary_last: bool = False,
    **more: Any,
) -> dict[str, Any]:
    """The one shape of every JSON document lifecycle writes (each command's ``--format json``,
    and the ``to_dict()`` of the results it shows, so the Python API gives the same):
    ``{"kind": ..., "summary": {...}, ...sections}``.

    ``kind`` is a stable name of what the document is (``audit``, ``datasets``, ``plan``);
    ``summary`` holds the counts and bytes that matter, at least how many items there are; the
    ``sections`` (then ``more``) follow in order: the items under a plural noun (``datasets``,
    ``findings``), then anything else. ``summary_last``: the summary comes after the sections,
    for a listing streamed from the database whose totals are known once its items are written
    (the summary is then a value the JSON writer reads when it gets there).
    """
    body = {**(sections or {}), **more}
    if {"kind", "summary"} & body.keys():
        raise ValueError("an envelope's kind and summary are its arguments, not sections")
    if isinstance(summary, Mapping):
        summary = {key: json_value(value) for key, value in summary.items()}
    if summary_last:
        return {"kind": kind, **body, "summary": summary}
    return {"kind": kind, "summary": summary, **body}


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts."""
    if frame is None:
        return []
    columns = list(frame.columns)
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


_BOOLEAN_TEXT = {"true": True, "false": False}
_INTEGER_TEXT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")  # no leading zeros: "007" is a code
_DECIMAL_TEXT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def typed_text(values: pd.Series) -> pd.Series:
    """A column of free-form text (an endpoint's own attributes) typed when every value allows:
    only ``true``/``false`` (any case) as booleans, only integers as ``Int64``, only decimal
    numbers as floats; any other column unchanged. JSON then writes ``true`` and ``12.5``, not
    the strings, as the expression language already reads them (``archival``, ``free>100``)."""
    import pandas as pd

    texts = [None if json_value(v) is None else v for v in values]
    present = [v for v in texts if v is not None]
    if not present or not all(isinstance(v, str) for v in present):
        return values
    stripped = [None if v is None else v.strip() for v in texts]

    def typed(convert, dtype: str) -> pd.Series:
        items = [None if v is None else convert(v) for v in stripped]
        return pd.Series(pd.array(items, dtype=dtype), index=values.index, name=values.name)

    if all(v.strip().lower() in _BOOLEAN_TEXT for v in present):
        return typed(lambda v: _BOOLEAN_TEXT[v.lower()], "boolean")
    if all(_INTEGER_TEXT.fullmatch(v.strip()) for v in present):
        fits = all(-(2**63) <= int(v) < 2**63 for v in present)  # else kept exact, as text
        return typed(int, "Int64") if fits else values
    if all(_DECIMAL_TEXT.fullmatch(v.strip()) for v in present):
        return typed(float, "Float64")
    return values
