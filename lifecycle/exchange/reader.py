"""Reading exchange-format files into validated, normalized DataFrames.

Everything that can be checked without the catalog is checked here, column by column with
vectorized operations: required columns and values, types, enumerations, sizes, timestamps, DIDs,
and duplicate keys inside a file. The first problem raises :class:`ImportRowError` naming file, row
and column. Rows are numbered as a person finds them: the line number in a CSV file (the header is
line 1) and the 1-based record number in a Parquet file.

A normalized frame has the spec's columns in the spec's order, then the extra columns sorted by
name; text as strings, integers as ``Int64``, floats as ``float64``, timestamps as UTC; DIDs as
``scope:name``; extra values as text, booleans spelled ``true`` / ``false``. A datasets frame also
holds what the dataset names imply where the file leaves it empty: the data type, and the metadata
of :data:`lifecycle.nomenclature.METADATA_KEYS` as extra columns.
"""

from __future__ import annotations

import csv
import io
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.errors import ImportRowError, UsageError
from lifecycle.exchange.spec import TABLES, Column, Table
from lifecycle.nomenclature import METADATA_KEYS, name_metadata, normalize_dids
from lifecycle.text import INDEXED_TEXT_BYTES, indexed_text_problem
from lifecycle.values import format_timestamps, json_value

if TYPE_CHECKING:
    import pandas as pd

SUFFIXES = (".csv", ".parquet")
HEADER = "header"


@dataclass
class Source:
    """One table read from a file: ``frame.index`` holds the row numbers used in messages.

    ``derived`` marks, per row number, the extra cells filled from the dataset name rather than
    given by the file (one boolean column per filled key).
    """

    table: Table
    path: Path
    frame: pd.DataFrame
    extras: list[str]
    derived: pd.DataFrame | None = None
    absent: tuple[str, ...] = ()  # the table's columns the file lacks (filled with defaults)

    @property
    def file(self) -> str:
        return self.path.name

    def error(self, row: int | str, column: str, reason: str) -> ImportRowError:
        return ImportRowError(self.file, row, column, reason)

    def refuse(self, bad: pd.Series, column: str, reason: str | Callable[[int], str]) -> None:
        """Raise :meth:`error` at the first row where ``bad`` is true, if there is one.

        ``reason`` is the message, or a function of the row number giving it (to quote the
        offending value).
        """
        row = _first(bad)
        if row is not None:
            raise self.error(row, column, reason(row) if callable(reason) else reason)


