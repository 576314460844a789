"""What the facade offers without a catalog: policy documents read as sets and rules, the
synthetic generator and its storage dumps, a run's findings grouped, a repair plan as Rucio rules.

Re-exported by :mod:`lifecycle.api`; the CLI reaches these through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.audit import FINDINGS_TABLE, FindingRows
from lifecycle.audit.grouping import Cause, causes, group_findings
from lifecycle.errors import UsageError
from lifecycle.policy import PolicySet, load_policies, optional_policies
from lifecycle.repair.rucio import command_lines, rule_lines

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from lifecycle.generate import DumpSummary, GenerateSummary
    from lifecycle.repair import RepairPlan

# what ``audit`` and ``expire`` take as their policies (None: the default ones)
Policies = PolicySet | str | Path | list[str | Path] | tuple[str | Path, ...] | None


def finding_causes(found: FindingRows, policies: PolicySet) -> list[Cause]:
    """A run's findings, as an audit's ``show`` is given them, counted by rule and cause
    (:mod:`lifecycle.audit.grouping`)."""
    return causes(found.conn, FINDINGS_TABLE, policies)


def finding_groups(found: FindingRows, policies: PolicySet, keys: tuple[str, ...]) -> pd.DataFrame:
    """A run's findings, as an audit's ``show`` is given them, counted by ``keys`` (``rule``,
    ``cause``, ``site``: :func:`lifecycle.audit.grouping.group_findings`)."""
    return group_findings(found.conn, FINDINGS_TABLE, policies, keys)


def generate(
    directory: str | Path,
    datasets: int,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> GenerateSummary:
    """Write a synthetic catalog of ``datasets`` datasets (Parquet, exchange format) with
    planted policy violations; see :mod:`lifecycle.generate`."""
    if datasets < 1:
        raise UsageError("--datasets: must be at least 1")
    # late, as a heavy third-party package would be: the generator loads numpy at import,
    # which every other command (cron's nightly ``audit --quiet``) must not pay for
    from lifecycle.generate import generate as generate_catalog

    return generate_catalog(Path(directory), datasets, seed=seed, progress=progress)


def generate_dumps(
    catalog: str | Path, directory: str | Path, endpoints: str | None = None, seed: int = 0
) -> DumpSummary:
    """Write storage dumps (one Parquet file per endpoint, or per endpoint the expression
    ``endpoints`` selects) of the generated catalog in ``catalog`` into ``directory``, with
    planted lost and dark entries listed in ``planted.json``; see :mod:`lifecycle.generate.dumps`."""
    from lifecycle.generate import write_dumps  # late: the generator loads numpy

    return write_dumps(Path(catalog), Path(directory), endpoints, seed)


def policy_set(given: Policies = None) -> PolicySet:
    """``given`` as a :class:`PolicySet`: as it is, or read from a path or paths (files or
    directories of ``*.toml``), or when None the default policies (``LIFECYCLE_POLICY``, else
    ``./policies``; a :class:`~lifecycle.errors.UsageError` if there are none)."""
    if isinstance(given, PolicySet):
        return given
    if given is None:
        return load_policies()
    if isinstance(given, str | Path):
        return load_policies([Path(given)])
    return load_policies([Path(p) for p in given])


def optional_policy_set(given: Policies = None) -> PolicySet | None:
    """As :func:`policy_set`, but None rather than an error when no default policies exist."""
    if given is None:
        return optional_policies()
    return policy_set(given)


def policy_rules(given: Policies = None) -> pd.DataFrame:
    """The rules of the policies (see :func:`policy_set`), one row each: policy, rule, type,
    severity, its selection and its requirement as text (durations as the policy writes them).
    :meth:`PolicySet.to_dict` gives the same rules typed, for JSON."""
    import pandas as pd

    rows = []
    for rule in policy_set(given).rules:
        data = rule.as_dict()
        rows.append(
            {
                "policy": data.pop("policy"),
                "rule": data.pop("name"),
                "type": data.pop("type"),
                "severity": data.pop("severity"),
                "select": ", ".join(f"{k}={'|'.join(v)}" for k, v in data.pop("select").items())
                or "*",
                "requirement": _requirement(data),
            }
        )
    return pd.DataFrame(rows)


def _requirement(data: dict) -> str:
    data.pop("description", None)
    return ", ".join(f"{k}={v}" for k, v in data.items() if v is not None)


def rucio_lines(plan: RepairPlan, form: str = "json") -> list[str]:
    """A repair plan as Rucio replication rules: JSON lines (``form`` json) or ``rucio
    add-rule`` command lines (``shell``); see :mod:`lifecycle.repair.rucio`."""
    return (rule_lines if form == "json" else command_lines)(plan.transfers)
