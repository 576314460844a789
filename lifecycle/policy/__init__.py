"""Policies: the documents (TOML files of typed rules) and their one translation to SQL.

Owns: ``documents`` (loading and validating policy files into :class:`PolicySet`) and
``selection`` (a rule's dataset selection, grace and endpoint sets as SQL). May import the catalog
layer and the leaf modules; never a service, the api or the CLI.
"""

from lifecycle.policy.documents import (
    DEFAULT_POLICY_DIR,
    DISTINCT_UNITS,
    POLICY_ENV,
    RULE_TYPES,
    SELECT_KEYS,
    SEVERITIES,
    Duration,
    Policy,
    PolicySet,
    Rule,
    Selector,
    format_duration,
    load_policies,
    load_policy_file,
    optional_policies,
    parse_duration,
    policy_paths,
)
from lifecycle.policy.selection import (
    UNIT_COLUMN,
    counted_endpoints,
    endpoint_sets,
    judged,
    selected_datasets,
    selection,
)

__all__ = [
    "DEFAULT_POLICY_DIR",
    "DISTINCT_UNITS",
    "POLICY_ENV",
    "RULE_TYPES",
    "SELECT_KEYS",
    "SEVERITIES",
    "UNIT_COLUMN",
    "Duration",
    "Policy",
    "PolicySet",
    "Rule",
    "Selector",
    "counted_endpoints",
    "endpoint_sets",
    "format_duration",
    "judged",
    "load_policies",
    "load_policy_file",
    "optional_policies",
    "parse_duration",
    "policy_paths",
    "selected_datasets",
    "selection",
]
