"""``modelyard users``, ``modelyard tokens`` and ``modelyard audit``: the identity store and the
audit log of a tracking server's database (run where the server's database is reachable; these
commands act as an admin)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from modelyard.cli import _output as out
from modelyard.cli._context import CliError, done

db_option = click.option(
    "--backend-store-uri", metavar="URI", help="The server's database (default: the server's setting)."
)


@contextmanager
def _service(uri: str | None) -> Iterator:
    from modelyard.auth.context import Principal, RequestContext
    from modelyard.auth.runtime import open_service
    from modelyard.server.backend import backend_store_uri
    from modelyard.settings import Settings

    settings = Settings.from_env()
    service, close = open_service(uri or backend_store_uri(settings))
    ctx = RequestContext(Principal("cli", authenticated=True, admin=True, method="cli"), settings, "cli")
    try:
        yield service, ctx
    finally:
        close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def users() -> None:
    """Users of a server with authentication on."""


@users.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@db_option
def create_user(username: str, admin: bool, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Create a user (the password is asked twice, or read from stdin)."""
    password = _read_password(password_stdin)
    with _service(backend_store_uri) as (service, ctx):
        service.create_user(ctx, username, password, admin)
    done(f"Created user {username}{' (admin)' if admin else ''}.")


@users.command("list")
@out.output_option
@db_option
def list_users(output: str, backend_store_uri: str | None) -> None:
    """List the users."""
    with _service(backend_store_uri) as (service, ctx):
        found = service.list_users(ctx)
    if output == out.JSON:
        out.print_json([u.to_dict() for u in found])
        return
    out.table(
        ["id", "username", "admin", "source"], [[u.id, u.username, u.is_admin, u.source] for u in found]
    )


@users.command("delete")
@click.argument("username")
@db_option
def delete_user(username: str, backend_store_uri: str | None) -> None:
    """Delete a user (with their tokens and grants)."""
    with _service(backend_store_uri) as (service, ctx):
        service.delete_user(ctx, username)
    done(f"Deleted user {username}.")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@db_option
def set_password(username: str, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Set a user's password."""
    password = _read_password(password_stdin)
    with _service(backend_store_uri) as (service, ctx):
        service.update_password(ctx, username, password)
    done(f"Changed the password of {username}.")


@click.group()
def tokens() -> None:
    """API tokens (Authorization: Bearer, or MLFLOW_TRACKING_TOKEN for the mlflow client)."""


@tokens.command("create")
@click.option("--user", "username", required=True, help="Whose token it is.")
@click.option("--name", required=True, help="A name to recognise it by (unique per user).")
@click.option(
    "--scope",
    "scopes",
    default="write",
    show_default=True,
    help="read, write or manage; or KIND:LEVEL items, comma-separated (experiments:write,models:read).",
)
@click.option("--expires", metavar="DURATION", help="30d, 12h, 90m ... (default: never).")
@db_option
def create_token(
    username: str, name: str, scopes: str, expires: str | None, backend_store_uri: str | None
) -> None:
    """Create a token; its secret is printed once, here, and never stored."""
    with _service(backend_store_uri) as (service, ctx):
        secret, token = service.create_token(ctx, name, scopes, expires, username)
    click.echo(secret)
    click.echo(f"Token {token.name} of {username} ({token.scopes}); it is not shown again.", err=True)


@tokens.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@out.output_option
@db_option
def list_tokens(username: str | None, output: str, backend_store_uri: str | None) -> None:
    """List tokens (never their secrets)."""
    with _service(backend_store_uri) as (service, ctx):
        found = service.list_tokens(ctx, username) if username else service.list_tokens(ctx, all_users=True)
    if output == out.JSON:
        out.print_json([t.to_dict() for t in found])
        return
    out.table(
        ["id", "user", "name", "scopes", "expires", "last used", "revoked"],
        [
            [
                t.id,
                t.username,
                t.name,
                t.scopes,
                out.fmt_time(t.expires_at),
                out.fmt_time(t.last_used_at),
                out.fmt_time(t.revoked_at),
            ]
            for t in found
        ],
    )


@tokens.command("revoke")
@click.argument("token_id")
@db_option
def revoke_token(token_id: str, backend_store_uri: str | None) -> None:
    """Revoke a token at once."""
    with _service(backend_store_uri) as (service, ctx):
        service.revoke_token(ctx, token_id)
    done(f"Revoked token {token_id}.")


_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None) -> int | None:
    """Milliseconds since the epoch of ``2h`` / ``7d`` (ago) or an ISO date/time (UTC)."""
    if not text:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        return int((time.time() - int(ago.group(1)) * _UNITS[ago.group(2)]) * 1000)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"Invalid --since {text!r}: use 2h, 7d or an ISO date such as 2026-12-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@click.group()
def audit() -> None:
    """The audit log of every change, sign-in and permission change."""


@audit.command("list")
@click.option("--user", "username", help="Only what this user did.")
@click.option("--resource", help="KIND or KIND:ID (experiment:3, registered_model:churn, user:alice).")
@click.option("--since", help="2h, 7d, or an ISO date/time (UTC).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@out.output_option
@db_option
def list_audit(username, resource, since, limit, output, backend_store_uri) -> None:
    """Audit entries, newest first."""
    with _service(backend_store_uri) as (service, ctx):
        entries = service.list_audit(
            ctx, username=username, resource=resource, since=parse_since(since), limit=limit
        )
    if output == out.JSON:
        out.print_json([e.to_dict() for e in entries])
        return
    out.table(
        ["when", "who", "how", "what", "resource", "status", "from", "request"],
        [
            [
                out.fmt_time(e.timestamp),
                e.username,
                e.method,
                e.action,
                f"{e.resource_kind or ''} {e.resource_id or ''}".strip(),
                e.status,
                e.address,
                e.request_id,
            ]
            for e in entries
        ],
    )
