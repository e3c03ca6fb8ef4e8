"""RabbitMQ exchange sink through aiormq: persistent messages, one transaction per batch.

``amqp://user:pass@host:5672/vhost?exchange=predictions[&routing-key=predictions][&type=direct]``

Each record is one persistent JSON message whose ``message_id`` is the event id. The channel is
transactional (``tx.select``): a batch's messages are published back to back, without waiting,
and one ``tx.commit`` hands them over together; ``write`` returns on ``commit-ok`` (in RabbitMQ,
responsibility transfer and durability happen on commit: rabbitmq.com/docs/semantics, "Semantics
of tx"). One round trip per batch,
where publisher confirms cost a future per message in aiormq (and its handling of a multiple-ack
visits every outstanding confirmation). A batch whose commit fails is published again by the
engine (the retry below). RabbitMQ has no publish-side deduplication: after a crash
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

import contextlib
from collections.abc import Sequence

from modelyard.exceptions import ModelyardError
from modelyard.streaming.base import BaseSink, encode_records
from modelyard.streaming.uris import EndUri

COMMIT_TIMEOUT_S = 60.0


class AmqpSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.end = end
        self.exchange = end.option("exchange", required=True)
        self.routing_key = end.option("routing-key", self.exchange)
        self.kind = end.option("type", "direct")
        self.connection = None
        self.channel = None

    async def start(self) -> None:
        await self._open()
        await self.channel.exchange_declare(self.exchange, exchange_type=self.kind, durable=True)

    async def _open(self) -> None:
        """A transactional channel, on a new connection if the last one was closed."""
        import aiormq

        if self.connection is None or self.connection.is_closed:
            self.connection = await aiormq.connect(self.end.base)
        self.channel = await self.connection.channel(publisher_confirms=False)
        await self.channel.tx_select()

    async def write(self, records: Sequence[dict]) -> None:
        from pamqp.commands import Basic

        # a failed publish or commit closes the channel (RabbitMQ may close the connection): new ones
        if self.channel is None or self.channel.is_closed or self.connection is None or self.connection.is_closed:
            await self._open()
        bodies, ids = encode_records(records)
        publish, exchange, key = self.channel.basic_publish, self.exchange, self.routing_key
        try:
            for body, event_id in zip(bodies, ids, strict=True):
                await publish(
                    body,
                    exchange=exchange,
                    routing_key=key,
                    wait=False,
                    properties=Basic.Properties(
                        message_id=event_id, content_type="application/json", delivery_mode=2
                    ),
                )
            await self.channel.tx_commit(timeout=COMMIT_TIMEOUT_S)
        except Exception as exc:  # a closed channel or connection: nothing of this batch counts as written
            # the next write starts on a new connection: the client may not have seen RabbitMQ close
            # this channel yet, and a frame sent on it then costs the whole connection
            await self._drop()
            raise ModelyardError(
                f"RabbitMQ did not commit {len(bodies)} predictions: {type(exc).__name__}: {exc}"
            ) from exc

    async def _drop(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it may be closed, or closing, already
                await connection.close()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
