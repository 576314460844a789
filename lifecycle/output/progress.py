"""Progress bars on stderr for people watching long work (rich's progress display).

:func:`for_terminal` gives :class:`Bars` only when stderr is a terminal and neither
``--no-progress`` nor ``LIFECYCLE_PROGRESS=0`` asked for silence; else
:data:`lifecycle.progress.SILENT`. Bars never touch stdout: JSON and CSV there stay clean, and a
pipe or a cron log gets none. A phase that counts shows a bar with done/total; one that cannot
shows a spinner with its name; both show the elapsed time. The display lives while a phase is
open and is cleared when the last one ends, so what the command prints next starts on a clean
line. Phase names may hold catalog text (a rule's name): shown literally, never as markup.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

from lifecycle.progress import SILENT, Progress
from lifecycle.text import printable

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

ENVIRONMENT = "LIFECYCLE_PROGRESS"  # "0" (or "no", "off", "false"): no progress bars


def wanted(no_progress: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to draw progress: ``stream`` (stderr) is a terminal, and neither the option
    ``--no-progress`` nor ``LIFECYCLE_PROGRESS=0`` turned it off."""
    if no_progress:
        return False
    if os.environ.get(ENVIRONMENT, "").strip().lower() in ("0", "no", "off", "false"):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced by something without a terminal
        return False


def for_terminal(no_progress: bool = False) -> Progress:
    """:class:`Bars` on stderr when :func:`wanted`, else the silent progress."""
    return Bars(sys.stderr) if wanted(no_progress) else SILENT


class Bars(Progress):
    """Progress drawn by rich on ``stream`` (stderr), one line per open phase."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._display: RichProgress | None = None
        self._open = 0

    def _start(self) -> RichProgress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class Counted(ProgressColumn):
            """``done/total`` with thousands separators; nothing for a phase that cannot count."""

            def render(self, task) -> Text:
                if task.total is None:  # a spinner: what it counted so far, if anything
                    shown = f"{int(task.completed):,}" if task.completed else ""
                    return Text(shown, style="progress.download")
                return Text(
                    f"{int(task.completed):,}/{int(task.total):,}", style="progress.download"
                )

        display = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            Counted(),
            TimeElapsedColumn(),
            console=Console(file=self.stream, stderr=True),
            transient=True,  # cleared at the end: the command's own lines follow
            refresh_per_second=8,
        )
        display.start()
        return display

    def begin(self, name: str, total: int | None) -> object:
        if self._display is None:
            self._display = self._start()
        self._open += 1
        task = self._display.add_task(printable(name), total=total)
        self._display.refresh()  # once per phase: a short one is seen too
        return task

    def update(self, handle: object, done: int, total: int | None) -> None:
        if self._display is not None and handle is not None:
            self._display.update(handle, completed=done, total=total)  # type: ignore[arg-type]

    def end(self, handle: object) -> None:
        if self._display is None:
            return
        if handle is not None:
            self._display.remove_task(handle)  # type: ignore[arg-type]
        self._open -= 1
        if self._open <= 0:
            self._display.stop()
            self._display = None
            self._open = 0
