"""The same flows on PostgreSQL and MariaDB (SQLite runs them in the other modules): a DAG with
task values and a retry, exactly-once firing with three schedulers, event dedup, and
max_concurrent_runs under the row lock."""

import pytest
from jobhelpers import Env, task
from sqlalchemy import func, select, update

from modelyard.entities.job import FAILED, SUCCEEDED
from modelyard.jobs.scheduler import Scheduler
from modelyard.store.jobs import tables as t
from modelyard.store.sql.common import now_ms


@pytest.fixture(params=["postgres", "mysql"])
def db_env(request, tmp_path):
    uri = request.getfixturevalue(f"{request.param}_uri")
    e = Env(uri, tmp_path)
    yield e
    e.close()


def test_dag_values_and_retry(db_env, name, tmp_path):
    env = db_env
    marker = str(tmp_path / "count")
    env.jobs.deploy(env.ctx, {"name": name, "tasks": [
        task("build", "jobtasks:build", params={"days": 5}),
        task("train", "jobtasks:train", depends_on=["build"]),
        task("flaky", "jobtasks:fail_until", depends_on=["build"], params={"marker": marker}, retries={"max": 1}),
    ]})
    run = env.wait(env.jobs.run_now(env.ctx, name).job_run_id)
    assert run.status == SUCCEEDED
    latest = run.latest()
    assert latest["train"].result == {"trained_on": 50, "lr": 0.1}
    assert sorted((x.attempt, x.status) for x in run.tasks if x.task_key == "flaky") == [(1, FAILED), (2, SUCCEEDED)]


def test_three_schedulers_fire_once(db_env, name):
    env = db_env
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "* * * * *", "catch_up": "all"}, "tasks": [task("a", "jobtasks:noop")]})
    job = env.jobs.get_job(env.ctx, name)
    at = now_ms() // 60_000 * 60_000 - 30_000  # mid-minute: the window holds exactly 4 boundaries
    with env.jobs.store.db.write() as conn:
        conn.execute(update(t.jobs).where(t.jobs.c.job_id == job.job_id).values(schedule_from=at - 4 * 60_000))
    schedulers = [Scheduler(env.jobs, env.tracking, None, env.ctx, env.config) for _ in range(3)]
    for _ in range(2):
        for s in schedulers:
            s.fire_due(at)
    runs = env.jobs.list_runs(env.ctx, name, 100)
    assert len(runs) == 4 and len({r.due_at for r in runs}) == 4


def test_event_dedup_and_concurrency_limit(db_env, name):
    env = db_env
    env.jobs.deploy(env.ctx, {"name": name, "max_concurrent_runs": 1, "triggers": [{"on": "event", "kind": "k"}],
                              "tasks": [task("a", "jobtasks:noop")]})
    assert len(env.jobs.publish_event(env.ctx, "k", "e1")) == 1
    assert env.jobs.publish_event(env.ctx, "k", "e1") == []
    second = env.jobs.run_now(env.ctx, name).job_run_id
    store = env.jobs.store
    job_id = env.jobs.get_job(env.ctx, name).job_id
    started = [r for r in store.active_runs() if r.job_id == job_id and store.start_run(r.job_run_id, r.job_id, 1)]
    assert len(started) == 1
    assert env.wait(second).status == SUCCEEDED


def test_schedulers_claiming_many_due_times_at_once_fire_each_once(db_env, name):
    """Three schedulers' passes at the same moment over 20 jobs with 3-4 due times each: the bulk
    claims (one transaction a pass) wait on each other and every due time fires once."""
    import threading

    env = db_env
    names = [f"{name}-{i:02d}" for i in range(20)]
    for n in names:
        env.jobs.deploy(env.ctx, {"name": n, "schedule": {"cron": "* * * * *", "catch_up": "all"}, "tasks": [task("a", "jobtasks:noop")]})
    with env.jobs.store.db.write() as conn:
        conn.execute(update(t.jobs).where(t.jobs.c.name.in_(names)).values(schedule_from=now_ms() - 3 * 60_000 - 1000))
    schedulers = [Scheduler(env.jobs, env.tracking, None, env.ctx, env.config) for _ in range(3)]
    barrier = threading.Barrier(3)
    errors = []

    def one_pass(s):
        barrier.wait()
        try:
            s.fire_due()
        except Exception as exc:  # a deadlock would surface here
            errors.append(exc)

    threads = [threading.Thread(target=one_pass, args=(s,)) for s in schedulers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == []
    per_job = {n: [r.due_at for r in env.jobs.list_runs(env.ctx, n, 100)] for n in names}
    assert all(len(d) == len(set(d)) >= 3 for d in per_job.values()), per_job
    # the schedulers see every job of the database: an earlier test's every-minute job may be due in
    # the same pass, so their fires are counted against the fire rows they wrote, ours against our runs
    fires = t.job_fires.c
    with env.jobs.store.db.read() as conn:
        by_job = dict(
            conn.execute(
                select(fires.job_id, func.count())
                .where(fires.fired_by.in_([s.owner for s in schedulers]))
                .group_by(fires.job_id)
            ).all()
        )
    assert sum(s.fired for s in schedulers) == sum(by_job.values())
    ours = [env.jobs.get_job(env.ctx, n).job_id for n in names]
    assert sum(by_job.get(job_id, 0) for job_id in ours) == sum(len(d) for d in per_job.values())
