"""Schema versioning: run the one Alembic chain (every domain), and check a database is at our head.

``SCHEMA_HEAD`` is the newest revision; a test checks it equals Alembic's head, so
opening a store never has to import Alembic (which costs ~0.3 s) unless it migrates.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from modelyard.exceptions import InvalidState
from modelyard.store.sql.engine import writer

logger = logging.getLogger(__name__)

SCHEMA_HEAD = "0014"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Tables a database may hold before it has a revision, which the chain adopts as they are: the
# scoring server's inference log used to create its table itself (revision 0004 takes it over).
ADOPTED_TABLES = frozenset({"modelyard_inference_log"})


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has no schema at all."""
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            conn.rollback()
            if set(inspect(conn).get_table_names()) - ADOPTED_TABLES:
                return "unknown"
            return None
    return row[0] if row else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest)."""
    from alembic import command

    # SQLite: take the write lock at BEGIN. A deferred transaction that reads the schema and then
    # writes fails at once with "database is locked" when another process migrated meanwhile.
    with writer(engine).begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    logger.info("database upgraded to %s", revision)


def free_bytes(engine: Engine) -> tuple[int, int]:
    """SQLite: (bytes of the file's free pages, bytes of the file); (0, 0) elsewhere. An upgrade that
    rebuilds a table (revisions 0013 and 0014) leaves the old table's pages free: SQLite reuses them
    for new rows but keeps the file's size until ``vacuum``."""
    if engine.dialect.name != "sqlite":
        return 0, 0
    with engine.connect() as conn:
        size = conn.exec_driver_sql("PRAGMA page_size").scalar()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    return free * size, pages * size


def vacuum(engine: Engine) -> None:
    """SQLite: rewrite the file without its free pages (``VACUUM``: as long as a copy of the file
    takes, and as much free disk). Nothing elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # VACUUM runs outside any transaction: the driver's own connection
    try:
        sqlite = raw.driver_connection
        if sqlite.in_transaction:
            sqlite.rollback()
        sqlite.execute("VACUUM")
    finally:
        raw.close()


def ensure_schema(engine: Engine, uri_for_messages: str) -> None:
    """Create the schema in an empty database; refuse one at another revision."""
    uri_for_messages = _masked(uri_for_messages)
    revision = current_revision(engine)
    if revision == SCHEMA_HEAD:
        return
    if revision is None:
        try:
            upgrade(engine)
        except Exception:
            # Another process may have migrated the same empty database at the same time.
            if current_revision(engine) != SCHEMA_HEAD:
                raise
        return
    raise InvalidState(
        f"The database {uri_for_messages} is at schema revision {revision!r}, but this modelyard needs "
        f"{SCHEMA_HEAD!r}. Back it up, then run: modelyard db upgrade {uri_for_messages}"
    )


def _masked(uri: str) -> str:
    """The URI without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return "<database>"
