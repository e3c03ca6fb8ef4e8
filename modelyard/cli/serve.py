"""``modelyard models serve``: a model (or several) as a REST endpoint, MLflow's flags and more.

One worker runs the app in this process. ``--workers N`` (Linux) loads the models here, once, then
forks N workers through the tracking server's supervisor (``modelyard.server.prefork``: a worker
that dies is replaced, SIGTERM is passed on): the model and its libraries are shared copy-on-write,
each worker starts its own threads (registry follower, inference-log writer, predict pool) in the
app's lifespan and follows the registry on its own, and ``/metrics`` adds up every worker's figures
(``serving/metrics.py``). Elsewhere, N uvicorn worker processes each build the same config from the
``Settings`` this command hands them (``worker_app(settings)`` is their factory, pickled to them).
"""

from __future__ import annotations

import functools
import logging
import os
import sys

import click

from modelyard.cli._context import CliError, state
from modelyard.cli._ports import claim_port


@click.command("serve")
@click.option("--model-uri", "-m", "models", multiple=True, required=True, metavar="[NAME=]URI",
              help="Model to serve: models:/churn@champion (follows the alias), models:/churn/Production, "
                   "models:/churn/3, runs:/<id>/model, a folder... Repeat with NAME=URI to serve several; "
                   "the first answers /invocations.")
@click.option("--host", "-H", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: a free one, printed).")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--timeout", "-t", type=click.FloatRange(min=0.001), help="Seconds per request before a 504 (default 60).")
@click.option("--poll-interval", type=click.FloatRange(min=0), help="Seconds between alias/stage checks (default 2; 0: webhook only).")
@click.option("--batching/--no-batching", default=None, help="Merge concurrent requests into one predict call (default on).")
@click.option("--max-batch-rows", type=click.IntRange(1), help="Most rows in one merged predict call (default 1024).")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), help="Longest a batch waits for requests being read (default 2).")
@click.option("--max-body-bytes", type=click.IntRange(1), help="Largest request body (default 64 MiB; 413 beyond).")
@click.option("--webhook-secret", metavar="SECRET", help="Check the HMAC signature of registry webhooks with this secret.")
@click.option("--auth-tokens-file", metavar="PATH",
              help="Require Authorization: Bearer with one of the tokens in PATH (one a line) on every route "
                   "but /ping, /health and /v2/health/*.")
@click.option("--auth-store", metavar="URI",
              help="Accept the API tokens of the tracking database at URI too (scoped, revocable: "
                   "`modelyard tokens create --scope models:use`).")
@click.option("--inference-log", metavar="DEST", help="Log requests and responses to a folder (Parquet) or a database URI.")
@click.option("--warmup/--no-warmup", default=None, help="Predict the saved input example before serving a version (default on).")
@click.option("--access-log/--no-access-log", default=None, help="One JSON access-log line per request on stderr (default on).")
@click.option("--env-manager", type=click.Choice(["local"]), default="local", hidden=True,
              help="Accepted for MLflow compatibility: the model runs in this environment.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Level of the server's own logs.")
