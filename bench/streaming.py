"""Streaming benchmark: ``modelyard models stream`` against the issue's baseline, a hand-written
redis-py consumer that predicts and acknowledges one event at a time; plus latency at a fixed
offered rate, two consumers in one group, and the NATS JetStream and RabbitMQ ends.

    .venv/bin/python bench/streaming.py [--quick] [--events N] [--out FILE] [--skip nats,amqp]

The model is a scikit-learn LogisticRegression on 20 float features (saved by modelyard). Every
figure runs against the real local brokers (Redis 6379, NATS 4222, RabbitMQ 5672) on streams /
subjects / queues with a random name, removed at the end. Only the JSON goes to stdout.

Figures:
- ``redis_events_per_s``: one consumer, Redis stream -> Redis stream; N events produced first,
  the rate counted from the first prediction in the sink to the last (model loading excluded).
  Beside it ``client_ceiling``: ``_broker_ceiling.py redis``, a bare redis-py loop (XREADGROUP a
  batch, one pipeline of XADD, one XACK; no model, no dedup) over the same N events and batch size,
  with its CPU per event and Redis's: what this client and this machine allow.
- its ``baseline``: the same for ``_streaming_baseline.py`` over a time budget (15 s; quick 5),
  ``ratio`` = ours / it.
- ``latency_p50_ms`` / ``latency_p99_ms`` at ``--rate`` events/s offered (default 2,000) for
  ``--seconds``: produce -> prediction in the sink, both times read from the Redis entry ids
  (the server's clock, 1 ms resolution).
- ``two_consumers_events_per_s``: two processes in one group; ``scaling`` = it / one consumer.
  The group is created past the events and rewound once every consumer's ``/health`` says ok, so
  both start together (otherwise the first one ready scores much of the stream alone).
- ``nats_events_per_s`` (JetStream -> NATS subject) and ``amqp_events_per_s`` (RabbitMQ -> RabbitMQ
  exchange): one consumer, counted the same way, over ``--broker-events``; beside it
  ``client_ceiling``: ``_broker_ceiling.py``, the same client moving the same number of messages in
  the same batches with the same guarantees (publish, wait until durable, then ack) and no model;
  and ``baseline`` / ``ratio``: ``_streaming_baseline.py`` with the broker's client (nats-py: a durable
  pull consumer fetching one message, predict, publish to JetStream, ack; aiormq: prefetch 1, predict,
  publish confirmed, ack) over the same time budget as Redis's, on ``--broker-events`` events.
- ``cpu``: CPU microseconds per event of the consumer processes and of the broker (Redis from
  ``INFO cpu``, nats-server / RabbitMQ from /proc) between the first prediction and the last: wall
  rates follow the machine's load, CPU per event much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _offer import offer_at_rate  # noqa: E402
from tracking import REPO, base_env, log, machine_info, sig  # noqa: E402

REDIS = "redis://127.0.0.1:6379/0"
NATS = "nats://127.0.0.1:4222"
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2f"
FEATURES = 20
COLUMNS = [f"f{i}" for i in range(FEATURES)]


def save_model(folder: Path) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import modelyard.sklearn as msk

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2000, FEATURES)), columns=COLUMNS)
    y = (X.iloc[:, :5].sum(axis=1) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = folder / "model"
    msk.save_model(model, path, serialization_format="cloudpickle", input_example=X.head(5))
    raw = folder / "raw.pkl"
    raw.write_bytes(pickle.dumps((model, COLUMNS)))
    return path, raw


def bodies(n: int) -> list[bytes]:
    import random

    rnd = random.Random(1)
    return [json.dumps({c: rnd.gauss(0, 1) for c in COLUMNS}).encode() for _ in range(n)]


def env() -> dict:
    e = base_env()
    e["PYTHONPATH"] = str(REPO)
    e["OMP_NUM_THREADS"] = "1"
    return e


def consumer(model: Path, source: str, sink: str, *extra: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "modelyard.cli.main",
        "models",
        "stream",
        "-m",
        str(model),
        "--source",
        source,
        "--sink",
        sink,
        *extra,
    ]
    return subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(ports: list[int], procs: list[subprocess.Popen], timeout: float = 300) -> None:
    """Until every consumer's ``/health`` says ok (model loaded, pipelines running)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                    if json.loads(resp.read()).get("status") == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(
                    "a consumer did not become ready: " + procs[0].stderr.read().decode()[-2000:]
                )
            time.sleep(0.05)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds these processes (all their threads) used so far."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def redis_cpu_seconds(r) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class CpuWindow:
    """CPU of the consumers (and of a server, when given) between the first prediction and the last,
    per event: wall-clock rates move with the machine's load, CPU per event much less."""

    def __init__(self, procs: list[subprocess.Popen], server=None) -> None:
        self.procs, self.server, self.marks = procs, server, []

    def mark(self, n: int) -> None:
        self.marks.append(
            (n, cpu_seconds([p.pid for p in self.procs]), self.server() if self.server else None)
        )

    def per_event_us(self) -> dict:
        if len(self.marks) < 2 or self.marks[-1][0] <= self.marks[0][0]:
            return {}
        (n0, c0, s0), (n1, c1, s1) = self.marks[0], self.marks[-1]
        out = {"consumers_cpu_us_per_event": round((c1 - c0) / (n1 - n0) * 1e6, 2)}
        if s0 is not None:
            out["server_cpu_us_per_event"] = round((s1 - s0) / (n1 - n0) * 1e6, 2)
        return out


