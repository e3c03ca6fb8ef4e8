"""Cron firing through the scheduler: exactly once per due time with several schedulers (the
claim row decides), catch-up after downtime, pause. Time is moved by rewinding the job's
schedule cursor, as if the schedulers had been down."""

from jobhelpers import task
from sqlalchemy import update

from modelyard.jobs.scheduler import Scheduler
from modelyard.store.jobs import tables as t
from modelyard.store.sql.common import now_ms


def mid_minute() -> int:
    """A moment half a minute before the clock's last whole minute: a window of N minutes ending
    there holds exactly N minute boundaries, however long the test takes."""
    return now_ms() // 60_000 * 60_000 - 30_000


def _rewind(env, name, minutes, at):
    job = env.jobs.get_job(env.ctx, name)
    with env.jobs.store.db.write() as conn:
        conn.execute(update(t.jobs).where(t.jobs.c.job_id == job.job_id).values(schedule_from=at - minutes * 60_000))


def _schedulers(env, n):
    return [Scheduler(env.jobs, env.tracking, None, env.ctx, env.config) for _ in range(n)]


def test_three_schedulers_fire_each_missed_due_time_once(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "* * * * *", "catch_up": "all"}, "tasks": [task("a", "jobtasks:noop")]})
    at = mid_minute()
    _rewind(env, name, 5, at)
    schedulers = _schedulers(env, 3)
    for _ in range(3):
        for s in schedulers:
            s.fire_due(at)
    runs = env.jobs.list_runs(env.ctx, name, 100)
    assert len(runs) == 5
    assert len({r.due_at for r in runs}) == 5
    assert sum(s.fired for s in schedulers) == 5
    assert env.jobs.get_job(env.ctx, name).next_fire_at > at


def test_catch_up_latest_fires_only_the_newest(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "* * * * *", "catch_up": "latest"}, "tasks": [task("a", "jobtasks:noop")]})
    at = mid_minute()
    _rewind(env, name, 5, at)
    env.scheduler.fire_due(at)
    env.scheduler.fire_due(at)
    assert len(env.jobs.list_runs(env.ctx, name, 100)) == 1


def test_catch_up_none_skips_old_due_times(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "0 0 1 1 *", "catch_up": "none"}, "tasks": [task("a", "jobtasks:noop")]})
    _rewind(env, name, 60 * 24 * 400, now_ms())
    env.scheduler.fire_due()
    assert env.jobs.list_runs(env.ctx, name, 100) == []


def test_a_paused_job_does_not_fire_and_resuming_owes_nothing(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "* * * * *", "catch_up": "all"}, "tasks": [task("a", "jobtasks:noop")]})
    env.jobs.pause(env.ctx, name)
    _rewind(env, name, 3, now_ms())
    env.scheduler.fire_due()
    assert env.jobs.list_runs(env.ctx, name, 100) == []
    env.jobs.resume(env.ctx, name)
    env.scheduler.fire_due()
    assert env.jobs.list_runs(env.ctx, name, 100) == []


def test_a_scheduled_run_runs_its_tasks(env, name):
    env.jobs.deploy(env.ctx, {"name": name, "schedule": {"cron": "* * * * *", "catch_up": "latest"}, "tasks": [task("a", "jobtasks:build", params={"days": 1})]})
    _rewind(env, name, 1, now_ms() - 1000)
    env.scheduler.fire_due()
    (run,) = env.jobs.list_runs(env.ctx, name, 100)
    assert run.trigger == "schedule"
    assert env.wait(run.job_run_id).latest()["a"].result == {"rows": 10}
