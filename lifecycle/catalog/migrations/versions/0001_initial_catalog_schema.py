"""initial catalog schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:54:06.274782
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("data_type", sa.String(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("did"),
    )
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_data_type", ["data_type"], unique=False)
        batch_op.create_index("ix_dataset_kind_data_type", ["kind", "data_type"], unique=False)
        batch_op.create_index("ix_dataset_scope", ["scope"], unique=False)

    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_at"), ["at"], unique=False)

    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("cloud", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "transformation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("release", sa.String(), nullable=False),
        sa.Column("image", sa.String(), nullable=True),
        sa.Column("image_digest", sa.String(), nullable=True),
        sa.Column("code_repo", sa.String(), nullable=True),
        sa.Column("code_commit", sa.String(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("platform", sa.String(), nullable=True),
        sa.Column("cpu_seconds_per_event", sa.Float(), nullable=True),
        sa.Column("output_ratio", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tag"),
    )
    op.create_table(
        "dataset_metadata",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
        ),
        sa.PrimaryKeyConstraint("dataset_id", "key"),
    )
    op.create_table(
        "endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("media", sa.String(), nullable=False),
        sa.Column("capacity_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_endpoint_site_id"), ["site_id"], unique=False)

    op.create_table(
        "pin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "actor", "reason", name="uq_pin_dataset_actor_reason"),
    )
    with op.batch_alter_table("pin", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pin_dataset_id"), ["dataset_id"], unique=False)

    op.create_table(
        "production",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("transformation_id", sa.Integer(), nullable=False),
        sa.Column("conditions_tag", sa.String(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transformation_id"],
            ["transformation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("production", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_production_transformation_id"), ["transformation_id"], unique=False
        )

    op.create_table(
        "transformation_parameter",
        sa.Column("transformation_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transformation_id"],
            ["transformation.id"],
        ),
        sa.PrimaryKeyConstraint("transformation_id", "key"),
    )
    op.create_table(
        "endpoint_attribute",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoint.id"],
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "key"),
    )
    op.create_table(
        "production_input",
        sa.Column("production_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
        ),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["production.id"],
        ),
        sa.PrimaryKeyConstraint("production_id", "dataset_id"),
    )
    with op.batch_alter_table("production_input", schema=None) as batch_op:
        batch_op.create_index(
            "ix_production_input_dataset", ["dataset_id", "production_id"], unique=False
        )

    op.create_table(
        "production_output",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("production_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
        ),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["production.id"],
        ),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    with op.batch_alter_table("production_output", schema=None) as batch_op:
        batch_op.create_index(
            "ix_production_output_production", ["production_id", "dataset_id"], unique=False
        )

    op.create_table(
        "replica",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoint.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "endpoint_id", name="uq_replica_dataset_endpoint"),
    )
    with op.batch_alter_table("replica", schema=None) as batch_op:
        batch_op.create_index("ix_replica_endpoint_state", ["endpoint_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replica", schema=None) as batch_op:
        batch_op.drop_index("ix_replica_endpoint_state")

    op.drop_table("replica")
    with op.batch_alter_table("production_output", schema=None) as batch_op:
        batch_op.drop_index("ix_production_output_production")

    op.drop_table("production_output")
    with op.batch_alter_table("production_input", schema=None) as batch_op:
        batch_op.drop_index("ix_production_input_dataset")

    op.drop_table("production_input")
    op.drop_table("endpoint_attribute")
    op.drop_table("transformation_parameter")
    with op.batch_alter_table("production", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_production_transformation_id"))

    op.drop_table("production")
    with op.batch_alter_table("pin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pin_dataset_id"))

    op.drop_table("pin")
    with op.batch_alter_table("endpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_site_id"))

    op.drop_table("endpoint")
    op.drop_table("dataset_metadata")
    op.drop_table("transformation")
    op.drop_table("site")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_at"))

    op.drop_table("journal")
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_scope")
        batch_op.drop_index("ix_dataset_kind_data_type")
        batch_op.drop_index("ix_dataset_data_type")

    op.drop_table("dataset")
