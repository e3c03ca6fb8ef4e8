"""The issue's baseline: a straightforward hand-written consumer that reads, predicts and acknowledges
one event at a time with the broker's maintained client, until SIGTERM.

    python bench/_streaming_baseline.py redis://... MODEL_PICKLE STREAM GROUP OUT_STREAM
    python bench/_streaming_baseline.py nats://...  MODEL_PICKLE STREAM DURABLE OUT_SUBJECT
    python bench/_streaming_baseline.py amqp://...  MODEL_PICKLE QUEUE EXCHANGE ROUTING_KEY

Redis (redis-py): XREADGROUP COUNT 1, predict one row, XADD, XACK. NATS (nats-py): a durable pull
consumer, ``fetch(1)``, predict, ``js.publish`` (waits for JetStream's ack), ``msg.ack()``. RabbitMQ
(aiormq): prefetch 1, take the delivery, predict, ``basic_publish`` persistent on a confirming
channel (waits for the confirm), ``basic_ack``.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import signal
import sys
import warnings

import numpy as np


def predictor(model_path: str):
    warnings.filterwarnings("ignore")  # sklearn's "X does not have valid feature names" on every call
    with open(model_path, "rb") as fh:
        model, columns = pickle.load(fh)

    def predict(data: bytes):
        event = json.loads(data)
        row = np.array([[event[c] for c in columns]], dtype=np.float64)
        return model.predict(row)[0].item()

    return predict


def on_sigterm(stop) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop())


def redis_main(url: str, predict, stream: str, group: str, out: str) -> None:
    import redis

    r = redis.Redis.from_url(url)
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError:
        pass
    running = [True]
    on_sigterm(lambda: running.clear())
    while running:
        reply = r.xreadgroup(group, "baseline", {stream: ">"}, count=1, block=500)
        if not reply:
            continue
        entry_id, fields = reply[0][1][0]
        prediction = predict(fields[b"data"])
        r.xadd(out, {"event_id": entry_id, "prediction": json.dumps(prediction)})
        r.xack(stream, group, entry_id)


async def nats_main(url: str, predict, stream: str, durable: str, out: str) -> None:
    import nats
    from nats.errors import TimeoutError as FetchTimeout
    from nats.js.api import AckPolicy, ConsumerConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_consumer(stream, config=ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT))
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    running = [True]
    on_sigterm(lambda: running.clear())
    while running:
        try:
            (msg,) = await sub.fetch(1, timeout=0.5)
        except FetchTimeout:
            continue
        prediction = predict(msg.data)
        body = {"event_id": msg.metadata.sequence.stream, "prediction": prediction}
        await js.publish(out, json.dumps(body).encode())
        await msg.ack()
    await nc.close()


async def amqp_main(url: str, predict, queue: str, exchange: str, key: str) -> None:
    import aiormq
    from pamqp.commands import Basic

    conn = await aiormq.connect(url)
    channel = await conn.channel()  # publisher confirms on: basic_publish waits for the broker's
    await channel.basic_qos(prefetch_count=1)
    deliveries: asyncio.Queue = asyncio.Queue()

    async def received(message):
        deliveries.put_nowait(message)

    await channel.basic_consume(queue, received, no_ack=False)
    running = [True]
    on_sigterm(lambda: running.clear())
    while running:
        try:
            message = await asyncio.wait_for(deliveries.get(), 0.5)
        except TimeoutError:
            continue
        event_id = message.header.properties.message_id
        body = {"event_id": event_id, "prediction": predict(message.body)}
        await channel.basic_publish(
            json.dumps(body).encode(),
            exchange=exchange,
            routing_key=key,
            properties=Basic.Properties(
                message_id=event_id, content_type="application/json", delivery_mode=2
            ),
        )
        await channel.basic_ack(message.delivery.delivery_tag)
    await conn.close()


def main() -> None:
    url, model_path, a, b, c = sys.argv[1:6]
    predict = predictor(model_path)
    if url.startswith("redis"):
        redis_main(url, predict, a, b, c)
    else:
        asyncio.run({"nats": nats_main, "amqp": amqp_main}[url.split(":")[0]](url, predict, a, b, c))


if __name__ == "__main__":
    main()
