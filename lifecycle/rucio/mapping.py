"""Rucio's answers as exchange-format rows: pure functions over the dicts ``rucio-clients`` returns.

Nothing here talks to a server, so every choice is unit-tested on plain dicts:

- an RSE is an **endpoint**: media from ``rse_type`` (``TAPE`` -> tape, anything else disk),
  every RSE attribute an endpoint attribute with its type restored (:func:`attribute_value`:
  ``"2"`` -> 2, ``"true"`` -> True; booleans stay booleans), except the attribute Rucio names
  after the RSE itself (its value is always true: the name says it already) and keys that are
  endpoint columns (``name``, ``site``, ``media``, ``capacity_bytes``);
- its **site** is the value of the site attribute (``site``, configurable), else the RSE name
  before its first ``_`` (``CERN-PROD_DATATAPE`` -> ``CERN-PROD``); tier, country and cloud come
  from their attributes (names configurable), tier 3 and country ``unknown`` when absent;
- a Rucio dataset is a **dataset**: bytes, files (``length``), events, ``created_at``, open or
  closed, ``expired_at`` as its end of life; ``datatype`` is its data type and the rest of its
  metadata (``project``, ``run_number``, ``stream_name`` as ``stream``, ``prod_step``…) its
  metadata; its **kind** from :class:`KindRules` (data type and scope globs, first match);
- a dataset replica (``list_dataset_replicas``) is a **replica**: available when every file is,
  ``copying`` when not and a rule on the dataset is replicating, else ``unavailable``;
- a replication rule on a dataset is a **rule** row (``rules.jsonl`` of the snapshot).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lifecycle.errors import UsageError
from lifecycle.vocabulary import KINDS

# Rucio's DID columns that are the dataset's own fields (or Rucio's bookkeeping), not metadata.
DATASET_FIELDS = frozenset({
    "scope", "name", "account", "did_type", "type", "bytes", "length", "events", "created_at",
    "updated_at", "accessed_at", "is_open", "monotonic", "obsolete", "hidden", "suppressed",
    "complete", "availability", "expired_at", "purge_replicas", "deleted_at", "closed_at",
    "eol_at", "is_archive", "constituent", "access_cnt", "md5", "adler32", "guid", "datatype",
    "is_new", "lumiblocknr", "panda_id", "transient",
})  # fmt: skip
RENAMED_METADATA = {"stream_name": "stream"}  # Rucio's key -> lifecycle's (import fills these)
ENDPOINT_COLUMNS = frozenset({"name", "site", "media", "capacity_bytes"})
RULE_STATES_COPYING = frozenset({"REPLICATING"})
_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"[+-]?(?:0|[1-9][0-9]*)\.[0-9]+")

# The kind of a dataset when no rule of the user's matches: (what, glob, kind), first match wins.
DEFAULT_KIND_RULES: tuple[tuple[str, str, str], ...] = (
    ("datatype", "RAW", "raw"),
    ("datatype", "DRAW*", "derived"),
    ("scope", "mc*", "simulated"),
    ("scope", "valid*", "simulated"),
    ("datatype", "*CALIB*", "calibration"),
    ("scope", "*calib*", "calibration"),
    ("datatype", "*", "derived"),
)


@dataclass(frozen=True)
class KindRules:
    """Which kind a Rucio dataset is: ``(what, glob, kind)`` rules, ``what`` being ``datatype``
    or ``scope``; the user's first, then :data:`DEFAULT_KIND_RULES`; the first match wins."""

    rules: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...]) -> KindRules:
        """``--kind`` options: ``DATATYPE=KIND`` (a glob of data types) or ``scope:GLOB=KIND``."""
        rules = []
        for text in texts:
            pattern, sep, kind = text.rpartition("=")
            if not sep or not pattern.strip():
                raise UsageError(f"--kind: {text!r} is not DATATYPE=KIND or scope:GLOB=KIND")
            if kind.strip() not in KINDS:
                raise UsageError(f"--kind: {kind!r} is not a kind ({', '.join(KINDS)})")
            what, glob = ("scope", pattern[6:]) if pattern.startswith("scope:") else (
                "datatype", pattern
            )  # fmt: skip
            rules.append((what, glob.strip(), kind.strip()))
        return cls(tuple(rules))

    def kind(self, scope: str, datatype: str | None) -> str:
        """The kind of a dataset of ``scope`` with data type ``datatype``."""
        values = {"scope": scope, "datatype": datatype or ""}
        for what, glob, kind in (*self.rules, *DEFAULT_KIND_RULES):
            if (what == "datatype" and not datatype and glob != "*") or not values[what]:
                continue
            if fnmatch.fnmatchcase(values[what], glob):
                return kind
        return "derived"


@dataclass(frozen=True)
class Mapping:
    """The configurable names of the mapping (see the module)."""

    site_attribute: str = "site"
    tier_attribute: str = "tier"
    country_attribute: str = "country"
    cloud_attribute: str = "cloud"
    kinds: KindRules = field(default_factory=KindRules)


