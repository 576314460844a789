"""journal entries linked to the datasets they touched

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_dataset",
        sa.Column("journal_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["journal_id"], ["journal.id"]),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"]),
        sa.PrimaryKeyConstraint("journal_id", "dataset_id"),
    )
    op.create_index(
        "ix_journal_dataset_dataset", "journal_dataset", ["dataset_id", "journal_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_journal_dataset_dataset", table_name="journal_dataset")
    op.drop_table("journal_dataset")
