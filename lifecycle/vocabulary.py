"""The shared vocabulary of DESIGN.md as values: kinds, media, states, statuses and roles.

A leaf module (it imports nothing of lifecycle): the catalog's tables, the exchange format's
specification, policies, services and the generator all spell these enumerations from here, so a
new state or kind is added in one place.
"""

from __future__ import annotations

SITE_STATUSES = ("active", "down", "decommissioned")
MEDIA = ("tape", "disk")
KINDS = ("raw", "calibration", "derived", "simulated", "metadata", "outreach")
DATASET_STATES = ("open", "closed", "deleted", "lost")
REPLICA_STATES = ("available", "copying", "unavailable", "lost", "deleted")
PRODUCTION_STATUSES = ("done", "failed", "running")
INPUT_ROLES = ("input", "calibration", "config")
ROLES = (*INPUT_ROLES, "output")

# raw and calibration data come from the detector and from conditions: nothing produces them
NON_PRODUCIBLE_KINDS = ("raw", "calibration")
# kinds that are preserved and never expire (DESIGN.md: raw, calibration and metadata)
PRESERVED_KINDS = ("raw", "calibration", "metadata")
# replica states that still hold data
LIVE_STATES = ("available", "copying", "unavailable")
