"""``modelyard scheduler`` and ``modelyard worker``: the processes that fire and run jobs.

Run as many schedulers as you like against one database: each due time and each event still
fires once. ``modelyard worker --executor celery`` runs tasks of jobs whose executor is celery,
fed through the broker (RabbitMQ ``amqp://`` or Redis ``redis://``).
"""

from __future__ import annotations

import logging
import signal

import click

from modelyard.cli._context import state

logger = logging.getLogger(__name__)


def _common(f):
    f = click.option("--backend-store-uri", default=None, help="The tracking database (default: the tracking URI's).")(f)
    f = click.option("--broker-url", default=None, help="Celery broker (amqp://... or redis://...).")(f)
    f = click.option("--logs-dir", default=None, help="Where task logs are written while tasks run.")(f)
    f = click.option("--slots", default=None, type=int, help="Tasks run at once by this process.")(f)
    f = click.option("--queue", "celery_queue", default=None, help="The Celery queue (default modelyard-jobs).")(f)
    f = click.option("--heartbeat-lapse", "heartbeat_lapse_s", default=None, type=float,
                     help="Seconds without a heartbeat after which a running task is failed.")(f)
    f = click.option("--prefork/--no-prefork", default=None,
                     help="module:function tasks fork from a warm task runner (default) or start a new interpreter each.")(f)
    return f


def build(backend_store_uri, broker_url, logs_dir, slots, celery_queue=None, heartbeat_lapse_s=None, prefork=None, **extra):
    from modelyard.auth.context import local_context
    from modelyard.jobs.config import JobsConfig
    from modelyard.server.services import Services
    from modelyard.tracking.stores import resolve_tracking_uri

    settings = state().settings()
    uri = backend_store_uri or resolve_tracking_uri(state().tracking_uri, settings)
    settings = settings.replace(backend_store_uri=uri)
    services = Services.from_settings(settings)
    values = {k: v for k, v in dict(broker_url=broker_url, logs_dir=logs_dir, local_slots=slots, tracking_uri=uri,
                                                       celery_queue=celery_queue, heartbeat_lapse_s=heartbeat_lapse_s, prefork=prefork, **extra).items() if v is not None}
    config = JobsConfig(**values)
    return services, local_context(settings, "scheduler"), config


def _until_signal(stop) -> None:
    def handler(signum, _frame):
        logger.info("signal %s: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command()
@_common
@click.option("--poll-interval", default=None, type=float, help="Seconds between passes when nothing wakes it.")
@click.option("--executor", type=click.Choice(["local", "celery"]), default=None, help="Executor of jobs that name none.")
def scheduler(poll_interval, executor, **flags) -> None:
    """Fire due schedules and triggers, move runs along, run local tasks (any number of these)."""
    from modelyard.jobs.scheduler import Scheduler

    services, ctx, config = build(**flags, poll_interval_s=poll_interval, executor=executor)
    sched = Scheduler(services.jobs, services.tracking, services.registry, ctx, config, services.artifacts)
    click.echo(f"Scheduler {sched.owner} on {config.tracking_uri}", err=True)
    _until_signal(sched.request_stop)
    try:
        sched.run_forever()
    finally:
        sched.stop()
        services.close()


@click.command()
@_common
@click.option("--executor", type=click.Choice(["celery"]), default="celery", show_default=True)
def worker(executor, **flags) -> None:
    """A Celery worker that runs job tasks (start one per machine, or more)."""
    from modelyard.jobs import celery_executor

    services, ctx, config = build(**flags)
    celery_executor.run_worker(services, ctx, config)
