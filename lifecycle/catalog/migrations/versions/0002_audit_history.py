"""audit history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:59:42.877106
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("policy_hash", sa.String(), nullable=False),
        sa.Column("policies", sa.Text(), nullable=False),
        sa.Column("rule_names", sa.Text(), nullable=False),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("infos", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_run_started_at"), ["started_at"], unique=False)

    op.create_table(
        "audit_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_run", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_run"],
            ["audit_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["last_run"],
            ["audit_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_finding_first_run"), ["first_run"], unique=False)
        batch_op.create_index("ix_audit_finding_open", ["last_run"], unique=False)
        batch_op.create_index("ix_audit_finding_rule_did", ["rule", "did"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_finding_rule_did")
        batch_op.drop_index("ix_audit_finding_open")
        batch_op.drop_index(batch_op.f("ix_audit_finding_first_run"))

    op.drop_table("audit_finding")
    with op.batch_alter_table("audit_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_run_started_at"))

    op.drop_table("audit_run")
