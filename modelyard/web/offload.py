"""``Offload``: blocking calls of a server's handlers, run on a few threads of its own.

What a hand-off to a thread costs is mostly two wake-ups (the thread's, then the event loop's),
which the operating system schedules; the rest is Python work around them. Starlette's
``run_in_threadpool`` (anyio's ``to_thread``) adds a capacity limiter, a cancel scope and a
checkpoint per call, and ``loop.run_in_executor`` a ``concurrent.futures.Future`` chained to an
asyncio one. Here a call is one item on a ``SimpleQueue`` that idle threads wait on, and one
``call_soon_threadsafe`` with the result: about half of anyio's CPU time per call (measured on a
2-core box: ~45 µs against ~85 µs; the wake-ups' latency on a loaded machine comes on top of both).

The call runs in a copy of the caller's context (as anyio does), so context variables reach it.
A cancelled caller does not stop a call that has started: it runs to its end (a write is never cut
in half), its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = object()


class Offload:
    """At most ``threads`` threads, started when first needed, that run calls handed over by
    ``await offload.run(fn, *args)``."""

    def __init__(self, threads: int = 16, name: str = "modelyard-handler") -> None:
        self.threads = max(1, int(threads))
        self.name = name
        self._queue: SimpleQueue = SimpleQueue()
        self._started: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a call
        self._queued = 0  # calls no thread has taken yet
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, contextvars.copy_context(), fn, args))
        with self._lock:
            self._queued += 1
            spawn = self._queued > self._idle and len(self._started) < self.threads
            if spawn:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._started)}", daemon=True
                )
                self._started.append(thread)
                self._idle += 1  # counted idle until it takes its first call
        if spawn:
            thread.start()
        return await future

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            with self._lock:
                self._queued -= 1
                self._idle -= 1
            loop, future, context, fn, args = item
            try:
                result = context.run(fn, *args)
            except BaseException as exc:  # noqa: BLE001 -- handed to the awaiting coroutine
                self._deliver(loop, future, None, exc)
            else:
                self._deliver(loop, future, result, None)
            with self._lock:
                self._idle += 1

    @staticmethod
    def _deliver(loop, future, result, exc) -> None:
        try:
            loop.call_soon_threadsafe(_settle, future, result, exc)
        except RuntimeError:  # the loop is closed: nobody waits for the result any more
            pass

    def close(self) -> None:
        """Let the threads end once the calls already queued are done."""
        with self._lock:
            started, self._started = self._started, []
            self._idle = 0
        for _ in started:
            self._queue.put(_STOP)


def _settle(future: asyncio.Future, result, exc) -> None:
    if future.cancelled():
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)
