"""Alembic environment: runs on the connection the catalog store hands over."""

from alembic import context
from sqlmodel import SQLModel

from lifecycle.catalog import models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
