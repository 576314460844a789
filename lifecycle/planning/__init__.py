"""Reprocessing plans: rebuild derived formats from selected inputs with new software or calibration.

A plan takes selected inputs (raw data, usually) and a chain of transformation tags, e.g.
``r99999,p99998,p99999``, and makes one step per input and tag, with its estimated output bytes,
events and CPU hours, the tape staging its inputs need and where its outputs go.

**Blockers** are listed, never hidden, and a plan with blockers cannot be applied: an input with
no available replica, no calibration (or the calibration not available), a transformation
unknown or without release or image digest, a name outside the nomenclature, an output that
exists already. The summary also lists the existing derived datasets that the new outputs
supersede (same project, number, stream and data type, another tag chain): candidates for expiry
once the campaign is done.

This package owns the ``plan*`` tables and everything done with plans:

- ``model``: the values (:class:`ChainLink`, :class:`ReprocessingPlan`, :class:`PlanDeletion`);
- ``compute``: computing a plan (steps, output names, costs, blockers, supersessions);
- ``inputs``: what a plan reads (selected inputs, their source replica, their calibration);
- ``placement``: where outputs are written, and what must be staged from tape;
- ``persistence``: saving, listing, loading and deleting plans;
- ``apply``: applying a saved plan (registering the campaign's productions, datasets, replicas).

It is a service: it may import provenance, policy, exchange, catalog and leaf modules (errors,
values, text, nomenclature, expressions), never ``cli`` or the ``Catalog`` facade. One import reaches
sideways, to a service below it: ``expiry`` (saved plans protect their inputs from expiry, and
deleting a plan reports what expiry would now delete).
"""

from lifecycle.planning.apply import apply_plan
from lifecycle.planning.compute import OUTPUT_OF_LETTER, STEP_OF_LETTER, plan_reprocess
from lifecycle.planning.model import STEP_COLUMNS, ChainLink, PlanDeletion, ReprocessingPlan
from lifecycle.planning.persistence import FREED, delete_plan, load_plan, plans, save_plan

__all__ = [
    "FREED",
    "OUTPUT_OF_LETTER",
    "STEP_COLUMNS",
    "STEP_OF_LETTER",
    "ChainLink",
    "PlanDeletion",
    "ReprocessingPlan",
    "apply_plan",
    "delete_plan",
    "load_plan",
    "plan_reprocess",
    "plans",
    "save_plan",
]
