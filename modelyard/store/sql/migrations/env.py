"""Alembic environment of the one migration chain (every domain). Run through modelyard.store.sql.migrate."""

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("modelyard migrations run through `modelyard db upgrade URI`, not the alembic CLI")

# The tables' MetaData is what autogenerate compares against; an upgrade does not use it, so it is
# imported (every domain's tables module) only when asked for: attributes["target_metadata"] = True.
target_metadata = include_object = None
if config.attributes.get("target_metadata"):
    from modelyard.store.sql.schema import compared_on, full_metadata

    target_metadata = full_metadata()
    include_object = compared_on(connection.dialect)  # what is built on this database only
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=include_object,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
