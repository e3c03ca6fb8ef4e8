"""The one SQL kernel every domain store is built on.

- ``database.Database``: the engine, SQLite's writer queue and the dialect; ``read()`` and
  ``write()`` are the only ways to a connection, and translate driver errors to the error tree.
- ``schema.metadata``: one MetaData; each domain declares its tables in its own module
  (``store/<domain>/tables.py``) and ``schema.DOMAINS`` lists them.
- ``migrations/``: one Alembic chain for every domain (``migrate.upgrade``, ``modelyard db upgrade``).
- ``search``: the search AST (``modelyard.search``) compiled to SQL over per-entity column tables.
- ``queue``: a durable leased work queue (webhook deliveries now, jobs next).
"""
