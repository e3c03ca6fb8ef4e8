from datetime import UTC, datetime

from modelyard.jobs.schedule import due_times, to_fire
from modelyard.jobs.spec import Schedule


def ms(*args):
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def utc(at):
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%m-%d %H:%M")


def test_daily_berlin_across_spring_forward_fires_once_a_day_at_local_time():
    schedule = Schedule(cron="0 3 * * *", timezone="Europe/Berlin")
    due, _ = due_times(schedule, ms(2026, 3, 27), ms(2026, 3, 31))
    # 03:00 CET is 02:00 UTC; after the switch on the 29th 03:00 CEST is 01:00 UTC
    assert [utc(d) for d in due] == ["03-27 02:00", "03-28 02:00", "03-29 01:00", "03-30 01:00"]


def test_fall_back_does_not_fire_twice_in_the_repeated_hour():
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    due, _ = due_times(schedule, ms(2026, 10, 24), ms(2026, 10, 27))
    assert len(due) == 3 and len({utc(d)[:5] for d in due}) == 3


def test_catch_up_policies():
    schedule = Schedule(cron="* * * * *", catch_up="all")
    due, nxt = due_times(schedule, ms(2026, 1, 1, 0, 0), ms(2026, 1, 1, 0, 5, 30))
    assert len(due) == 5 and nxt == ms(2026, 1, 1, 0, 6)
    now = ms(2026, 1, 1, 0, 5, 30)
    assert to_fire(schedule, due, now, 60_000) == due
    assert to_fire(schedule.model_copy(update={"catch_up": "latest"}), due, now, 60_000) == due[-1:]
    assert to_fire(schedule.model_copy(update={"catch_up": "none"}), due, now, 60_000) == due[-1:]
    assert to_fire(schedule.model_copy(update={"catch_up": "none"}), due, now, 10_000) == []
