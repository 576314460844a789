"""The report's parts shared out to connections reading one snapshot, a thread each.

:func:`side_by_side` runs groups of parts, each group on one connection, taking the next group
from the list until none is left. :class:`SharedSet` gives the parts that read the
irreproducible set the set on whichever connection runs them: computed once, by the group that
asks for it first on the first connection, then copied to each other connection that needs it
(a temporary table belongs to its connection). Copying costs 0.3 s at 1 M datasets against
1.0-1.5 s to compute it again, and lets those parts go to whichever connection is free: the
longest chain of parts that read the set used to be tied to the connection that computed it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import drop_tables
from lifecycle.errors import LifecycleError
from lifecycle.provenance import (
    copied_irreproducible,
    irreproducible_rows,
    materialize_irreproducible,
)
from lifecycle.provenance.reproducibility import IRREPRODUCIBLE, SetRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Group = Callable[["Connection"], dict[str, Any]]
Timed = Callable[[str, Callable[[], Any]], Any]


class SharedSet:
    """The irreproducible set (:data:`~lifecycle.provenance.IRREPRODUCIBLE`) on each connection
    that asks for it. ``shared``: other connections may ask (its rows are then kept in memory,
    264 k pairs at 1 M datasets, for them to copy)."""

    def __init__(self, timed: Timed, shared: bool) -> None:
        self._timed = timed
        self._shared = shared
        self._ready = threading.Event()
        self._rows: list[SetRow] | None = None
        self._tables: dict[int, Connection] = {}  # id(conn) -> conn, each holding a set

    def compute(self, conn: Connection) -> str:
        """Compute the set on ``conn`` (once, before any other connection asks for it)."""
        if self._tables:
            raise ValueError("the irreproducible set is computed once")
        self._tables[id(conn)] = conn
        try:
            self._timed("irreproducible", lambda: materialize_irreproducible(conn))
            if self._shared:
                self._rows = irreproducible_rows(conn)
        finally:
            self._ready.set()  # a connection waiting for the set goes on (to fail: no rows)
        return IRREPRODUCIBLE

    def on(self, conn: Connection) -> str:
        """The set on ``conn``: the computed one, or a copy of it (waits until it is computed;
        the copy is timed with the part that asked for it)."""
        if id(conn) in self._tables:
            return IRREPRODUCIBLE
        self._ready.wait()
        if self._rows is None:
            raise LifecycleError("the irreproducible set was not computed")
        self._tables[id(conn)] = conn
        return copied_irreproducible(conn, self._rows)

    def drop(self) -> None:
        """Drop the set from every connection holding it (once their parts are done)."""
        for conn in self._tables.values():
            drop_tables(conn, IRREPRODUCIBLE)
        self._tables.clear()


def side_by_side(
    groups: list[Group],
    conns: list[Connection],
    first: Callable[[Connection], Any] | None = None,
) -> dict[str, Any]:
    """The parts of every group, each group run on one of ``conns``: the first in this thread,
    each other in a thread of its own, taking the next group from the list until none is left.
    After an error no connection takes a further group; the first error is raised once every
    thread is done (this thread's first). ``first``: run on the first connection before any
    group, while another thread imports the packages the parts need (it must import none of
    them); the first group then runs on that connection too, reading what ``first`` left there,
    while the other connections take the groups after it.

    Measured at 1 M datasets: the thread done importing first took the first group and waited
    for the irreproducible set to be computed and copied to its connection, 0.6-1.3 s, while
    the connection holding the set went on to the next group."""
    waiting = deque(groups[1:] if first is not None else groups)
    lead = [groups[0]] if first is not None and groups else []
    parts: dict[str, Any] = {}

    def work(conn: Connection, leading: list[Group] | None = None) -> None:
        mine = deque(leading or ())
        while True:
            try:
                group = mine.popleft() if mine else waiting.popleft()
            except IndexError:
                return
            try:
                parts.update(group(conn))
            except BaseException:
                waiting.clear()
                raise

    if len(conns) == 1:
        if first is not None:
            first(conns[0])
        work(conns[0], lead)
        return parts
    imported = threading.Event()

    def imports_then_work(conn: Connection, imports: bool) -> None:
        if imports:
            try:
                _import_heavy_packages()
            finally:
                imported.set()
        else:
            imported.wait()
        work(conn)

    with ThreadPoolExecutor(len(conns) - 1, thread_name_prefix="report") as pool:
        elsewhere = [
            pool.submit(imports_then_work, conn, n == 0) for n, conn in enumerate(conns[1:])
        ]
        try:
            if first is not None:
                try:
                    first(conns[0])
                except BaseException:
                    waiting.clear()
                    raise
            imported.wait()
            work(conns[0], lead)
        finally:
            errors = [f.exception() for f in elsewhere]
    for error in errors:
        if error is not None:
            raise error
    return parts


def _import_heavy_packages() -> None:
    """The heavy packages the parts import late, imported by one thread before any part runs:
    two threads importing pandas at once can meet a partly initialised module ("partially
    initialized module 'pandas' has no attribute 'NA'", seen at 1 M datasets); _strptime
    likewise for strptime. Imported while the first connection computes the irreproducible set
    (SQL only): 0.3-0.4 s of CPU at the start that no longer waits."""
    import _strptime  # noqa: F401

    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
