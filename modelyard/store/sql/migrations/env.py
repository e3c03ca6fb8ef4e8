"""Alembic environment of the one migration chain (every domain). Run through modelyard.store.sql.migrate."""

from alembic import context

from modelyard.store.sql.schema import full_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("modelyard migrations run through `modelyard db upgrade URI`, not the alembic CLI")

context.configure(connection=connection, target_metadata=full_metadata(), render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
