"""Where a streamed event's latency goes: one consumer (``StreamRunner``, in this process) scoring a
Redis stream fed at a fixed rate by a producer process, each event's time split into stages.

    python bench/_streaming_stages.py [--rate 2000] [--seconds 10] [--max-wait-ms 0] [--batch-size 1000]

Stages (per event; ``produced`` is the millisecond time in its Redis entry id, so the first stage
reads up to 1 ms long; the others are ``time.time()`` in this process):

- ``produce_to_read``: XADD until the XREADGROUP reply holding it was parsed (blocking read, wake-up);
- ``read_to_taken``: until the scorer took its batch (queued behind a busy scorer, topped up);
- ``taken_to_scored``: decode, frame, predict;
- ``scored_to_written``: the sink's script returned (one round trip);
- ``total``: produce until the prediction's entry id in the sink (the bench's latency figure).

Prints one JSON object: quantiles (ms) of each stage, batch sizes, the rate offered, the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streaming import REDIS, bodies, env, save_model  # noqa: E402

PRODUCER = r"""
import json, sys, redis
sys.path.insert(0, BENCH)
from _offer import offer_at_rate
url, stream, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
payload = [l.encode() for l in json.loads(sys.stdin.read())]
sent, offered = offer_at_rate(redis.Redis.from_url(url), stream, payload, rate, seconds)
print(json.dumps({"sent": sent, "offered": offered}))
""".replace("BENCH", repr(str(Path(__file__).resolve().parent)))


def quantiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {}
    q = statistics.quantiles(values, n=100)
    return {"p50": round(q[49], 2), "p90": round(q[89], 2), "p99": round(q[98], 2), "max": round(max(values), 2)}


async def run(model: Path, stream: str, out: str, args) -> dict:
    from modelyard.streaming import engine
    from modelyard.streaming.config import StreamConfig
    from modelyard.streaming.runner import StreamRunner

    read_at: dict[str, float] = {}
    taken_at: dict[str, float] = {}
    scored_at: dict[str, float] = {}
    written_at: dict[str, float] = {}
    sizes: list[int] = []
    cycles: list[tuple] = []

    original_handle, original_score = engine.Pipeline._handle, engine.Pipeline._score

    def wrap_source(source):
        fetch = source.fetch

        async def timed_fetch(n, timeout):
            got = await fetch(n, timeout)
            now = time.time()
            for d in got:
                read_at[d.id] = now
            return got

        source.fetch = timed_fetch

    def wrap_sink(sink):
        write = sink.write

        async def timed_write(records):
            await write(records)
            now = time.time()
            for i in getattr(records, "ids", None) or [r["event_id"] for r in records]:
                written_at[i] = now

        sink.write = timed_write

    async def handle(self, deliveries):
        now = time.time()
        sizes.append(len(deliveries))
        for d in deliveries:
            taken_at[d.id] = now
        inline = inlined(self, len(deliveries))
        await original_handle(self, deliveries)
        if args.no_overlap and getattr(self, "_write_task", None) is not None:
            await asyncio.gather(self._write_task, return_exceptions=True)  # as before the overlap
        cycles.append((now, time.time(), inline))

    def inlined(pipeline, n: int) -> bool:
        """Whether the engine scores this batch on the event loop (no thread hop)."""
        if n > engine.INLINE_ROWS:
            return False
        recent = getattr(pipeline, "_recent", None)
        if recent is not None:
            return recent[0] < engine.INLINE_MAX_S and recent[1] < engine.INLINE_MAX_WALL_S
        recent_s = getattr(pipeline, "_recent_s", None)  # (the engine before CPU time judged the model)
        return recent_s is not None and recent_s < engine.INLINE_MAX_S

    def score(self, deliveries):
        result = original_score(self, deliveries)
        now = time.time()
        for d in deliveries:
            scored_at[d.id] = now
        return result

    engine.Pipeline._handle, engine.Pipeline._score = handle, score
    config = StreamConfig(model_uri=str(model), source=f"{REDIS}?stream={stream}&group=g",
                          sink=f"{REDIS}?stream={out}", batch_size=args.batch_size, max_wait_ms=args.max_wait_ms)
    runner = StreamRunner(config)
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    task = asyncio.create_task(runner.run(ready))
    await ready
    for p in runner.pipelines:
        wrap_source(p.source)
        wrap_sink(p.sink)
    import redis

    r = redis.Redis.from_url(REDIS)
    r.xadd(stream, {"data": bodies(1)[0]})  # warm-up
    while r.xlen(out) == 0:
        await asyncio.sleep(0.01)
    read_at.clear(), taken_at.clear(), scored_at.clear(), written_at.clear(), sizes.clear(), cycles.clear()
    load_start = os.getloadavg()
    producer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PRODUCER, REDIS, stream, str(args.rate), str(args.seconds),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env())
    produced, _ = await producer.communicate(json.dumps([b.decode() for b in bodies(2000)]).encode())
    produced = json.loads(produced)
    deadline = time.monotonic() + 60
    while r.xlen(out) < produced["sent"] + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    runner.stop()
    await task
    total, stages = [], {k: [] for k in ("produce_to_read", "read_to_taken", "taken_to_scored", "scored_to_written")}
    for entry_id, fields in r.xrange(out)[1:]:
        event = json.loads(fields[b"event_id"])
        produced_ms = int(event.split("-")[0])
        total.append(int(entry_id.decode().split("-")[0]) - produced_ms)
        if event in written_at:
            stages["produce_to_read"].append(read_at[event] * 1000 - produced_ms)
            stages["read_to_taken"].append((taken_at[event] - read_at[event]) * 1000)
            stages["taken_to_scored"].append((scored_at[event] - taken_at[event]) * 1000)
            stages["scored_to_written"].append((written_at[event] - scored_at[event]) * 1000)
    r.delete(stream, out, f"{out}:event-ids")
    return {
        "offered_per_s": round(produced["offered"]),
        "events": len(total),
        "total_ms": quantiles(total),
        **{f"{k}_ms": quantiles(v) for k, v in stages.items()},
        "batches": len(sizes),
        "batch_events": quantiles(sizes),
        "handle_ms": quantiles([(b - a) * 1000 for a, b, _ in cycles]),
        "between_batches_ms": quantiles([(cycles[i + 1][0] - cycles[i][1]) * 1000 for i in range(len(cycles) - 1)]),
        "inline_share": round(sum(1 for *_, inline in cycles if inline) / max(1, len(cycles)), 2),
        "load_average": [load_start, os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-wait-ms", type=float, default=0.0)
    parser.add_argument("--no-overlap", action="store_true", help="wait for each batch's write before the next")
    args = parser.parse_args()
    import redis

    tag = uuid.uuid4().hex[:8]
    stream, out = f"bench-{tag}-stages-events", f"bench-{tag}-stages-out"
    redis.Redis.from_url(REDIS).xgroup_create(stream, "g", id="$", mkstream=True)
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        model, _ = save_model(Path(tmp))
        result = asyncio.run(run(model, stream, out, args))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
