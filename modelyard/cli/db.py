"""``modelyard db``: bring a tracking database's schema to the newest revision, or show its revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import click

from modelyard.cli import _output as out
from modelyard.cli._context import done, state

url_argument = click.argument("url", metavar="URI")


@click.group()
def db() -> None:
    """Manage the schema of a tracking database."""


# an upgraded SQLite file with at least this share of free pages (and 1 MB) gets the hint to vacuum
FREE_SHARE_HINT = 0.2


@db.command()
@url_argument
@click.option(
    "--vacuum",
    is_flag=True,
    help="SQLite: then give the file's free pages back to the disk (VACUUM: takes about as long as "
    "copying the file, and as much free disk).",
)
def upgrade(url: str, vacuum: bool) -> None:
    """Upgrade the database at URI to the newest schema (creating it when empty).

    Back the database up first: migrations change tables in place.
    """
    from modelyard.store.sql import migrate

    with _engine(url) as engine:
        before = migrate.current_revision(engine)
        if before == "unknown":
            from modelyard.exceptions import InvalidState

            raise InvalidState(
                f"The database {engine.url} has tables but no modelyard schema revision; not upgrading it."
            )
        if before == migrate.SCHEMA_HEAD:
            done(f"Database is already at the newest revision ({migrate.SCHEMA_HEAD}).")
        else:
            with _revisions_shown() if before else nullcontext():  # a new database: quietly
                migrate.upgrade(engine)
            after = migrate.current_revision(engine)
            done(f"Database upgraded from {before or 'an empty database'} to revision {after}.")
        free, size = migrate.free_bytes(engine)
        if vacuum and not size:
            done(f"--vacuum is for SQLite files; {engine.dialect.name} reclaims space itself: nothing done.")
        elif vacuum:
            migrate.vacuum(engine)
            done(f"Vacuumed: the file went from {_mb(size)} to {_mb(migrate.free_bytes(engine)[1])}.")
        elif free >= max(1_000_000, FREE_SHARE_HINT * size):
            done(
                f"{_mb(free)} of the file's {_mb(size)} are free pages now (SQLite reuses them for new "
                f"data); to give them back to the disk: modelyard db upgrade --vacuum {url}"
            )


@contextmanager
def _revisions_shown() -> Iterator[None]:
    """Each revision on stderr as it starts (``0013 -> 0014: what it does``): a revision that copies
    a large table takes a while, and the user sees which one works."""
    import logging

    class Shown(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Running upgrade "):  # "Running upgrade A -> B, <its docstring>"
                step, _, what = message[len("Running upgrade ") :].partition(", ")
                click.echo(f"{step}: {_first_sentence(what)}", err=True)

    log = logging.getLogger("alembic.runtime.migration")
    handler, level, propagate = Shown(), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # its other INFO lines stay out of any handler of the root logger
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def _first_sentence(text: str, limit: int = 100) -> str:
    """A revision docstring's first sentence on one line, at most ``limit`` characters."""
    words = " ".join(text.split("\n\n", 1)[0].split())
    sentence = words.split(". ", 1)[0].rstrip(".:")
    return sentence if len(sentence) <= limit else sentence[: limit - 3].rstrip() + "..."


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@db.command()
@url_argument
@out.output_option
def current(url: str, output: str) -> None:
    """Print the schema revision of the database at URI."""
    from modelyard.store.sql import migrate

    with _engine(url) as engine:
        revision = migrate.current_revision(engine)
    if output == out.JSON:
        out.print_json(
            {"revision": revision, "head": migrate.SCHEMA_HEAD, "up_to_date": revision == migrate.SCHEMA_HEAD}
        )
    elif revision is None:
        click.echo(f"none (empty database; newest is {migrate.SCHEMA_HEAD})")
    elif revision == "unknown":
        click.echo("unknown (the database has tables but no modelyard schema revision)")
    elif revision == migrate.SCHEMA_HEAD:
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision} (newest is {migrate.SCHEMA_HEAD}; run: modelyard db upgrade URI)")


@contextmanager
def _engine(url: str) -> Iterator:
    """An engine for ``url`` (a path to a .db file counts as SQLite), disposed afterwards.

    Database and migration errors become ModelyardError with their first line.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from modelyard.exceptions import ModelyardError
    from modelyard.store.sql.engine import create_db_engine
    from modelyard.tracking.stores import normalize_tracking_uri

    engine = create_db_engine(normalize_tracking_uri(url), state().settings())
    try:
        yield engine
    except SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ModelyardError(f"Database error: {message}") from exc
    except Exception as exc:
        if not type(exc).__module__.startswith("alembic"):
            raise
        raise ModelyardError(f"Migration failed: {exc}") from exc
    finally:
        engine.dispose()
