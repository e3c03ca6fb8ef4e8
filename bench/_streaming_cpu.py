"""Where one consumer's CPU goes: ``StreamRunner`` in this process over N events preloaded on a Redis
stream (Redis -> Redis, the bench model), with the CPU per event, the garbage collector's share, and
optionally a sampling profile (a SIGPROF timer records the stack every 0.5 ms of CPU; scoring is then
kept on the event loop's thread so the samples see it). py-spy is not needed.

    python bench/_streaming_cpu.py [N] [--sample] [--no-freeze] [--gc-threshold 50000]

``--no-freeze`` / ``--gc-threshold`` tell the garbage collector's cost apart (the CLI freezes what
is loaded and raises the young-generation threshold once the stream runs).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streaming import REDIS, bodies, save_model  # noqa: E402


class GcClock:
    def __init__(self) -> None:
        self.seconds, self.started, self.counts = 0.0, 0.0, [0, 0, 0]
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.process_time()
        else:
            self.seconds += time.process_time() - self.started
            self.counts[info["generation"]] += 1


class Sampler:
    def __init__(self) -> None:
        self.where: collections.Counter = collections.Counter()
        self.lines: collections.Counter = collections.Counter()

    def __call__(self, signum, frame) -> None:
        f = frame
        self.lines[f"{f.f_code.co_filename.split('/')[-1]}:{f.f_code.co_name}:{f.f_lineno}"] += 1
        chain = []
        while f is not None:
            name = f.f_code.co_filename
            if "modelyard" in name and "site-packages" not in name:
                chain.append(f"{name.split('/')[-1]}:{f.f_code.co_name}")
            f = f.f_back
        self.where[" < ".join(chain[:3]) or "(event loop, redis-py)"] += 1

    def report(self) -> None:
        total = sum(self.where.values()) or 1
        print(f"{total} samples; innermost modelyard frames:", file=sys.stderr)
        for key, n in self.where.most_common(20):
            print(f"{n / total * 100:5.1f}% {key}", file=sys.stderr)
        print("innermost lines:", file=sys.stderr)
        for key, n in self.lines.most_common(15):
            print(f"{n / total * 100:5.1f}% {key}", file=sys.stderr)


async def run(model: Path, stream: str, out: str, n: int, args) -> None:
    import redis

    from modelyard.streaming import engine
    from modelyard.streaming.config import StreamConfig
    from modelyard.streaming.runner import StreamRunner

    if args.sample:
        engine.INLINE_ROWS, engine.INLINE_MAX_S = 10**9, 10.0
    r = redis.Redis.from_url(REDIS)
    runner = StreamRunner(StreamConfig(model_uri=str(model), source=f"{REDIS}?stream={stream}&group=g",
                                       sink=f"{REDIS}?stream={out}"))
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(runner.run(ready))
    await ready
    if not args.no_freeze:
        gc.collect()
        gc.freeze()
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    clock, sampler = GcClock(), Sampler() if args.sample else None
    r.xgroup_setid(stream, "g", id="0")  # the consumer is ready: now it sees the events
    if sampler:
        signal.signal(signal.SIGPROF, sampler)
        signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)
    t0, c0 = time.perf_counter(), time.process_time()
    while await asyncio.to_thread(r.xlen, out) < n:
        await asyncio.sleep(0.02)
    t1, c1 = time.perf_counter(), time.process_time()
    if sampler:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    runner.stop()
    await task
    print(f"{n / (t1 - t0):.0f} events/s, {(c1 - c0) / n * 1e6:.2f} us CPU per event (this process), of which "
          f"GC {clock.seconds / n * 1e6:.2f} us {clock.counts}; {runner.pipelines[0].batches} batches; "
          f"load {os.getloadavg()[0]:.1f}")
    if sampler:
        sampler.report()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--sample", action="store_true")
    parser.add_argument("--no-freeze", action="store_true")
    parser.add_argument("--gc-threshold", type=int)
    args = parser.parse_args()
    import redis

    r = redis.Redis.from_url(REDIS)
    tag = uuid.uuid4().hex[:8]
    stream, out = f"bench-{tag}-cpu-events", f"bench-{tag}-cpu-out"
    payload = bodies(2000)
    for start in range(0, args.n, 10_000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(args.n, start + 10_000)):
            pipe.xadd(stream, {"data": payload[i % 2000]})
        pipe.execute()
    r.xgroup_create(stream, "g", id="$")  # past the events until the consumer is ready
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
            model, _ = save_model(Path(tmp))
            asyncio.run(run(model, stream, out, args.n, args))
    finally:
        r.delete(stream, out, f"{out}:event-ids")


if __name__ == "__main__":
    main()
