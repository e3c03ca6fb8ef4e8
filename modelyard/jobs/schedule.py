"""Due times of a cron schedule (croniter, in the schedule's time zone, so DST is the zone's) and
the catch-up policy: after downtime, ``all`` fires every missed due time, ``latest`` the newest
one, ``none`` only one missed by less than the grace period (a scheduler replacing a killed one
still fires it)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from modelyard.jobs.spec import Schedule

MAX_CATCH_UP = 1000


def due_times(schedule: Schedule, after_ms: int, now_ms: int) -> tuple[list[int], int]:
    """Due times in (after_ms, now_ms], oldest first (at most the newest MAX_CATCH_UP), and the next one."""
    zone = ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, datetime.fromtimestamp(after_ms / 1000, zone))
    fixed_hours = schedule.cron.split()[1] != "*"
    due: list[int] = []
    while True:
        ts = it.get_next(float)
        if fixed_hours and _repeated_wall_time(ts, zone):
            continue
        at = int(ts * 1000)
        if at > now_ms:
            return due[-MAX_CATCH_UP:], at
        due.append(at)


def _repeated_wall_time(ts: float, zone: ZoneInfo) -> bool:
    """Whether ``ts`` is the second occurrence of its wall-clock time (the hour repeated when
    DST ends): "30 2 * * *" fires at the first 02:30 only, as a person would expect."""
    local = datetime.fromtimestamp(ts, zone)
    return local.fold == 1 and local.replace(fold=0).timestamp() != ts


def to_fire(schedule: Schedule, due: list[int], now_ms: int, grace_ms: int) -> list[int]:
    if not due:
        return []
    if schedule.catch_up == "all":
        return due
    if schedule.catch_up == "latest":
        return due[-1:]
    return [d for d in due[-1:] if now_ms - d <= grace_ms]