def find_tables(directory: Path) -> dict[str, Path]:
    """The table files of ``directory``, in FORMAT.md's (dependency) order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in SUFFIXES:
            continue
        _check_table_file(path)
        if path.stem not in TABLES:
            raise UsageError(
                f"{path}: unknown table {path.stem!r}; exchange tables are {', '.join(TABLES)}"
            )
        if path.stem in found:
            raise UsageError(f"{directory}: both {found[path.stem].name} and {path.name}; keep one")
        found[path.stem] = path
    if not found:
        raise UsageError(f"{directory}: no exchange-format tables (*.csv or *.parquet) found")
    return {name: found[name] for name in TABLES if name in found}


def _check_table_file(path: Path) -> None:
    """A file named like a table is a table: lower-case suffix, a regular file (or a link to one).

    Anything else (``pins.CSV``, a directory, a dangling link, a FIFO) is an error rather than
    silently skipped: a table left out of an import would go unnoticed.
    """
    if path.suffix not in SUFFIXES:
        raise UsageError(
            f"{path}: table files end in {' or '.join(SUFFIXES)} (lower case); rename the file"
        )
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        what = "a dangling symbolic link" if path.is_symlink() else exc.strerror
        raise UsageError(f"{path}: cannot read the table file: {what}") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"{path}: {kind}, but named like a table file")


def read_table(table: Table, path: Path) -> Source:
    """Read one file and validate it against ``table``."""
    frame = _read_file(path)
    source = Source(table, path, frame, [])
    _check_columns(source)
    source.absent = tuple(c.name for c in table.columns if c.name not in frame.columns)
    for column in table.columns:
        if column.name in frame.columns:
            frame[column.name] = _normalize(source, column, frame[column.name])
        else:
            frame[column.name] = _absent(column, len(frame), frame.index)
    source.extras = sorted(c for c in frame.columns if c not in table.column_names)
    for name in source.extras:
        frame[name] = _checked_text(source, name, _extra_text(frame[name]), None)
    source.frame = frame[list(table.column_names) + source.extras]
    if table.name == "datasets":
        _derive_dataset_columns(source)
    _drop_duplicate_keys(source)
    return source


def _read_file(path: Path) -> pd.DataFrame:
    """The file as a DataFrame indexed by the row numbers used in messages."""
    import pyarrow as pa

    try:
        if path.suffix == ".csv":
            arrow, rows = _read_csv(path)
        else:
            arrow, rows = _read_parquet(path), None
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRowError(path.name, HEADER, "*", f"cannot read file: {reason}") from exc
    frame = arrow.to_pandas(types_mapper=_pandas_type)
    frame.index = rows if rows is not None else range(1, len(frame) + 1)
    return frame


def _read_parquet(path: Path):
    """A Parquet file as an Arrow table of the types the format knows, timestamps in microseconds.

    Refused at the header: a column name given twice, and columns of types that are no exchange
    values (lists, structs, maps, binary, decimals, ...). Refused at the row: a timestamp with a
    sub-microsecond part, which the catalog would otherwise truncate silently.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise ImportRowError(path.name, HEADER, name, "column appears twice")
        seen.add(name)
    for field in schema:
        if not _exchange_type(field.type):
            raise ImportRowError(
                path.name,
                HEADER,
                field.name,
                f"unsupported Parquet type {field.type}; use text, integer, floating-point, "
                "boolean or timestamp columns",
            )
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, whose import alone
    # took 0.5 s of a 91 k-row storage dump's check (measured, bench_consistency.py at 1 M)
    arrow = pq.ParquetFile(path).read()
    for i, field in enumerate(arrow.schema):
        column = arrow.column(i)
        if pa.types.is_dictionary(field.type):
            arrow = arrow.set_column(i, field.name, column.cast(field.type.value_type))
        elif pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            nanos = pc.cast(column, pa.int64()).fill_null(0).to_numpy()
            bad = np.flatnonzero(nanos % 1000)
            if len(bad):
                raise ImportRowError(
                    path.name,
                    int(bad[0]) + 1,
                    field.name,
                    "timestamp with a sub-microsecond part; the catalog keeps microseconds "
                    "(round the value)",
                )
            unit = pa.timestamp("us", tz=field.type.tz)
            arrow = arrow.set_column(i, field.name, pc.cast(column, unit))
    return arrow


def _exchange_type(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return _exchange_type(arrow_type.value_type)
    return any(
        test(arrow_type)
        for test in (
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_boolean,
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_timestamp,
            pa.types.is_date,
            pa.types.is_null,
        )
    )


def _pandas_type(arrow_type):
    """Exact pandas types for Arrow columns: nullable integers (no float detour), Arrow strings."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype() if arrow_type != pa.uint64() else None
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return None


def _read_csv(path: Path):
    """Read a CSV file as text columns, with each record's line number (header = line 1).

    Blank lines are skipped but counted; a record with the wrong number of fields or bytes that
    are not UTF-8 are reported at their line.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = path.read_bytes()
    _check_utf8(path, data)
    names = _csv_header(data)
    bad_rows: list = []

    def on_invalid(row) -> str:
        bad_rows.append(row)
        return "skip"

    def read(block_size: int | None):
        bad_rows.clear()
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(block_size=block_size) if block_size else None,
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        arrow = read(None)
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
        # a record longer than Arrow's block (1 MB): read the file as one block instead
        arrow = read(len(data) + 1)
    if bad_rows:
        row = bad_rows[0]
        raise ImportRowError(
            path.name,
            _line_of_ragged_record(data, len(names)),
            "*",
            f"expected {row.expected_columns} fields, found {row.actual_columns}",
        )
    lines = _record_lines(data)
    if lines is None or len(lines) != arrow.num_rows:
        lines = _record_lines_slow(data)
    return arrow, lines


def _check_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportRowError(path.name, line, "*", "not UTF-8 text") from None


def _record_lines(data: bytes):
    """Line numbers of the data records, assuming no record spans lines (checked by caller)."""
    import numpy as np

    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buffer == ord("\n"))
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(buffer)]))
    lengths = stops - starts
    # a line holding only "\r" is blank too
    carriage = (lengths == 1) & (buffer[np.minimum(starts, max(len(buffer) - 1, 0))] == ord("\r"))
    nonblank = np.flatnonzero((lengths > 0) & ~carriage) + 1
    return nonblank[1:].tolist() if len(nonblank) else None  # the first is the header


