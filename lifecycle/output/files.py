"""Where output goes, and the file formats of a table of records (CSV, Parquet).

:func:`destination` is the one way a command writes to ``-o FILE`` or to stdout, as text or as
bytes (Parquet): the same for every command; :func:`check_terminal` keeps files (bytes,
pictures) off a terminal. CSV keeps exact values (timestamps as ISO 8601 UTC
with ``Z``, missing values empty); Parquet keeps the frame's own types. Rows read a chunk at a
time (:func:`write_rows_csv`, :func:`write_rows_parquet`) are written as they come, never held
together: the same CSV text as a frame of them, and Parquet one row group per chunk.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.output.registry import lookup
from lifecycle.text import FORMULA_STARTS
from lifecycle.values import format_timestamps

if TYPE_CHECKING:
    import pandas as pd


def check_destination(path: Path | None) -> None:
    """Refuse ``-o`` into a directory that does not exist (before any work is done)."""
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"--output: directory of {str(path)!r} does not exist")


def check_terminal(family: str, name: str, path: Path | None) -> None:
    """Refuse to write format ``name`` of ``family`` to a terminal when it is a file (bytes, a
    picture) rather than text for people: without ``-o`` and with stdout a terminal."""
    if path is None and not lookup(family, name).terminal and sys.stdout.isatty():
        raise UsageError(
            f"--format {name} writes a file, not text for a terminal: "
            "give -o FILE, or pipe it to a program"
        )


@contextmanager
def destination(path: Path | None, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A stream to write a command's output to: the file ``path``, else stdout (its bytes
    underneath for ``binary``, after what was written as text)."""
    check_destination(path)
    if path is not None:
        with open(path, "wb") if binary else open(path, "w", encoding="utf-8") as out:
            yield out
        return
    if not binary:
        yield sys.stdout
        return
    sys.stdout.flush()
    yield sys.stdout.buffer
    sys.stdout.buffer.flush()


def write_csv(frame: pd.DataFrame, out: IO[str], *, header: bool = True) -> None:
    """``frame`` as CSV: a header line (unless not ``header``: a frame continuing one already
    written), timestamps in ISO 8601 UTC, booleans ``true`` / ``false`` (as in JSON, not
    Python's ``True``), missing values empty."""
    text = frame.copy()
    for column in text.columns:
        dtype = str(text[column].dtype)
        if dtype.startswith("datetime64"):
            text[column] = format_timestamps(text[column])
        elif dtype in ("bool", "boolean"):
            text[column] = text[column].map({True: "true", False: "false"}).astype(object)
    text.to_csv(out, index=False, header=header, na_rep="", lineterminator="\n")


def write_parquet(frame: pd.DataFrame, out: IO[bytes]) -> None:
    """``frame`` as one Parquet file (built in memory: a pipe cannot seek)."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    out.write(buffer.getvalue())


def write_rows_csv(
    columns: Sequence[str], chunks: Iterable[list[tuple]], out: IO[str], *, excel_safe: bool
) -> None:
    """Rows of text (or numbers, None for missing) as CSV, a chunk at a time: the text
    :func:`write_csv` writes for a frame of them; ``excel_safe`` guards cells as
    :func:`~lifecycle.text.guard_formulas` does."""
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_guarded(c) for c in columns] if excel_safe else columns)
    for chunk in chunks:
        if excel_safe:
            chunk = [tuple(_guarded(v) for v in row) for row in chunk]
        writer.writerows(chunk)


def _guarded(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_rows_parquet(
    columns: Sequence[str], chunks: Iterable[list[tuple]], out: IO[bytes]
) -> None:
    """Rows as one Parquet file, one row group per chunk (types: those of the first chunk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for chunk in chunks:
        if not chunk and writer is not None:
            continue
        values = list(zip(*chunk, strict=True)) if chunk else [()] * len(columns)
        if writer is None:
            arrays = [_arrow_array(v) for v in values]
            batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
            writer = pq.ParquetWriter(out, batch.schema)
        else:
            arrays = [_arrow_array(v, f.type) for v, f in zip(values, writer.schema, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, schema=writer.schema)
        writer.write_batch(batch)
    if writer is None:  # no chunk at all: the columns, without rows
        empty = [pa.array([], type=pa.string()) for _ in columns]
        writer = pq.ParquetWriter(
            out, pa.RecordBatch.from_arrays(empty, names=list(columns)).schema
        )
    writer.close()


def _arrow_array(values: Sequence[Any], arrow_type: Any = None) -> Any:
    """``pyarrow.array(values, type=arrow_type)``; a column of texts only (every value a
    ``str``) is built from its UTF-8 bytes instead. ``pyarrow.array`` imports pandas to look for
    pandas objects among Python values: 0.3-0.5 s of a Parquet listing whose columns are all
    text (an audit's findings), against 0.06 s to build 206 k texts from their bytes."""
    import pyarrow as pa

    texts = arrow_type is None or arrow_type == pa.string()
    found = _text_array(values) if texts and values else None
    return pa.array(values, type=arrow_type) if found is None else found


def _text_array(values: Sequence[Any]) -> Any:
    """A pyarrow string array of ``values`` from their UTF-8 bytes, or None when they are not
    all texts (or one cannot be encoded, or they exceed 32-bit offsets): ``pyarrow.array``
    then decides, or says what is wrong."""
    import numpy as np
    import pyarrow as pa

    if not all(type(v) is str for v in values):
        return None
    try:
        encoded = [v.encode() for v in values]
    except UnicodeEncodeError:  # a lone surrogate
        return None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    if offsets[-1] >= 2**31:  # string offsets are 32-bit
        return None
    return pa.StringArray.from_buffers(
        len(encoded), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))
    )
