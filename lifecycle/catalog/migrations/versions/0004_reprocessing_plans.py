"""reprocessing plans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("conditions_tag", sa.String(), nullable=True),
        sa.Column("inputs", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("cpu_hours", sa.Float(), nullable=False),
        sa.Column("bytes_staged", sa.BigInteger(), nullable=False),
        sa.Column("bytes_written", sa.BigInteger(), nullable=False),
        sa.Column("blockers", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "plan_step",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("production", sa.String(), nullable=False),
        sa.Column("transformation", sa.String(), nullable=False),
        sa.Column("conditions_tag", sa.String(), nullable=True),
        sa.Column("site", sa.String(), nullable=True),
        sa.Column("output_did", sa.String(), nullable=False),
        sa.Column("output_data_type", sa.String(), nullable=False),
        sa.Column("output_bytes", sa.BigInteger(), nullable=False),
        sa.Column("output_events", sa.BigInteger(), nullable=True),
        sa.Column("cpu_hours", sa.Float(), nullable=False),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("plan_id", "seq"),
    )
    op.create_table(
        "plan_step_input",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("plan_id", "seq", "did"),
    )
    op.create_table(
        "plan_input",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"]),
        sa.PrimaryKeyConstraint("plan_id", "dataset_id"),
    )
    op.create_index("ix_plan_input_dataset", "plan_input", ["dataset_id"], unique=False)
    op.create_table(
        "plan_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plan_note_plan_id", "plan_note", ["plan_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_plan_note_plan_id", table_name="plan_note")
    op.drop_table("plan_note")
    op.drop_index("ix_plan_input_dataset", table_name="plan_input")
    op.drop_table("plan_input")
    op.drop_table("plan_step_input")
    op.drop_table("plan_step")
    op.drop_table("plan")