def _record_lines_slow(data: bytes) -> list[int]:
    """Line numbers of records that may span lines (quoted newlines), via the csv module."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    out, header_seen = [], False
    for row in reader:
        if not row or all(cell == "" for cell in row) and len(row) <= 1:
            continue
        if not header_seen:
            header_seen = True
            continue
        out.append(reader.line_num - sum(cell.count("\n") for cell in row))
    return out


def _line_of_ragged_record(data: bytes, fields: int) -> int | str:
    """The line of the first record whose field count differs from the header's (error path)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader, None)
    for row in reader:
        if row and len(row) != fields:
            return reader.line_num
    return "?"


def _csv_header(data: bytes) -> list[str]:
    text = data[: 1 << 20].decode("utf-8-sig", errors="replace")
    for row in csv.reader(io.StringIO(text, newline="")):
        if row:
            return row
    return []


def _check_columns(source: Source) -> None:
    columns = list(source.frame.columns)
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise source.error(HEADER, name, "column appears twice")
        if not str(name).strip():
            raise source.error(HEADER, repr(name), "empty column name")
        problem = indexed_text_problem(str(name))
        if problem is not None:
            raise source.error(HEADER, str(name)[:40] + "...", "column name: " + problem)
        seen.add(name)
    for column in source.table.columns:
        if column.required and column.name not in seen:
            raise source.error(HEADER, column.name, "required column is missing")
    unknown = [c for c in columns if c not in source.table.column_names]
    for name in unknown:
        if str(name).startswith("_") or "__" in str(name):
            raise source.error(
                HEADER, name, "column names starting with '_' or holding '__' are reserved"
            )
    if unknown and source.table.extras is None:
        raise source.error(
            HEADER,
            unknown[0],
            f"unknown column; {source.table.name} takes only {', '.join(source.table.column_names)}",
        )


def _plain(value) -> str:
    """A cell value as a person reads it (no numpy reprs)."""

    return repr(json_value(value))


def _got(reason: str, values: pd.Series) -> Callable[[int], str]:
    """A :meth:`Source.refuse` message quoting the row's value: ``<reason>, got <value>``."""
    return lambda row: f"{reason}, got {_plain(values[row])}"


def _first(mask: pd.Series) -> int | None:
    """The row number of the first True in ``mask``, or None."""
    if not mask.any():
        return None
    return mask.idxmax()


def _absent(column: Column, n: int, index) -> pd.Series:
    import pandas as pd

    dtype = {"int": "Int64", "float": "float64", "timestamp": "datetime64[us, UTC]"}.get(
        column.type, "string[pyarrow]"
    )
    value = column.default if column.default is not None else None
    return pd.Series([value] * n, index=index, dtype=dtype)


def _normalize(source: Source, column: Column, values: pd.Series) -> pd.Series:
    converter = {
        "text": _text,
        "enum": _enum,
        "did": _did,
        "int": _int,
        "float": _float,
        "timestamp": _timestamp,
    }[column.type]
    out = converter(source, column, values)
    if column.required:
        source.refuse(out.isna(), column.name, "missing value (the column is required)")
    return out


