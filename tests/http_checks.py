"""Raw-socket probes of a server's HTTP limits (``modelyard.web.http_limits``), shared by the tracking
and the scoring server's tests. Each probe talks to 127.0.0.1:<port> over a plain socket, as an
attacker would, and returns what came back; bounds on time are generous: they only prove that a
timeout happened at all."""

from __future__ import annotations

import json
import socket
import time

GENEROUS_S = 20.0  # a timeout of a second or two must have closed the connection well within this


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S)
    return sock


def send_all(sock: socket.socket, data: bytes, chunk: int = 64 * 1024) -> None:
    """Send ``data``; a server that refused early may close (or reset) before it is all sent."""
    try:
        for i in range(0, len(data), chunk):
            sock.sendall(data[i : i + chunk])
    except (BrokenPipeError, ConnectionResetError):
        pass


def read_until_closed(sock: socket.socket, deadline_s: float = GENEROUS_S) -> bytes:
    """Everything the server sends until it closes the connection (fails past ``deadline_s``)."""
    sock.settimeout(deadline_s)
    out = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return out
        out += chunk
    raise AssertionError(f"the server kept the connection open past {deadline_s} s (got {out[:200]!r})")


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a request head (closing the connection after it) and parse the answer."""
    with connect(port) as sock:
        send_all(sock, head)
        return parse(read_until_closed(sock))


def json_error(status_headers_body: tuple[int, dict[str, str], bytes]) -> tuple[int, dict]:
    status, headers, body = status_headers_body
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)
    assert set(error) >= {"error_code", "message"}, error
    return status, error


def get(path: str, *extra: bytes) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(extra) + b"Connection: close\r\n\r\n"


# -- the probes ------------------------------------------------------------------------------------
def giant_header(port: int, path: str) -> tuple[int, dict]:
    return json_error(request(port, get(path, b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n")))


def many_headers(port: int, path: str, count: int = 100_000) -> tuple[int, dict]:
    return json_error(request(port, get(path, b"".join(b"X-H%d: 1\r\n" % i for i in range(count)))))


def long_query(port: int, path: str, name: str, size: int = 64 * 1024) -> tuple[int, dict]:
    return json_error(request(port, get(f"{path}?{name}={'a' * size}")))


def silent_connection_closed(port: int) -> float:
    """Open a connection, send nothing: seconds until the server closed it."""
    start = time.monotonic()
    with connect(port) as sock:
        assert read_until_closed(sock) == b""
    return time.monotonic() - start


def dribbled_headers(port: int, path: str) -> tuple[float, bytes]:
    """Slowloris: one header byte every 0.1 s, never finishing: (seconds until closed, the answer)."""
    start = time.monotonic()
    with connect(port) as sock:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sock.settimeout(0.1)
        answer = b""
        while time.monotonic() - start < GENEROUS_S:
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        else:
            raise AssertionError(f"a dribbling client was still connected after {GENEROUS_S} s")
    return time.monotonic() - start, answer


def keep_alive_works(port: int, path: str) -> None:
    """Two requests on one connection are both answered (the limits do not break keep-alive)."""
    one = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(port) as sock:
        for _ in range(2):
            sock.sendall(one)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            status, headers, body = parse(data)
            assert status == 200, data
            length = int(headers["content-length"])
            while len(body) < length:
                body += sock.recv(65536)


def pipelined_works(port: int, path: str, count: int = 3) -> None:
    """``count`` requests in one write (HTTP/1.1 pipelining) are all answered, in order."""
    one = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    last = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(one * (count - 1) + last)
        raw = read_until_closed(sock)
    assert raw.count(b"HTTP/1.1 200 ") == count, raw[:500]
