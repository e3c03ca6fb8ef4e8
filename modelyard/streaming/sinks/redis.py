"""Redis stream sink: each record appended once, however often it is written.

``redis://[:password@]host:port/db?stream=predictions[&ids=KEY]``

A record becomes an entry whose fields are the record's keys, values JSON-encoded. The dedup step
is one Lua script per batch, atomic in Redis: for each record it adds the event id to the set
``ids`` (default ``<stream>:event-ids``) and appends the entry only if the id was new. A batch
redelivered after a crash, even scored by another version, adds nothing. The id set grows with the
stream; trim both together (or expire the set) when old predictions are no longer needed.

A batch of plain predictions (``Predictions.plain``: broker ids, numeric predictions, no
passthrough; the usual case) goes as two strings, the ids and the predictions' JSON texts, which
the script splits and quotes itself: no per-record work in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from modelyard.serving.outputs import dumps
from modelyard.streaming.base import BaseSink, Predictions
from modelyard.streaming.uris import EndUri

# KEYS: stream, id set. ARGV[1]: the batch as one JSON array of [event id, [field, value, field, value...]]
# (one argument: packing thousands of small arguments costs the client more than the script costs Redis).
APPEND_ONCE = """
local added = 0
for _, record in ipairs(cjson.decode(ARGV[1])) do
  if redis.call('SADD', KEYS[2], record[1]) == 1 then
    redis.call('XADD', KEYS[1], '*', unpack(record[2]))
    added = added + 1
  end
end
return added
"""

# KEYS: stream, id set. ARGV: ids joined by "\n" (plain: the JSON text is the id in quotes),
# predictions' JSON texts joined by ",", the model version's JSON text.
APPEND_PLAIN_ONCE = """
local added = 0
local next_id = string.gmatch(ARGV[1], '[^\\n]+')
for value in string.gmatch(ARGV[2], '[^,]+') do
  local id = next_id()
  if redis.call('SADD', KEYS[2], id) == 1 then
    redis.call('XADD', KEYS[1], '*', 'event_id', '"' .. id .. '"', 'model_version', ARGV[3], 'prediction', value)
    added = added + 1
  end
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
        self._plain_script = self.client.register_script(APPEND_PLAIN_ONCE)
        self.added = 0

    async def write(self, records: Sequence[dict]) -> None:
        plain = records.plain() if isinstance(records, Predictions) else None
        if plain is not None:
            ids, values = plain
            self.added += int(await self._plain_script(keys=[self.stream, self.ids],
                                                       args=[ids, values, orjson.dumps(records.version)]))
            return
        batch = []
        for record in records:
            fields = []
            for key, value in record.items():
                fields.append(key)
                fields.append((orjson.dumps(value) if isinstance(value, str | int | float | None) else dumps(value))
                              .decode())
            batch.append((str(record["event_id"]), fields))
        self.added += int(await self._script(keys=[self.stream, self.ids], args=[orjson.dumps(batch)]))

    async def close(self) -> None:
        await self.client.aclose()
