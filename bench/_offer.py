"""Offering events to a Redis stream at a fixed rate, for the streaming latency figures
(bench/streaming.py in-process, bench/_streaming_stages.py in a producer process): stdlib and
redis-py only, so a bare producer process can import it."""

from __future__ import annotations

import time

TICK_S = 0.005  # events go out in pipelined ticks of 5 ms


def offer_at_rate(r, stream: str, payload: list[bytes], rate: float, seconds: float) -> tuple[int, float]:
    """XADD ``payload`` entries (cycled, as field ``data``) to ``stream`` at ``rate`` per second for
    ``seconds``, one pipeline per tick, sleeping to the next tick's due time. Returns (events sent,
    the rate actually offered)."""
    per_tick = max(1, round(rate * TICK_S))
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pipe = r.pipeline(transaction=False)
        for _ in range(per_tick):
            pipe.xadd(stream, {"data": payload[sent % len(payload)]})
            sent += 1
        pipe.execute()
        pause = start + (sent / per_tick) * TICK_S - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return sent, sent / (time.perf_counter() - start)
