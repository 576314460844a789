"""transfers: the copies repair records, and the simulated grid's clock

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:40:00

``repair --apply`` records each new replica as ``copying`` with one ``transfer`` row: its
source and destination endpoints, bytes, state (``queued``, ``active``, ``done``, ``failed``),
the attempts made, the simulated times of the current attempt and of the next one allowed
(backoff), the bytes moved so far, and why it was planned. ``transfers run --simulate`` moves
them on the simulated grid, whose present is the one row of ``transfer_clock``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("replica_id", sa.Integer(), nullable=False),
        sa.Column("source_endpoint_id", sa.Integer(), nullable=False),
        sa.Column("target_endpoint_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moved_bytes", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"]),
        sa.ForeignKeyConstraint(["replica_id"], ["replica.id"]),
        sa.ForeignKeyConstraint(["source_endpoint_id"], ["endpoint.id"]),
        sa.ForeignKeyConstraint(["target_endpoint_id"], ["endpoint.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transfer_state", "transfer", ["state"], unique=False)
    op.create_index("ix_transfer_replica", "transfer", ["replica_id"], unique=False)
    op.create_table(
        "transfer_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("transfer_clock")
    op.drop_index("ix_transfer_replica", table_name="transfer")
    op.drop_index("ix_transfer_state", table_name="transfer")
    op.drop_table("transfer")
