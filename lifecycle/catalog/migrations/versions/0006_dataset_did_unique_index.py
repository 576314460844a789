"""dataset DIDs unique through a named index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 07:30:00

The DID of a dataset was unique by a table constraint, whose index the database builds as rows
arrive: a bulk load of datasets inserts each DID at a random place of that b-tree. Held as a
named unique index instead, ``catalog.bulk.bulk_load`` drops it while an empty dataset table is
filled and builds it again afterwards, one sort (the rebuild still refuses a duplicate, and the
load's transaction rolls back with it). Measured with SQLite at 1 M random DIDs: 13.5 s to
insert into the constrained table against 6.4 s to insert and then index; at 3 M, 36.9 s against
22.5 s (the index outgrows the load's page cache). Uniqueness holds as before.

SQLite cannot drop a table constraint: the table is rebuilt (foreign keys are off during
migrations, see ``Store.upgrade``; the rows keep their ids). PostgreSQL drops the constraint.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_dataset_data_type", ["data_type"]),
    ("ix_dataset_kind_data_type", ["kind", "data_type"]),
    ("ix_dataset_scope", ["scope"]),
)


def _rebuild_sqlite(did_constraint: bool) -> None:
    """Copy ``dataset`` into a new table with (or without) the DID table constraint, in id
    order, and put it in the old one's place with its indexes."""
    constraints = [sa.PrimaryKeyConstraint("id")]
    if did_constraint:
        constraints.append(sa.UniqueConstraint("did"))
    op.create_table(
        "_new_dataset",
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
        *constraints,
    )
    columns = (
        "id, did, scope, name, kind, data_type, bytes, files, events, created_at, expires_at, state"
    )
    op.execute(f"INSERT INTO _new_dataset ({columns}) SELECT {columns} FROM dataset ORDER BY id")
    op.drop_table("dataset")  # its indexes go with it
    op.rename_table("_new_dataset", "dataset")
    for name, columns_of in INDEXES:
        op.create_index(name, "dataset", columns_of, unique=False)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite(did_constraint=False)
    else:
        for constraint in sa.inspect(op.get_bind()).get_unique_constraints("dataset"):
            if constraint["column_names"] == ["did"]:
                op.drop_constraint(constraint["name"], "dataset", type_="unique")
    op.create_index("ix_dataset_did", "dataset", ["did"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_dataset_did", table_name="dataset")
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite(did_constraint=True)
    else:
        op.create_unique_constraint("dataset_did_key", "dataset", ["did"])