def serve(models: tuple[str, ...], host: str, port: int, workers: int, log_level: str, env_manager: str, **flags) -> None:
    """Serve models over HTTP: MLflow's /invocations and the Open Inference Protocol v2."""
    from modelyard.serving.config import ServeConfig, encode_models

    settings = state().settings()
    access_log = flags.pop("access_log")
    access_log = settings.serving.access_log if access_log is None else access_log
    given = {name: value for name, value in flags.items() if value is not None}
    tracking_uri = state().tracking_uri or settings.client.tracking_uri
    config = ServeConfig.from_settings(settings, models=models, tracking_uri=tracking_uri, **given)
    port = claim_port(host, port)  # before loading anything: "port 5000 is in use" comes first
    for spec in config.models:  # reading a registry or a run never creates a database
        state().tracking_uri_to_read(spec.uri)
    # ws="none": no WebSocket endpoints, so uvicorn need not import a WebSocket library at start.
    common = dict(host=host, port=port, log_level=log_level, access_log=False, ws="none")
    from modelyard.web.http_limits import limits_of, server_config

    limits = limits_of(settings.serving)  # header size/count/timeouts, keep-alive, connection cap
    if workers == 1:
        from modelyard.serving.service import ScoringService

        configure_logging(access_log)
        service = ScoringService(config)
        _load_or_stop(service.slots, service.stop)
        _announce(host, port, workers, config)
        service.start()  # follows the registry from here (the app's lifespan finds it started)
        from modelyard.cli import _uvicorn

        _uvicorn.serve(server_config(_configured_app(config, access_log, service), limits, **common))
        return
    from modelyard.server import prefork

    if prefork.available():
        _serve_forked(config, access_log, workers, limits, common)
        return
    _check_models_load(config)  # here, once: each worker loads them again for itself
    _announce(host, port, workers, config)
    from modelyard.cli import _uvicorn

    # The worker processes get the settings of this command (flags included), never os.environ.
    worker_settings = settings.replace(
        serve_models=encode_models(config.models),
        serve_access_log=access_log,
        **({"tracking_uri": tracking_uri} if tracking_uri else {}),
        **{f"serve_{name}": value for name, value in given.items()},
    )
    _uvicorn.run(functools.partial(worker_app, worker_settings), workers, limits, **common)


def _serve_forked(config, access_log: bool, workers: int, limits, common: dict) -> None:
    """Load the models here, then fork ``workers`` processes that serve them (exits with the status)."""
    from modelyard.cli import _uvicorn
    from modelyard.serving import metrics
    from modelyard.serving.service import ScoringService

    folder = metrics.share_between_processes()  # before the service creates its metrics
    service = None
    try:
        configure_logging(access_log)
        service = ScoringService(config)
        _load_or_stop(service.slots, service.stop)
        service.slots.release_registry()  # no connection shared with the workers
        metrics.forget_process(os.getpid())  # this process answers no request: its gauges do not count
        _announce(common["host"], common["port"], workers, config)
        factory = functools.partial(_configured_app, config, access_log, service)
        _uvicorn.run(factory, workers, limits, fork=True, on_worker_exit=metrics.forget_process, **common)
    finally:
        if service is not None:
            service.stop()
        metrics.stop_sharing(folder)


def _announce(host: str, port: int, workers: int, config) -> None:
    names = ", ".join(f"{s.name}={s.uri}" for s in config.models)
    click.echo(f"modelyard scoring server listening on http://{host}:{port} ({workers} worker(s); {names})", err=True)


def _load_or_stop(slots, close) -> None:
    """Load every model now; a model that cannot be resolved or loaded stops the command in one line."""
    failures = slots.load_now()
    if failures:
        close()
        raise CliError("; ".join(f"Cannot serve model {name!r}: {reason}" for name, reason in failures.items()))


def _check_models_load(config) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from modelyard.serving.slots import ModelSlots

    with ThreadPoolExecutor(max_workers=1) as executor:
        slots = ModelSlots(config, executor)
        _load_or_stop(slots, slots.stop)
        slots.stop()


def worker_app(settings):
    """The factory of ``--workers N`` processes: the app of ``settings``' ``serving`` section."""
    from modelyard.serving.config import ServeConfig

    return _configured_app(ServeConfig.from_settings(settings), settings.serving.access_log)


def _configured_app(config, access_log: bool, service=None):
    from modelyard.serving import create_scoring_app

    configure_logging(access_log)
    return create_scoring_app(config, service)


def configure_logging(access_log: bool) -> None:
    """Access lines (JSON) and model load / switch notices to stderr; only the CLI sets handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("modelyard.serving.access")
    access.handlers[:] = [handler] if access_log else []
    access.setLevel(logging.INFO if access_log else logging.WARNING)
    access.propagate = False
    notices = logging.StreamHandler(sys.stderr)
    notices.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    slots = logging.getLogger("modelyard.serving.slots")
    slots.handlers[:] = [notices]
    slots.setLevel(logging.INFO)
    slots.propagate = False
