"""The per-dataset columns the builder fills, and the format's enumerations they are coded in.

Enumerated values (kind, profile, states, roles) are stored as small integers, indices into the
tuples below, and turned into text only when the tables are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifecycle.vocabulary import DATASET_STATES, KINDS, REPLICA_STATES, ROLES

__all__ = ["DATASET_STATES", "KINDS", "PROFILES", "REPLICA_STATES", "ROLES", "Datasets"]

PROFILES = ("raw", "calibration", "metadata", "archive", "transient", "analysis", "outreach")


@dataclass
class Datasets:
    """One column per attribute, indexed by dataset number; -1 where a value does not apply.

    Calibration datasets come first, then metadata, then the chains in the order they are grown.
    """

    kind: np.ndarray  # index into KINDS
    dtype: np.ndarray  # index into atlas.DTYPES
    step: np.ndarray  # index into atlas.STEPS
    project: np.ndarray  # index into atlas.PROJECTS
    run: np.ndarray
    dsid: np.ndarray
    bytes: np.ndarray
    events: np.ndarray
    created: np.ndarray
    profile: np.ndarray  # index into PROFILES
    unit: np.ndarray  # the chain instance (units.Units) the dataset belongs to
    node: np.ndarray  # its global template node (templates.Compiled)
    ppar: np.ndarray  # its primary parent: the input whose tags its name extends
    part: np.ndarray  # 0 or 1 for the halves of a split task
    tr: np.ndarray  # the transformation of the production that made it
    prod: np.ndarray  # the production that made it

    @classmethod
    def allocate(cls, n: int) -> Datasets:
        return cls(
            kind=np.zeros(n, dtype=np.int8),
            dtype=np.zeros(n, dtype=np.int16),
            step=np.full(n, -1, dtype=np.int8),
            project=np.full(n, -1, dtype=np.int16),
            run=np.full(n, -1, dtype=np.int64),
            dsid=np.full(n, -1, dtype=np.int64),
            bytes=np.zeros(n, dtype=np.int64),
            events=np.full(n, -1, dtype=np.int64),
            created=np.zeros(n, dtype=np.int64),
            profile=np.zeros(n, dtype=np.int8),
            unit=np.full(n, -1, dtype=np.int64),
            node=np.full(n, -1, dtype=np.int64),
            ppar=np.full(n, -1, dtype=np.int64),
            part=np.full(n, -1, dtype=np.int8),
            tr=np.full(n, -1, dtype=np.int64),
            prod=np.full(n, -1, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.kind)
