"""When a request to a tracking or artifact server is worth another try, and what the user is told.

One policy for the REST tracking store and the artifact proxy client:

- A refused connection (nothing listens at that address, the name does not resolve) fails at
  once with the URL and what to check: waiting will not start the server.
- Timeouts (connect, read, write, pool; answers 408 and 504), a dropped connection, and the
  answers 429 (too many requests) and 503 (unavailable) are retried with exponential backoff and
  jitter, honouring ``Retry-After``. Each retry is logged as a WARNING that says it is retrying,
  so a long wait is never silent.
- Any other answer (including 500) is the server's final word and is returned to the caller.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable

import httpx

from modelyard.exceptions import TemporarilyUnavailable

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 503, 504})


def refused(exc: httpx.TransportError) -> bool:
    """True when no server answered at all (connection refused, unknown host): not worth a retry."""
    return isinstance(exc, httpx.ConnectError)


def cannot_connect(what: str, base_url: str, exc: httpx.TransportError) -> TemporarilyUnavailable:
    """The error of a refused connection: the URL, the reason, what to check."""
    reason = str(exc) or type(exc).__name__
    return TemporarilyUnavailable(
        f"Cannot connect to the {what} at {base_url} ({reason}). Check that the server is running "
        "('modelyard server') and that the tracking URI (--tracking-uri or MODELYARD_TRACKING_URI) "
        "points at it."
    )


def gave_up(what: str, base_url: str, method: str, url: str, attempts: int, why: str) -> TemporarilyUnavailable:
    return TemporarilyUnavailable(
        f"The {what} at {base_url} did not answer {method} {url} after {attempts} attempt(s): {why}"
    )


def delay(attempt: int, retry_after: str | None, *, factor: float, jitter: float, cap: float) -> float:
    """Seconds to wait before retry ``attempt + 1``: exponential, jittered, at least ``Retry-After``."""
    seconds = min(cap, factor * 2**attempt) + random.uniform(0, jitter)
    with contextlib.suppress(TypeError, ValueError):  # an HTTP date: keep our own backoff
        seconds = max(seconds, min(cap, float(retry_after)))  # type: ignore[arg-type]
    return seconds


def announce_retry(
    what: str, method: str, url: str, why: str, attempt: int, max_retries: int, seconds: float
) -> None:
    logger.warning(
        "The %s did not answer %s %s (%s); retrying in %.1f s (retry %d of %d)",
        what, method, url, why, seconds, attempt + 1, max_retries,
    )


def wait_before_retry(
    sleep: Callable[[float], None], what: str, method: str, url: str, why: str, attempt: int,
    max_retries: int, retry_after: str | None, *, factor: float, jitter: float, cap: float,
) -> None:
    seconds = delay(attempt, retry_after, factor=factor, jitter=jitter, cap=cap)
    announce_retry(what, method, url, why, attempt, max_retries, seconds)
    sleep(seconds)
