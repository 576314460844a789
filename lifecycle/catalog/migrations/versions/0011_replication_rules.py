"""replication rules: Rucio's rules on the catalog's datasets, as information

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:30:00

``rucio sync`` records the replication rules of the datasets it pulled (``rules.jsonl`` of the
snapshot) and ``rucio push --apply`` the rules it created, each with the finding it repairs:
Rucio's rule id, its DID (as the dataset), expression, copies, state (Rucio's word:
``OK``, ``REPLICATING``, ``STUCK``…), account, source expression, comment, times and lock
counts. ``datasets show`` lists them; a finding can say which rule covers it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replication_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("rse_expression", sa.Text(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("source_replica_expression", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locks_ok", sa.Integer(), nullable=False),
        sa.Column("locks_replicating", sa.Integer(), nullable=False),
        sa.Column("locks_stuck", sa.Integer(), nullable=False),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_replication_rule_rule_id", "replication_rule", ["rule_id"], unique=True)
    op.create_index("ix_replication_rule_dataset", "replication_rule", ["dataset_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_replication_rule_dataset", table_name="replication_rule")
    op.drop_index("ix_replication_rule_rule_id", table_name="replication_rule")
    op.drop_table("replication_rule")
