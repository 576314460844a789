"""``lifecycle generate``: a synthetic WLCG-like catalog for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from lifecycle.cli import options

MAX_DATASETS = 100_000_000  # 100 times ATLAS's catalog, and about what fits one machine's memory


def generate(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to write Parquet tables to.")],
    datasets: Annotated[
        int, typer.Option("--datasets", "-n", max=MAX_DATASETS, help="How many datasets.")
    ] = 10_000,
    seed: Annotated[
        int,
        typer.Option(
            min=0, max=options.INT_MAX, help="Random seed; the same seed gives the same catalog."
        ),
    ] = 0,
    dumps: Annotated[
        Path | None,
        typer.Option(
            "--dumps",
            help="Also write storage dumps (one per endpoint) with planted lost and dark "
            "entries into this directory (listed in its planted.json).",
            show_default=False,
        ),
    ] = None,
    dump_endpoints: Annotated[
        str | None,
        typer.Option(
            "--dump-endpoints",
            help="Dumps only of the endpoints this expression selects (default: all).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a synthetic catalog (Parquet, exchange format) with planted policy violations."""
    with _progress(options.progress_shown(ctx)) as advance:
        summary = options.api().generate(directory, datasets, seed=seed, progress=advance)
    rows = ", ".join(f"{options.number(n)} {table}" for table, n in summary.rows.items())
    typer.echo(f"generated {directory}: {rows}")
    planted = ", ".join(f"{options.number(n)} {kind}" for kind, n in summary.planted.items())
    typer.echo(f"planted: {planted}")
    if dumps is not None:
        wrote = options.api().generate_dumps(directory, dumps, dump_endpoints, seed)
        typer.echo(
            f"dumps {dumps}: {options.count(len(wrote.dumps), 'endpoint')}, planted "
            f"{options.number(wrote.lost)} lost, {options.number(wrote.dark)} dark "
            f"(see {wrote.directory / 'planted.json'})"
        )


@contextmanager
def _progress(shown: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars on stderr, one per stage, shown from the first report of progress on (when
    ``shown``: stderr is a terminal, and neither --no-progress nor LIFECYCLE_PROGRESS=0)."""
    if not shown:
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, int] = {}

    def advance(stage: str, done: int, total: int) -> None:
        if not tasks:
            progress.start()
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    try:
        yield advance
    finally:
        if tasks:
            progress.stop()


COMMANDS = {"generate": generate}
