"""The one exception root of lifecycle and its specific subclasses.

Every error a user can cause is a :class:`LifecycleError`; the CLI maps each class to an exit code in
one place (``lifecycle.cli.app``). Library code raises, never exits.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Root of every error lifecycle reports to its user."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(LifecycleError):
    """Bad options or arguments (exit 2)."""


class UnknownDataset(LifecycleError):
    """A DID that the catalog does not hold."""

    def __init__(self, did: str) -> None:
        super().__init__(f"unknown dataset {did!r}: check the scope and name (see 'datasets list')")
        self.did = did


class UnknownTransformation(LifecycleError):
    """A transformation tag that the catalog does not hold."""

    def __init__(self, tag: str) -> None:
        super().__init__(
            f"unknown transformation {_one_line(repr(tag))} (see 'lifecycle transformations list')"
        )
        self.tag = tag


class UnknownProduction(LifecycleError):
    """A production id that the catalog does not hold."""

    def __init__(self, production: str) -> None:
        super().__init__(
            f"unknown production {_one_line(repr(production))} "
            "(see 'lifecycle transformations show TAG')"
        )
        self.production = production


class ImportRowError(LifecycleError):
    """A row of an exchange-format file that cannot be imported: ``file:row: column: reason``."""

    def __init__(self, file: str, row: int | str, column: str, reason: str) -> None:
        text = " ".join(str(reason).splitlines())
        super().__init__(f"{_one_line(file)}:{row}: {_one_line(column)}: {text}")
        self.file = file
        self.row = row
        self.column = column
        self.reason = reason


class CatalogError(LifecycleError):
    """The catalog database cannot be used as asked (bad URL, unreachable, wrong schema)."""


class SchemaTooNew(CatalogError):
    """The catalog was written by a newer lifecycle than this one."""

    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"catalog schema revision {found!r} is newer than this lifecycle understands "
            f"(latest known: {known!r}); upgrade lifecycle before using this catalog"
        )
        self.found = found
        self.known = known


class CatalogLocked(LifecycleError):
    """Another run holds the catalog's write lock (exit 3)."""

    exit_code = 3

    def __init__(self, detail: str = "", holder: str | None = None) -> None:
        self.holder = holder
        who = f"by {holder}" if holder else "by another run"
        msg = f"catalog locked {who}; try again when it has finished"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class InvalidPolicy(LifecycleError):
    """A policy document that cannot be used: ``file: rule 'x': field: reason`` (exit 2)."""

    def __init__(self, file: str, reason: str, rule: str | None = None, field: str | None = None):
        parts = [file]
        if rule is not None:
            parts.append(f"rule {rule!r}")
        if field is not None:
            parts.append(field)
        super().__init__(": ".join(parts) + f": {reason}")
        self.file = file
        self.rule = rule
        self.field = field
        self.reason = reason


class UnknownAuditRun(LifecycleError):
    """An audit run id that the history does not hold."""

    def __init__(self, run: int | str) -> None:
        super().__init__(f"unknown audit run {run!r} (see 'lifecycle audit history')")
        self.run = run


class InvalidExpression(LifecycleError):
    """An endpoint expression that cannot be parsed or selects nothing (exit 2).

    ``reason`` completes the message. With a ``position`` (1-based character) it says what is wrong
    there ("expected a value"); without one it is said of the whole expression ("is empty",
    "matches no endpoint").
    """

    def __init__(self, expression: str, reason: str, position: int | None = None) -> None:
        shown = repr(expression if len(expression) <= 200 else expression[:200] + "…")
        if position is None:
            message = f"endpoint expression {shown} {reason}"
        else:
            message = f"invalid endpoint expression {shown} at position {position}: {reason}"
        super().__init__(message)
        self.expression = expression
        self.reason = reason
        self.position = position


class InvalidDatasetName(LifecycleError):
    """Dataset names none of which follow the ATLAS nomenclature (exit 2).

    ``name`` and ``reason`` are the first such name and why; ``others`` counts the rest.
    """

    def __init__(self, name: str, reason: str, others: int = 0) -> None:
        message = f"{name!r} does not follow the ATLAS dataset nomenclature: {reason}"
        if others:
            message += (
                " (nor does the other name)" if others == 1 else f" (nor do {others:,} others)"
            )
        super().__init__(message)
        self.name = name
        self.reason = reason
        self.others = others


class PlanBlocked(LifecycleError):
    """A reprocessing plan with blockers cannot be applied (exit 1, like a plan with blockers)."""

    exit_code = 1

    def __init__(self, plan_id: int, blockers: int, first: str | None = None) -> None:
        what = f"{blockers:,} blocker{'s' if blockers != 1 else ''}"  # as text.count writes it
        if first:  # found when applying: the catalog changed since the plan was saved
            super().__init__(
                f"plan {plan_id} has {what} now ({first}); the catalog changed since it was "
                "saved: plan again"
            )
        else:
            super().__init__(
                f"plan {plan_id} has {what} (see 'lifecycle plan show {plan_id}'); plan again "
                "once they are resolved"
            )


class SystemFailure(LifecycleError):
    """The machine failed under a command: the disk is full, the connection to the database was
    lost (exit 4, like any unexpected error, but with one line that names the cause)."""

    exit_code = 4


def _one_line(text: object) -> str:
    """``text`` as it reads, but quoted when it holds line breaks or other control characters
    (a column name from a file may), so an error stays one line."""
    text = str(text)
    return text if text.isprintable() else repr(text)


class RepairChanged(LifecycleError):
    """``repair --apply --expect DIGEST``: the plan made now is not the one previewed (exit 1,
    like a plan with blockers): the catalog changed since the preview."""

    exit_code = 1

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(
            f"the repair plan is {found} now, not {expected} as previewed: the catalog changed "
            "since the preview; preview again (nothing was recorded)"
        )
        self.expected = expected
        self.found = found


class RucioUnavailable(LifecycleError):
    """The Rucio server cannot be used as asked: no rucio-clients, no server configured,
    unreachable, wrong credentials, or a request it refused (exit 2, one line; never the
    password)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InvalidModel(LifecycleError):
    """A failure-model document that cannot be used: ``file: key: reason`` (exit 2)."""

    def __init__(self, file: str, reason: str, key: str | None = None) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {_one_line(reason)}")
        self.file = file
        self.key = key
        self.reason = reason
