"""Three ``modelyard scheduler`` processes against one real PostgreSQL database, two of them
SIGKILLed along the way (one replaced): every due time of every job fires exactly once.

The jobs fire every 2 seconds (croniter's seconds field) so the test is short; the claim row,
not timing, is what decides, so the period does not change what is tested.
"""

import signal
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, func, select

from modelyard.jobs.schedule import due_times
from modelyard.jobs.service import JobService
from modelyard.jobs.spec import Schedule
from modelyard.store.jobs import tables as t
from modelyard.store.sql.engine import normalize_db_uri
from modelyard.store.tracking.sql.store import SqlTrackingStore

JOBS = 5
PERIOD = "* * * * * */2"


def _scheduler(uri, tmp_path, n):
    log = open(tmp_path / f"scheduler-{n}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "scheduler", "--backend-store-uri", uri, "--poll-interval", "0.2",
         "--logs-dir", str(tmp_path / "logs")],
        stdout=log, stderr=subprocess.STDOUT,
    )


def _started(tmp_path, numbers, limit_s=180):
    """Wait until the schedulers ``numbers`` said they run (their first line), a safety net only."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if all("Scheduler " in (tmp_path / f"scheduler-{n}.log").read_text() for n in numbers):
            return
        time.sleep(0.2)
    raise AssertionError(f"schedulers {list(numbers)} did not start")


@pytest.mark.slow
def test_every_due_time_fires_once_with_three_schedulers_and_kills(fresh_postgres_uri, tmp_path):
    uri = fresh_postgres_uri
    SqlTrackingStore.from_uri(uri, default_artifact_root=str(tmp_path / "a")).close()
    engine = create_engine(normalize_db_uri(uri))
    jobs = JobService.from_engine(engine)
    from modelyard.auth.context import local_context
    from modelyard.settings import Settings

    ctx = local_context(Settings.defaults(), "tester")
    names = [f"tick-{uuid.uuid4().hex[:6]}-{i}" for i in range(JOBS)]
    for name in names:
        jobs.deploy(ctx, {"name": name, "schedule": {"cron": PERIOD, "catch_up": "all"},
                          "tasks": [{"key": "t", "run": ["true"]}]})
    start = int(time.time() * 1000)
    procs = [_scheduler(uri, tmp_path, i) for i in range(3)]
    try:
        _started(tmp_path, range(3))  # on a loaded machine start-up alone can take seconds
        time.sleep(8)
        procs[0].send_signal(signal.SIGKILL)
        time.sleep(6)
        procs[1].send_signal(signal.SIGKILL)
        procs.append(_scheduler(uri, tmp_path, 3))
        _started(tmp_path, [3])
        time.sleep(8)
        end = int(time.time() * 1000) - 3000  # due times older than this must have fired by now
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    with engine.connect() as conn:
        for name in names:
            job = jobs.get_job(ctx, name)
            fired = [r.due_at for r in conn.execute(select(t.job_fires.c.due_at).where(t.job_fires.c.job_id == job.job_id))]
            runs = conn.execute(
                select(t.job_runs.c.due_at, func.count()).where(t.job_runs.c.job_id == job.job_id).group_by(t.job_runs.c.due_at)
            ).all()
            assert all(count == 1 for _, count in runs), f"{name}: a due time has two runs: {runs}"
            expected, _ = due_times(Schedule(cron=PERIOD), start, end)
            missing = sorted(set(expected) - set(fired))
            assert not missing, f"{name}: due times never fired: {missing}"
            assert len(fired) == len(set(fired))
        owners = {r.fired_by.split(":")[2] for r in conn.execute(select(t.job_fires.c.fired_by))}
    assert len(owners) >= 2  # the work was shared (and taken over after the kills)
    engine.dispose()
