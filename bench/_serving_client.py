"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the serving benchmark.

Cheap on purpose (tens of microseconds per request): the client shares the 2 cores with the server
being measured, and a heavy client (httpx, requests) would flatten the difference between servers.
It sends ``POST <path>`` with a fixed body and reads one response (Content-Length framed, as both
servers answer).
"""

from __future__ import annotations

import asyncio
import time


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def build_request(host: str, port: int, path: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def sequential(host: str, port: int, request: bytes, n: int) -> tuple[list[float], int]:
    """Latencies (seconds) of ``n`` requests one after another on one connection, and the failures."""
    conn = await Connection.open(host, port)
    latencies, failed = [], 0
    try:
        for _ in range(n):
            start = time.perf_counter()
            status, _ = await conn.post(request)
            latencies.append(time.perf_counter() - start)
            failed += status != 200
    finally:
        conn.close()
    return latencies, failed


async def concurrent(host: str, port: int, request: bytes, clients: int, seconds: float) -> dict:
    """``clients`` connections posting as fast as answered for ``seconds``: throughput and latencies."""
    conns = [await Connection.open(host, port) for _ in range(clients)]
    latencies: list[float] = []
    failed = 0
    deadline = time.perf_counter() + seconds

    async def run(conn: Connection) -> None:
        nonlocal failed
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, _ = await conn.post(request)
            latencies.append(time.perf_counter() - start)
            failed += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(run(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return {"requests": len(latencies), "failed": failed, "elapsed": elapsed, "latencies": latencies}
