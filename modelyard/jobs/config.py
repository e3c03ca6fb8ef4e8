"""How the scheduler and the executors behave (defaults; ``settings.jobs`` and CLI flags set them)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobsConfig:
    executor: str = "local"  # the default executor of jobs that name none: local | celery
    broker_url: str = "redis://127.0.0.1:6379/0"  # the Celery broker (amqp://... for RabbitMQ)
    celery_queue: str = "modelyard-jobs"  # the broker queue tasks are sent to and workers consume
    logs_dir: str = os.path.abspath("modelyard-job-logs")  # where task logs are written as they run
    local_slots: int = 8  # task processes one scheduler (local executor) or worker runs at once
    poll_interval_s: float = 1.0  # how often a scheduler looks at the database when nothing wakes it
    heartbeat_interval_s: float = 2.0  # how often a running task's owner says it is alive
    heartbeat_lapse_s: float = 15.0  # a running task without a heartbeat this long is failed
    dispatch_lapse_s: float = 300.0  # a task handed to the broker that no worker took is requeued
    misfire_grace_s: float = 60.0  # catch_up: none still fires a due time missed by less than this
    kill_grace_s: float = 5.0  # SIGTERM, then SIGKILL after this long, when a task is timed out or cancelled
    trigger_poll_s: float = 5.0  # how often the registry and watched folders are looked at
    prefork: bool = True  # module:function tasks fork from a warm runner (False: a new interpreter each)
    tracking_uri: str | None = None  # what a task's process logs to (default: the scheduler's database)
