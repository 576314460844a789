"""The facade's Rucio bridge: ``rucio pull`` (no catalog), ``rucio sync`` and ``rucio push``.

:class:`RucioOperations` is a part of :class:`lifecycle.api.Catalog` (its base class), kept in a
module of its own; it uses the catalog's ``atomic`` and ``sync``. See :mod:`lifecycle.rucio`.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.store import utcnow
from lifecycle.exchange.sync_report import SyncOptions, SyncReport
from lifecycle.rucio.client import RucioSettings
from lifecycle.rucio.mapping import KindRules, Mapping
from lifecycle.rucio.pull import PullOptions, PullResult, pull
from lifecycle.rucio.push import PushResult, push
from lifecycle.rucio.rules import RuleChanges, record_pushed, record_rules
from lifecycle.values import envelope

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "KindRules",
    "Mapping",
    "PullOptions",
    "PullResult",
    "PushResult",
    "RucioOperations",
    "RucioSettings",
    "RucioSync",
    "rucio_pull",
]


def rucio_pull(settings: RucioSettings, directory: str | Path, options: PullOptions) -> PullResult:
    """Write an exchange-format snapshot of the Rucio server of ``settings`` into
    ``directory`` (see :mod:`lifecycle.rucio.pull`); needs no catalog."""
    return pull(settings, Path(directory), options)


@dataclass
class RucioSync:
    """What ``rucio sync`` did: the pull, the sync of its snapshot, the rules recorded."""

    pull: PullResult
    sync: SyncReport
    rules: RuleChanges | None = None

    def to_dict(self) -> dict[str, Any]:
        summary = {"applied": self.sync.applied, "pulled": self.pull.counts,
                   "rules_pulled": len(self.pull.rules)}  # fmt: skip
        return envelope(
            "rucio-sync", summary, pull=self.pull.to_dict(), sync=self.sync.to_dict(),
            rules=None if self.rules is None else vars(self.rules),
        )  # fmt: skip

    def lines(self) -> list[str]:
        out = [self.pull.summary_line(), *self.sync.lines(), self.sync.summary_line()]
        if self.rules is not None:
            out.append(self.rules.line())
        elif not self.sync.applied:
            out.append(f"{len(self.pull.rules)} replication rules pulled: recorded with --apply")
        return out


class RucioOperations:
    """``rucio sync`` and ``rucio push`` (see :class:`lifecycle.api.Catalog`)."""

    def rucio_sync(
        self,
        settings: RucioSettings,
        directory: str | Path | None,
        options: PullOptions,
        *,
        complete: Sequence[str] | None = None,
        max_change: float = SyncOptions.max_change,
        force: bool = False,
        apply: bool = False,
        reason: str | None = None,
    ) -> RucioSync:
        """Pull into ``directory`` (None: a temporary one, removed after), then sync it
        (``complete``: the declarations, by default those the pull supports: every replica of
        the RSEs pulled, and with every RSE pulled every dataset of its scopes); with ``apply``
        the catalog takes it and the rules of the datasets of the scopes pulled become Rucio's
        (each journaled)."""
        if apply and self.revision() is None:  # type: ignore[attr-defined]
            self.init()  # type: ignore[attr-defined]  (a fresh catalog follows Rucio, as import)
        with ExitStack() as stack:
            if directory is None:
                directory = stack.enter_context(TemporaryDirectory(prefix="lifecycle-rucio-"))
            pulled = pull(settings, Path(directory), options)
            declared = pulled.completeness() if complete is None else list(complete)
            recorded: list[RuleChanges] = []

            def rules(conn, change) -> None:  # in the sync's own transaction and journal entry
                summary, drop = change.summary, tuple(change.drop_after)
                found = record_rules(conn, change, pulled.rules, pulled.scopes, utcnow())
                if found.added or found.changed or found.removed:
                    summary = f"{summary}; {found.line()}"
                change.summary, change.drop_after = summary, (*drop, *change.drop_after)
                recorded.append(found)

            report = self.sync(  # type: ignore[attr-defined]
                directory, declared, max_change, force=force, apply=apply, reason=reason,
                command="rucio sync", also=rules,
            )  # fmt: skip
        result = RucioSync(pulled, report)
        if recorded:
            result.rules = recorded[0]
        return result

    def rucio_push(self, settings: RucioSettings, plan: str, *, apply: bool = False) -> PushResult:
        """Preview the plan's rules on Rucio; with ``apply`` create them and record each in the
        catalog next to the finding it repairs (one journal entry)."""
        result = push(settings, plan, apply=apply)
        if apply and result.created_rows:
            atomic = self.atomic  # type: ignore[attr-defined]
            with atomic("rucio push --apply") as (conn, change):
                result.recorded = record_pushed(conn, change, result.created_rows, utcnow())
                change.summary = result.summary_line()
        return result
