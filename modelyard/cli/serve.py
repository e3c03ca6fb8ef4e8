"""``modelyard models serve``: a model (or several) as a REST endpoint, MLflow's flags and more.

One worker runs the app in this process; ``--workers N`` runs N uvicorn worker processes, each
building the same config from the ``MODELYARD_SERVE_*`` variables this command sets (``worker_app``
is their factory) and each following the registry on its own.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from modelyard.cli._context import state

_FLAG_TO_ENV = {
    "timeout": "MODELYARD_SERVE_TIMEOUT",
    "poll_interval": "MODELYARD_SERVE_POLL_INTERVAL",
    "max_batch_rows": "MODELYARD_SERVE_MAX_BATCH_ROWS",
    "max_wait_ms": "MODELYARD_SERVE_MAX_WAIT_MS",
    "max_body_bytes": "MODELYARD_SERVE_MAX_BODY_BYTES",
    "webhook_secret": "MODELYARD_SERVE_WEBHOOK_SECRET",
    "inference_log": "MODELYARD_SERVE_INFERENCE_LOG",
    "auth_tokens_file": "MODELYARD_SERVE_AUTH_TOKENS_FILE",
}
_BOOL_TO_ENV = {"batching": "MODELYARD_SERVE_BATCHING", "warmup": "MODELYARD_SERVE_WARMUP"}


@click.command("serve")
@click.option("--model-uri", "-m", "models", multiple=True, required=True, metavar="[NAME=]URI",
              help="Model to serve: models:/churn@champion (follows the alias), models:/churn/Production, "
                   "models:/churn/3, runs:/<id>/model, a folder... Repeat with NAME=URI to serve several; "
                   "the first answers /invocations.")
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Address to listen on.")
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
    from modelyard.settings import Settings

    settings = state().settings()
    access_log = flags.pop("access_log")
    access_log = settings.serve_access_log if access_log is None else access_log
    given = {name: value for name, value in flags.items() if value is not None}
    tracking_uri = state().tracking_uri or settings.tracking_uri
    config = ServeConfig.from_settings(settings, models=models, tracking_uri=tracking_uri, **given)
    if port == 0:
        port = _free_port(host)
    names = ", ".join(f"{s.name}={s.uri}" for s in config.models)
    click.echo(f"modelyard scoring server listening on http://{host}:{port} ({workers} worker(s); {names})", err=True)
    # ws="none": no WebSocket endpoints, so uvicorn need not import a WebSocket library at start.
    common = dict(host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=30, ws="none")
    if workers == 1:
        from modelyard.serving.service import ScoringService

        configure_logging(access_log)
        service = ScoringService(config)
        service.start()  # the models load while uvicorn starts (the app's lifespan finds it started)
        import uvicorn

        uvicorn.run(_configured_app(config, access_log, service), **common)
        return
    import uvicorn

    # Worker processes build their config from the environment: pass everything through it.
    os.environ["MODELYARD_SERVE_MODELS"] = encode_models(config.models)
    os.environ["MODELYARD_SERVE_ACCESS_LOG"] = "true" if access_log else "false"
    if tracking_uri:
        os.environ["MODELYARD_TRACKING_URI"] = tracking_uri
    for name, value in given.items():
        if name in _BOOL_TO_ENV:
            os.environ[_BOOL_TO_ENV[name]] = "true" if value else "false"
        else:
            os.environ[_FLAG_TO_ENV[name]] = str(value)
    Settings.from_env()  # the workers will read these back
    uvicorn.run("modelyard.cli.serve:worker_app", factory=True, workers=workers, **common)


def worker_app():
    """The factory of ``--workers N`` processes: the app of the ``MODELYARD_SERVE_*`` variables."""
    from modelyard.serving.config import ServeConfig
    from modelyard.settings import Settings

    settings = Settings.from_env()
    return _configured_app(ServeConfig.from_settings(settings), settings.serve_access_log)


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


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
