"""Options shared by many commands, defined once, and the small helpers every command uses."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from contextvars import ContextVar
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer


class ListingFormat(StrEnum):
    """Formats of every listing (``lifecycle.formats`` renders them)."""

    table = "table"
    json = "json"
    csv = "csv"


class DetailFormat(StrEnum):
    """Formats of commands that show one object in several parts."""

    table = "table"
    json = "json"


class ExportFormat(StrEnum):
    """File formats of the exchange format."""

    csv = "csv"
    parquet = "parquet"


FormatOption = Annotated[
    ListingFormat,
    typer.Option("--format", "-f", help="Output: a table for people, json or csv for scripts."),
]
DetailFormatOption = Annotated[
    DetailFormat,
    typer.Option("--format", "-f", help="Output: tables for people, json for scripts."),
]


PolicyOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--policy",
        help="Policy file or directory (repeatable) \\[default: ./policies].",
        show_default=False,
    ),
]
ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Act; without it, only show what would be done.")
]


def catalog(ctx: typer.Context):
    """The catalog named by the global ``--db`` option (or ``LIFECYCLE_DB``)."""
    from lifecycle.api import Catalog

    state = ctx.find_root().obj
    if state.get("catalog") is None:
        state["catalog"] = Catalog(state.get("db"))
        ctx.find_root().call_on_close(state["catalog"].close)
    return state["catalog"]


def show(frame, fmt: str | Enum, title: str | None = None) -> None:
    """Render a DataFrame to stdout in ``fmt`` (CSV guarded when ``--excel-safe`` was given)."""
    from lifecycle.formats import render

    fmt = fmt.value if isinstance(fmt, Enum) else fmt
    render(frame, fmt, sys.stdout, title, excel_safe=excel_safe_requested())


def emit_json(value: Any) -> None:
    import json

    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def note(message: str) -> None:
    """A remark for people, on stderr so stdout stays machine-readable."""
    typer.echo(message, err=True)


# Bounds shared by every option of the CLI, so an out-of-range value is a one-line usage error
# (exit 2) rather than an overflow deep in SQLite, PostgreSQL, pandas or datetime:
INT_MAX = 2**63 - 1  # the largest integer both engines store (SQL BIGINT, SQLite INTEGER)
# timestamps: what pandas holds (nanoseconds: 1677 to 2262) less room for lifetimes and grace
# periods added to them; a pin "for ever" is a date within this range too
TIME_MIN_YEAR, TIME_MAX_YEAR = 1900, 2199


def parse_time(value: str | None, option: str):
    """An ISO 8601 option value as an aware UTC datetime (no offset means UTC); None passes.

    Years outside ``TIME_MIN_YEAR`` to ``TIME_MAX_YEAR`` (in UTC) are refused, naming the option.
    """
    from datetime import UTC, datetime

    from lifecycle.errors import UsageError

    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not an ISO 8601 timestamp") from None
    try:
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999-12-31 west of it
        stamp = None
    if stamp is None or not TIME_MIN_YEAR <= stamp.year <= TIME_MAX_YEAR:
        raise UsageError(
            f"{option}: {value!r} is out of range (years {TIME_MIN_YEAR} to {TIME_MAX_YEAR})"
        )
    return stamp


def optional_policies(policy: list[Path] | None):
    """The policies of --policy, else of ./policies if it exists, else None: the caller says
    what goes unchecked (:func:`no_policies`) once it succeeded, so a refusal stays one line."""
    from lifecycle.policy import DEFAULT_POLICY_DIR, load_policies

    if policy or DEFAULT_POLICY_DIR.is_dir():
        return load_policies(policy)
    return None


def no_policies(unchecked: str) -> None:
    note(f"no policies: {unchecked} (--policy FILE|DIR)")


# -- --excel-safe: one option, offered by every command whose --format can be csv ---------------
ExcelSafeOption = Annotated[
    bool,
    typer.Option(
        "--excel-safe",
        help="With csv: prefix text cells starting with = + - @ (or tab, CR) with ' so "
        "spreadsheets show them as text. For people: such files do not import back unchanged.",
    ),
]
_EXCEL_SAFE: ContextVar[bool] = ContextVar("excel_safe", default=False)


def excel_safe_requested() -> bool:
    """Whether the running command was given ``--excel-safe``."""
    return _EXCEL_SAFE.get()


def _offers_csv(annotation: Any) -> bool:
    """Whether a parameter's annotation is a ``--format`` option with a csv choice."""
    args = get_args(annotation)
    if len(args) < 2 or not (isinstance(args[0], type) and issubclass(args[0], Enum)):
        return False
    decls = [
        d
        for info in args[1:]
        for d in (getattr(info, "default", None), *(getattr(info, "param_decls", None) or ()))
    ]
    return "--format" in decls and "csv" in {m.value for m in args[0]}


def _with_excel_safe(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with an ``--excel-safe`` option if its ``--format`` offers csv."""
    signature = inspect.signature(command, eval_str=True)
    if not any(_offers_csv(p.annotation) for p in signature.parameters.values()):
        return command

    @functools.wraps(command)
    def wrapper(*args: Any, excel_safe: bool = False, **kwargs: Any) -> Any:
        token = _EXCEL_SAFE.set(excel_safe)
        try:
            return command(*args, **kwargs)
        finally:
            _EXCEL_SAFE.reset(token)

    option = inspect.Parameter(
        "excel_safe", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ExcelSafeOption
    )
    parameters = [*signature.parameters.values(), option]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def offer_excel_safe(app: typer.Typer) -> None:
    """Give every command of ``app`` (and its sub-apps) whose ``--format`` offers csv the
    ``--excel-safe`` option: defined once here rather than in each command."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_excel_safe(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            offer_excel_safe(group.typer_instance)
