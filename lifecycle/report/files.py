"""The built report and where it goes: one file, or a directory that keeps history for cron.

``-o report.html`` writes that file; ``-o DIR/`` (a trailing slash, or an existing directory)
writes ``DIR/index.html`` and a dated copy ``DIR/report-YYYY-MM-DD.html`` (the date of the
report's as-of time, UTC), so a web server's directory accumulates one page a day. Each file is
written beside its target and renamed over it: a reader never sees half a page.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.progress import SILENT, Progress
from lifecycle.report import charts
from lifecycle.report.data import ReportData, gather
from lifecycle.report.page import prerender, render
from lifecycle.values import envelope

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.engine import Connection

    from lifecycle.catalog.arrow_reader import ArrowReader
    from lifecycle.policy import PolicySet

SEVERITY_ORDER = ("info", "warning", "error")


@dataclass
class PageReport:
    """The report's data and its page."""

    data: ReportData
    html: str

    @property
    def summary(self) -> dict[str, Any]:
        """The figures a cron job checks: the audit's counts, bytes of the page, as-of time."""
        audit = self.data.compliance.audit.summary
        return {
            "as_of": self.data.now.isoformat().replace("+00:00", "Z"),
            "findings": audit["findings"],
            "by_severity": audit["by_severity"],
            "datasets": audit["datasets"],
            "bytes": len(self.html.encode("utf-8")),
        }

    def fails(self, fail_on: str = "error") -> bool:
        """As ``audit --fail-on``: whether a finding at or above ``fail_on`` exists now."""
        return self.data.compliance.audit.fails(fail_on)

    def write(self, target: str | Path) -> list[Path]:
        """Write the page to ``target`` (see the module); returns the paths written."""
        text = str(target)
        path = Path(target)
        if text.endswith(("/", os.sep)) or path.is_dir():
            path.mkdir(exist_ok=True)
            dated = path / f"report-{self.data.now:%Y-%m-%d}.html"
            paths = [path / "index.html", dated]
        else:
            paths = [path]
        for out in paths:
            _write_atomically(out, self.html)
        return paths

    def to_dict(self, paths: list[Path]) -> dict[str, Any]:
        return envelope("report", self.summary, files=[str(p) for p in paths])


def build(
    conn: Connection,
    policies: PolicySet,
    now: datetime,
    catalog: str,
    lineage: tuple[str, ...] = (),
    clock: Any = None,
    others: Sequence[Connection] = (),
    progress: Progress = SILENT,
    decade: dict[str, Any] | None = None,
    arrow: ArrowReader | None = None,
) -> PageReport:
    """Gather the numbers on ``conn`` (and ``others`` and ``arrow``, on the same snapshot) and
    render the page (``progress`` hears of each part; ``decade``: a saved simulated run, see
    :func:`lifecycle.report.decade.read_decade`)."""
    # matplotlib imported, and the sections read by then drawn, on a core the reading leaves
    # idle, rather than after the last part
    ready: dict[str, str] = {}

    def idle(parts: dict[str, Any]) -> None:
        charts.warm_up()
        ready.update(prerender(parts, catalog, now, policies, decade))

    data = gather(conn, policies, now, catalog, lineage, clock, others, progress, idle, arrow)
    data.decade = decade
    start = clock() if clock is not None else None
    with progress.phase("building the report: the page"):
        html = render(data, ready)
    if clock is not None:
        data.timings["page"] = round(clock() - start, 3)
    return PageReport(data, html)


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the page from a web server
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
