"""Job runs through the local executor, on SQLite: DAG order, task values, retries, timeouts,
cancel, concurrency, parameters, logs and the tracking runs tasks log to."""

import os
import time

import pytest
from jobhelpers import TASKS_DIR, Env, task

from modelyard.artifacts import get_artifact_repository
from modelyard.entities.job import CANCELLED, FAILED, SUCCEEDED, UPSTREAM_FAILED
from modelyard.jobs import prefork as prefork_module


def test_dag_runs_in_order_passes_values_and_tags_tracking_runs(env, name, tmp_path):
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("train", "jobtasks:train", depends_on=["build"]),
        task("build", "jobtasks:build", params={"days": 90}),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name, {"days": 30}).job_run_id)
    assert run.status == SUCCEEDED, run
    tasks = run.latest()
    assert tasks["build"].result == {"rows": 300}
    assert tasks["train"].result == {"trained_on": 300, "lr": 0.1}
    assert tasks["build"].ended_at <= tasks["train"].started_at
    tracked = env.tracking.get_run(env.ctx, tasks["train"].tracking_run_id)
    assert tracked.data.metrics["rows"] == 300
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["modelyard.job"] == name
    assert tracked.data.tags["modelyard.job_run_id"] == run.job_run_id
    assert tracked.data.tags["modelyard.task"] == "train"
    assert "building 30 days" in env.jobs.logs(env.ctx, run.job_run_id, "build")["text"]
    # the attempt's log is also an artifact of its tracking run
    build = env.tracking.get_run(env.ctx, tasks["build"].tracking_run_id)
    local = get_artifact_repository(build.info.artifact_uri).download_artifacts("logs/build.1.log", str(tmp_path))
    with open(local) as f:
        assert "building 30 days" in f.read()


@pytest.mark.parametrize("prefork", [True, False])
def test_function_tasks_fork_from_the_warm_runner_in_a_session_of_their_own(tmp_path, name, prefork):
    e = Env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, prefork=prefork)
    try:
        e.jobs.deploy(e.ctx, {"name": name, "tasks": [task("who", "jobtasks:whoami", env={"PYTHONPATH": TASKS_DIR, "JOBS_TEST_MARKER": "from-task-env"})]})
        first = e.wait(e.jobs.run_now(e.ctx, name).job_run_id)
        second = e.wait(e.jobs.run_now(e.ctx, name).job_run_id)
    finally:
        e.close()
    a, b = first.latest()["who"].result, second.latest()["who"].result
    assert first.status == second.status == SUCCEEDED
    assert a["pgid"] == a["pid"] and b["pgid"] == b["pid"]  # a session of its own: killpg reaches its tree
    assert a["pid"] != b["pid"]
    assert a["env_marker"] == "from-task-env"  # the task's environment, not the runner's
    if prefork:
        assert a["ppid"] == b["ppid"] == prefork_module.shared({}).pid  # one warm runner forks both
    else:
        assert a["ppid"] == b["ppid"] == os.getpid()  # a new interpreter started by this process


def test_a_failing_task_is_retried_then_succeeds(env, name, tmp_path):
    marker = str(tmp_path / "count")
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("flaky", "jobtasks:fail_until", params={"marker": marker, "succeed_on": 3}, retries={"max": 2, "backoff_seconds": 0.1}),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == SUCCEEDED
    attempts = sorted((t.attempt, t.status) for t in run.tasks)
    assert attempts == [(1, FAILED), (2, FAILED), (3, SUCCEEDED)]
    assert attempts and run.tasks[-1].not_before >= run.tasks[-2].ended_at + 200  # backoff doubles: 0.1 s, 0.2 s
    assert "attempt 1 fails" in env.jobs.logs(env.ctx, run.job_run_id, "flaky", attempt=1)["text"]


