"""Running one task attempt in its own process: the same code for the local executor and for a
Celery worker.

The task gets a tracking run (tagged ``modelyard.job``, ``modelyard.job_run_id``,
``modelyard.task``, ``modelyard.task_attempt``) which its process resumes: everything it logs
with ``modelyard.start_run()`` lands there. Its stdout and stderr go to a log file, copied to the
database while it runs (``jobs logs --follow`` reads them from any machine); when the attempt
ends the log file is uploaded to the tracking run's artifacts (``logs/<task>.<attempt>.log``). The process is started in its own
session, so a timeout or a cancel kills the whole process tree (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from modelyard.auth.context import RequestContext
from modelyard.entities import RunTag
from modelyard.entities.job import CANCELLED, FAILED, RUNNING, SUCCEEDED
from modelyard.jobs import prefork
from modelyard.jobs.config import JobsConfig
from modelyard.jobs.engine import spec_of
from modelyard.jobs.kinds import EXEC
from modelyard.settings import child_environment
from modelyard.store.sql.common import now_ms

logger = logging.getLogger(__name__)

LOG_CHUNK = 64 * 1024


_experiments: dict[tuple[int, str], str] = {}  # (id of the tracking service, name) -> experiment id


def _experiment_id(tracking, ctx: RequestContext, name: str) -> str:
    cached = _experiments.get((id(tracking), name))
    if cached is not None:
        return cached
    exp = tracking.get_experiment_by_name(ctx, name)
    if exp is not None and exp.lifecycle_stage == "active":
        experiment_id = exp.experiment_id
    else:
        try:
            experiment_id = tracking.create_experiment(ctx, name)
        except Exception:  # created meanwhile by another worker
            exp = tracking.get_experiment_by_name(ctx, name)
            if exp is None:
                raise
            experiment_id = exp.experiment_id
    _experiments[(id(tracking), name)] = experiment_id
    return experiment_id


def _create_tracking_run(tracking, ctx: RequestContext, experiment: str, tags: list[RunTag], name: str):
    try:
        return tracking.create_run(ctx, _experiment_id(tracking, ctx, experiment), None, now_ms(), tags, name)
    except Exception:  # a cached experiment deleted meanwhile: look it up again, once
        if _experiments.pop((id(tracking), experiment), None) is None:
            raise
        return tracking.create_run(ctx, _experiment_id(tracking, ctx, experiment), None, now_ms(), tags, name)


def kill_tree(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the task's process group, then SIGKILL what is left after ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            try:  # a forked task caught before its setsid(): the process itself
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader exited: kill stragglers of its group too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


class LogPump:
    """Copies new bytes of a log file into the database, in numbered chunks."""

    def __init__(self, store, task_run_id: str, path: str) -> None:
        self.store, self.task_run_id, self.path = store, task_run_id, path
        self.offset, self.seq = 0, 0

    def flush(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                while data := f.read(LOG_CHUNK):
                    self.offset += len(data)
                    self.store.append_log(self.task_run_id, self.seq, data.decode("utf-8", "replace"))
                    self.seq += 1
        except FileNotFoundError:
            pass


def execute(store, tracking, ctx: RequestContext, config: JobsConfig, task_run_id: str, stop: threading.Event | None = None,
            artifacts=None) -> str:
    """Run a claimed (RUNNING) task attempt to its end; returns its final status."""
    run = store.get_run_of_task(task_run_id)
    tr = next(t for t in run.tasks if t.task_run_id == task_run_id)
    spec = spec_of(json.dumps(run.spec, sort_keys=True))
    task = spec.task(tr.task_key)
    params = spec.params_for(task.key, run.params)
    values = {k: t.result for k, t in run.latest().items() if t.status == SUCCEEDED}
    folder = os.path.join(config.logs_dir, run.job_run_id)
    os.makedirs(folder, exist_ok=True)
    log_path = os.path.join(folder, f"{task.key}.{tr.attempt}.log")
    tracking_run = _create_tracking_run(
        tracking,
        ctx,
        spec.experiment or f"jobs/{spec.name}",
        [
            RunTag("modelyard.job", spec.name),
            RunTag("modelyard.job_run_id", run.job_run_id),
            RunTag("modelyard.task", task.key),
            RunTag("modelyard.task_attempt", str(tr.attempt)),
        ],
        f"{spec.name}.{task.key}",
    )
    run_id = tracking_run.info.run_id
    store.update_task(task_run_id, tracking_run_id=run_id, log_path=log_path)
    info = {"job": spec.name, "job_run_id": run.job_run_id, "task": task.key, "attempt": tr.attempt, "run_id": run_id}
    env = child_environment(
        {
            **task.env,
            "MLFLOW_RUN_ID": run_id,
            "MODELYARD_TASK_VALUES": json.dumps(values),
            "MODELYARD_TASK_PARAMS": json.dumps(params),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if config.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = config.tracking_uri
    result_path = log_path[: -len(".log")] + ".result.json"
    if task.kind.launch == EXEC:
        mapping = {k: str(v) for k, v in params.items()}
        start = _exec([string.Template(a).safe_substitute(mapping) for a in task.run], env)
    else:
        child_ctx = {"run": task.run, "params": params, "values": values, "info": info, "cwd": os.getcwd(), "result_path": result_path}
        start = _fork(child_ctx, env, log_path) if config.prefork else _exec_child(child_ctx, env, log_path)
    status, error, exit_code, result = _supervise(store, config, task_run_id, start, log_path, task.timeout_seconds, stop)
    if status == SUCCEEDED and not task.is_command and os.path.exists(result_path):
        with open(result_path) as f:
            result = f.read()
    upload_log(config, ctx, tracking_run.info.artifact_uri, log_path, artifacts)
    if not store.transition(task_run_id, RUNNING, status, error=error, exit_code=exit_code, result=result):
        status = store.get_task_run(task_run_id).status  # the reaper or a cancel was first
    tracking.update_run_info(ctx, run_id, {SUCCEEDED: "FINISHED", CANCELLED: "KILLED"}.get(status, "FAILED"), now_ms())
    return status


LOG_ARTIFACT_DIR = "logs"  # where a task's log lands among its tracking run's artifacts


def upload_log(config: JobsConfig, ctx: RequestContext, artifact_uri: str, log_path: str, artifacts=None) -> str | None:
    """Upload the attempt's log file to its tracking run's artifacts (``logs/<task>.<attempt>.log``);
    the artifact path, or None when it could not be uploaded (the database copy stays either way).
    A ``mlflow-artifacts:`` run (the server proxies its artifacts) is written through ``artifacts``
    (the ArtifactService of this process's services: the scheduler in the server, or one beside it
    with the same settings), else through the tracking server at ``config.tracking_uri``."""
    from modelyard.artifacts import get_artifact_repository, uri_scheme
    from modelyard.artifacts.service import PROXY_SCHEME, proxied_path

    if not os.path.exists(log_path):
        return None
    name = f"{LOG_ARTIFACT_DIR}/{os.path.basename(log_path)}"
    try:
        if uri_scheme(artifact_uri) == PROXY_SCHEME and artifacts is not None and artifacts.serving:
            with open(log_path, "rb") as f:
                artifacts.write(ctx, f"{proxied_path(artifact_uri)}/{name}", f.read())
            return name
        repo = get_artifact_repository(artifact_uri, tracking_uri=config.tracking_uri, settings=ctx.settings)
        repo.log_artifact(log_path, LOG_ARTIFACT_DIR)
    except Exception as exc:  # a store that is down must not change the task's outcome
        logger.warning("could not upload the log %s to %s: %s", log_path, artifact_uri, exc)
        return None
    return name


Start = Callable[[str], "subprocess.Popen | prefork.ForkedProcess"]  # (log path) -> process; OSError with a message


def _exec(cmd: list[str], env: dict[str, str]) -> Start:
    """Start a program in a session of its own, its output appended to the log."""

    def start(log_path: str) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            try:
                return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            except OSError as exc:
                raise OSError(f"Could not start {cmd[0]!r}: {exc}") from None

    return start


def _exec_child(child_ctx: dict[str, Any], env: dict[str, str], log_path: str) -> Start:
    """A ``module:function`` task in a new interpreter (``python -m modelyard.jobs.child``)."""
    ctx_path = log_path[: -len(".log")] + ".context.json"
    with open(ctx_path, "w") as f:
        json.dump(child_ctx, f)
    return _exec([sys.executable, "-m", "modelyard.jobs.child", ctx_path], env)


def warm_up() -> None:
    """Start this process's warm task runner before the first task needs it."""
    try:
        prefork.shared(child_environment({})).start()
    except OSError as exc:
        logger.warning("could not start the warm task runner (%s): tasks will start new interpreters", exc)


