"""dark data: files a storage dump lists that the catalog does not know, kept in quarantine

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 11:00:00

``lifecycle consistency ENDPOINT DUMP --apply`` records each dark entry of an endpoint (a DID the
dump lists and the catalog holds no replica of there) with the dump times that first and last
saw it; a later dump at least ``--confirm-after`` days after the first confirms it
(``confirmed_at``: that dump's time), and an entry no longer dark leaves the table. Self-contained
(one new table): the lead may renumber it when another 0009 lands first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dark_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("did", sa.String(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoint.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint_id", "did", name="uq_dark_data_endpoint_did"),
    )


def downgrade() -> None:
    op.drop_table("dark_data")
