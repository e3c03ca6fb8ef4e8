"""RabbitMQ exchange sink through aiormq: persistent messages, publisher confirms.

``amqp://user:pass@host:5672/vhost?exchange=predictions[&routing-key=predictions][&type=direct]``

Each record is one persistent JSON message whose ``message_id`` is the event id; ``write`` returns
when the broker confirmed every message. RabbitMQ has no publish-side deduplication: after a crash
between the write and the source's ack, a redelivered event is published again with the same
``message_id``, which consumers of the exchange use to drop the copy (at-least-once with a stable
id, unlike the Redis, NATS, SQL, Parquet and Delta sinks, which store each event once).

Exactly-once is not achievable here with plain AMQP 0-9-1: the broker keeps no record of message ids
(deduplicating exchanges are a third-party plugin), and the publish cannot be made atomic with the
source's ack (the source is another broker, or a queue: RabbitMQ transactions are not atomic across
queues, and a crash during commit leaves the outcome undefined). Consumers deduplicate on
``message_id`` (README, "Streaming inference").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modelyard.exceptions import ModelyardError
from modelyard.serving.outputs import dumps
from modelyard.streaming.base import BaseSink
from modelyard.streaming.uris import EndUri


class AmqpSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.end = end
        self.exchange = end.option("exchange", required=True)
        self.routing_key = end.option("routing-key", self.exchange)
        self.kind = end.option("type", "direct")
        self.connection = None
        self.channel = None

    async def start(self) -> None:
        import aiormq

        self.connection = await aiormq.connect(self.end.base)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.exchange_declare(self.exchange, exchange_type=self.kind, durable=True)

    async def write(self, records: Sequence[dict]) -> None:
        from pamqp.commands import Basic

        confirms = await asyncio.gather(*(
            self.channel.basic_publish(
                dumps(r), exchange=self.exchange, routing_key=self.routing_key,
                properties=Basic.Properties(message_id=str(r["event_id"]), content_type="application/json",
                                            delivery_mode=2),
            )
            for r in records
        ))
        if not all(isinstance(c, Basic.Ack) for c in confirms):
            raise ModelyardError("RabbitMQ did not confirm every prediction published (nack or returned)")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
