"""Reports of long work as it goes: named phases, counted (done of total) or not.

Services take a :class:`Progress` (by default :data:`SILENT`, which says nothing) and report per
table, rule, phase or batch of rows: never per row, so reporting costs nothing next to the work.
The facade passes the one it was given (``Catalog(progress=...)``); the CLI gives one that draws
bars on stderr when it is a terminal (:mod:`lifecycle.output.progress`). A notebook may give its
own: a subclass that overrides :meth:`Progress.begin`, :meth:`Progress.update` and
:meth:`Progress.end`.

A leaf: imports nothing of lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from threading import Lock
from typing import TypeVar

T = TypeVar("T")


class Phase:
    """One phase under way: :meth:`advance` by a batch, or :meth:`set` what is done so far."""

    def __init__(self, progress: Progress, handle: object, total: int | None) -> None:
        self._progress = progress
        self._handle = handle
        self.total = total
        self.done = 0

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units done (a batch, a table, a rule: never call it per row)."""
        self.set(self.done + amount)

    def set(self, done: int, total: int | None = None) -> None:
        """``done`` units done so far, of ``total`` (when it became known only now)."""
        self.done = done
        if total is not None:
            self.total = total
        self._progress.update(self._handle, self.done, self.total)


class Progress:
    """Where long work reports its phases; this one says nothing (see :data:`SILENT`)."""

    def begin(self, name: str, total: int | None) -> object:
        """A phase called ``name`` begins, of ``total`` units (None: it cannot count); returns a
        handle that :meth:`update` and :meth:`end` receive."""
        return None

    def update(self, handle: object, done: int, total: int | None) -> None:
        """The phase of ``handle`` has ``done`` units done, of ``total``."""

    def end(self, handle: object) -> None:
        """The phase of ``handle`` is over (finished, failed or interrupted)."""

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Phase]:
        """A phase for the block: ``with progress.phase("checking references"):``."""
        handle = self.begin(name, total)
        try:
            yield Phase(self, handle, total)
        finally:
            self.end(handle)

    @contextmanager
    def stages(self, name: str, count: int) -> Iterator[Callable[[str], AbstractContextManager]]:
        """A phase of ``count`` named stages, each shown while it runs (a spinner with its name)
        and counted when it ends: ``with progress.stages("expiry", 3) as stage:`` then
        ``with stage("deciding"): ...``."""
        lock = Lock()  # stages may run side by side, in threads (the report's parts)
        with self.phase(name, count) as outer:

            @contextmanager
            def stage(what: str) -> Iterator[Phase]:
                with self.phase(what) as inner:
                    yield inner
                with lock:
                    outer.advance()

            yield stage

    def each(self, name: str, items: Iterable[T], total: int | None = None) -> Iterator[T]:
        """``items`` one at a time, a phase advanced by one after each (for a few dozen units of
        work, such as the rules of an audit or the tables of an export)."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.phase(name, total) as phase:
            for item in items:
                yield item
                phase.advance()


SILENT = Progress()