def cpu_ceiling(two: dict, one: dict) -> dict:
    """What the cores allow, from the CPU per event measured (robust to the machine's load, unlike the
    rates): one consumer is one process (one core at most: its threads share the GIL), so at most
    ``1 / its CPU per event``; two consumers and the broker at most ``cores / (consumers' + broker's
    CPU per event)``. Their ratio bounds the scaling on this machine (the bench's polling and the OS
    left out)."""
    c1 = one.get("consumers_cpu_us_per_event")
    per_event = two.get("consumers_cpu_us_per_event", 0) + two.get("server_cpu_us_per_event", 0)
    if not c1 or not per_event:
        return {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    one_max, two_max = 1e6 / c1, cores * 1e6 / per_event
    return {
        "cpu_ceiling_one_events_per_s": sig(one_max),
        "cpu_ceiling_two_events_per_s": sig(two_max),
        "cpu_ceiling_scaling": sig(two_max / one_max),
    }


def rate_until(
    count, total: int, timeout: float, procs: list[subprocess.Popen], cpu: CpuWindow | None = None
) -> tuple[float | None, int]:
    """Events/s from the first prediction seen to ``total`` (polling ``count()``)."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        n = count()
        now = time.perf_counter()
        if first is None and n > 0:
            first = (now, n)
            if cpu is not None:
                cpu.mark(n)
        if n >= total:
            if cpu is not None:
                cpu.mark(n)
            return (total - first[1]) / (now - first[0]) if now > first[0] else None, n
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a consumer exited: " + procs[0].stderr.read().decode()[-2000:])
        time.sleep(0.02)
    return None, count()


# ------------------------------------------------------------------------------------------------
def redis_throughput(
    r, model: Path, n: int, consumers: int, tag: str, batch: int, cpu_out: dict | None = None
) -> float | None:
    stream, out = f"bench-{tag}-events", f"bench-{tag}-out"
    payload = bodies(2000)
    for start in range(0, n - 1, 10_000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(n - 1, start + 10_000)):
            pipe.xadd(stream, {"data": payload[i % 2000]})
        pipe.execute()
    # The group starts after the events, so the consumers find nothing until every one of them has
    # loaded its model and joined; then the group is rewound and the last event wakes them. (Started
    # on a full stream, the first consumer ready would score much of it alone while the second still
    # loads, and two consumers would look slower than they are.)
    r.xgroup_create(stream, "g", id="$")
    ports = [free_port() for _ in range(consumers)]
    procs = [
        consumer(
            model,
            f"{REDIS}?stream={stream}&group=g",
            f"{REDIS}?stream={out}",
            "--batch-size",
            str(batch),
            "--metrics-port",
            str(port),
        )
        for port in ports
    ]
    cpu = CpuWindow(procs, lambda: redis_cpu_seconds(r))
    try:
        wait_healthy(ports, procs)
        r.xgroup_setid(stream, "g", id="0")
        r.xadd(stream, {"data": payload[(n - 1) % 2000]})
        rate, done = rate_until(lambda: r.xlen(out), n, 600, procs, cpu)
    finally:
        stop(procs)
        r.delete(stream, out, f"{out}:event-ids")
    if cpu_out is not None:
        cpu_out.update(cpu.per_event_us())
    log(
        f"redis x{consumers}: {rate and round(rate)} events/s ({done}/{n}), CPU per event {cpu.per_event_us()}"
    )
    return rate


def redis_ceiling(r, n: int, tag: str, batch: int) -> dict:
    """``_broker_ceiling.py redis``: bare redis-py loops (no model, no engine) moving the same events in
    the same batches, with their CPU per event and Redis's: ``script`` (the least client work for the
    same guarantees) and ``pipeline`` (the plain hand-written batched loop, no dedup)."""
    result = {}
    for style in ("script", "pipeline"):
        stream, out = f"bench-{tag}-ceil-{style}-events", f"bench-{tag}-ceil-{style}-out"
        payload = bodies(2000)
        for start in range(0, n, 10_000):
            pipe = r.pipeline(transaction=False)
            for i in range(start, min(n, start + 10_000)):
                pipe.xadd(stream, {"data": payload[i % 2000]})
            pipe.execute()
        try:
            server0 = redis_cpu_seconds(r)
            bare = ceiling("redis", REDIS, stream, "g", out, str(n), str(batch), style)
            server = redis_cpu_seconds(r) - server0  # (includes the client's start: a slight overestimate)
        finally:
            r.delete(stream, out)
        result[style] = {
            "events_per_s": sig(bare["events_per_s"]),
            "cpu_us_per_event": round(bare["cpu_us_per_event"], 2),
            "server_cpu_us_per_event": round(server / n * 1e6, 2),
        }
    log(f"redis client ceiling: {result}")
    return result


def one_at_a_time(url: str, raw: Path, a: str, b: str, c: str, count, total: int, budget_s: float) -> float:
    """``_streaming_baseline.py`` on ``url``: events/s over ``budget_s`` seconds from its first
    prediction in the sink (or until ``total`` are there), polling ``count()``."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "_streaming_baseline.py"), url, str(raw), a, b, c],
        env=env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while count() == 0 and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the baseline exited: " + proc.stderr.read().decode()[-2000:])
            time.sleep(0.01)
        t0, c0 = time.perf_counter(), count()
        c1 = c0
        while time.perf_counter() - t0 < budget_s and c1 < total:
            time.sleep(0.05)
            c1 = count()
        t1 = time.perf_counter()
    finally:
        stop([proc])
    return (c1 - c0) / (t1 - t0)


