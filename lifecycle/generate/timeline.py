"""The generated catalog's clock: its epoch, its "now", and the bounds of planted lifetimes.

Times are whole seconds since the Unix epoch (UTC) as numpy int64 columns; -1 stands for "none".
"""

from __future__ import annotations

import numpy as np

DAY = 86_400
HOUR = 3_600


def ts(text: str) -> int:
    """Seconds since the epoch (UTC) of an ISO date or date-time."""
    return int(np.datetime64(text, "s").astype(np.int64))


EPOCH = ts("2015-01-01")
# The catalog's "now": nothing is created or accessed after it. Lifetimes that have not run out
# are set to 2030 or later, planted expired ones end before EXPIRED_BEFORE, so the planted count
# stays true whatever day an audit runs.
NOW = ts("2025-12-31T00:00:00")
EXPIRED_BEFORE = ts("2025-07-01")
EXPIRY_FUTURE = (ts("2030-01-01"), ts("2036-12-31"))
