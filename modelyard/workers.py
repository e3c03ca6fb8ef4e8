"""One abstraction for background work: a ``Worker`` runs a step in a loop on its own thread.

Each round calls ``step()``; what it returns says how long to wait before the next round (seconds;
``0`` means at once, ``None`` the worker's ``interval``, which may itself be ``None``: wait until
woken). ``wake()`` ends the current wait early (a producer queued something; a webhook arrived);
a wake that comes while the step runs is kept, so the next wait returns at once. A step that raises
is logged and the worker carries on after ``interval`` (or ``error_wait``): background work never
kills the process, nor dies silently.

Who starts and stops a worker: the server app's lifespan (webhook delivery), the scoring app's
lifespan (alias following, the inference log) and the client context's close / interpreter exit
(asynchronous logging). Building the objects that own workers starts nothing; ``start()`` does.
``stop(timeout)`` asks the loop to end, wakes it, runs ``on_stop`` on the worker's thread after
the last round (a final drain), and joins the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

Step = Callable[[], "float | None"]


class Worker:
    """A named background thread running ``step`` in a wait-or-wake loop (see the module docstring)."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval: float | None = 1.0,
        error_wait: float | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self.interval = interval
        self.error_wait = error_wait
        self._on_stop = on_stop
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Worker:
        """Start the thread (once: a running worker is left alone; a stopped one starts again)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return self

    def wake(self) -> None:
        """Run the next round now instead of after the wait."""
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the loop to end, wait up to ``timeout`` seconds for it; True when the thread ended."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def is_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called: a long step can check it and return early."""
        return self._stopping.is_set()

    # -- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    wait = self._step()
                    if wait is None:
                        wait = self.interval
                except Exception:
                    logger.exception("background worker %s: a round failed; carrying on", self.name)
                    wait = self.error_wait if self.error_wait is not None else self.interval
                if self._stopping.is_set():
                    break
                if wait is None or wait > 0:
                    self._wake.wait(wait)
                    self._wake.clear()
        finally:
            if self._on_stop is not None:
                try:
                    self._on_stop()
                except Exception:
                    logger.exception("background worker %s: stopping failed", self.name)

    def __repr__(self) -> str:
        state = "alive" if self.is_alive() else "stopped"
        return f"<Worker {self.name} {state}>"
