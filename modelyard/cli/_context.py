"""What the root group hands to every command: global options, the client, the error type.

Kept free of heavy imports: the tracking client (and through it SQLAlchemy) is built
only when a command asks for it, so ``modelyard --help`` stays fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

T = TypeVar("T")

PAGE_LIMIT = 50_000
"""Largest page asked of a store in one call (the stores' own maximum)."""


class CliError(click.ClickException):
    """An error the user sees as one red ``Error: ...`` line on stderr (exit 1, or 2 for usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(" ".join(line.strip() for line in message.splitlines() if line.strip()))
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(click.style(f"Error: {self.format_message()}", fg="red"), file=file, err=file is None)


@dataclass
class CliState:
    """Global options of one invocation (``ctx.obj``) and the client built from them."""

    tracking_uri: str | None = None
    debug: bool = False
    _client: TrackingClient | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        from modelyard.exceptions import InvalidParameterValue
        from modelyard.settings import Settings

        try:
            return Settings.from_env()
        except ValueError as exc:  # a malformed MODELYARD_* variable
            raise InvalidParameterValue(str(exc)) from exc

    def client(self, read_only: bool = False) -> TrackingClient:
        """The tracking client; ``--tracking-uri`` wins over MODELYARD_TRACKING_URI.

        ``read_only``: the command only reads, so a SQLite database that does not exist is an
        error saying where it was looked for and why there (reading never creates a file).
        """
        if self._client is None:
            from modelyard.tracking.client import TrackingClient
            from modelyard.tracking.stores import resolve_tracking_uri

            settings = self.settings()
            uri = resolve_tracking_uri(self.tracking_uri, settings)
            if read_only:
                self.check_database_exists(uri, settings)
            self._client = TrackingClient(tracking_uri=uri, settings=settings)
        return self._client

    def tracking_uri_to_read(self, model_uri: str) -> str:
        """The tracking URI a ``runs:/`` or ``models:/`` model URI resolves against (checked to exist)."""
        from modelyard.tracking.stores import resolve_tracking_uri

        settings = self.settings()
        uri = resolve_tracking_uri(self.tracking_uri, settings)
        if model_uri.startswith(("runs:", "models:")):
            self.check_database_exists(uri, settings)
        return uri

    def check_database_exists(self, uri: str, settings: Settings) -> None:
        """A CliError when ``uri`` is a SQLite file that is not there (other stores: nothing to check)."""
        from modelyard.store.sql.engine import sqlite_file

        path = sqlite_file(uri)
        if path is None or os.path.exists(path):
            return
        if self.tracking_uri:
            why = "from --tracking-uri"
        elif settings.client.tracking_uri:
            why = "from $MODELYARD_TRACKING_URI (or $MLFLOW_TRACKING_URI)"
        else:
            why = "the default: modelyard.db in the working directory; set --tracking-uri or $MODELYARD_TRACKING_URI"
        raise CliError(
            f"There is no tracking database at {path} (tracking URI {uri}, {why}). "
            "Log a run or start 'modelyard server' to create one, or point the tracking URI at an existing one."
        )


def state() -> CliState:
    """The current invocation's state (a default one when a subgroup is invoked on its own)."""
    ctx = click.get_current_context()
    found = ctx.find_object(CliState)
    if found is None:
        found = ctx.find_root().ensure_object(CliState)
    return found


def client(read_only: bool = False) -> TrackingClient:
    return state().client(read_only)


def collect(fetch: Callable[[int, str | None], Any], limit: int) -> tuple[list, bool]:
    """Follow page tokens until ``limit`` items are read.

    ``fetch(max_results, page_token)`` returns a PagedList. Returns the items and
    whether more were left unread.
    """
    items: list = []
    token: str | None = None
    while True:
        page = fetch(min(limit - len(items), PAGE_LIMIT), token)
        items.extend(page)
        token = page.token
        if not token or len(items) >= limit:
            return items[:limit], bool(token)


def note(message: str) -> None:
    """A hint for people, on stderr so it never mixes into JSON on stdout."""
    click.echo(click.style(message, fg="yellow"), err=True)


def done(message: str) -> None:
    """The confirmation line of a command that changes something."""
    click.echo(message)


def argument_or_option(dest: str, *names: str, metavar: str, help: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """One resource named either way: ``cmd VALUE`` or ``cmd --option VALUE``; the command gets ``dest``."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @click.argument("positional_ref", metavar=f"[{metavar}]", required=False)
        @click.option(*names, dest, metavar=metavar, help=f"{help} (or give it as the argument)")
        @functools.wraps(func)
        def command(positional_ref: str | None, **kwargs: Any) -> T:
            given = kwargs.get(dest)
            if positional_ref is not None and given is not None and positional_ref != given:
                raise click.UsageError(f"Give {metavar} once: as the argument or with {names[0]}, not both.")
            kwargs[dest] = given if given is not None else positional_ref
            if kwargs[dest] is None:
                raise click.UsageError(f"Missing {metavar}: give it as the argument or with {names[0]}.")
            return func(**kwargs)

        return command

    return decorate
