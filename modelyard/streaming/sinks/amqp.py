"""RabbitMQ exchange sink through aio-pika: persistent messages, publisher confirms.

``amqp://user:pass@host:5672/vhost?exchange=predictions[&routing-key=predictions][&type=direct]``

Each record is one persistent JSON message whose ``message_id`` is the event id; ``write`` returns
when the broker confirmed every message. RabbitMQ has no publish-side deduplication: after a crash
between the write and the source's ack, a redelivered event is published again with the same
``message_id``, which consumers of the exchange use to drop the copy (at-least-once with a stable
id, unlike the Redis, NATS, SQL, Parquet and Delta sinks, which store each event once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modelyard.serving.outputs import dumps
from modelyard.streaming.base import BaseSink
from modelyard.streaming.sources.amqp import amqp_url
from modelyard.streaming.uris import EndUri


class AmqpSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.end = end
        self.exchange_name = end.option("exchange", required=True)
        self.routing_key = end.option("routing-key", self.exchange_name)
        self.kind = end.option("type", "direct")
        self.connection = None
        self.exchange = None

    async def start(self) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(amqp_url(self.end))
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.declare_exchange(self.exchange_name, self.kind, durable=True)

    async def write(self, records: Sequence[dict]) -> None:
        import aio_pika

        await asyncio.gather(*(
            self.exchange.publish(
                aio_pika.Message(dumps(r), message_id=str(r["event_id"]), content_type="application/json",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=self.routing_key,
            )
            for r in records
        ))

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
