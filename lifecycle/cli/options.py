"""Options shared by many commands, defined once, and the small helpers every command uses.

The CLI reaches lifecycle's services through one gateway, :func:`api` (imported on first use:
it loads SQLAlchemy, which ``lifecycle --help`` must not), and writes everything through the
output registry (:mod:`lifecycle.output`): the ``--format`` choices of every command are the
names of one of its families, and :func:`emit` writes a value in the chosen format to stdout or
to ``--output``.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, get_args

import typer

from lifecycle import output
from lifecycle.errors import UsageError
from lifecycle.output import Report, check_destination, check_terminal, tables, write_table
from lifecycle.output.progress import for_terminal, wanted
from lifecycle.output.tables import console, literal
from lifecycle.progress import Progress
from lifecycle.text import count, number  # noqa: F401  (one way to write a count: options.count)

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import Catalog, PolicySet


def api():  # -> the lifecycle.api module
    """``lifecycle.api``, the one way into the library (late: it loads SQLAlchemy)."""
    import lifecycle.api

    return lifecycle.api


def _choices(name: str, family: str) -> type[StrEnum]:
    """The ``--format`` choices of ``family``, as typer wants them: an enumeration."""
    choices = StrEnum(name, {n: n for n in output.names(family)})  # type: ignore[misc]
    choices.family = family  # type: ignore[attr-defined]
    return choices


ListingFormat = _choices("ListingFormat", "listing")
DetailFormat = _choices("DetailFormat", "detail")
GraphFormat = _choices("GraphFormat", "graph")
RecipeFormat = _choices("RecipeFormat", "recipe")
PlanFormat = _choices("PlanFormat", "plan")
ExchangeFormat = _choices("ExchangeFormat", "exchange")
RepairFormat = _choices("RepairFormat", "repair")
RunsFormat = _choices("RunsFormat", "runs")

FormatOption = Annotated[
    ListingFormat,
    typer.Option(
        "--format", "-f", help="Output: a table for people; json, csv or parquet for scripts."
    ),
]
DetailFormatOption = Annotated[
    DetailFormat,
    typer.Option("--format", "-f", help="Output: text for people; json or csv for scripts."),
]


PolicyOption = Annotated[
    list[Path] | None,
    typer.Option(  # without it, lifecycle.policy reads LIFECYCLE_POLICY, as the Python API does
        "--policy",
        help="Policy file or directory (repeatable; in LIFECYCLE_POLICY, separated by "
        f"'{os.pathsep}') (default: ./policies).",
        show_default=False,
    ),
]
ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Act; without it, only show what would be done.")
]


def catalog(ctx: typer.Context) -> Catalog:
    """The catalog named by the global ``--db`` option (or ``LIFECYCLE_DB``)."""
    state = ctx.find_root().obj
    if state.get("catalog") is None:
        state["catalog"] = api().Catalog(state.get("db"), progress=progress(ctx))
        ctx.find_root().call_on_close(state["catalog"].close)
    return state["catalog"]


def progress(ctx: typer.Context) -> Progress:
    """Progress bars on stderr when it is a terminal, unless ``--no-progress`` or
    ``LIFECYCLE_PROGRESS=0`` (see :mod:`lifecycle.output.progress`); else silence."""
    return for_terminal(bool((ctx.find_root().obj or {}).get("no_progress")))


def progress_shown(ctx: typer.Context) -> bool:
    """Whether :func:`progress` draws anything (for ``generate``'s own bars)."""
    return wanted(bool((ctx.find_root().obj or {}).get("no_progress")))


class Closing:
    """What a long command did, said on its closing line (see :func:`closing`)."""

    def __init__(self) -> None:
        self.text: str | None = None


@contextmanager
def closing(fmt: Enum | None = None, *, quiet: bool = False) -> Iterator[Closing]:
    """Time the block; when it succeeds and set ``.text`` ("imported 1,234 rows"), say on
    stderr what was done and how long it took ("imported 1,234 rows in 5.2 s"), so a cron log
    shows durations. Only for people: not when ``fmt`` is a format for scripts (json, csv),
    nor under ``quiet`` (``audit --quiet``: nothing to say, nothing said)."""
    started = time.perf_counter()
    said = Closing()

    def say() -> None:
        if said.text and not quiet and (fmt is None or fmt.value in ("table", "tree", "text")):
            note(f"{said.text} in {time.perf_counter() - started:.1f} s")

    try:
        yield said
    except typer.Exit:  # done, with findings or blockers to report (exit 1): said all the same
        say()
        raise
    say()


@contextmanager
def unmigrated_catalog(ctx: typer.Context) -> Iterator[Catalog]:
    """The catalog of ``--db`` as it is, its schema not brought up to date (``db`` commands)."""
    cat = api().Catalog(ctx.find_root().obj.get("db"), migrate=False)
    try:
        yield cat
    finally:
        cat.close()


def emit(value: Any, fmt: Enum) -> None:
    """Write ``value`` in ``fmt`` (a choice of one family) to ``--output`` or stdout; a
    :class:`Report` gets the CSV guard when ``--excel-safe`` was given."""
    if isinstance(value, Report) and excel_safe_requested():
        value = replace(value, excel_safe=True)
    output.write(value, fmt.value, type(fmt).family, output=_OUTPUT.get())


@contextmanager
def spooled_stdout(active: bool = True) -> Iterator[None]:
    """While ``active`` (a write transaction writes output as it reads), stdout output goes to a
    temporary file, copied to stdout after the block, i.e. after the commit: a slow reader of a
    pipe cannot hold the catalog's write lock, and a reader that goes away cannot undo the
    change. Output to ``--output`` is written directly (a file does not block)."""
    if not active or _OUTPUT.get() is not None:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="lifecycle-") as spool_dir:
        spool = Path(spool_dir) / "output"
        token = _OUTPUT.set(spool)
        try:
            yield
        finally:
            _OUTPUT.reset(token)
        if spool.exists():
            sys.stdout.flush()
            with open(spool, "rb") as written:
                shutil.copyfileobj(written, sys.stdout.buffer)
            sys.stdout.buffer.flush()