def baseline(r, raw: Path, n: int, budget_s: float, tag: str) -> float | None:
    stream, out = f"bench-{tag}-base-events", f"bench-{tag}-base-out"
    payload = bodies(2000)
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(stream, {"data": payload[i % 2000]})
    pipe.execute()
    try:
        rate = one_at_a_time(REDIS, raw, stream, "g", out, lambda: r.xlen(out), n, budget_s)
    finally:
        r.delete(stream, out)
    log(f"baseline: {round(rate)} events/s")
    return rate


def latency(r, model: Path, rate: int, seconds: float, tag: str) -> dict:
    stream, out = f"bench-{tag}-lat-events", f"bench-{tag}-lat-out"
    r.xgroup_create(stream, "g", id="$", mkstream=True)
    proc = consumer(
        model, f"{REDIS}?stream={stream}&group=g", f"{REDIS}?stream={out}", "--batch-size", "1000"
    )
    payload = bodies(2000)
    try:
        # wait for the consumer: one warm-up event scored
        r.xadd(stream, {"data": payload[0]})
        deadline = time.monotonic() + 120
        while r.xlen(out) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        sent, offered = offer_at_rate(r, stream, payload, rate, seconds)
        deadline = time.monotonic() + 60
        while r.xlen(out) < sent + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        lat = []
        for entry_id, fields in r.xrange(out):
            produced = int(json.loads(fields[b"event_id"]).split("-")[0])
            lat.append(int(entry_id.decode().split("-")[0]) - produced)
        lat = lat[1:]  # the warm-up event
    finally:
        stop([proc])
        r.delete(stream, out, f"{out}:event-ids")
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [None] * 99
    log(f"latency at {round(offered)}/s: p50 {q[49]} ms, p99 {q[98]} ms over {len(lat)} events")
    return {
        "offered_per_s": round(offered),
        "events": len(lat),
        "p50_ms": q[49],
        "p99_ms": q[98],
        "max_ms": lat[-1] if lat else None,
    }


def pid_cpu(name: str):
    """A callable giving the CPU seconds of the broker process named ``name`` (None if not found)."""
    try:
        pid = int(
            subprocess.run(["pgrep", "-o", "-f", name], capture_output=True, text=True).stdout.split()[0]
        )
    except (IndexError, ValueError, OSError):
        return None
    return lambda: cpu_seconds([pid])


