"""HTTP-level limits of both servers (tracking and scoring), enforced where uvicorn reads the bytes.

uvicorn's parsers put no bound on a request's head (a 1 MB header or 100,000 headers are read and
passed on), never time out a connection that sends nothing or dribbles its headers one byte at a
time (its keep-alive timer only runs between requests), and answer what they cannot parse with a
plain-text 400. ``LimitedHttpProtocol`` is uvicorn's own HTTP protocol (httptools, else h11) with:

* a head limit: the request line plus headers past ``max_header_bytes`` -> 414 (the request line
  alone) or 431, refused while the bytes arrive, before the parser buffers them;
* a header count limit: more than ``max_headers`` header lines -> 431;
* a header-read timeout: a connection that has not finished sending a request's head
  ``header_timeout`` seconds after it opened (or after it started the next request) is closed,
  with a 408 when it had sent anything;
* a connection cap: past ``max_connections`` open connections a new one is answered 503 and closed;
* MLflow's JSON error body on every one of these refusals and on uvicorn's own "invalid request".

It also writes each response in one piece where it can (``_OneWrite``): uvicorn writes a response's
status line and headers the moment the app starts the response, then the body as a second write.
On loopback and in small VMs each write that reaches an idle peer costs a wake-up, and a client
reading the head first and then the body pays one more read; a small answer (most of the API)
then costs twice what one write does. The head is held until the body's first write, in the same
turn of the event loop, and both go out together.

uvicorn builds the protocol from an import path, so the limits ride on the ``uvicorn.Config``
(``server_config``), which uvicorn pickles to spawned workers and forked workers inherit.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

LIMITS_ATTR = "modelyard_http_limits"
PROTOCOL = "modelyard.web.http_limits:LimitedHttpProtocol"
LINGER_S = 2.0  # after a refusal, what the client still sends is read and dropped this long, then closed
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


HOLD_MAX = 16 * 1024  # a write this small (a response's head) waits for the next one ...
JOIN_MAX = 256 * 1024  # ... and goes out joined to it when that one is no larger than this


class _OneWrite:
    """A connection's transport that sends a small write together with the next one.

    A write of at most ``HOLD_MAX`` bytes is held; the next write sends both at once (joined, or as
    two writes when the next one is large), and a held write nobody follows in this turn of the
    event loop goes out on its own at the turn's end (``call_soon``): a streaming response's head
    is never held longer than that. Closing sends what is held first. The rest is the transport's.
    """

    __slots__ = ("_transport", "_loop", "_held", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._pending = False  # a flush is scheduled

    def write(self, data) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= JOIN_MAX:
                self._transport.write(held + bytes(data))
            else:
                self._transport.write(held)
                self._transport.write(data)
        elif len(data) <= HOLD_MAX and not self._transport.is_closing():
            self._held = bytes(data)
            if not self._pending:
                self._pending = True
                self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        self._pending = False
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@dataclass(frozen=True)
class HttpLimits:
    """What one server's connections may do (the defaults are the settings' defaults)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keep_alive_timeout: float = 30.0
    max_connections: int = 1000
    backlog: int = 2048

    def uvicorn_options(self) -> dict[str, Any]:
        """The ``uvicorn.Config`` arguments these limits set (uvicorn's concurrency limit stays off:
        the cap on connections is the protocol's, which answers JSON)."""
        return {
            "http": PROTOCOL,
            "timeout_keep_alive": self.keep_alive_timeout,
            "backlog": self.backlog,
            # h11 (when httptools is missing) must not refuse a head before our limit does
            "h11_max_incomplete_event_size": self.max_header_bytes + 1024,
        }


def limits_of(section: Any) -> HttpLimits:
    """The limits of a settings section (``settings.server`` or ``settings.serving``: same field names)."""
    return HttpLimits(
        max_header_bytes=section.max_header_bytes,
        max_headers=section.max_headers,
        header_timeout=section.header_timeout,
        keep_alive_timeout=section.keep_alive_timeout,
        max_connections=section.max_connections,
        backlog=section.backlog,
    )


