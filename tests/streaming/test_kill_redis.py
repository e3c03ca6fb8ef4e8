"""kill -9 against the real Redis: two consumers in one group, three SIGKILLs mid-stream, then every
event's prediction is in the sink exactly once (the issue's acceptance test, at full size)."""

from __future__ import annotations

import pytest
from stream_helpers import REDIS_URL, Consumers, event, wait_until

EVENTS = 100_000


@pytest.mark.slow
def test_kill_9_loses_and_doubles_nothing(redis_client, name, model_dir, tmp_path):
    events, out = f"{name}-events", f"{name}-out"
    produced = []
    for start in range(0, EVENTS, 10_000):
        pipe = redis_client.pipeline(transaction=False)
        for i in range(start, start + 10_000):
            pipe.xadd(events, {"data": event(i, (i % 97) / 50)})
        produced += [entry_id.decode() for entry_id in pipe.execute()]
    args = ["models", "stream", "-m", str(model_dir), "--batch-size", "500",
            "--source", f"{REDIS_URL}?stream={events}&group=scorers&claim-idle-ms=1500",
            "--sink", f"{REDIS_URL}?stream={out}"]
    consumers = Consumers(args, tmp_path)
    try:
        for kill in range(3):
            wait_until(lambda k=kill: redis_client.xlen(out) >= (k + 1) * EVENTS // 5, timeout=180,
                       what=f"progress before kill {kill + 1}")
            consumers.kill_and_replace(kill % 2)
        wait_until(lambda: redis_client.xlen(out) >= EVENTS and redis_client.xpending(events, "scorers")["pending"] == 0,
                   timeout=300, what="every event scored and acknowledged")
        consumers.wait_running()
    finally:
        codes = consumers.stop()
    assert codes == [0, 0], consumers.tails()
    written = [fields[b"event_id"] for _, fields in redis_client.xrange(out)]
    assert len(written) == EVENTS  # none doubled
    assert sorted(written) == sorted(f'"{i}"'.encode() for i in produced)  # none lost
