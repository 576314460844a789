"""Where output goes, and the file formats of a table of records (CSV, Parquet).

:func:`destination` is the one way a command writes to ``-o FILE`` or to stdout, as text or as
bytes (Parquet): the same for every command. CSV keeps exact values (timestamps as ISO 8601 UTC
with ``Z``, missing values empty); Parquet keeps the frame's own types.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lifecycle.errors import UsageError
from lifecycle.values import format_timestamps

if TYPE_CHECKING:
    import pandas as pd


def check_destination(path: Path | None) -> None:
    """Refuse ``-o`` into a directory that does not exist (before any work is done)."""
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"--output: directory of {str(path)!r} does not exist")


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


def write_csv(frame: pd.DataFrame, out: IO[str]) -> None:
    """``frame`` as CSV: a header line, timestamps in ISO 8601 UTC, missing values empty."""
    text = frame.copy()
    for column in text.columns:
        if str(text[column].dtype).startswith("datetime64"):
            text[column] = format_timestamps(text[column])
    text.to_csv(out, index=False, na_rep="", lineterminator="\n")


def write_parquet(frame: pd.DataFrame, out: IO[bytes]) -> None:
    """``frame`` as one Parquet file (built in memory: a pipe cannot seek)."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    out.write(buffer.getvalue())
