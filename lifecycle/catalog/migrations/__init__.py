"""Alembic migrations of the catalog schema.

``REVISIONS`` lists every revision this code knows, oldest first, so the store can tell a current, an
older (upgradable) and a newer (refused) catalog without importing alembic on every start.
A test checks it against alembic's own view of ``versions/``.
"""

REVISIONS: tuple[str, ...] = (
    "0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011",
    "0012",
)  # fmt: skip
HEAD = REVISIONS[-1]