def attribute_value(value: Any) -> Any:
    """An RSE attribute's value with its type restored: booleans stay, ``"true"``/``"false"``
    (any case) become booleans, integer text an int, decimal text a float, the rest text."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return str(value)


def timestamp(value: Any) -> datetime | None:
    """A Rucio time (a datetime, RFC 1123 text as its REST API writes it, or ISO 8601) in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                raise UsageError(f"Rucio sent a time lifecycle cannot read: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def media(rse_type: Any) -> str:
    """``tape`` for a TAPE RSE (``RSEType.TAPE`` too), else ``disk``."""
    return "tape" if str(rse_type).upper().rsplit(".", 1)[-1] == "TAPE" else "disk"


def site_rows(
    rses: list[dict[str, Any]], attributes: dict[str, dict[str, Any]], mapping: Mapping
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sites and endpoints of ``rses`` (``get_rse`` / ``list_rses`` dicts) with their
    ``attributes`` (RSE name -> ``list_rse_attributes``), in name order. A site's tier, country
    and cloud are the first its RSEs give (in name order)."""
    found: dict[str, dict[str, Any]] = {}  # site -> its RSEs' attributes, merged
    endpoints = []
    for rse in sorted(rses, key=lambda r: r["rse"]):
        name = rse["rse"]
        attrs = {k: attribute_value(v) for k, v in (attributes.get(name) or {}).items()}
        site = str(attrs.get(mapping.site_attribute) or name.split("_", 1)[0])
        merged = found.setdefault(site, {})
        for key, value in attrs.items():
            if value not in (None, "") and merged.get(key) in (None, ""):
                merged[key] = value
        row: dict[str, Any] = {"name": name, "site": site, "media": media(rse.get("rse_type"))}
        for key, value in sorted(attrs.items()):
            if key == name or key in ENDPOINT_COLUMNS:
                continue
            row[key] = value
        endpoints.append(row)
    return [_site(s, found[s], mapping) for s in sorted(found)], endpoints


def _site(name: str, attrs: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    tier = attrs.get(mapping.tier_attribute)
    tier = tier if isinstance(tier, int) and not isinstance(tier, bool) and 0 <= tier <= 3 else 3
    country = attrs.get(mapping.country_attribute)
    cloud = attrs.get(mapping.cloud_attribute)
    return {
        "name": name,
        "tier": tier,
        "country": str(country) if country not in (None, "") else "unknown",
        "cloud": str(cloud) if cloud not in (None, "") else None,
        "status": "active",
    }


def dataset_row(meta: dict[str, Any], kinds: KindRules) -> dict[str, Any]:
    """One dataset from its Rucio metadata (``get_metadata`` / ``get_metadata_bulk``)."""
    scope, name = meta["scope"], meta["name"]
    datatype = meta.get("datatype") or None
    row: dict[str, Any] = {
        "did": f"{scope}:{name}",
        "kind": kinds.kind(scope, datatype),
        "data_type": datatype,
        "bytes": int(meta.get("bytes") or 0),
        "files": int(meta.get("length") or 0),
        "events": None if meta.get("events") in (None, "") else int(meta["events"]),
        "created_at": timestamp(meta.get("created_at")),
        "expires_at": timestamp(meta.get("expired_at")),
        "state": "open" if meta.get("is_open") else "closed",
    }
    for key, value in sorted(meta.items()):
        if key in DATASET_FIELDS or value is None or value == "" or isinstance(value, dict | list):
            continue
        row[RENAMED_METADATA.get(key, key)] = value
    return row


def replica_row(
    replica: dict[str, Any], replicating: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """One dataset replica (``list_dataset_replicas`` dict); ``replicating``: the DIDs with a
    rule in state REPLICATING (their incomplete replicas are ``copying``)."""
    did = f"{replica['scope']}:{replica['name']}"
    length = replica.get("length")
    available = replica.get("available_length")
    if length is not None and available is not None:
        complete = int(available) >= int(length)
    else:
        complete = str(replica.get("state", "")).upper().rsplit(".", 1)[-1] == "AVAILABLE"
    state = "available" if complete else "copying" if did in replicating else "unavailable"
    return {
        "did": did,
        "endpoint": replica["rse"],
        "state": state,
        "created_at": timestamp(replica.get("created_at")),
        "accessed_at": timestamp(replica.get("accessed_at")),
    }


def rule_row(rule: dict[str, Any]) -> dict[str, Any]:
    """One replication rule (``list_replication_rules`` dict) as lifecycle keeps it."""
    return {
        "rule_id": str(rule["id"]),
        "did": f"{rule['scope']}:{rule['name']}",
        "rse_expression": rule.get("rse_expression"),
        "copies": int(rule.get("copies") or 0),
        "state": str(rule.get("state", "")).upper().rsplit(".", 1)[-1],
        "account": rule.get("account"),
        "source_replica_expression": rule.get("source_replica_expression"),
        "comment": rule.get("comments"),
        "created_at": _iso(timestamp(rule.get("created_at"))),
        "expires_at": _iso(timestamp(rule.get("expires_at"))),
        "locks_ok": int(rule.get("locks_ok_cnt") or 0),
        "locks_replicating": int(rule.get("locks_replicating_cnt") or 0),
        "locks_stuck": int(rule.get("locks_stuck_cnt") or 0),
    }


def replicating_dids(rules: list[dict[str, Any]]) -> set[str]:
    """The DIDs with a rule Rucio is still replicating (their partial replicas are copying)."""
    return {r["did"] for r in rules if r["state"] in RULE_STATES_COPYING}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