def ceiling(kind: str, *args: str) -> dict:
    """``_broker_ceiling.py``: the client's bare loop over the same messages and batch size."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "_broker_ceiling.py"), kind, *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def nats_throughput(model: Path, raw: Path, n: int, tag: str, batch: int, budget_s: float | None) -> dict:
    import nats

    async def setup(stream: str, subject: str):
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{subject}.events"])
        await js.add_stream(name=f"{stream}-OUT", subjects=[f"{subject}.out"], duplicate_window=3600)
        payload = bodies(2000)
        for start in range(0, n, 1000):
            await asyncio.gather(
                *(
                    js.publish(f"{subject}.events", payload[i % 2000])
                    for i in range(start, min(n, start + 1000))
                )
            )
        await nc.close()

    async def count(stream: str):
        nc = await nats.connect(NATS)
        try:
            return (await nc.jetstream().stream_info(f"{stream}-OUT")).state.messages
        except Exception:
            return 0
        finally:
            await nc.close()

    async def cleanup(stream: str):
        nc = await nats.connect(NATS)
        js = nc.jetstream()
        for name in (stream, f"{stream}-OUT"):
            try:
                await js.delete_stream(name)
            except Exception:
                pass
        await nc.close()

    stream, subject = f"BENCH-{tag}", f"bench.{tag}"
    asyncio.run(setup(stream, subject))
    proc = consumer(
        model,
        f"{NATS}?stream={stream}&durable=scorers",
        f"{NATS}?subject={subject}.out&stream={stream}-OUT",
        "--batch-size",
        str(batch),
    )
    cpu = CpuWindow([proc], pid_cpu("nats-server"))
    try:
        rate, done = rate_until(lambda: asyncio.run(count(stream)), n, 600, [proc], cpu)
    finally:
        stop([proc])
        asyncio.run(cleanup(stream))
    log(f"nats: {rate and round(rate)} events/s ({done}/{n}), CPU per event {cpu.per_event_us()}")
    result = {"modelyard": sig(rate), **cpu.per_event_us()}
    stream, subject = f"BENCH-{tag}-C", f"bench.{tag}c"
    asyncio.run(setup(stream, subject))
    try:
        bare = ceiling("nats", NATS, stream, "bare", f"{subject}.out", str(n), str(batch))
    finally:
        asyncio.run(cleanup(stream))
    log(f"nats client ceiling: {bare}")
    result["client_ceiling"] = {
        "events_per_s": sig(bare["events_per_s"]),
        "cpu_us_per_event": round(bare["cpu_us_per_event"], 2),
    }
    if budget_s:
        stream, subject = f"BENCH-{tag}-B", f"bench.{tag}b"
        asyncio.run(setup(stream, subject))
        try:
            base = one_at_a_time(
                NATS,
                raw,
                stream,
                "baseline",
                f"{subject}.out",
                lambda: asyncio.run(count(stream)),
                n,
                budget_s,
            )
        finally:
            asyncio.run(cleanup(stream))
        log(f"nats baseline: {round(base)} events/s")
        result |= {"baseline": sig(base), "ratio": sig(rate / base) if rate and base else None}
    return result


def amqp_throughput(model: Path, raw: Path, n: int, tag: str, batch: int, budget_s: float | None) -> dict:
    import aio_pika

    async def setup(queue: str, exchange: str):
        conn = await aio_pika.connect(AMQP)
        ch = await conn.channel()
        await ch.declare_queue(queue, durable=True)
        out = await ch.declare_queue(f"{queue}-out", durable=True)
        x = await ch.declare_exchange(exchange, "direct", durable=True)
        await out.bind(x, routing_key="p")
        payload = bodies(2000)
        for start in range(0, n, 1000):
            await asyncio.gather(
                *(
                    ch.default_exchange.publish(aio_pika.Message(payload[i % 2000], message_id=str(i)), queue)
                    for i in range(start, min(n, start + 1000))
                )
            )
        await conn.close()

    async def count(queue: str):
        conn = await aio_pika.connect(AMQP)
        ch = await conn.channel()
        q = await ch.declare_queue(f"{queue}-out", passive=True)
        await conn.close()
        return q.declaration_result.message_count

    async def cleanup(queue: str, exchange: str):
        conn = await aio_pika.connect(AMQP)
        ch = await conn.channel()
        await ch.queue_delete(queue)
        await ch.queue_delete(f"{queue}-out")
        await ch.exchange_delete(exchange)
        await conn.close()

    queue, exchange = f"bench-{tag}", f"bench-{tag}-x"
    asyncio.run(setup(queue, exchange))
    proc = consumer(
        model,
        f"{AMQP}?queue={queue}",
        f"{AMQP}?exchange={exchange}&routing-key=p",
        "--batch-size",
        str(batch),
    )
    cpu = CpuWindow([proc], pid_cpu("beam.smp"))
    try:
        rate, done = rate_until(lambda: asyncio.run(count(queue)), n, 600, [proc], cpu)
    finally:
        stop([proc])
        asyncio.run(cleanup(queue, exchange))
    log(f"amqp: {rate and round(rate)} events/s ({done}/{n}), CPU per event {cpu.per_event_us()}")
    result = {"modelyard": sig(rate), **cpu.per_event_us()}
    queue, exchange = f"bench-{tag}-c", f"bench-{tag}-cx"
    asyncio.run(setup(queue, exchange))
    try:
        bare = ceiling("amqp", AMQP, queue, exchange, "p", str(n), str(batch))
    finally:
        asyncio.run(cleanup(queue, exchange))
    log(f"amqp client ceiling: {bare}")
    result["client_ceiling"] = {
        "events_per_s": sig(bare["events_per_s"]),
        "cpu_us_per_event": round(bare["cpu_us_per_event"], 2),
    }
    if budget_s:
        queue, exchange = f"bench-{tag}-b", f"bench-{tag}-bx"
        asyncio.run(setup(queue, exchange))
        try:
            base = one_at_a_time(
                AMQP, raw, queue, exchange, "p", lambda: asyncio.run(count(queue)), n, budget_s
            )
        finally:
            asyncio.run(cleanup(queue, exchange))
        log(f"amqp baseline: {round(base)} events/s")
        result |= {"baseline": sig(base), "ratio": sig(rate / base) if rate and base else None}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument(
        "--events", type=int, help="events per throughput figure (default 200,000; quick 30,000)"
    )
    parser.add_argument(
        "--broker-events", type=int, help="events of the NATS and RabbitMQ figures (30,000; quick 5,000)"
    )
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=2000, help="offered events/s of the latency figure")
    parser.add_argument(
        "--seconds", type=float, default=None, help="duration of the latency figure (20; quick 5)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: ceiling,baseline,latency,two,nats,amqp")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    import redis

    n = args.events or (30_000 if args.quick else 200_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    broker_n = args.broker_events or (5_000 if args.quick else 30_000)
    skip = set(filter(None, args.skip.split(",")))
    tag = uuid.uuid4().hex[:8]
    r = redis.Redis.from_url(REDIS)
    result: dict = {
        "bench": "streaming",
        "events": n,
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "figures": {},
        "errors": {},
    }
    figures = result["figures"]
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        model, raw = save_model(Path(tmp))

        def attempt(name, fn):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - recorded, the other figures go on
                result["errors"][name] = f"{type(exc).__name__}: {exc}"[:1000]
                log(f"{name} failed: {exc}")
                return None

        one_cpu: dict = {}
        one = attempt("redis", lambda: redis_throughput(r, model, n, 1, tag + "a", args.batch_size, one_cpu))
        redis_bare = (
            None
            if "ceiling" in skip
            else attempt("redis_ceiling", lambda: redis_ceiling(r, n, tag, args.batch_size))
        )
        budget = None if "baseline" in skip else (5.0 if args.quick else 15.0)
        base = budget and attempt("baseline", lambda: baseline(r, raw, min(n, 50_000), budget, tag))
        figures["redis_events_per_s"] = {
            "modelyard": sig(one),
            "baseline": sig(base),
            "ratio": sig(one / base) if one and base else None,
            "unit": "events/s",
            "cpu": one_cpu,
            "client_ceiling": redis_bare,
            "target": ">= 50,000 and >= 10x the baseline",
        }
        if "latency" not in skip:
            lat = attempt("latency", lambda: latency(r, model, args.rate, seconds, tag))
            figures["latency"] = (lat or {}) | {"target": "p50 < 10 ms, p99 < 50 ms"}
        if "two" not in skip:
            two_cpu: dict = {}
            two = attempt(
                "two", lambda: redis_throughput(r, model, n, 2, tag + "b", args.batch_size, two_cpu)
            )
            figures["two_consumers_events_per_s"] = {
                "modelyard": sig(two),
                "one_consumer": sig(one),
                "scaling": sig(two / one) if two and one else None,
                "cpu": two_cpu,
                **cpu_ceiling(two_cpu, one_cpu),
                "target": ">= 1.6x",
            }
        if "nats" not in skip:
            figures["nats_events_per_s"] = (
                attempt("nats", lambda: nats_throughput(model, raw, broker_n, tag, args.batch_size, budget))
                or {}
            ) | {"unit": "events/s", "events": broker_n, "target": ">= 50,000 and >= 10x the baseline"}
        if "amqp" not in skip:
            figures["amqp_events_per_s"] = (
                attempt("amqp", lambda: amqp_throughput(model, raw, broker_n, tag, args.batch_size, budget))
                or {}
            ) | {"unit": "events/s", "events": broker_n, "target": ">= 50,000 and >= 10x the baseline"}
    result["load_average_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
