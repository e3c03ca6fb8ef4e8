"""The jobs store runs on the SQL kernel's ``Database`` (``read()``/``write()``)."""

from modelyard.store.sql.database import Database

__all__ = ["Database"]