def _fork(child_ctx: dict[str, Any], env: dict[str, str], log_path: str) -> Start:
    """A ``module:function`` task forked from the warm runner; a new interpreter if the runner fails."""

    def start(log_path: str):
        try:
            return prefork.shared(child_environment({})).spawn(child_ctx, log_path, env)
        except prefork.RunnerDied as exc:
            logger.warning("the warm task runner failed (%s): starting the task in a new interpreter", exc)
            return _exec_child(child_ctx, env, log_path)(log_path)

    return start


def _supervise(store, config: JobsConfig, task_run_id: str, start: Start, log_path: str,
               timeout_s: float | None, stop: threading.Event | None) -> tuple[str, str | None, int | None, Any]:
    started = time.monotonic()
    pump = LogPump(store, task_run_id, log_path)
    try:
        proc = start(log_path)
    except OSError as exc:
        return FAILED, str(exc), None, None
    last_beat = time.monotonic()
    reason: tuple[str, str] | None = None
    while True:
        try:
            code = proc.wait(timeout=0.05 if time.monotonic() - started < 1 else 0.25)
            break
        except subprocess.TimeoutExpired:
            pass
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            reason = (FAILED, f"Timed out after {timeout_s:g} s: the task's processes were killed")
        elif stop is not None and stop.is_set():
            reason = (FAILED, "The worker stopped: the task's processes were killed")
        elif time.monotonic() - last_beat >= config.heartbeat_interval_s:
            last_beat = time.monotonic()
            if store.heartbeat([task_run_id]):
                reason = (CANCELLED, "Cancelled (or failed by the reaper): the task's processes were killed")
            pump.flush()
        if reason:
            kill_tree(proc, config.kill_grace_s)
            code = proc.returncode
            break
    pump.flush()
    if reason:
        return reason[0], reason[1], code, None
    if code != 0:
        return FAILED, f"The task's process exited with code {code}", code, None
    return SUCCEEDED, None, 0, None
