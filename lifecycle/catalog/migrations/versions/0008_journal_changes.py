"""journal entries record each changed value, old and new

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:30:00

A sync with the grid updates mutable fields (a replica's state, a site's status, ...), and the
storage-consistency check must know what the catalog held before and after a dump's time. Both
need the journal to say which value changed, from what, to what, and when (the entry's ``at``):
one row per changed field of one catalog row. ``entity`` names the catalog table (``replica``,
``dataset``, ``site``, ``endpoint``, ``endpoint_attribute``, ``production``, ``pin``),
``entity_id`` the row's id (the endpoint's for an attribute), ``field`` the column (the
attribute's key); values are text as the exchange format writes them, null for null.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journal_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["journal_id"], ["journal.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_journal_change_entity",
        "journal_change",
        ["entity", "entity_id", "journal_id"],
        unique=False,
    )
    op.create_index("ix_journal_change_journal", "journal_change", ["journal_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_journal_change_journal", table_name="journal_change")
    op.drop_index("ix_journal_change_entity", table_name="journal_change")
    op.drop_table("journal_change")
