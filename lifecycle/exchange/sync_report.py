"""What a sync is asked and what it does: its options and its report (see :mod:`.sync`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.errors import InvalidExpression, UsageError
from lifecycle.expressions import parse
from lifecycle.text import count, number
from lifecycle.values import envelope, json_value

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

DEFAULT_MAX_CHANGE = 10.0  # per cent of an endpoint's replicas
FORCED_NAMED = 5  # endpoints past the limit named in the summary line (json lists all)


@dataclass(frozen=True)
class Completeness:
    """``--complete``: the snapshot lists every replica on the endpoints ``expression`` selects
    (``replicas:EXPR``), or every dataset of the scopes ``glob`` matches (``datasets:GLOB``)."""

    domain: str  # replicas / datasets
    pattern: str

    @classmethod
    def parse(cls, text: str) -> Completeness:
        domain, sep, pattern = text.partition(":")
        if not sep or domain not in ("replicas", "datasets") or not pattern.strip():
            raise UsageError(
                f"--complete: {text!r} is not replicas:EXPR (an endpoint expression) or "
                "datasets:GLOB (a scope pattern)"
            )
        if domain == "replicas":
            try:
                parse(pattern)
            except InvalidExpression as exc:
                raise UsageError(f"--complete {text}: {exc}") from exc
        return cls(domain, pattern)

    def __str__(self) -> str:
        return f"{self.domain}:{self.pattern}"


@dataclass(frozen=True)
class SyncOptions:
    """How a sync treats absence and mass changes (the CLI's options)."""

    complete: tuple[Completeness, ...] = ()
    max_change: float = DEFAULT_MAX_CHANGE  # per cent
    force: bool = False
    as_of: datetime | None = None  # the snapshot's time; default: its newest event


@dataclass
class Loss:
    """What the caller's loss simulation says of the replicas a sync takes away."""

    lost: list[dict[str, Any]]  # did, kind, bytes, reason: lost for good
    recoverable: int = 0  # datasets keeping no available replica that can be made again


# The loss simulation, given by the caller (it lives in a layer above): the connection and the
# temporary table of replica ids going from available to another state.
LossCheck = Callable[["Connection", str], Loss]


@dataclass
class SyncReport:
    """What a sync changes (or, in a preview, would change)."""

    directory: Path
    options: SyncOptions
    as_of: datetime | None = None
    applied: bool = False
    added: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    updated: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> field -> n
    absent: dict[str, int] = field(default_factory=dict)  # rows marked deleted as absent
    changes: list[dict[str, Any]] = field(default_factory=list)  # each changed value
    forced: list[dict[str, Any]] = field(default_factory=list)  # endpoints past the limit
    lost: list[dict[str, Any]] = field(default_factory=list)  # lost for good
    recoverable: int = 0

    @property
    def loses_data(self) -> bool:
        """Whether a dataset is left without any available replica and cannot be made again
        (the CLI exits 1, as ``simulate loss`` and ``replicas mark-lost`` do)."""
        return bool(self.lost)

    @property
    def changed(self) -> bool:
        return bool(any(self.added.values()) or self.changes)

    def counts(self) -> list[tuple[str, str, int]]:
        """(table, change, rows) for every kind of change: added, a field updated, absent."""
        out = [(t, "added", n) for t, n in self.added.items() if n]
        out += [(t, f, n) for t, fields in self.updated.items() for f, n in fields.items()]
        out += [(t, "absent: marked deleted", n) for t, n in self.absent.items() if n]
        return out

    def lines(self) -> list[str]:
        """The loss first (what is lost for good), then what else the limit let through."""
        out = [
            f"{row['did']} ({row['kind']}) is now lost for good: {row['reason']}"
            for row in self.lost
        ]
        if self.recoverable:
            out.append(
                f"{count(self.recoverable, 'dataset')} keep no available replica but can be "
                "made again (lifecycle recipe DID)"
            )
        for row in self.forced:
            out.append(f"forced past the safety limit: {row['endpoint']}: {_limit_counts(row)}")
        return out

    def summary_line(self) -> str:
        """One line for people and the journal."""
        what = ", ".join(_counted(table, change, n) for table, change, n in self.counts())
        verb = "synced" if self.applied else "would sync"
        text = f"{verb} {self.directory}" + (f" as of {iso_time(self.as_of)}" if self.as_of else "")
        text += ": " + (what or "no changes")
        if self.forced:
            names = ", ".join(row["endpoint"] for row in self.forced[:FORCED_NAMED])
            if len(self.forced) > FORCED_NAMED:
                names += f" and {count(len(self.forced) - FORCED_NAMED, 'more endpoint')}"
            text += f" (--force: past the {_percent(self.options.max_change)} limit on {names})"
        if self.lost:
            text += f"; {count(len(self.lost), 'dataset')} lost for good"
        return text

    def summary(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "as_of": self.as_of,
            "applied": self.applied,
            "complete": [str(c) for c in self.options.complete],
            "max_change_percent": self.options.max_change,
            "forced": self.forced,
            "added": {t: n for t, n in self.added.items() if n},
            "unchanged": self.unchanged,
            "updated": self.updated,
            "absent": self.absent,
            "changes": len(self.changes),
            "lost": len(self.lost),
            "recoverable": self.recoverable,
        }

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "sync", "summary", "changes", "lost"}``: every changed value (table, key,
        field, old, new, reason), and the datasets lost for good. Added rows are counted in the
        summary, as import reports them (``lifecycle export`` lists them)."""
        return envelope("sync", self.summary(), {"changes": self.changes, "lost": self.lost})

    def records(self) -> pd.DataFrame:
        """One row per changed value (csv): table, key (its fields joined by ``/``), field, old,
        new, reason."""
        import pandas as pd

        columns = ["table", "key", "field", "old", "new", "reason"]
        return pd.DataFrame(
            [
                {**row, "key": " / ".join(str(v) for v in row["key"].values())}
                for row in self.changes
            ],
            columns=columns,
        )


class SafetyLimit(UsageError):
    """More of an endpoint's replicas would change state or disappear than ``--max-change``."""

    def __init__(self, over: list[dict[str, Any]], limit: float) -> None:
        first = over[0]
        more = f" (and {count(len(over) - 1, 'other endpoint')})" if len(over) > 1 else ""
        super().__init__(
            f"--max-change: {first['endpoint']}: {_limit_counts(first)}, above the "
            f"{_percent(limit)} limit{more}; nothing changed. Check the snapshot, or give "
            "--force to apply it anyway"
        )
        self.over = over


_NOUNS = {"production_io": "production_io row"}


def _counted(table: str, change: str, n: int) -> str:
    """``3 datasets added``, ``state of 2 replicas``, ``1 replica absent: marked deleted``."""
    rows = count(n, _NOUNS.get(table, table.removesuffix("s")))
    if change == "added" or change.startswith("absent"):
        return f"{rows} {change}"
    return f"{change} of {rows}"


def iso_time(value: datetime) -> str:
    """A time as the report and the journal write it: ISO 8601 in UTC with Z."""
    return json_value(value)


def _percent(value: float) -> str:
    return f"{value:g} %"


def _limit_counts(row: dict[str, Any]) -> str:
    share = 100 * row["changing"] / row["replicas"] if row["replicas"] else 100.0
    return (
        f"{number(row['changing'])} of its {count(row['replicas'], 'replica')} "
        f"({share:.1f} %) would change state or disappear"
    )