def _as_text(values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "true", False: "false"}).astype("string[pyarrow]")
    if pd.api.types.is_float_dtype(values):
        return values.map(lambda v: None if v != v else repr(v)).astype("string[pyarrow]")
    if pd.api.types.is_integer_dtype(values):
        return values.astype("Int64").astype("string[pyarrow]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return format_timestamps(values)
    text = values.astype("string[pyarrow]")
    # an empty or whitespace-only cell is null, quoted or not: "  " records nothing (a blank
    # image digest must not pass for one); strip() removes what Python's str.strip() does
    return text.mask(text.str.strip() == "")


def _text(source: Source, column: Column, values: pd.Series) -> pd.Series:
    return _checked_text(source, column.name, _as_text(values), column.max_length, column.indexed)


def _checked_text(
    source: Source, name: str, text: pd.Series, max_length: int | None, indexed: bool = False
) -> pd.Series:
    """No NUL characters (PostgreSQL cannot store them); keys no longer than ``max_length``;
    indexed text within :data:`~lifecycle.text.INDEXED_TEXT_BYTES`."""
    if _may_hold_nul(text):  # the exact test only where the bytes hold a NUL at all
        source.refuse(
            text.str.contains("\x00", regex=False).fillna(False), name, "contains a NUL character"
        )
    if max_length is not None:
        too_long = (text.str.len() > max_length).fillna(False)
        source.refuse(too_long, name, f"longer than {max_length} characters")
    if indexed:
        too_big = _utf8_bytes(text) > INDEXED_TEXT_BYTES
        source.refuse(too_big, name, lambda row: indexed_text_problem(text[row]))
    return text


def _arrow_chunks(text: pd.Series) -> list:
    """The Arrow string arrays behind a text column (no copy)."""
    return text.astype("string[pyarrow]").array.__arrow_array__().chunks


def _may_hold_nul(text: pd.Series) -> bool:
    """Whether a NUL byte occurs in the character data of ``text``: a scan of each chunk's bytes
    instead of a search per value (4 s of a 1 M import). A NUL found anywhere (in a value, or
    in bytes under a null) sends the caller to the exact test."""
    import numpy as np
    import pyarrow as pa

    for chunk in _arrow_chunks(text):
        _, offsets, data = chunk.buffers()
        if data is None or not len(chunk):
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=width)[[chunk.offset, chunk.offset + len(chunk)]]
        chars = np.frombuffer(data, dtype=np.uint8)[int(bounds[0]) : int(bounds[1])]
        if not chars.all():  # a reduction: no temporary array
            return True
    return False


def _utf8_bytes(text: pd.Series) -> pd.Series:
    """The UTF-8 length of each value of ``text`` (0 where null), counted by Arrow."""
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc

    parts = [pc.binary_length(c).fill_null(0).to_numpy() for c in _arrow_chunks(text)]
    lengths = np.concatenate(parts) if parts else np.zeros(0, dtype="int64")
    return pd.Series(lengths.astype("int64"), index=text.index)


def _enum(source: Source, column: Column, values: pd.Series) -> pd.Series:
    out = _as_text(values)
    if column.default is not None:
        out = out.fillna(column.default)
    source.refuse(
        out.notna() & ~out.isin(column.choices),
        column.name,
        lambda row: f"{out[row]!r} is not one of {', '.join(column.choices)}",
    )
    return out


