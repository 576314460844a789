"""``lifecycle names parse``: dataset names split by the ATLAS nomenclature."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lifecycle.cli.options import FormatOption, ListingFormat, emit_json, show

names_app = typer.Typer(help="ATLAS dataset names: the fields of the nomenclature.")


def register(app: typer.Typer) -> None:
    app.add_typer(names_app, name="names")


@names_app.command("parse")
def parse(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Dataset names (scope:name or bare); '-' reads them from stdin, one per line.",
            show_default=False,
        ),
    ],
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """Split names into project, number, stream, production step, data type and AMI tags.

    Each name that does not follow the nomenclature says why in ``error``; the exit status is 2
    only when none does.
    """
    from lifecycle.errors import InvalidDatasetName, UsageError
    from lifecycle.nomenclature import parse_name

    parsed = [parse_name(name) for name in _read(names)]
    if not parsed:
        raise UsageError("names parse: no names given")
    if fmt is ListingFormat.json:
        emit_json([p.to_dict() for p in parsed])
    else:
        from lifecycle.nomenclature import parse_names

        frame = parse_names([p.name for p in parsed])
        if fmt is ListingFormat.table:  # people need no column that says nothing
            frame = frame.loc[:, frame.notna().any() & frame.ne(False).any()]
        show(frame, fmt, "dataset names")
    if all(p.error for p in parsed):
        raise InvalidDatasetName(parsed[0].name, parsed[0].error or "", len(parsed) - 1)


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
