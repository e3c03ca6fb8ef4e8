"""``modelyard server`` (alias ``modelyard ui``): the tracking server, with MLflow's flags."""

from __future__ import annotations

import functools
import gc
import os
import secrets
from collections.abc import Callable

import click

from modelyard.cli._context import CliError, state
from modelyard.cli._ports import claim_port


@click.command("server")
@click.option(
    "--backend-store-uri", metavar="URI", help="Database for runs (default: sqlite:///modelyard.db here)."
)
@click.option(
    "--default-artifact-root",
    metavar="URI",
    help="Artifact root of new experiments (default: mlflow-artifacts:/ when serving artifacts).",
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    default=True,
    show_default=True,
    help="Proxy artifact uploads and downloads.",
)
@click.option(
    "--artifacts-destination",
    metavar="URI",
    help="Where proxied artifacts are stored (default: ./modelyard-artifacts).",
)
# no click defaults: a flag wins over MODELYARD_HOST / MODELYARD_PORT, which win over the settings' defaults
@click.option("--host", "-H", help="Address to listen on.  [default: MODELYARD_HOST, else 127.0.0.1]")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    help="Port to listen on.  [default: MODELYARD_PORT, else 5000]",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(1, 64),
    help="Worker processes.  [default: MODELYARD_WORKERS, else one per CPU core, at most 4]",
)
@click.option(
    "--allowed-hosts", metavar="LIST", help="Comma-separated Host header values to answer ('*': any)."
)
@click.option(
    "--cors-allowed-origins", metavar="LIST", help="Comma-separated browser origins allowed ('*': any)."
)
@click.option(
    "--scheduler/--no-scheduler",
    default=False,
    help="Also run the job scheduler (any number of them may run).",
)
@click.option(
    "--auth",
    is_flag=True,
    default=None,
    help="Authentication and per-resource permissions (needs MODELYARD_ADMIN_PASSWORD; see the README).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(
    workers: int | None, serve_artifacts: bool, scheduler: bool, log_level: str, auth: bool | None, **flags
) -> None:
    """Run the tracking server (MLflow's REST API, artifact proxy)."""
    from modelyard.server import prefork

    # The flags win over the environment; the workers get this object (no os.environ writes).
    given = {name: value for name, value in flags.items() if value is not None}
    if auth:
        given["auth_enabled"] = True
    settings = state().settings().replace(**given, serve_artifacts=serve_artifacts)
    workers = workers or settings.server.workers or default_workers()
    settings = settings.replace(workers=workers)
    if scheduler:
        settings = settings.replace(jobs_scheduler=True)
    if not settings.server.page_token_secret:  # every worker must accept the others' page tokens
        settings = settings.replace(page_token_secret=secrets.token_urlsafe(32))
    from modelyard.auth.config import auth_config

    auth_config(settings).check()  # authentication on and no admin password: refuse to start
    # Before anything is announced or migrated: "port 5000 is in use" (0 picks a free port here,
    # so the address printed below is the real one).
    port = claim_port(settings.server.host, settings.server.port)
    if port != settings.server.port:
        settings = settings.replace(port=port)
    options = dict(
        host=settings.server.host,
        port=settings.server.port,
        log_level=log_level,
        access_log=log_level == "debug",
        ws="none",  # no WebSocket endpoints: uvicorn need not import a WebSocket library at start
    )
    forked = workers > 1 and prefork.available()
    # The schema check (and the migration of a new database) runs in a child started first, so it
    # overlaps the app's imports below: on two cores the launch takes the longer of the two, not both.
    # The child starts with SQLAlchemy and the driver imported here (the parent needs them too), the
    # rest of the app is imported after the fork.
    preload_database(settings)
    database_ready = prepare_database(settings, in_child=workers > 1)
    from modelyard.cli import _uvicorn
    from modelyard.server.app import create_app
    from modelyard.web.http_limits import limits_of

    if forked:
        preload_app(settings)  # once, here: the forked workers share it
    database_ready()
    click.echo(
        f"modelyard server listening on http://{settings.server.host}:{settings.server.port} ({workers} worker(s))",
        err=True,
    )
    limits = limits_of(settings.server)  # header size/count/timeouts, keep-alive, connection cap
    _uvicorn.run(functools.partial(create_app, settings), workers, limits, fork=True, **options)


