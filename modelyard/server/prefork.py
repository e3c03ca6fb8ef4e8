"""Server workers forked from a parent that has already imported the app (Linux).

uvicorn's own ``--workers`` starts every worker as a fresh interpreter (multiprocessing's
"spawn"), so each one imports everything again: on two cores, four workers need about 1.5 s
before the first answers. Forked from a parent that imported the modules once, and that holds
no thread, engine or connection (each worker builds its own app after the fork), a worker is
ready in tens of milliseconds, and the imported code pages are shared copy-on-write.

The parent supervises: a worker that dies is forked again (at most ``MAX_RESTARTS`` a minute,
then the server stops), SIGINT and SIGTERM are passed on to the workers, and the parent returns
once they have all exited. Elsewhere the caller uses uvicorn's workers.

The tracking server forks before building anything; the scoring server (``models serve``) loads its
models in the parent first, so the model and its libraries are shared too (``cli/serve.py``).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_RESTARTS = 10  # per minute; past that a worker is failing at start and the server stops
STOP_GRACE_S = 30.0


def available() -> bool:
    """Linux only: on macOS, forking a process that has loaded system frameworks is unsafe (CPython's
    multiprocessing spawns there for that reason), so uvicorn's spawned workers are used."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def run(config, workers: int, on_exit: Callable[[int], None] | None = None) -> int:
    """Serve ``config`` (a ``uvicorn.Config``) with ``workers`` forked processes; the exit status.

    Import what the workers need before calling this (and open nothing they would share: no thread,
    connection or file a worker would write). ``on_exit(pid)`` is called in the parent for every
    worker that exited (before a replacement is forked).
    """
    sock = config.bind_socket()
    children: dict[int, float] = {}
    restarts: list[float] = []
    state = {"stopping": False, "status": 0}

    def start_worker() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            _worker(config, sock)
        children[pid] = time.monotonic()

    def stop(signum, _frame) -> None:
        state["stopping"] = True
        for pid in list(children):
            _signal(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    # What the parent built so far (imported modules, a loaded model) is left out of the workers'
    # garbage collections: a collection would write to every object's header and so copy the pages
    # the workers otherwise share with the parent.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(workers):
            start_worker()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if children.pop(pid, None) is None:
                continue
            if on_exit is not None:
                on_exit(pid)
            if state["stopping"]:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60] + [now]
            code = os.waitstatus_to_exitcode(status)
            if len(restarts) > MAX_RESTARTS:
                logger.error("workers keep exiting (last status %s): stopping the server", code)
                state["status"] = 1
                stop(signal.SIGTERM, None)
                _reap(children, on_exit)
                break
            logger.warning("worker %d exited with status %s; starting another", pid, code)
            start_worker()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return state["status"]


def _worker(config, sock: socket.socket) -> None:
    """The body of a forked worker: never returns to the parent's code."""
    code = 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own while it serves
        import uvicorn

        uvicorn.Server(config).run(sockets=[sock])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logger.exception("worker %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(children: dict[int, float], on_exit: Callable[[int], None] | None) -> None:
    """Wait for the workers to exit (SIGKILL after ``STOP_GRACE_S``)."""
    deadline = time.monotonic() + STOP_GRACE_S
    while children:
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.pop(pid)
                if on_exit is not None:
                    on_exit(pid)
        if children and time.monotonic() > deadline:
            for pid in list(children):
                _signal(pid, signal.SIGKILL)
        time.sleep(0.05)
