"""Where an evaluation (and a retraining around it) spends its time: wall and process CPU seconds
per named stage. Recording is off unless a caller opens a ``StageClock``; ``stage(name)`` is then
a no-op costing one context-variable read.

    with StageClock() as clock:
        with stage("load"):
            ...
    clock.stages  # {"load": {"wall_s": 0.12, "cpu_s": 0.10}}
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[StageClock | None] = ContextVar("modelyard_stage_clock", default=None)


class StageClock:
    """Accumulates wall and CPU seconds per stage name (a stage entered twice adds up)."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._token = None

    def add(self, name: str, wall: float, cpu: float) -> None:
        entry = self.stages.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
        entry["wall_s"] += wall
        entry["cpu_s"] += cpu

    def __enter__(self) -> StageClock:
        self._token = _current.set(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        _current.reset(self._token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    clock = _current.get()
    if clock is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        clock.add(name, time.perf_counter() - wall, time.process_time() - cpu)
