"""Why: the words of a repair plan, for each transfer and for each violation it cannot repair.

Plain functions over plain values (names, counts, sizes), called by the planner as it decides,
so the reasons say what the choice was made of: which requirement a new copy counts for, how
much space its target has, where its source is and whether it must be staged from tape.
"""

from __future__ import annotations

from lifecycle.text import human_bytes, number
from lifecycle.vocabulary import PRESERVED_KINDS

UNLIMITED = "no capacity recorded: unlimited"


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{number(n)}{suffix}"


def counts_for(nth: int, media: str, distinct: str, rule: str, kind: str) -> str:
    """What one new copy does for one requirement: ``2nd tape copy at a distinct site
    (raw-archival-copies)``; a preservation rule's: ``an available copy (raw-preserved)``; a
    drain's: ``moves a tape copy off the drained storage``."""
    if kind == "preservation":
        return f"an available copy again ({rule})"
    if kind == "drain":
        return f"moves a {media} copy off the drained storage"
    where = {
        "endpoint": "at a distinct endpoint",
        "site": "at another site",
        "country": "in another country",
        "cloud": "in another cloud",
    }[distinct]
    return f"{ordinal(nth)} {media} copy {where} ({rule})"


def target_words(name: str, free: int | None) -> str:
    """``TRIUMF-LCG2_DATATAPE, 3.10 PB free`` (before this copy lands)."""
    return f"{name}, {UNLIMITED}" if free is None else f"{name}, {human_bytes(free)} free"


def source_words(name: str, media: str, same: str | None) -> str:
    """``from CERN-PROD_DATADISK (disk), same cloud as the target``; tape says it stages."""
    medium = "tape, staged first" if media == "tape" else media
    near = f", same {same} as the target" if same else ""
    return f"from {name} ({medium}){near}"


def no_source(kind: str, held: list[tuple[str, str]]) -> tuple[str, bool]:
    """Why a dataset has nothing to copy from, and whether it is lost for good: copies that are
    not available (unavailable, copying) may come back; without any, raw, calibration and
    metadata are lost for good (the loss simulation's words), other kinds must be regenerated."""
    if held:
        shown = ", ".join(f"{name} is {state}" for name, state in held)
        return f"no available replica to copy from ({shown}): nothing to do until it returns", False
    if kind in PRESERVED_KINDS:
        return f"no available replica: lost for good ({kind} data cannot be regenerated)", True
    return (
        "no available replica to copy from: regenerate it (see 'lifecycle recipe DID')",
        False,
    )


def cannot_place(
    expression: str,
    distinct: str,
    stages: dict[str, int],
    size: int,
    max_per_site: int | None,
) -> str:
    """Why no endpoint could take another copy: the first filter that left none.

    ``stages`` counts the endpoints left after each filter, in order: ``matching`` (the
    expression), ``active`` (at an active site, not being drained), ``new`` (at a unit not
    already counted and not holding the dataset), ``space`` (free space for ``size`` bytes),
    ``cap`` (under ``--max-per-site``).
    """
    matching = f"{expression!r}" if expression != "*" else "any endpoint"
    if not stages["matching"]:
        return f"the expression {matching} matches no endpoint"
    if not stages["active"]:
        return f"{matching} matches only endpoints at sites that are not active or being drained"
    if not stages["new"]:
        return f"{matching} matches only {distinct}s already holding a copy"
    if not stages["space"]:
        return f"no eligible endpoint has {human_bytes(size)} free ({matching}, new {distinct})"
    assert max_per_site is not None
    return f"every eligible site has reached --max-per-site {human_bytes(max_per_site)}"
