"""A saved simulated decade for the report's Durability section.

``lifecycle simulate years N --format json -o FILE`` saves a run; ``lifecycle report --decade
FILE`` draws its curve: datasets lost for good (all kinds, and raw) summed year by year, and the
findings open at each year's end. The file is untrusted input: it is checked field by field and
refused in one line naming the file and the field (exit 2), before any work on the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lifecycle.errors import UsageError

KIND = "simulate-years"  # the envelope kind of ``simulate years --format json``
FIELDS = ("year", "lost", "lost_raw", "findings", "irreproducible_derived", "transfers")


def read_decade(path: str | Path) -> dict[str, Any]:
    """The saved run at ``path``: ``summary`` (seed, model, repair, …) and ``years`` (one
    mapping of :data:`FIELDS` per simulated year, integers, in order)."""
    where = f"--decade {path}"
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{where}: cannot be read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{where}: not JSON ({str(exc).splitlines()[0]})") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise UsageError(
            f"{where}: not a saved run of 'lifecycle simulate years --format json' "
            f"(kind must be {KIND!r})"
        )
    summary, years = document.get("summary"), document.get("years")
    if not isinstance(summary, dict):
        raise UsageError(f"{where}: summary: must be an object")
    if not isinstance(years, list) or not years:
        raise UsageError(f"{where}: years: must be a non-empty list")
    out = []
    for n, year in enumerate(years):
        if not isinstance(year, dict):
            raise UsageError(f"{where}: years[{n}]: must be an object")
        row = {}
        for name in FIELDS:
            value = year.get(name)
            if type(value) is not int or value < 0:  # noqa: E721  bool is not a count
                raise UsageError(f"{where}: years[{n}].{name}: must be a whole number >= 0")
            row[name] = value
        out.append(row)
    if [r["year"] for r in out] != list(range(1, len(out) + 1)):
        raise UsageError(f"{where}: years: must be years 1, 2, 3, ... in order")
    shown = {k: summary.get(k) for k in ("years", "seed", "repair", "model", "start")}
    return {"summary": shown, "years": out}
