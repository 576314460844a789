"""audit findings name their runs without foreign keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:50:00

``audit_finding.first_run`` and ``last_run`` name ``audit_run`` rows; they were declared as
foreign keys, which PostgreSQL checks with one trigger query per inserted or updated row.
Measured at 1 M datasets (206 k findings, the history filled by a first audit): of the 2.9-3.2 s
the history insert took under ``EXPLAIN ANALYZE``, 0.98 s went to the ``first_run`` trigger and
0.11 s to ``last_run``, about 1.1 s of a 2.4 s history write in the audit; first audits
(json) without them and with them, alternately: 0.38-0.69 s less server CPU. The checks guard
nothing the code does not already hold: history rows are written only by the audit service
(``audit.history.record_run``), in the transaction that inserts their run row just before and
names it (``first_run``) or the previous run (``last_run`` when a finding is resolved); no command
deletes or renumbers an audit run. The references stay visible: the columns keep their indexes,
and a test checks after audits on both engines that every ``first_run`` and ``last_run`` names a
stored run.

One schema for both engines: SQLite drops them too (its table is rebuilt by alembic's batch
mode, rows, ids and indexes kept; its foreign keys were declared without names, so the batch
names them by convention to drop them). Downgrade declares them again.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ("first_run", "last_run")
# SQLite: the unnamed foreign keys named while the batch reflects the table, to be dropped
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s"}


def _name(column: str) -> str:
    """The constraint's name: PostgreSQL's default (``<table>_<column>_fkey``, as 0002 made
    them), the batch's convention on SQLite."""
    if op.get_context().dialect.name == "sqlite":
        return f"fk_audit_finding_{column}"
    return f"audit_finding_{column}_fkey"


def upgrade() -> None:
    with op.batch_alter_table("audit_finding", naming_convention=_NAMING) as batch_op:
        for column in COLUMNS:
            batch_op.drop_constraint(_name(column), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("audit_finding", naming_convention=_NAMING) as batch_op:
        for column in COLUMNS:
            batch_op.create_foreign_key(_name(column), "audit_run", [column], ["id"])
