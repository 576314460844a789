"""key/value tables without rowid on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:50:00

Dataset metadata, endpoint attributes and transformation parameters are looked up by their
primary key (owner id, key) only. As rowid tables SQLite kept each row twice, in the table and
in the primary key's index; without rowid the table is that index: a 1 M-dataset import writes
its 4 M metadata rows into one b-tree instead of two (measured in benchmarks/bench_import.py),
and the file is smaller. PostgreSQL has no rowid: nothing changes there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = (
    ("dataset_metadata", "dataset"),
    ("endpoint_attribute", "endpoint"),
    ("transformation_parameter", "transformation"),
)


def _rebuild(table: str, owner: str, with_rowid: bool) -> None:
    """Copy ``table`` into a new table of the same columns, with or without rowid, in key order,
    and put it in the old one's place (no table references these, so dropping is safe)."""
    owner_id = f"{owner}_id"
    op.create_table(
        f"_new_{table}",
        sa.Column(owner_id, sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint([owner_id], [f"{owner}.id"]),
        sa.PrimaryKeyConstraint(owner_id, "key"),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(
        f'INSERT INTO "_new_{table}" ({owner_id}, key, value) '
        f'SELECT {owner_id}, key, value FROM "{table}" ORDER BY {owner_id}, key'
    )
    op.drop_table(table)
    op.rename_table(f"_new_{table}", table)


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for table, owner in TABLES:
        _rebuild(table, owner, with_rowid=False)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for table, owner in TABLES:
        _rebuild(table, owner, with_rowid=True)
