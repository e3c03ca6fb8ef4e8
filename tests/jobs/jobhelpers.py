"""Helpers of the job tests (a module of its own: every test folder has a conftest)."""

import contextlib
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

from modelyard.auth.context import local_context
from modelyard.entities.job import TERMINAL
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.scheduler import Scheduler
from modelyard.jobs.service import JobService
from modelyard.settings import Settings
from modelyard.store.tracking.sql.store import SqlTrackingStore
from modelyard.tracking.service import TrackingService

TASKS_DIR = os.path.dirname(os.path.abspath(__file__))


def _root_conftest():
    """tests/conftest.py as a module, for its service_unavailable() (fail in CI, skip on a laptop)."""
    name = "modelyard_tests_root_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def service_unavailable(reason):
    _root_conftest().service_unavailable(reason)
WAIT_S = 60  # a safety net for a hung run, not a timing assertion


def task(key, run, **kw):
    """A task definition whose process finds tests/jobs/jobtasks.py."""
    return {"key": key, "run": run, "env": {"PYTHONPATH": TASKS_DIR}, **kw}


class Env:
    def __init__(self, uri, tmp_path, settings=None, **config):
        settings = Settings.defaults(backend_store_uri=uri, tracking_uri=uri, **(settings or {}))
        self.ctx = local_context(settings, "tester")
        self.tracking = TrackingService(SqlTrackingStore.from_uri(uri, settings, str(tmp_path / "artifacts")))
        self.jobs = JobService.from_engine(self.tracking.store.engine)
        defaults = dict(logs_dir=str(tmp_path / "logs"), poll_interval_s=0.05, heartbeat_interval_s=0.2,
                        heartbeat_lapse_s=3.0, kill_grace_s=1.0, tracking_uri=uri, trigger_poll_s=0.0)
        defaults.update(config)
        self.config = JobsConfig(**defaults)
        self.scheduler = Scheduler(self.jobs, self.tracking, None, self.ctx, self.config)

    def wait(self, job_run_id, timeout=WAIT_S):
        """Drive the scheduler until the run ends; the run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.scheduler.run_once()
            run = self.jobs.get_run(self.ctx, job_run_id)
            if run.status in TERMINAL:
                return run
            time.sleep(0.05)
        raise AssertionError(f"job run {job_run_id} did not end: {self.jobs.get_run(self.ctx, job_run_id)}")

    def close(self):
        self.scheduler.stop()
        self.tracking.close()


@contextlib.contextmanager
def serve(settings):
    """The app for ``settings`` in uvicorn on a thread (127.0.0.1, a free port): (its URL, its Services)."""
    import uvicorn

    from modelyard.server.app import create_app
    from modelyard.server.services import Services

    services = Services.from_settings(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=0, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", services
    finally:
        server.should_exit = True
        thread.join(10)