def preload_database(settings) -> None:
    """Import what the schema check needs first: SQLAlchemy, the database's dialect and driver."""
    from modelyard.server.backend import backend_store_uri
    from modelyard.store.sql import migrate  # noqa: F401
    from modelyard.store.sql.engine import normalize_db_uri

    try:
        from sqlalchemy.engine import make_url

        make_url(normalize_db_uri(backend_store_uri(settings))).get_dialect().import_dbapi()
    except Exception:  # a bad URI or a missing driver: the schema check reports it
        pass


def preload_app(settings) -> None:
    """Import what a worker's ``create_app`` imports, without building anything (no engine, no thread)."""
    import modelyard.jobs.service  # noqa: F401  (workflows, on the tracking database)
    import modelyard.registry.runtime  # noqa: F401  (the registry, attached to every app)
    from modelyard.plugins import REGISTRY_STORES, load_object
    from modelyard.server import app
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    load_object(REGISTRY_STORES[SqlTrackingStore.__name__])  # the registry's store, on the same database

    app.compile_api_paths()  # the workers' routes then find their patterns in re's cache
    # prefork.run collects and freezes what the parent holds before forking; done here, while the
    # schema check runs, that collection (~0.1 s of a full one) is off the launch's path.
    gc.collect()
    gc.freeze()


def prepare_database(settings, in_child: bool) -> Callable[[], None]:
    """Start migrating an empty database (or refusing an old schema) before any worker starts;
    the returned function waits for the outcome and raises its error.

    With several workers the check runs in a short-lived forked child: the supervisor process,
    which stays up for the server's lifetime, then never holds the store's modules (about 45 MB),
    and the caller imports the app while the child works. Otherwise it runs when waited for.
    """
    from modelyard.exceptions import ModelyardError

    if not in_child or not hasattr(os, "fork"):
        return functools.partial(_check_database, settings)
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_check_in_child, args=(settings, send), name="modelyard-db-check")
    child.start()
    send.close()

    def wait() -> None:
        try:  # blocks until the child sends, or exits without a word (end of file)
            outcome = receive.recv()
        except EOFError:
            outcome = None
        child.join()
        if outcome is None:
            raise CliError(f"The database check stopped unexpectedly (exit code {child.exitcode}).")
        if isinstance(outcome, ModelyardError):
            raise outcome
        if outcome:
            raise CliError(outcome)

    return wait


def _check_database(settings) -> None:
    """A database already at the schema head needs only one query (no store, no Alembic)."""
    from modelyard.server.backend import backend_store_uri, open_tracking_store
    from modelyard.store.sql.engine import create_db_engine
    from modelyard.store.sql.migrate import SCHEMA_HEAD, current_revision

    engine = create_db_engine(backend_store_uri(settings), settings)
    try:
        ready = current_revision(engine) == SCHEMA_HEAD
    finally:
        engine.dispose()
    if not ready:  # empty (migrate it, create experiment "0") or at another revision (refused):
        open_tracking_store(settings).close()  # what opening the store does (not the server's services)


def _check_in_child(settings, send) -> None:
    """Runs in the forked child: sends "" when the database is ready, else the error to show."""
    from modelyard.exceptions import ModelyardError

    try:
        _check_database(settings)
        send.send("")
    except ModelyardError as exc:
        send.send(exc)
    except Exception as exc:  # reported by the parent as one line, never a traceback
        send.send(f"{type(exc).__name__}: {exc}")
    finally:
        send.close()


def default_workers() -> int:
    """One worker per CPU core this process may run on, at most 4 (``mlflow server`` starts 4).

    Forked from a parent that imported the app once, a worker costs little idle memory (measured
    on a 2-core box, total PSS of the server's processes: 74 MB with 1 worker, 102 MB with 2,
    145 MB with 4); more workers than cores only add context switches.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))
