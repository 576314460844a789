"""The report: one self-contained HTML page of the catalog for data managers.

- :mod:`~lifecycle.report.data`: the numbers, gathered through the services (audit and its
  history, accounting, reproducibility, expiry, loss simulation, lineage), aggregated;
- :mod:`~lifecycle.report.charts`: the charts, SVG drawn by matplotlib (imported only here);
- :mod:`~lifecycle.report.page`: the page, every catalog value escaped;
- :mod:`~lifecycle.report.files`: where it is written (a file, or a directory for cron).

A service: may import the other services, provenance, policy, exchange, catalog, output and the
leaf modules; never the api or the CLI.
"""

from lifecycle.report.data import CONNECTIONS, ReportData, gather
from lifecycle.report.decade import read_decade
from lifecycle.report.files import PageReport, build

__all__ = ["CONNECTIONS", "PageReport", "ReportData", "build", "gather", "read_decade"]
