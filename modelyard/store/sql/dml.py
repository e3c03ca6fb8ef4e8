"""Dialect-aware statements the store needs in bulk: upserts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict], keys: Sequence[str], update: Sequence[str]
) -> None:
    """Insert rows, replacing ``update`` columns where a row with the same ``keys`` exists."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert

        stmt = insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})
        conn.execute(stmt, list(rows))
        return
    else:  # pragma: no cover - only the three dialects above are supported
        raise NotImplementedError(dialect)
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    conn.execute(stmt, list(rows))
