"""Where a plan's data moves: the endpoints each output is written to, and the bytes to recall
from tape for inputs that have no disk replica.

An output goes to a disk endpoint at the site that runs its step (else the nearest-tier active
disk), plus what the loaded ``replication`` rules selecting the output ask for.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.queries import endpoint_records
from lifecycle.expressions import select
from lifecycle.planning.model import exact_sum
from lifecycle.policy import PolicySet

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection


def output_placement(
    conn: Connection, steps: pd.DataFrame, policies: PolicySet | None
) -> pd.Series:
    """Endpoints for each output: a disk endpoint at the step's site, plus what the loaded
    replication rules selecting the output ask for. Decided once per (site, data type)."""
    import pandas as pd

    endpoints = endpoint_records(conn)
    rules = [
        r for r in (policies.rules if policies else ())
        if r.type == "replication" and _selects_derived(r)
    ]  # fmt: skip
    matching = {r.name: set(select(r.endpoints, endpoints)) if r.endpoints != "*" else None
                for r in rules}  # fmt: skip
    decided: dict[tuple[str | None, str], str] = {}
    for site, data_type in (
        steps[["site", "output_data_type"]].drop_duplicates().itertuples(index=False)
    ):
        disks = [e for e in endpoints if e["media"] == "disk"
                 and e.get("site_status", "active") == "active"]  # fmt: skip
        # a disk at the running site, else the nearest-tier active disk (the output must land)
        local = [e["name"] for e in disks if e.get("site") == site]
        chosen = (
            local[:1]
            or [e["name"] for e in sorted(disks, key=lambda e: (e.get("tier", 9), e["name"]))][:1]
        )
        for rule in rules:
            if not _rule_selects(rule, data_type):
                continue
            allowed = [e for e in endpoints if matching[rule.name] is None
                       or e["name"] in matching[rule.name]]  # fmt: skip
            units = {_unit(e, rule.distinct) for e in allowed if e["name"] in chosen}
            for e in sorted(allowed, key=lambda e: (e.get("site") != site, e["name"])):
                if len(units) >= (rule.copies or 0):
                    break
                if (
                    _unit(e, rule.distinct) not in units
                    and e.get("site_status", "active") == "active"
                ):
                    chosen.append(e["name"])
                    units.add(_unit(e, rule.distinct))
        decided[(site, data_type)] = ",".join(dict.fromkeys(chosen))
    keys = list(zip(steps["site"], steps["output_data_type"], strict=True))
    return pd.Series([decided[key] for key in keys], index=steps.index, dtype="object")


def _selects_derived(rule) -> bool:
    return not rule.select.kind or "derived" in rule.select.kind


def _rule_selects(rule, data_type: str) -> bool:
    globs = rule.select.data_type
    return not globs or any(fnmatchcase(data_type, g) for g in globs)


def _unit(endpoint: dict[str, Any], distinct: str) -> Any:
    return endpoint["name"] if distinct == "endpoint" else endpoint.get(distinct)


def tape_staging(inputs: pd.DataFrame) -> pd.DataFrame:
    """Bytes to recall per tape endpoint (with its site): the inputs read from tape."""
    staging = (
        inputs[inputs["source_media"] == "tape"]
        .groupby(["source_endpoint", "source_site"], as_index=False)["bytes"]
        .agg(exact_sum)
        .rename(columns={"source_endpoint": "endpoint", "source_site": "site"})
        .sort_values("endpoint", ignore_index=True)
    )
    return staging[["endpoint", "site", "bytes"]]
