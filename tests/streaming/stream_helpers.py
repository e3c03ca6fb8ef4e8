"""Helpers shared by the streaming tests (importable as ``stream_helpers``; conftest holds the fixtures)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

COLUMNS = [f"f{i}" for i in range(20)]
REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("MODELYARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("MODELYARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")


def _root_conftest():
    """tests/conftest.py as a plain module (for ``service_unavailable``)."""
    import importlib.util

    name = "modelyard_tests_root_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "conftest.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def service_unavailable(reason: str) -> None:
    """Skip on a laptop without the service; fail when CI requires services (tests/conftest.py)."""
    _root_conftest().service_unavailable(reason)


MODELYARD = str(Path(sys.executable).parent / "modelyard")


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_until(
    runner, condition: Callable[[], bool], timeout: float = 60.0, during: Callable[[], None] | None = None
):
    """Run ``runner`` in-process until ``condition()``; then stop it gracefully and wait for it."""

    async def main():
        task = asyncio.create_task(runner.run())
        deadline = time.monotonic() + timeout
        done_during = during is None
        while True:
            if task.done():
                task.result()
                raise AssertionError("the stream stopped by itself")
            if runner.state == "running" and not done_during:
                await asyncio.to_thread(during)
                done_during = True
            if runner.state == "running" and await asyncio.to_thread(condition):
                break
            if time.monotonic() > deadline:
                runner.stop()
                await task
                raise AssertionError("timed out waiting for the stream")
            await asyncio.sleep(0.05)
        runner.stop()
        await task
        return runner

    return asyncio.run(main())


def start_cli(*args: str, env_extra: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_WAIT_POLICY="passive", OMP_NUM_THREADS="1", **(env_extra or {}))
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    return subprocess.Popen([MODELYARD, *args], env=env, stdout=out, stderr=out)


class Consumers:
    """``modelyard models stream`` processes of one consumer group, each logging to a file of its own
    (so a test can tell when that one runs): the kill -9 tests' start, kill, replace and stop."""

    RUNNING = "Streaming with model version"

    def __init__(self, args: list[str], folder: Path, count: int = 2) -> None:
        self.args, self.folder, self.logs = args, folder, {}
        self.procs = [self._launch() for _ in range(count)]

    def _launch(self) -> subprocess.Popen:
        path = self.folder / f"consumer-{len(self.logs)}.log"
        proc = start_cli(*self.args, log=path)
        self.logs[proc.pid] = path
        return proc

    def kill_and_replace(self, i: int) -> None:
        """SIGKILL consumer ``i`` (nothing of its own is flushed) and start a new one in its place."""
        victim = self.procs[i]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.procs[i] = self._launch()

    def wait_running(self) -> None:
        """Every current consumer has started streaming. The survivor may have finished before the last
        replacement even started: that one is stopped once it runs (SIGTERM during its imports would
        kill it before its handler is installed)."""
        for proc in self.procs:
            wait_until(lambda p=proc: self.RUNNING in self.logs[p.pid].read_text(), timeout=180,
                       what="the replacement consumer running")

    def stop(self) -> list[int]:
        """SIGTERM each consumer still running; their exit codes."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=60) for proc in self.procs]

    def tails(self, chars: int = 1500) -> str:
        return "\n".join(path.read_text()[-chars:] for path in self.logs.values())


def event(i: int, value: float) -> bytes:
    return orjson.dumps({c: value + k for k, c in enumerate(COLUMNS)} | {"n": i})


class Nats:
    """A JetStream client on its own event loop thread, for tests that call it synchronously."""

    def __init__(self, url: str) -> None:
        import threading

        import nats

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc = self._run(nats.connect(servers=[url], connect_timeout=3, max_reconnect_attempts=0))
        self.js = self.nc.jetstream()

    def _run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn):
        """``await fn(js)`` on the client's loop."""
        return self._run(fn(self.js))

    def publish_many(self, subject: str, bodies: list[bytes]) -> list[int]:
        async def go(js):
            acks = []
            for start in range(0, len(bodies), 500):
                acks += await asyncio.gather(*(js.publish(subject, b) for b in bodies[start : start + 500]))
            return [a.seq for a in acks]

        return self.call(go)

    def messages(self, stream: str) -> list[dict]:
        """Every message stored in ``stream``, decoded."""

        async def go(js):
            from nats.js.api import AckPolicy, ConsumerConfig

            total = (await js.stream_info(stream)).state.messages
            sub = await js.pull_subscribe("", stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
            out = []
            while len(out) < total:
                out += [
                    orjson.loads(m.data) for m in await sub.fetch(min(1000, total - len(out)), timeout=10)
                ]
            await sub.unsubscribe()
            return out

        return self.call(go)

    def count(self, stream: str) -> int:
        async def go(js):
            from nats.js.errors import NotFoundError

            try:
                return (await js.stream_info(stream)).state.messages
            except NotFoundError:  # not created yet
                return 0

        return self.call(go)

    def close(self) -> None:
        self._run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Rabbit:
    """An aio-pika channel on its own event loop thread, for tests that call it synchronously."""

    def __init__(self, url: str) -> None:
        import threading

        import aio_pika

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def connect():
            connection = await aio_pika.connect(url, timeout=3)
            return connection, await connection.channel()

        self.connection, self.channel = self._run(connect())
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def _run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def queue(self, name: str) -> None:
        self._run(self.channel.declare_queue(name, durable=True))
        self.queues.append(name)

    def publish(self, queue: str, bodies: list[bytes], ids: list[str]) -> None:
        import aio_pika

        async def go():
            pairs = list(zip(bodies, ids, strict=True))
            for start in range(0, len(pairs), 500):
                await asyncio.gather(
                    *(
                        self.channel.default_exchange.publish(
                            aio_pika.Message(
                                body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                            ),
                            queue,
                        )
                        for body, message_id in pairs[start : start + 500]
                    )
                )

        self._run(go())

    def declare_exchange(self, exchange: str, queue: str, routing_key: str) -> None:
        """A durable direct exchange bound to ``queue`` (removed at cleanup)."""

        async def go():
            declared = await self.channel.declare_exchange(exchange, "direct", durable=True)
            queue_ = await self.channel.declare_queue(queue, durable=True)
            await queue_.bind(declared, routing_key=routing_key)

        self._run(go())
        if exchange not in self.exchanges:
            self.exchanges.append(exchange)

    def depth(self, queue: str) -> int:
        declared = self._run(self.channel.declare_queue(queue, passive=True))
        return declared.declaration_result.message_count

    def cleanup(self) -> None:
        async def go():
            for name in self.queues:
                await self.channel.queue_delete(name)
            for name in self.exchanges:
                await self.channel.exchange_delete(name)
            await self.connection.close()

        self._run(go())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