def server_config(app: Any, limits: HttpLimits, **options: Any):
    """A ``uvicorn.Config`` serving ``app`` under ``limits`` (``options``: host, port, log_level ...)."""
    import uvicorn

    config = uvicorn.Config(app, **{**options, **limits.uvicorn_options()})
    setattr(config, LIMITS_ATTR, limits)
    return config


def error_response(status: int, error_code: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer with MLflow's JSON error body; the connection closes after it."""
    body = json.dumps({"error_code": error_code, "message": message}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS.get(status, b"Error"), len(body))
    )
    return head + body


def _head_end(buf: bytes) -> int | None:
    """Where the head's blank line ends in ``buf`` (CRLF line ends, else bare LF ones), or None.
    (``find``: a regular expression costs ten times more per request.)"""
    crlf = buf.find(b"\n\r\n")
    if crlf >= 0:
        return crlf + 3
    lf = buf.find(b"\n\n")
    return lf + 2 if lf >= 0 else None


class LimitedHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP/1.1 protocol with the limits of ``config.modelyard_http_limits``."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: HttpLimits = getattr(config, LIMITS_ATTR, None) or HttpLimits()
        self._in_head = True  # reading a request's head (or waiting for the next request)
        self._head_bytes = 0
        self._head_lines = 0
        self._line_bytes = 0
        self._tail = b""
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _OneWrite(transport, self.loop)  # what the request cycles write to
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "TEMPORARILY_UNAVAILABLE", "The server has too many open connections; retry later")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return  # lingering after a refusal: what arrives is dropped
        if self._in_head:
            if self._head_timer is None:  # the first bytes of the next request on a kept-alive connection
                self._arm_head_timer()
            if not self._scan_head(data):
                return
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle  # a pipelined request already read has started: its head is behind us
        if not self.transport.is_closing() and (cycle is None or cycle.response_complete):
            # the next request's head starts (uvicorn's keep-alive timer runs until its first byte)
            self._in_head, self._head_bytes, self._head_lines, self._line_bytes, self._tail = True, 0, 0, 0, b""

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "BAD_REQUEST", msg)

    # -- the head -----------------------------------------------------------------------------
    def _scan_head(self, data: bytes) -> bool:
        """Count the head's bytes and lines in ``data``; False when the request was refused."""
        buf = self._tail + data
        end = _head_end(buf)
        part = data if end is None else data[: max(end - len(self._tail), 0)]
        if self._head_lines == 0:  # the request line's length, for a 414 rather than a 431
            newline = part.find(b"\n")
            self._line_bytes += len(part) if newline == -1 else newline + 1
        self._head_bytes += len(part)
        self._head_lines += part.count(b"\n")
        complete = end is not None
        headers = self._head_lines - 1 - (1 if complete else 0)
        if self._head_bytes > self.limits.max_header_bytes:
            if self._line_bytes > self.limits.max_header_bytes:
                self._refuse(414, "BAD_REQUEST", f"The request line is longer than {self.limits.max_header_bytes} bytes")
            else:
                self._refuse(
                    431, "BAD_REQUEST", f"The request headers are larger than {self.limits.max_header_bytes} bytes"
                )
            return False
        if headers > self.limits.max_headers:
            self._refuse(431, "BAD_REQUEST", f"The request has more than {self.limits.max_headers} headers")
            return False
        if complete:
            self._in_head = False
            self._cancel_head_timer()
        else:
            self._tail = buf[-3:]
        return True

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_bytes:
            seconds = f"{self.limits.header_timeout:g}"
            self._refuse(408, "BAD_REQUEST", f"The request headers did not arrive within {seconds} s")
        else:
            self.transport.close()

    def _refuse(self, status: int, error_code: str, message: str) -> None:
        """Answer ``status`` with MLflow's JSON error and close. The close lingers: the answer and a FIN
        go out at once, and what the client is still sending is read and dropped for ``LINGER_S``
        (closing a socket with unread data would reset the connection and lose the answer)."""
        self._cancel_head_timer()
        self._in_head, self._refused = False, True
        self.transport.write(error_response(status, error_code, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()
