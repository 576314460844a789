"""``lifecycle import`` and ``lifecycle export``: the exchange format (FORMAT.md).

Mirrors :mod:`lifecycle.exchange` through the ``Catalog`` facade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli import options


def import_(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Exchange-format directory (CSV or Parquet).")],
) -> None:
    """Import a catalog directory, all or nothing; importing it again changes nothing."""
    with options.closing() as closing:
        result = options.catalog(ctx).import_directory(directory)
        typer.echo(result.summary())
        closing.text = f"imported {options.count(result.rows, 'row')}"


def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write the tables to.")],
    fmt: Annotated[
        options.ExchangeFormat, typer.Option("--format", "-f", help="File format of the tables.")
    ] = options.ExchangeFormat.csv,
) -> None:
    """Export the whole catalog as an exchange-format directory."""
    with options.closing() as closing:
        result = options.catalog(ctx).export_directory(
            directory, fmt.value, excel_safe=options.excel_safe_requested()
        )
        if result.replaced:
            options.note(
                f"replaced by the {fmt.value} tables: {', '.join(result.replaced)} (removed)"
            )
        typer.echo(
            f"exported to {directory}: "
            + ", ".join(f"{n} {table}" for table, n in result.counts.items())
        )
        closing.text = f"exported {options.count(sum(result.counts.values()), 'row')}"


COMMANDS = {"import": import_, "export": export}
