"""The ``lifecycle`` command: global options, sub-commands, and the one exit-code mapping.

Exit codes (DESIGN.md): 0 ok, 1 violations or blockers, 2 bad usage or input, 3 catalog locked.
Only this module turns exceptions into exit codes; a user error prints one line on stderr and no
traceback unless ``--debug``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from lifecycle.errors import LifecycleError


class _Group(TyperGroup):
    """Maps every :class:`LifecycleError` to its exit code and a one-line message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LifecycleError as exc:
            if (ctx.obj or {}).get("debug"):
                import traceback

                traceback.print_exc()
            typer.echo(f"lifecycle: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="lifecycle",
    help="Data lifecycle and provenance for raw, calibration and derived datasets on grid sites.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="LIFECYCLE_DB",
            help="Catalog: an SQLAlchemy URL or an SQLite file path [default: ./lifecycle.db].",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    ctx.obj = {"db": db, "debug": debug, "catalog": None}


def _register() -> None:
    from lifecycle.cli import (
        audit,
        catalog,
        exchange,
        expiry,
        generate,
        names,
        planning,
        provenance,
        simulate,
        tradeoff,
    )
    from lifecycle.cli.options import offer_excel_safe

    catalog.register(app)
    audit.register(app)
    expiry.register(app)
    exchange.register(app)
    generate.register(app)
    names.register(app)
    planning.register(app)
    provenance.register(app)
    simulate.register(app)
    tradeoff.register(app)
    offer_excel_safe(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="lifecycle")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["Path", "app", "main"]
