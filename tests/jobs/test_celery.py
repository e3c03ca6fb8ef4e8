"""The Celery executor against the real brokers (Redis, RabbitMQ) with ``modelyard worker``
subprocesses: tasks run on the worker; a worker killed mid-task fails the attempt once its
heartbeat lapses, and the retry runs on another worker."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from jobhelpers import WAIT_S, Env, task

from modelyard.entities.job import FAILED, RUNNING, SUCCEEDED

BROKERS = {"redis": ("redis://127.0.0.1:6379/0", 6379), "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672)}


def _reachable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(params=sorted(BROKERS))
def celery_env(request, tmp_path):
    from jobhelpers import service_unavailable  # tests/conftest.py

    url, port = BROKERS[request.param]
    if not _reachable(port):
        service_unavailable(f"{request.param} is not running on 127.0.0.1:{port}")
    e = Env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, broker_url=url, celery_queue=f"modelyard-test-{uuid.uuid4().hex}",
            heartbeat_lapse_s=4.0)
    e.workers = []

    def start_worker():
        log = open(tmp_path / f"worker-{len(e.workers)}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.cli.main", "worker", "--backend-store-uri", e.config.tracking_uri,
             "--broker-url", url, "--queue", e.config.celery_queue, "--logs-dir", str(tmp_path / "worker-logs"), "--slots", "2"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        e.workers.append(proc)
        return proc

    e.start_worker = start_worker
    yield e
    for proc in e.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    e.close()


def test_tasks_run_on_a_celery_worker(celery_env, name):
    env = celery_env
    env.start_worker()
    env.jobs.deploy(env.ctx, {"name": name, "executor": "celery", "tasks": [
        task("build", "jobtasks:build", params={"days": 7}),
        task("train", "jobtasks:train", depends_on=["build"]),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == SUCCEEDED, [(x.task_key, x.status, x.error) for x in run.tasks]
    latest = run.latest()
    assert latest["train"].result == {"trained_on": 70, "lr": 0.1}
    assert latest["build"].owner.startswith("worker:") and latest["build"].executor == "celery"
    assert "building 7 days" in env.jobs.logs(env.ctx, run.job_run_id, "build")["text"]


@pytest.mark.slow
def test_a_killed_worker_fails_the_attempt_and_the_retry_runs_elsewhere(celery_env, name, tmp_path):
    env = celery_env
    marker = str(tmp_path / "marker")
    first = env.start_worker()
    env.jobs.deploy(env.ctx, {"name": name, "executor": "celery", "tasks": [
        task("slow", "jobtasks:slow_first_time", params={"marker": marker}, retries={"max": 1}),
    ]})
    job_run_id = env.jobs.run_now(env.ctx, name).job_run_id
    deadline = time.monotonic() + WAIT_S
    while not os.path.exists(marker) and time.monotonic() < deadline:
        env.scheduler.run_once()
        time.sleep(0.1)
    assert env.jobs.get_run(env.ctx, job_run_id).latest()["slow"].status == RUNNING
    first.kill()
    first.wait()
    env.start_worker()
    run = env.wait(job_run_id)
    attempts = sorted((x.attempt, x.status) for x in run.tasks)
    assert run.status == SUCCEEDED and attempts == [(1, FAILED), (2, SUCCEEDED)]
    assert "Heartbeat lapsed" in [x for x in run.tasks if x.attempt == 1][0].error
    task_pid = int(open(marker).read().split()[0])
    assert not os.path.exists(f"/proc/{task_pid}") or open(f"/proc/{task_pid}/stat").read().split()[2] == "Z"
