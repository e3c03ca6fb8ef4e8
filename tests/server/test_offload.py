"""``Offload`` (modelyard/web/offload.py, the server's handler threads): calls run on its threads
(never the loop's), results and errors come back, the caller's context variables reach the call,
and no more than ``threads`` threads are started."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from modelyard.web.offload import Offload

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_results_errors_and_context_come_back() -> None:
    offload = Offload(threads=2)

    def boom() -> None:
        raise KeyError("x")

    async def main():
        who.set("alice")
        loop_thread = threading.get_ident()
        ident, name = await offload.run(lambda: (threading.get_ident(), who.get()))
        with pytest.raises(KeyError):
            await offload.run(boom)
        return loop_thread, ident, name

    try:
        loop_thread, ident, name = asyncio.run(main())
    finally:
        offload.close()
    assert ident != loop_thread and name == "alice"


def test_threads_are_capped_and_calls_beyond_them_queue() -> None:
    offload = Offload(threads=3)
    gate = threading.Event()
    seen: set[int] = set()

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        gate.wait(10)
        return i

    async def main():
        tasks = [asyncio.ensure_future(offload.run(work, i)) for i in range(10)]
        await asyncio.sleep(0)
        started = len(offload._started)
        gate.set()
        return started, await asyncio.gather(*tasks)

    try:
        started, results = asyncio.run(main())
    finally:
        offload.close()
    assert results == list(range(10))
    assert started == 3 and 1 <= len(seen) <= 3
