"""Failed sign-ins, counted per user name and per address within a sliding window, in the server's
database: every worker of a server (and every server on the same database) counts together."""

from __future__ import annotations

import time
from typing import Protocol


class FailureStore(Protocol):
    def count_failures(self, keys: list[str], since: int) -> int: ...
    def add_failure(self, keys: list[str], at: int, forget_before: int) -> None: ...
    def clear_failures(self, key: str) -> None: ...


def _keys(username: str, address: str) -> list[str]:
    return [f"user:{username}"[:320], f"addr:{address}"[:320]]


class SigninLimiter:
    def __init__(self, store: FailureStore, max_failures: int, window: float) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window_ms = int(window * 1000)

    def blocked(self, username: str, address: str) -> bool:
        since = int(time.time() * 1000) - self.window_ms
        return self.store.count_failures(_keys(username, address), since) >= self.max_failures

    def failed(self, username: str, address: str) -> None:
        now = int(time.time() * 1000)
        self.store.add_failure(_keys(username, address), now, now - self.window_ms)

    def succeeded(self, username: str) -> None:
        self.store.clear_failures(_keys(username, "")[0])
