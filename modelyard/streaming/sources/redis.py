"""Redis Streams source: a consumer group read with ``XREADGROUP``; dead consumers' work claimed.

``redis://[:password@]host:port/db?stream=events&group=scorers[&start=0][&claim-idle-ms=30000]``

- The group is created (with the stream, ``MKSTREAM``) at ``start`` (default ``0``: the events
  already in the stream are scored too; ``$``: only new ones) unless it exists.
- Entries read stay in this consumer's pending list (PEL) until ``XACK``, which the engine sends
  only after their predictions are written.
- Every ``claim-idle-ms / 2`` the consumer sweeps the group's PEL with ``XAUTOCLAIM`` and takes the
  entries idle longer than ``claim-idle-ms``: the work of a consumer that died (kill -9) is finished
  by the survivors. Set it well above the time a batch takes.
- An entry's ``produced_at`` is the millisecond time in its id (the latency metric).
- ``XREADGROUP``'s reply is taken as hiredis parsed it (no redis-py callback building a dict per
  entry); a batch is acknowledged by a script that gets its ids as one newline-joined string (no
  per-id argument packing in Python) and sends ``XACK`` for 500 at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from modelyard.streaming.base import BaseSource, Delivery
from modelyard.streaming.uris import EndUri

logger = logging.getLogger(__name__)

# KEYS: stream. ARGV: group, the entry ids joined by "\n".
ACK = """
local acked, ids = 0, {}
for id in string.gmatch(ARGV[2], '[^\\n]+') do
  ids[#ids + 1] = id
  if #ids == 500 then
    acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
    ids = {}
  end
end
if #ids > 0 then acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids)) end
return acked
"""


class RedisStreamSource(BaseSource):
    def __init__(self, end: EndUri, *, consumer: str, **_: object) -> None:
        import redis.asyncio as aioredis

        self.stream = end.option("stream", required=True)
        self.group = end.option("group", required=True)
        self.start_id = end.option("start", "0")
        self.claim_idle_ms = end.int_option("claim-idle-ms", 30_000)
        self.consumer = consumer
        self.client = aioredis.Redis.from_url(end.base, decode_responses=False)
        self.client.set_response_callback("XREADGROUP", _raw)
        self._ack = self.client.register_script(ACK)
        self._cursor = "0-0"
        self._next_sweep = 0.0

    async def start(self) -> None:
        from redis.exceptions import ResponseError

        try:
            await self.client.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        if time.monotonic() >= self._next_sweep:
            claimed = await self._claim(max_messages)
            if claimed:
                return claimed
        block = max(1, int(timeout_s * 1000)) if timeout_s > 0 else None
        reply = await self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=max_messages,
                                             block=block)
        if not reply:
            return []
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # RESP3 / RESP2
        out = []
        append = out.append
        for entry_id, flat in entries:
            if flat is None:  # deleted while pending (not for ">" reads; kept for safety)
                continue
            text = entry_id.decode()
            body = {flat[0]: flat[1]} if len(flat) == 2 else dict(zip(flat[::2], flat[1::2], strict=True))
            append(Delivery(text, body, entry_id, int(text[:text.index("-")]) * 0.001))
        return out

    async def _claim(self, count: int) -> list[Delivery]:
        """One ``XAUTOCLAIM`` step of the sweep over entries other consumers left pending."""
        reply = await self.client.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                             start_id=self._cursor, count=count)
        cursor, entries = reply[0], reply[1]
        self._cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._cursor == "0-0":  # the sweep is complete: the next one later
            self._next_sweep = time.monotonic() + self.claim_idle_ms / 2000.0
        out = [_delivery(entry_id, fields, attempts=2) for entry_id, fields in entries if fields]
        if out:
            logger.warning("Claimed %d entries of %s left pending by a stopped consumer", len(out), self.stream)
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await self._ack(keys=[self.stream], args=[self.group, b"\n".join([d.handle for d in deliveries])])

    async def lag(self) -> int | None:
        for group in await self.client.xinfo_groups(self.stream):
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                lag = group.get("lag")
                return int(lag) if lag is not None else None
        return None

    async def close(self) -> None:
        try:  # a consumer that leaves nothing pending is removed from the group
            info = await self.client.xpending_range(self.stream, self.group, "-", "+", 1, consumername=self.consumer)
            if not info:
                await self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)
        finally:
            await self.client.aclose()


def _delivery(entry_id: bytes, fields: dict, attempts: int = 1) -> Delivery:
    text = entry_id.decode()
    return Delivery(text, fields, entry_id, int(text.split("-", 1)[0]) / 1000.0, attempts)


def _raw(response, **_: object):
    return response
