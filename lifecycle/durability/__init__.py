"""Durability: how likely is the loss of data nothing can regenerate (issue 18).

- ``model``: the failure model document (TOML, every number with its source) and its loader;
- ``patterns``: the probability that a placement pattern loses every copy in a repair window;
- ``estimate``: ``lifecycle durability``, set-based over the catalog grouped by pattern;
- ``montecarlo``: the sampled cross-check of the estimate;
- ``decade``: ``lifecycle simulate years``, days of operations on a copy of the catalog.

A service: it may import other services (repair, transfers, expiry, audit, generate), the
provenance, policy and catalog layers and the leaves; never the api or the CLI.
"""

from __future__ import annotations

from lifecycle.durability.estimate import DurabilityReport, dataset_durability, durability
from lifecycle.durability.model import FailureModel, load_model

__all__ = ["DurabilityReport", "FailureModel", "dataset_durability", "durability", "load_model"]