def test_retries_run_out_and_downstream_is_upstream_failed(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("bad", "jobtasks:always_fail", retries={"max": 1}),
        task("after", "jobtasks:noop", depends_on=["bad"]),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == FAILED
    latest = run.latest()
    assert latest["bad"].attempt == 2 and latest["bad"].status == FAILED
    assert "ValueError: this task always fails" in env.jobs.logs(env.ctx, run.job_run_id, "bad")["text"]
    assert latest["after"].status == UPSTREAM_FAILED and "bad" in latest["after"].error


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split()[2] != "Z"


def test_a_timeout_kills_the_task_process_tree(env, name, tmp_path):
    pidfile = str(tmp_path / "pids")
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("slow", "jobtasks:sleep_with_child", params={"pidfile": pidfile}, timeout_seconds=1.5),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == FAILED
    assert "Timed out after 1.5 s" in run.latest()["slow"].error
    parent, child = map(int, open(pidfile).read().split())
    assert not _alive(parent) and not _alive(child)


def test_cancel_stops_the_running_task_and_skips_the_rest(env, name, tmp_path):
    pidfile = str(tmp_path / "pids")
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("slow", "jobtasks:sleep_with_child", params={"pidfile": pidfile}),
        task("after", "jobtasks:noop", depends_on=["slow"]),
    ]})
    job_run_id = env.jobs.run_now(env.ctx, name).job_run_id
    deadline = time.monotonic() + 60
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        env.scheduler.run_once()
        time.sleep(0.05)
    env.jobs.cancel_run(env.ctx, job_run_id)
    run = env.wait(job_run_id)
    assert run.status == CANCELLED
    assert run.latest()["slow"].status == CANCELLED and run.latest()["after"].status == CANCELLED
    parent, child = map(int, open(pidfile).read().split())
    assert not _alive(parent) and not _alive(child)


def test_max_concurrent_runs_queues_the_second_run(env, name, tmp_path):
    pidfile = str(tmp_path / "pids")
    env.jobs.deploy(env.ctx, {"name": name, "max_concurrent_runs": 1, "tasks": [
        task("slow", "jobtasks:sleep_with_child", params={"pidfile": pidfile, "seconds": 60}),
    ]})
    first = env.jobs.run_now(env.ctx, name).job_run_id
    second = env.jobs.run_now(env.ctx, name).job_run_id
    for _ in range(5):
        env.scheduler.run_once()
    statuses = sorted(env.jobs.get_run(env.ctx, r).status for r in (first, second))
    assert statuses == ["QUEUED", "RUNNING"]
    env.jobs.cancel_run(env.ctx, first)
    env.jobs.cancel_run(env.ctx, second)
    assert env.wait(first).status == CANCELLED and env.wait(second).status == CANCELLED


def test_a_command_task_gets_parameters_substituted(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "parameters": {"word": "hello"}, "tasks": [
        {"key": "echo", "run": ["sh", "-c", "echo said ${word}; echo $MODELYARD_TASK_PARAMS"]},
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name, {"word": "bonjour"}).job_run_id)
    assert run.status == SUCCEEDED
    text = env.jobs.logs(env.ctx, run.job_run_id)["text"]
    assert "said bonjour" in text and '"word": "bonjour"' in text


def test_unknown_override_is_refused(env, name):
    from modelyard.exceptions import InvalidParameterValue

    env.jobs.deploy(env.ctx, {"name": name, "tasks": [task("a", "jobtasks:build", params={"days": 1})]})
    with pytest.raises(InvalidParameterValue, match="Unknown parameter"):
        env.jobs.run_now(env.ctx, name, {"weeks": 2})


def test_deploy_is_idempotent_and_pause_resume(env, name):
    definition = {"name": name, "schedule": {"cron": "0 3 * * *"}, "tasks": [task("a", "jobtasks:noop")]}
    job, created = env.jobs.deploy(env.ctx, definition)
    again, created_again = env.jobs.deploy(env.ctx, definition)
    assert created and not created_again and again.updated_at == job.updated_at
    assert env.jobs.pause(env.ctx, name).paused
    assert not env.jobs.resume(env.ctx, name).paused
    env.jobs.delete_job(env.ctx, name)
    assert name not in [j.name for j in env.jobs.list_jobs(env.ctx)]


def test_the_log_of_a_run_whose_artifacts_the_server_proxies_goes_through_the_artifact_service(env, name, tmp_path):
    from modelyard.artifacts.service import ArtifactService

    env.tracking.create_experiment(env.ctx, f"proxied-{name}", "mlflow-artifacts:/proxied")
    env.scheduler.local.artifacts = ArtifactService(str(tmp_path / "destination"), env.ctx.settings)
    env.jobs.deploy(env.ctx, {"name": name, "experiment": f"proxied-{name}", "tasks": [task("build", "jobtasks:build")]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == SUCCEEDED
    run_id = run.latest()["build"].tracking_run_id
    with open(tmp_path / "destination" / "proxied" / run_id / "artifacts" / "logs" / "build.1.log") as f:
        assert "building 90 days" in f.read()