def show(
    frame: pd.DataFrame, fmt: Enum, title: str | None, kind: str, items: str | None = None
) -> None:
    """Write the listing ``frame`` in ``fmt`` (see :func:`emit`); its JSON envelope is of
    ``kind``, the rows under ``items`` (default: the kind)."""
    emit(Report(frame, title=title, kind=kind, items=items), fmt)


def listing(
    method: str, title: str, summary: str, kind: str, renamed: dict[str, str] | None = None
) -> Callable[..., None]:
    """A command listing what ``Catalog.<method>()`` returns, under ``title``, its columns
    ``renamed`` to the names every report gives the same things (``site``, ``endpoint``)."""

    def command(ctx: typer.Context, fmt: FormatOption = ListingFormat.table) -> None:
        found = getattr(catalog(ctx), method)()
        show(found.rename(columns=renamed or {}), fmt, title, kind)

    command.__doc__ = summary
    return command


def note(message: str) -> None:
    """A remark for people, on stderr so stdout stays machine-readable."""
    typer.echo(message, err=True)


def line(out: IO[str], text: str) -> None:
    """One line of a report for people, in the report's stream: catalog text in it is shown
    literally (never read as markup; control characters escaped). Written whole, however long
    (a terminal wraps it; ``grep`` finds it whole)."""
    console(out).print(literal(text), highlight=False, soft_wrap=True)


def yes_no(found: pd.DataFrame, column: str) -> pd.DataFrame:
    """``found`` with the booleans of ``column`` as ``yes`` / ``no`` (for a table)."""
    shown = found.copy()
    shown[column] = shown[column].map({True: "yes", False: "no"})
    return shown


def bounded_table(found: pd.DataFrame, out: IO[str], title: str, limit: int) -> None:
    """The first ``limit`` rows of ``found`` as a table under ``title``, then how many more
    there are: a table for people stays readable at any size; json and csv list all."""
    write_table(found.head(limit), out, title)
    if len(found) > limit:
        line(out, f"… and {number(len(found) - limit)} more (--format json lists all)")


