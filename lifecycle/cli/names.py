"""``lifecycle names parse``: dataset names split by the ATLAS nomenclature."""

from __future__ import annotations

import sys
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.errors import InvalidDatasetName, UsageError
from lifecycle.nomenclature import parse_name, parse_names
from lifecycle.output import Report, write_table
from lifecycle.values import envelope

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.nomenclature import ParsedName

TITLE = "dataset names"
names_app = typer.Typer(help="ATLAS dataset names: the fields of the nomenclature.")


@names_app.command("parse")
def parse(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Dataset names (scope:name or bare); '-' reads them from stdin, one per line.",
            show_default=False,
        ),
    ],
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Split names into project, number, stream, production step, data type and AMI tags.

    Each name that does not follow the nomenclature says why in 'error'; the exit status is 2
    only when none does.
    """
    parsed = [parse_name(name) for name in _read(names)]
    if not parsed:
        raise UsageError("names parse: no names given")
    document = partial(_document, parsed)
    if (
        fmt is options.ListingFormat.json
    ):  # the frame is not needed: names that fail parse no further
        options.emit(Report(document=document), fmt)
    else:
        frame = parse_names([p.name for p in parsed])
        options.emit(
            Report(frame, title=TITLE, document=document, people=partial(_table, frame)), fmt
        )
    if all(p.error for p in parsed):
        raise InvalidDatasetName(parsed[0].name, parsed[0].error or "", len(parsed) - 1)


def _document(parsed: list[ParsedName]) -> dict:
    """The envelope of ``names parse``: how many names, how many do not follow the
    nomenclature (their ``error`` says why), the names with their fields."""
    summary = {"names": len(parsed), "errors": sum(1 for p in parsed if p.error)}
    return envelope("names", summary, names=[p.to_dict() for p in parsed])


def _table(frame: pd.DataFrame, out: IO[str]) -> None:
    """The fields for people: no column that says nothing."""
    write_table(frame.loc[:, frame.notna().any() & frame.ne(False).any()], out, TITLE)


def _read(names: list[str]) -> list[str]:
    """The names, with '-' replaced by the lines of stdin (blank and '#' lines skipped)."""
    out: list[str] = []
    for name in names:
        if name != "-":
            out.append(name)
            continue
        lines = (line.strip() for line in sys.stdin)
        out += [line for line in lines if line and not line.startswith("#")]
    return out


GROUPS = {"names": names_app}
