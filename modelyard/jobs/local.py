"""The local executor: each task attempt in its own subprocess on this machine, up to
``local_slots`` at once, each supervised by a thread (logs, heartbeat, timeout, cancel)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from modelyard.auth.context import RequestContext
from modelyard.entities.job import FAILED, RUNNING
from modelyard.jobs import runner
from modelyard.jobs.config import JobsConfig

logger = logging.getLogger(__name__)


class LocalExecutor:
    name = "local"

    def __init__(self, store, tracking, ctx: RequestContext, config: JobsConfig, owner: str,
                 on_done: Callable[[], None] | None = None, artifacts=None) -> None:
        self.store, self.tracking, self.ctx, self.config, self.owner = store, tracking, ctx, config, owner
        self.artifacts = artifacts  # the proxied artifact store (mlflow-artifacts:), when this process has one
        self.on_done = on_done
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        """Warm the task runner up (``jobs/prefork.py``) when this executor will run tasks."""
        if self.config.prefork and self.config.local_slots > 0:
            runner.warm_up()

    def free(self) -> int:
        with self._lock:
            return self.config.local_slots - len(self._running)

    def dispatch(self) -> int:
        free = self.free()
        if free <= 0 or self._stop.is_set():
            return 0
        claimed = self.store.claim_tasks(self.name, self.owner, free)
        for task_run_id in claimed:
            thread = threading.Thread(target=self._run, args=(task_run_id,), name=f"modelyard-task-{task_run_id[:8]}", daemon=True)
            with self._lock:
                self._running[task_run_id] = thread
            thread.start()
        return len(claimed)

    def _run(self, task_run_id: str) -> None:
        try:
            runner.execute(self.store, self.tracking, self.ctx, self.config, task_run_id, self._stop, self.artifacts)
        except Exception as exc:
            logger.exception("task run %s failed to run", task_run_id)
            self.store.transition(task_run_id, RUNNING, FAILED, error=f"The executor failed: {exc}")
        finally:
            with self._lock:
                self._running.pop(task_run_id, None)
            if self.on_done is not None:
                self.on_done()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout_s)