# Bounds shared by every option of the CLI, so an out-of-range value is a one-line usage error
# (exit 2) rather than an overflow deep in SQLite, PostgreSQL, pandas or datetime:
INT_MAX = 2**63 - 1  # the largest integer both engines store (SQL BIGINT, SQLite INTEGER)
# timestamps: what pandas holds (nanoseconds: 1677 to 2262) less room for lifetimes and grace
# periods added to them; a pin "for ever" is a date within this range too
TIME_MIN_YEAR, TIME_MAX_YEAR = 1900, 2199


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value as an aware UTC datetime (no offset means UTC); None passes.

    Years outside ``TIME_MIN_YEAR`` to ``TIME_MAX_YEAR`` (in UTC) are refused, naming the option.
    """
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


def policies(policy: list[Path] | None) -> PolicySet:
    """The policies of --policy, else of LIFECYCLE_POLICY, else of ./policies (a usage error
    when there are none)."""
    return api().load_policies(policy)


@contextmanager
def optional_policies(policy: list[Path] | None, unchecked: str) -> Iterator[PolicySet | None]:
    """The policies of --policy, else of LIFECYCLE_POLICY or ./policies, else None; when None, once
    the block succeeded, a note says what went ``unchecked`` (so a refusal stays one line)."""
    found = api().optional_policies(policy)
    yield found
    if found is None:
        note(f"no policies: {unchecked} (--policy FILE|DIR)")


# -- options of every command by what its --format offers, defined once -----------------------
ExcelSafeOption = Annotated[
    bool,
    typer.Option(
        "--excel-safe",
        help="With csv: prefix text cells starting with = + - @ (or tab, CR) with ' so "
        "spreadsheets show them as text. For people: such files do not import back unchanged.",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="File to write (default: stdout).", show_default=False),
]
WideOption = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Tables at their full width, dataset names whole on one line (by default they "
        "fold to the terminal or COLUMNS).",
    ),
]
_EXCEL_SAFE: ContextVar[bool] = ContextVar("excel_safe", default=False)
_OUTPUT: ContextVar[Path | None] = ContextVar("output", default=None)


def output_requested() -> bool:
    """Whether the running command was given ``--output FILE``."""
    return _OUTPUT.get() is not None


def excel_safe_requested() -> bool:
    """Whether the running command was given ``--excel-safe``."""
    return _EXCEL_SAFE.get()


def _format_family(annotation: Any) -> str | None:
    """The output family of a parameter's annotation if it is a ``--format`` option."""
    args = get_args(annotation)
    if len(args) < 2 or not (isinstance(args[0], type) and issubclass(args[0], Enum)):
        return None
    decls = [
        d
        for info in args[1:]
        for d in (getattr(info, "default", None), *(getattr(info, "param_decls", None) or ()))
    ]
    return getattr(args[0], "family", None) if "--format" in decls else None


def _with_output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with ``--excel-safe`` if its ``--format`` offers csv, ``--output`` if it
    has a ``--format`` at all (every format writes to a file or stdout the same way), and
    ``--wide`` if it offers a table or tree for people."""
    signature = inspect.signature(command, eval_str=True)
    chosen = {p.name: _format_family(p.annotation) for p in signature.parameters.values()}
    chosen = {name: family for name, family in chosen.items() if family}
    families = set(chosen.values())
    formats = [output.lookup(f, n) for f in families for n in output.names(f)]
    offers = {
        "excel_safe": (ExcelSafeOption, False, any(f.name == "csv" for f in formats)),
        "output": (OutputOption, None, bool(formats)),
        "wide": (WideOption, False, any(f.name in ("table", "tree") for f in formats)),
    }
    added = {name: option for name, option in offers.items() if option[2]}
    if not added:
        return command

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        excel_safe: bool = False,
        output: Path | None = None,
        wide: bool = False,
        **kwargs: Any,
    ):
        check_destination(output)
        for name, family in chosen.items():  # a file bound for a terminal: refused before any work
            if isinstance(kwargs.get(name), Enum):
                check_terminal(family, kwargs[name].value, output)
        tokens = (_EXCEL_SAFE.set(excel_safe), _OUTPUT.set(output))
        try:
            with tables.wide(wide):
                return command(*args, **kwargs)
        finally:
            _EXCEL_SAFE.reset(tokens[0])
            _OUTPUT.reset(tokens[1])

    options = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default, _) in added.items()
    ]
    parameters = [*signature.parameters.values(), *options]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def offer_output_options(app: typer.Typer) -> None:
    """Give every command of ``app`` (and its sub-apps) the ``--excel-safe``, ``--output`` and
    ``--wide`` options its ``--format`` calls for: defined once here rather than in each command."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_output_options(info.callback)
    callback = app.registered_callback
    if callback is not None and callback.callback is not None:
        callback.callback = _with_output_options(callback.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            offer_output_options(group.typer_instance)
