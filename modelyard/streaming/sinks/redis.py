"""Redis stream sink: each record appended once, however often it is written.

``redis://[:password@]host:port/db?stream=predictions[&ids=KEY]``

A record becomes an entry whose fields are the record's keys, values JSON-encoded. The dedup step
is one Lua script per batch, atomic in Redis: for each record it adds the event id to the set
``ids`` (default ``<stream>:event-ids``) and appends the entry only if the id was new. A batch
redelivered after a crash, even scored by another version, adds nothing. The id set grows with the
stream; trim both together (or expire the set) when old predictions are no longer needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from modelyard.serving.outputs import dumps
from modelyard.streaming.base import BaseSink
from modelyard.streaming.uris import EndUri

# KEYS: stream, id set. ARGV: per record: event id, field count n, then n field/value pairs flattened.
APPEND_ONCE = """
local added = 0
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    added = added + 1
  end
  i = i + 2 + n
end
return added
"""


class RedisStreamSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        import redis.asyncio as aioredis

        self.stream = end.option("stream", required=True)
        self.ids = end.option("ids") or f"{self.stream}:event-ids"
        self.client = aioredis.Redis.from_url(end.base, decode_responses=False)
        self._script = self.client.register_script(APPEND_ONCE)
        self.added = 0

    async def write(self, records: Sequence[dict]) -> None:
        args: list = []
        for record in records:
            args.append(str(record["event_id"]))
            args.append(2 * len(record))
            for key, value in record.items():
                args.append(key)
                args.append(orjson.dumps(value) if isinstance(value, str | int | float | None) else dumps(value))
        self.added += int(await self._script(keys=[self.stream, self.ids], args=args))

    async def close(self) -> None:
        await self.client.aclose()
