"""Policy documents: TOML files of typed rules, loaded and validated.

A document has a ``[policy]`` table (``name``, optional ``description``) and ``[[rule]]`` tables.
Every rule has a ``name`` (unique across all loaded documents) and a ``type``:

- ``replication``: at least ``copies`` distinct units (``distinct`` = endpoint, site, country or
  cloud) hold an available replica on endpoints matching ``endpoints`` (an endpoint expression);
- ``lifetime``: datasets past ``lifetime`` since ``created_at`` (an explicit ``expires_at`` wins);
- ``reproducibility``: datasets must be reproducible (see ``lifecycle.provenance``);
- ``preservation``: datasets must keep an available replica and never be ``deleted`` or ``lost``;
- ``reprocessability``: datasets (raw, in practice) can be reprocessed now: an available replica,
  and every ``calibration`` input of the latest production that read them (by ``started_at``,
  failed productions aside) still available. No extra field; default severity ``error``, since
  a raw dataset that cannot be reprocessed breaks the policy's central promise.

Optional for every rule: ``description``, ``select`` (``kind``, ``data_type`` globs, ``scope``,
``did`` globs; all given must match; default every dataset), ``grace`` (datasets younger than this
are not judged yet) and ``severity`` (error, warning, info). A problem in a document is reported as
``file: rule 'name': field: reason``.

Durations (``grace``, ``lifetime``) are kept as :class:`Duration`: a ``timedelta`` that remembers
how the document wrote it, so every report prints ``7d`` where the policy says ``7d``.

Which documents: the paths given, else ``LIFECYCLE_POLICY`` (paths separated by ``os.pathsep``),
else ``./policies`` (:func:`policy_paths`): the CLI and the Python API read the same ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from lifecycle.errors import InvalidExpression, InvalidPolicy, UsageError
from lifecycle.expressions import parse
from lifecycle.text import indexed_text_problem
from lifecycle.values import envelope
from lifecycle.vocabulary import KINDS

RULE_TYPES = ("replication", "lifetime", "reproducibility", "preservation", "reprocessability")
SEVERITIES = ("error", "warning", "info")
DISTINCT_UNITS = ("endpoint", "site", "country", "cloud")
SELECT_KEYS = ("kind", "data_type", "scope", "did")
_COMMON_FIELDS = {"name", "type", "description", "select", "grace", "severity"}
_TYPE_FIELDS = {
    "replication": {"copies", "endpoints", "distinct"},
    "lifetime": {"lifetime"},
    "reproducibility": set(),
    "preservation": set(),
    "reprocessability": set(),
}
_REQUIRED = {"replication": ("copies",), "lifetime": ("lifetime",)}
_DEFAULT_SEVERITY = {"lifetime": "info"}
DEFAULT_POLICY_DIR = Path("policies")
POLICY_ENV = "LIFECYCLE_POLICY"


class Duration(timedelta):
    """A rule's duration as a ``timedelta`` that keeps its ``text`` as the policy wrote it.

    Arithmetic and comparisons are a ``timedelta``'s; :func:`format_duration` shows ``text``
    (``7d`` stays ``7d``, not ``1w``; ``P180D`` stays ``P180D``).
    """

    text: str

    def __new__(cls, value: timedelta, text: str) -> Duration:
        self = super().__new__(cls, value.days, value.seconds, value.microseconds)
        self.text = text
        return self

    def __reduce__(self):  # copy and pickle keep the text
        return (Duration, (timedelta(self.days, self.seconds, self.microseconds), self.text))


@dataclass(frozen=True)
class Selector:
    """Which datasets a rule judges; empty tuples select everything."""

    kind: tuple[str, ...] = ()
    data_type: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    did: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in SELECT_KEYS if getattr(self, k)}

    @classmethod
    def parse(cls, texts: list[str], **defaults: tuple[str, ...]) -> Selector:
        """A selector from ``KEY=VALUE[,VALUE…]`` texts (``--select``; values of one key add
        up); ``defaults`` give the values of keys no text names."""
        found: dict[str, list[str]] = {}
        for text in texts:
            key, sep, values = text.partition("=")
            if not sep or key not in SELECT_KEYS or not values:
                raise UsageError(
                    f"--select: {text!r} is not KEY=VALUE[,VALUE…] with KEY one of "
                    f"{', '.join(SELECT_KEYS)}"
                )
            found.setdefault(key, []).extend(v for v in values.split(",") if v)
        for key, values in defaults.items():
            found.setdefault(key, list(values))
        return cls(**{k: tuple(v) for k, v in found.items()})


@dataclass(frozen=True)
class Rule:
    """One typed rule of a policy document."""

    name: str
    type: str
    policy: str
    file: str
    description: str = ""
    select: Selector = field(default_factory=Selector)
    severity: str = "error"
    grace: timedelta | None = None
    copies: int | None = None
    endpoints: str = "*"
    distinct: str = "endpoint"
    lifetime: timedelta | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rule's fields as the document gives them (defaults filled in), typed for JSON:
        ``select`` a table of lists, ``copies`` a number, durations as written, ``grace`` None
        when the rule has none; the fields of other rule types are left out."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "policy": self.policy,
            "severity": self.severity,
            "select": self.select.as_dict(),
            "description": self.description,
            "grace": format_duration(self.grace),
        }
        if self.type == "replication":
            out.update(copies=self.copies, endpoints=self.endpoints, distinct=self.distinct)
        if self.type == "lifetime":
            out["lifetime"] = format_duration(self.lifetime)
        return out


@dataclass(frozen=True)
class Policy:
    """One policy document."""

    name: str
    description: str
    file: str
    rules: tuple[Rule, ...]
    content: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class PolicySet:
    """The policies an audit evaluates."""

    policies: tuple[Policy, ...]

    @property
    def rules(self) -> list[Rule]:
        return [rule for policy in self.policies for rule in policy.rules]

    @property
    def content_hash(self) -> str:
        """SHA-256 over the documents' bytes, in name order: which policy text an audit used."""
        digest = hashlib.sha256()
        for policy in sorted(self.policies, key=lambda p: p.name):
            digest.update(policy.name.encode() + b"\0" + policy.content + b"\0")
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope of ``policy show``: a summary, the documents, every rule typed."""
        rules = self.rules
        summary = {
            "policies": len(self.policies),
            "rules": len(rules),
            "by_type": _tally(rule.type for rule in rules),
            "by_severity": _tally(rule.severity for rule in rules),
            "policy_hash": self.content_hash,
        }
        return envelope(
            "policy",
            summary,
            policies=[
                {
                    "name": p.name,
                    "description": p.description,
                    "file": p.file,
                    "rules": len(p.rules),
                }
                for p in self.policies
            ],
            rules=[{**rule.as_dict(), "file": rule.file} for rule in rules],
        )


def _tally(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


_DURATION = re.compile(r"^(\d+)([hdwy])$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


def parse_duration(text: str) -> Duration:
    """``7d``, ``12h``, ``2w``, ``5y`` or ISO 8601 (``P180D``, ``PT12H``; a year is 365 days, a
    month 30), as a :class:`Duration` that remembers ``text`` (without surrounding blanks).

    Raises ValueError for anything else.
    """
    if not isinstance(text, str):
        raise ValueError("expected a duration such as '7d', '12h', '2w', '5y' or 'P180D'")
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return Duration({"h": timedelta(hours=amount), "d": timedelta(days=amount),
                         "w": timedelta(weeks=amount), "y": timedelta(days=365 * amount)}[unit],
                        value)  # fmt: skip
    match = _ISO_DURATION.match(value.upper())
    if match and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        span = timedelta(
            days=parts.get("y", 0) * 365 + parts.get("mo", 0) * 30 + parts.get("d", 0),
            weeks=parts.get("w", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("mi", 0),
            seconds=parts.get("s", 0),
        )
        return Duration(span, value)
    raise ValueError(f"{text!r} is not a duration (use e.g. '7d', '12h', '2w', '5y' or 'P180D')")


def format_duration(value: timedelta | None) -> str | None:
    """A duration as its policy wrote it (a :class:`Duration`); any other ``timedelta`` in
    whole days (``7d``, never ``1w``), else hours, else ISO 8601 minutes or seconds."""
    if value is None:
        return None
    if isinstance(value, Duration):
        return value.text
    if value % timedelta(days=1) == timedelta(0):
        return f"{value.days}d"
    if value % timedelta(hours=1) == timedelta(0):
        return f"{int(value.total_seconds() // 3600)}h"
    seconds = int(value.total_seconds())
    return f"PT{seconds // 60}M" if seconds % 60 == 0 else f"PT{seconds}S"


def policy_paths(
    paths: list[Path] | None = None, given_as: str = "--policy"
) -> tuple[list[Path], str] | None:
    """The policy paths to read and where they came from (``given_as``: the option or argument
    that gave ``paths``; ``LIFECYCLE_POLICY``; ``./policies``): ``paths`` if given, else those
    of the environment variable, else ``./policies`` if it is a directory, else None."""
    if paths:
        return [Path(p) for p in paths], given_as
    listed = [p for p in os.environ.get(POLICY_ENV, "").split(os.pathsep) if p.strip()]
    if listed:
        return [Path(p) for p in listed], POLICY_ENV
    if DEFAULT_POLICY_DIR.is_dir():
        return [DEFAULT_POLICY_DIR], "--policy"
    return None


def load_policies(paths: list[Path] | None = None, given_as: str = "--policy") -> PolicySet:
    """Policies from files or directories (``*.toml``), else those :func:`policy_paths`
    finds (``LIFECYCLE_POLICY``, ``./policies``); an error when there are none. Errors about
    ``paths`` name them as ``given_as`` (an option, or an argument of a command)."""
    policies = optional_policies(paths, given_as)
    if policies is None:
        raise UsageError(
            f"no policies: pass --policy FILE|DIR, set {POLICY_ENV}, or run where a "
            "'policies/' directory is"
        )
    return policies


def optional_policies(
    paths: list[Path] | None = None, given_as: str = "--policy"
) -> PolicySet | None:
    """Policies from files or directories (``*.toml``), else those :func:`policy_paths` finds,
    else None (the caller says what goes unchecked without them)."""
    found_paths = policy_paths(paths, given_as)
    if found_paths is None:
        return None
    paths, source = found_paths
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise UsageError(f"{source}: {path} holds no *.toml policy documents")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{source}: {path} does not exist")
    policies = tuple(load_policy_file(f) for f in dict.fromkeys(files))
    _check_unique(policies)
    return PolicySet(policies)


def _check_unique(policies: tuple[Policy, ...]) -> None:
    seen_rules: dict[str, str] = {}
    seen_policies: dict[str, str] = {}
    for policy in policies:
        if policy.name in seen_policies:
            raise InvalidPolicy(
                policy.file, f"policy name {policy.name!r} is also used by {seen_policies[policy.name]}",
                field="policy.name",
            )  # fmt: skip
        seen_policies[policy.name] = policy.file
        for rule in policy.rules:
            if rule.name in seen_rules:
                raise InvalidPolicy(
                    policy.file, f"rule name is also used in {seen_rules[rule.name]}",
                    rule=rule.name, field="name",
                )  # fmt: skip
            seen_rules[rule.name] = policy.file


def load_policy_file(path: Path) -> Policy:
    """Read and validate one policy document."""
    path = Path(path)
    file = str(path)
    try:
        content = path.read_bytes()
        document = tomllib.loads(content.decode("utf-8"))
    except OSError as exc:
        raise InvalidPolicy(file, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidPolicy(file, "not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPolicy(file, f"not valid TOML: {exc}") from exc
    unknown = set(document) - {"policy", "rule"}
    if unknown:
        raise InvalidPolicy(file, "unknown table (expected [policy] and [[rule]])",
                            field=sorted(unknown)[0])  # fmt: skip
    header = document.get("policy")
    if not isinstance(header, dict):
        raise InvalidPolicy(file, "missing [policy] table", field="policy")
    name = header.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidPolicy(file, "required, a non-empty string", field="policy.name")
    extra = set(header) - {"name", "description"}
    if extra:
        raise InvalidPolicy(file, "unknown field", field=f"policy.{sorted(extra)[0]}")
    description = header.get("description", "")
    if not isinstance(description, str):
        raise InvalidPolicy(file, "must be a string", field="policy.description")
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise InvalidPolicy(file, "a policy needs at least one [[rule]]", field="rule")
    rules = tuple(_rule(file, name, i, raw) for i, raw in enumerate(raw_rules, 1))
    names = [r.name for r in rules]
    for rule in rules:
        if names.count(rule.name) > 1:
            raise InvalidPolicy(file, "rule name appears twice", rule=rule.name, field="name")
    return Policy(name=name, description=description, file=file, rules=rules, content=content)


def _rule(file: str, policy: str, index: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise InvalidPolicy(file, "each [[rule]] must be a table", rule=f"#{index}")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise InvalidPolicy(
            file, "required: letters, digits, '_', '-' or '.'", rule=f"#{index}", field="name"
        )
    problem = indexed_text_problem(name)  # findings are indexed by rule name on both engines
    if problem is not None:
        raise InvalidPolicy(file, f"the rule name has {problem}", rule=f"#{index}", field="name")

    def fail(field_name: str, reason: str) -> InvalidPolicy:
        return InvalidPolicy(file, reason, rule=name, field=field_name)

    kind = raw.get("type")
    if kind not in RULE_TYPES:
        shown = "missing" if kind is None else repr(kind)
        raise fail("type", f"{shown} is not one of {', '.join(RULE_TYPES)}")
    allowed = _COMMON_FIELDS | _TYPE_FIELDS[kind]
    for key in raw:
        if key not in allowed:
            other = [t for t, fields in _TYPE_FIELDS.items() if key in fields]
            hint = f" (used by {other[0]} rules)" if other else ""
            raise fail(key, f"unknown field for a {kind} rule{hint}")
    for key in _REQUIRED.get(kind, ()):
        if key not in raw:
            raise fail(key, f"required for a {kind} rule")
    severity = raw.get("severity", _DEFAULT_SEVERITY.get(kind, "error"))
    if severity not in SEVERITIES:
        raise fail("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    values: dict[str, Any] = {}
    if "grace" in raw:
        values["grace"] = _duration(fail, "grace", raw["grace"])
    if kind == "replication":
        copies = raw["copies"]
        if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
            raise fail("copies", f"must be a positive integer, got {copies!r}")
        if copies > MAX_COPIES:
            raise fail("copies", f"must be at most {MAX_COPIES}, got {copies}")
        values["copies"] = copies
        endpoints = raw.get("endpoints", "*")
        if not isinstance(endpoints, str) or not endpoints:
            raise fail("endpoints", "must be an endpoint expression such as 'media=tape'")
        _check_expression(fail, endpoints)
        values["endpoints"] = endpoints
        distinct = raw.get("distinct", "endpoint")
        if distinct not in DISTINCT_UNITS:
            raise fail("distinct", f"{distinct!r} is not one of {', '.join(DISTINCT_UNITS)}")
        values["distinct"] = distinct
    if kind == "lifetime":
        values["lifetime"] = _duration(fail, "lifetime", raw["lifetime"])
    return Rule(
        name=name,
        type=kind,
        policy=policy,
        file=file,
        description=description,
        select=_selector(fail, raw.get("select", {})),
        severity=severity,
        **values,
    )


MAX_DURATION = timedelta(days=365 * 200)
# More copies than any grid keeps of a dataset (WLCG has a few hundred storage endpoints); the
# bound keeps a typo such as 1e20 from reaching SQL as an integer the engines cannot hold.
MAX_COPIES = 1000


def _duration(fail, field_name: str, value: Any) -> Duration:
    try:
        duration = parse_duration(value)
    except OverflowError:
        raise fail(field_name, f"{value!r} is too long (at most 200 years)") from None
    except ValueError as exc:
        raise fail(field_name, str(exc)) from None
    if duration <= timedelta(0):
        raise fail(field_name, "must be longer than zero")
    if duration > MAX_DURATION:
        raise fail(field_name, f"{value!r} is too long (at most 200 years)")
    return duration


def _check_expression(fail, expression: str) -> None:
    try:
        parse(expression)
    except InvalidExpression as exc:
        raise fail("endpoints", exc.message) from None


def _selector(fail, raw: Any) -> Selector:
    if not isinstance(raw, dict):
        raise fail("select", 'must be a table such as { kind = ["raw"] }')
    values: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in SELECT_KEYS:
            raise fail(f"select.{key}", f"unknown selector; use {', '.join(SELECT_KEYS)}")
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v for v in items)
        ):
            raise fail(f"select.{key}", "must be a string or a non-empty list of strings")
        if key == "kind":
            for item in items:
                if item not in KINDS:
                    raise fail("select.kind", f"{item!r} is not one of {', '.join(KINDS)}")
        values[key] = tuple(items)
    return Selector(**values)
