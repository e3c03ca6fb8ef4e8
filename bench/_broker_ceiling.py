"""The client's own bound: a bare loop, no model, no engine, that moves ``N`` messages from a broker's
input to its output with the same client, batch size and delivery guarantees as ``models stream``
(publish the batch, wait until it is durable, then acknowledge the input), using the same client
calls. Printed beside our figure by bench/streaming.py.

    python bench/_broker_ceiling.py nats URL STREAM DURABLE OUT_SUBJECT N BATCH
    python bench/_broker_ceiling.py amqp URL QUEUE EXCHANGE ROUTING_KEY N BATCH
    python bench/_broker_ceiling.py redis URL STREAM GROUP OUT_STREAM N BATCH [script|pipeline]

Redis, ``script`` (the default): ``XREADGROUP COUNT BATCH`` taken as hiredis parsed it, the batch's
ids joined into one argument of one script that appends each id's prediction once (``SADD`` +
``XADD``, the sink's own work in Redis), then one ``XACK`` script: the least a client can do for the
same guarantees. ``pipeline``: the plain hand-written batched loop (redis-py's reply callback, one
pipeline of ``XADD``, one ``XACK`` with the ids as arguments; no dedup of the output).

Prints one JSON line: events/s and CPU microseconds per event, from the first message to the last.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def nats_loop(url: str, stream: str, durable: str, out: str, n: int, batch: int) -> tuple[float, float]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    nc = await nats.connect(url, skip_subject_validation=True)
    js = nc.jetstream()
    await js.add_consumer(
        stream,
        config=ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=batch * 6),
    )
    inbox, acks_inbox = nc.new_inbox(), nc.new_inbox()
    state = {"got": [], "want": 0, "done": None, "acks": 0, "acks_want": 0, "acks_done": None}

    async def received(msg):
        if msg.headers and msg.headers.get("Status"):
            if not state["done"].done():
                state["done"].set_result(None)
            return
        state["got"].append(msg.reply)
        if len(state["got"]) >= state["want"] and not state["done"].done():
            state["done"].set_result(None)

    async def acked(msg):
        state["acks"] += 1
        if state["acks"] >= state["acks_want"] and not state["acks_done"].done():
            state["acks_done"].set_result(None)

    await nc.subscribe(inbox, cb=received)
    await nc.subscribe(acks_inbox + ".*", cb=acked)
    loop = asyncio.get_running_loop()
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
    moved, first, body = 0, None, b'{"event_id":"1","model_version":"1","prediction":1}'
    while moved < n:
        state["got"], state["want"], state["done"] = [], batch, loop.create_future()
        await nc.publish(next_subject, json.dumps({"batch": batch, "no_wait": True}).encode(), reply=inbox)
        await state["done"]
        replies = state["got"]
        if not replies:
            continue
        if first is None:
            first = (time.perf_counter(), time.process_time())
        state["acks"], state["acks_want"], state["acks_done"] = 0, len(replies), loop.create_future()
        for i in range(len(replies)):
            await nc.publish(
                out, body, reply=f"{acks_inbox}.{moved}", headers={"Nats-Msg-Id": f"{moved}-{i}"}
            )
        await state["acks_done"]
        for reply in replies:
            await nc.publish(reply, b"+ACK")
        await nc.flush()
        moved += len(replies)
    end = (time.perf_counter(), time.process_time())
    await nc.close()
    return moved / (end[0] - first[0]), (end[1] - first[1]) / moved * 1e6


async def amqp_loop(url: str, queue: str, exchange: str, key: str, n: int, batch: int) -> tuple[float, float]:
    import aiormq
    from pamqp.commands import Basic

    conn = await aiormq.connect(url)
    source, sink = await conn.channel(), await conn.channel(publisher_confirms=False)
    await sink.tx_select()
    await source.basic_qos(prefetch_count=batch * 3)
    buffer: asyncio.Queue = asyncio.Queue()

    async def received(message):
        buffer.put_nowait(message)

    await source.basic_consume(queue, received, no_ack=False)
    moved, first = 0, None
    while moved < n:
        messages = [await buffer.get()]
        while len(messages) < batch and not buffer.empty():
            messages.append(buffer.get_nowait())
        if first is None:
            first = (time.perf_counter(), time.process_time())
        for m in messages:
            await sink.basic_publish(
                m.body[:50],
                exchange=exchange,
                routing_key=key,
                wait=False,
                properties=Basic.Properties(
                    message_id=m.header.properties.message_id,
                    content_type="application/json",
                    delivery_mode=2,
                ),
            )
        await sink.tx_commit()
        await source.basic_ack(messages[-1].delivery.delivery_tag, multiple=True)
        moved += len(messages)
    end = (time.perf_counter(), time.process_time())
    await conn.close()
    return moved / (end[0] - first[0]), (end[1] - first[1]) / moved * 1e6


APPEND_ONCE = """
local added = 0
for id in string.gmatch(ARGV[1], '[^\\n]+') do
  if redis.call('SADD', KEYS[2], id) == 1 then
    redis.call('XADD', KEYS[1], '*', 'event_id', '"' .. id .. '"', 'model_version', '"1"', 'prediction', '1')
    added = added + 1
  end
end
return added
"""
ACK = """
local ids = {}
for id in string.gmatch(ARGV[2], '[^\\n]+') do ids[#ids + 1] = id end
return redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
"""


async def redis_loop(url: str, stream: str, group: str, out: str, n: int, batch: int,
                     style: str = "script") -> tuple[float, float]:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    if style == "script":
        r.set_response_callback("XREADGROUP", lambda response, **_: response)
        append, ack = r.register_script(APPEND_ONCE), r.register_script(ACK)
    try:
        await r.xgroup_create(stream, group, id="0", mkstream=True)
    except Exception as exc:  # an existing group is fine
        if "BUSYGROUP" not in str(exc):
            raise
    moved, first = 0, None
    while moved < n:
        reply = await r.xreadgroup(group, "ceiling", {stream: ">"}, count=batch, block=1000)
        if not reply:
            continue
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # RESP3 / RESP2
        if first is None:
            first = (time.perf_counter(), time.process_time())
        if style == "script":
            ids = b"\n".join([entry_id for entry_id, _ in entries])
            await append(keys=[out, out + ":ids"], args=[ids])
            await ack(keys=[stream], args=[group, ids])
            moved += len(entries)
            continue
        pipe = r.pipeline(transaction=False)
        for entry_id, _fields in entries:
            pipe.xadd(out, {"event_id": b'"' + entry_id + b'"', "model_version": '"1"', "prediction": "1"})
        await pipe.execute()
        await r.xack(stream, group, *[entry_id for entry_id, _ in entries])
        moved += len(entries)
    end = (time.perf_counter(), time.process_time())
    await r.delete(out + ":ids")
    await r.aclose()
    return moved / (end[0] - first[0]), (end[1] - first[1]) / moved * 1e6


def main() -> None:
    kind, url, a, b, c, n, batch = sys.argv[1:8]
    loop_fn = {"nats": nats_loop, "amqp": amqp_loop, "redis": redis_loop}[kind]
    rate, cpu = asyncio.run(loop_fn(url, a, b, c, int(n), int(batch), *sys.argv[8:9]))
    print(json.dumps({"events_per_s": rate, "cpu_us_per_event": cpu}))


if __name__ == "__main__":
    main()
