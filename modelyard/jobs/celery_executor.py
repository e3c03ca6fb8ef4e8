"""The Celery executor: tasks of jobs with ``executor: celery`` run on a fleet of
``modelyard worker`` processes fed through the broker (RabbitMQ or Redis).

The scheduler moves a due task run QUEUED -> DISPATCHED and sends its id; a worker takes it
DISPATCHED -> RUNNING (a compare-and-set: a message delivered twice runs once), runs it in a
subprocess like the local executor and sends heartbeats to the database. A worker killed
mid-task stops heartbeating: the scheduler's reaper fails the attempt and the retry policy
decides what follows. A message no worker took is sent again after ``dispatch_lapse_s``.
"""

from __future__ import annotations

import logging
import threading

from modelyard.auth.context import RequestContext
from modelyard.entities.job import DISPATCHED, FAILED, RUNNING
from modelyard.jobs import runner
from modelyard.jobs.config import JobsConfig

logger = logging.getLogger(__name__)

TASK_NAME = "modelyard.jobs.run_task"


def make_app(config: JobsConfig):
    from celery import Celery

    app = Celery("modelyard-jobs", broker=config.broker_url)
    app.conf.update(
        task_default_queue=config.celery_queue,
        task_acks_late=False,  # the database, not the broker, knows whether a task ran
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    return app


class CeleryDispatcher:
    name = "celery"

    def __init__(self, store, config: JobsConfig, owner: str) -> None:
        self.store, self.config, self.owner, self.queue = store, config, owner, config.celery_queue
        self._app = None
        self._lock = threading.Lock()

    def dispatch(self, limit: int = 500) -> int:
        ids = self.store.claim_tasks(self.name, self.owner, limit, to=DISPATCHED)
        if ids:
            with self._lock:
                if self._app is None:
                    self._app = make_app(self.config)
                for task_run_id in ids:
                    self._app.send_task(TASK_NAME, args=[task_run_id], queue=self.queue)
        return len(ids)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def run_worker(services, ctx: RequestContext, config: JobsConfig, argv: list[str] | None = None) -> None:
    """Consume the queue and run the task runs it carries (blocks until the worker stops)."""
    from modelyard.jobs.scheduler import owner_name

    app = make_app(config)
    queue = config.celery_queue
    store = services.jobs.store
    owner = owner_name("worker")
    stop = threading.Event()

    @app.task(name=TASK_NAME)
    def run_task(task_run_id: str) -> None:
        if not store.transition(task_run_id, DISPATCHED, RUNNING, owner=owner):
            logger.info("task run %s: taken already, skipped", task_run_id)
            return
        try:
            runner.execute(store, services.tracking, ctx, config, task_run_id, stop, services.artifacts)
        except Exception as exc:
            logger.exception("task run %s failed to run", task_run_id)
            store.transition(task_run_id, RUNNING, FAILED, error=f"The worker failed: {exc}")

    args = argv or [
        "worker", "--pool", "threads", "--concurrency", str(config.local_slots), "--queues", queue,
        "--without-gossip", "--without-mingle", "--loglevel", "INFO", "--hostname", f"{owner}@%h",
    ]
    if config.prefork:
        runner.warm_up()
    try:
        app.worker_main(args)
    finally:
        stop.set()