def _int(source: Source, column: Column, values: pd.Series) -> pd.Series:
    import pandas as pd

    not_integer = _got("expected an integer", values)
    too_wide = _got("expected a 64-bit integer", values)
    if pd.api.types.is_bool_dtype(values):
        source.refuse(values.notna(), column.name, not_integer)
        out = values.astype("Int64")
    elif pd.api.types.is_integer_dtype(values) or pd.api.types.is_float_dtype(values):
        numbers = values.astype("float64") if pd.api.types.is_float_dtype(values) else values
        bad = numbers.notna() & ((numbers % 1 != 0) | (numbers.abs() >= 2**63))
        source.refuse(bad.fillna(False), column.name, too_wide)
        out = values.astype("Int64")
    else:
        text = values.astype("string[pyarrow]").str.strip()
        # ASCII digits only: Python and pandas would read full-width or Arabic-Indic digits too
        digits = text.str.fullmatch(r"[+-]?[0-9]+").fillna(False)
        source.refuse(text.notna() & ~digits, column.name, not_integer)
        source.refuse(text.notna() & ~_fits_int64(text), column.name, too_wide)
        out = _int64(text)
    _check_range(source, column, out)
    return out


def _fits_int64(text: pd.Series) -> pd.Series:
    """Which integer strings (matched ``[+-]?[0-9]{1,19}``) lie in -2**63 .. 2**63-1."""
    import pandas as pd

    fits = pd.Series(True, index=text.index)
    long = (text.str.lstrip("+-").str.lstrip("0").str.len() >= 19).fillna(False)
    if long.any():  # rare: exact comparison in Python for the 19-digit ones
        fits[long] = [-(2**63) <= int(value) < 2**63 for value in text[long]]
    return fits


