"""``lifecycle import`` and ``lifecycle export``: the exchange format (FORMAT.md).

Mirrors :mod:`lifecycle.exchange` through the ``Catalog`` facade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli.options import ExchangeFormat, catalog, excel_safe_requested, note


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)


def import_(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Exchange-format directory (CSV or Parquet).")],
) -> None:
    """Import a catalog directory, all or nothing; importing it again changes nothing."""
    result = catalog(ctx).import_directory(directory)
    typer.echo(result.summary())


def export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write the tables to.")],
    fmt: Annotated[
        ExchangeFormat, typer.Option("--format", "-f", help="File format of the tables.")
    ] = ExchangeFormat.csv,
) -> None:
    """Export the whole catalog as an exchange-format directory."""
    result = catalog(ctx).export_directory(directory, fmt.value, excel_safe=excel_safe_requested())
    if result.replaced:
        note(f"replaced by the {fmt.value} tables: {', '.join(result.replaced)} (removed)")
    typer.echo(
        f"exported to {directory}: "
        + ", ".join(f"{n} {table}" for table, n in result.counts.items())
    )
