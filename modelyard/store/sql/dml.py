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


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> None:
    """Insert rows, skipping those whose unique ``keys`` exist already (or are being inserted by a
    concurrent transaction, which this one then waits for): a claim of many keys in one statement.
    Which rows were inserted is for the caller to read back (e.g. by a value only it wrote)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        conn.execute(table.insert().prefix_with("IGNORE"), list(rows))
        return
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only the three dialects above are supported
        raise NotImplementedError(dialect)
    conn.execute(insert(table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))