def _int64(text: pd.Series) -> pd.Series:
    """Integer strings (checked by :func:`_fits_int64`) as ``Int64`` without a float detour."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = pc.cast(pa.array(text.str.lstrip("+").array, type=pa.string()), pa.int64())
    values = np.asarray(numbers.fill_null(0), dtype="int64")
    mask = np.asarray(numbers.is_null(), dtype=bool)
    return pd.Series(pd.arrays.IntegerArray(values, mask), index=text.index)


def _float(source: Source, column: Column, values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        out = pd.Series(float("nan"), index=values.index)
        bad = values.notna()
    elif pd.api.types.is_numeric_dtype(values):
        out = values.astype("float64")
        bad = values.isna() & False
    else:
        text = values.astype("string[pyarrow]").str.strip()
        out = pd.to_numeric(text, errors="coerce").astype("float64")
        # ASCII only: Python's float() reads full-width and other Unicode digits too
        bad = text.notna() & (out.isna() | ~text.str.isascii().fillna(True))
    bad = bad | (out.abs() == float("inf"))
    source.refuse(bad, column.name, _got("expected a finite number", values))
    _check_range(source, column, out)
    return out


def _check_range(source: Source, column: Column, out: pd.Series) -> None:
    if column.nonnegative:
        source.refuse((out < 0).fillna(False), column.name, _got("must not be negative", out))
    if column.maximum is not None:
        too_big = (out > column.maximum).fillna(False)
        source.refuse(too_big, column.name, _got(f"must be at most {column.maximum}", out))


def _timestamp(source: Source, column: Column, values: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        out = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
        out = out.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    else:
        text = _as_text(values).str.strip()
        # Only ISO 8601: a date, optionally with time, fraction and offset (no offset means
        # UTC), in ASCII digits.
        iso = text.str.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
            r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
        ).fillna(False)
        parsed = pd.to_datetime(text.where(iso), utc=True, format="ISO8601", errors="coerce")
        source.refuse(
            text.notna() & parsed.isna(),
            column.name,
            lambda row: (
                f"unparseable timestamp {_plain(values[row])} "
                "(use ISO 8601, e.g. 2018-06-02T14:03:00Z)"
            ),
        )
        nanos = text.str.extract(r"\.[0-9]{6}([0-9]+)")[0].str.strip("0").fillna("")
        source.refuse(
            iso & (nanos.str.len() > 0),
            column.name,
            lambda row: (
                f"{_plain(values[row])} has a sub-microsecond part; the catalog keeps "
                "microseconds (round the value)"
            ),
        )
        out = parsed.astype("datetime64[us, UTC]")
    # what Python's datetime (and so both databases' drivers) can hold: years 1 to 9999
    outside = (out < pd.Timestamp("0001-01-01", tz="UTC")) | (
        out >= pd.Timestamp("9999-12-31T23:59:59.999999", tz="UTC") + pd.Timedelta(1, "us")
    )
    source.refuse(
        outside.fillna(False),
        column.name,
        lambda row: f"{_plain(values[row])} lies outside the years 1 to 9999",
    )
    return out


def _did(source: Source, column: Column, values: pd.Series) -> pd.Series:
    text = _checked_text(
        source, column.name, _as_text(values).str.strip(), column.max_length, column.indexed
    )
    dids, valid = normalize_dids(text)
    source.refuse(
        text.notna() & ~valid,
        column.name,
        lambda row: f"{_plain(values[row])} is not a DID (scope:name, or an ATLAS-style name)",
    )
    return dids


def _extra_text(values: pd.Series) -> pd.Series:
    out = _as_text(values)
    lower = out.str.lower()
    return out.mask(lower.isin(("true", "false")), lower)


def _derive_dataset_columns(source: Source) -> None:
    """Fill ``data_type`` and the name's metadata where the file leaves them empty.

    A file's value always wins, and a name that does not follow the nomenclature fills nothing
    (but ``data_type``; see :func:`~lifecycle.nomenclature.name_metadata`). Filled cells are
    ordinary extra columns from here on, so new datasets get them as metadata rows; exported,
    they come back as the file's own values, equal to what the name gives, so a round trip and a
    re-import change nothing. ``source.derived`` records which cells were filled: the importer
    does not hold them against a catalog row that lacks the key (a dataset imported before
    import filled metadata).
    """
    import pandas as pd

    frame = source.frame
    keys = ("data_type", *METADATA_KEYS)
    empty = pd.DataFrame(
        {k: frame[k].isna() if k in frame.columns else True for k in keys}, index=frame.index
    )
    wanted = empty.any(axis=1)
    if not wanted.any():
        return
    implied = name_metadata(frame["did"] if wanted.all() else frame.loc[wanted, "did"])
    if len(implied) < len(frame):
        implied = implied.reindex(frame.index)
    filled = {}
    for key in keys:
        fill = empty[key] & implied[key].notna()
        if not fill.any():
            continue
        frame[key] = frame[key].fillna(implied[key]) if key in frame.columns else implied[key]
        if key != "data_type":
            filled[key] = fill
    added = [k for k in filled if k not in source.extras]
    if added:
        source.extras = sorted(source.extras + added)
        frame = frame[list(source.table.column_names) + source.extras]
    source.frame = frame
    source.derived = pd.DataFrame(filled) if filled else None


def _drop_duplicate_keys(source: Source) -> None:
    """Drop repeated identical rows; a repeated key with other content is an error."""
    frame = source.frame
    key = list(source.table.key)
    repeated = frame.duplicated(subset=key, keep=False)
    if not repeated.any():
        return
    frame = frame[~frame.duplicated(keep="first")]
    clash = frame.duplicated(subset=key, keep="first")
    row = _first(clash)
    if row is not None:
        first = frame[(frame[key] == frame.loc[row, key]).all(axis=1)].iloc[0]
        differing = next(c for c in frame.columns if not _same(first[c], frame.loc[row, c]))
        raise source.error(
            row,
            differing,
            f"duplicate key {_key_text(frame.loc[row, key])} with different content "
            f"(first at row {first.name}: {_plain(first[differing])}, "
            f"here: {_plain(frame.loc[row, differing])})",
        )
    source.frame = frame


def _same(a, b) -> bool:
    import pandas as pd

    if pd.isna(a) and pd.isna(b):
        return True
    if pd.isna(a) or pd.isna(b):
        return False
    return a == b


def _key_text(values) -> str:
    return (
        "(" + ", ".join(str(v) for v in values) + ")" if len(values) > 1 else repr(values.iloc[0])
    )
