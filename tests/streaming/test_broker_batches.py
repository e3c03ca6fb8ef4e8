"""The batched broker ends against the real servers: a JetStream sink that gathers a batch's PubAcks
once (and fails the write when JetStream refuses or stays silent), the pull source's batches, the
RabbitMQ sink's one transaction per batch (a failed commit fails the write, the next write gets a
new channel), and the encoding both sinks share."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from stream_helpers import AMQP_URL, NATS_URL

from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.serving.outputs import dumps
from modelyard.streaming.base import Predictions, encode_records
from modelyard.streaming.sinks.amqp import AmqpSink
from modelyard.streaming.sinks.nats import NatsSink
from modelyard.streaming.sources.nats import JetStreamSource
from modelyard.streaming.uris import parse as parse_end


def test_plain_and_general_batches_encode_to_the_same_messages():
    plain = Predictions(["1-0", "2-5", "3-1"], "4", [0, 1.5, None])
    general = Predictions(["1-0", "2-5", "3-1"], "4", [0, 1.5, None], [None, None, None])
    assert plain.plain() is not None and general.plain() is None
    bodies, ids = encode_records(plain)
    assert bodies == encode_records(general)[0] == [dumps(r) for r in plain.records()]
    assert ids == ["1-0", "2-5", "3-1"]
    assert [orjson.loads(b) for b in bodies][1] == {
        "event_id": "2-5",
        "model_version": "4",
        "prediction": 1.5,
    }
    dead = [{"event_id": 7, "reason": "schema", "payload": "{}"}]
    assert encode_records(dead) == ([dumps(dead[0])], ["7"])


def test_a_subject_that_cannot_take_a_publish_is_refused_before_connecting():
    for subject in ("a.*", "a..b", "a b", "x.>"):
        with pytest.raises(InvalidParameterValue, match="Not a NATS subject"):
            asyncio.run(NatsSink(parse_end(f"{NATS_URL}?subject={subject}")).start())


def test_the_nats_sink_waits_for_every_pub_ack_and_counts_duplicates(jetstream, name):
    async def go():
        sink = NatsSink(parse_end(f"{NATS_URL}?subject={name}.out&stream={name}-out"))
        await sink.start()
        try:
            batch = Predictions([str(i) for i in range(1, 2501)], "1", [i % 2 for i in range(2500)])
            await sink.write(batch)  # more than one publish window
            await sink.write(Predictions(["1", "2", "2501"], "2", [5, 6, 7]))  # two already stored
            return sink.duplicates
        finally:
            await sink.close()

    assert asyncio.run(go()) == 2
    out = jetstream.messages(f"{name}-out")
    assert len(out) == 2501 and {m["event_id"]: m["prediction"] for m in out}["2501"] == 7
    assert {m["model_version"] for m in out if m["event_id"] in ("1", "2")} == {"1"}


def test_a_publish_no_stream_takes_fails_the_write(jetstream, name):
    async def go():
        sink = NatsSink(parse_end(f"{NATS_URL}?subject={name}.nowhere&ack-timeout=5"))
        await sink.start()
        try:
            with pytest.raises(ModelyardError, match="JetStream (refused|acknowledged)"):
                await sink.write(Predictions(["1", "2"], "1", [0, 1]))
        finally:
            await sink.close()

    asyncio.run(go())


def test_the_pull_source_hands_out_batches_and_waits_when_the_stream_is_empty(jetstream, name):
    from nats.js.api import AckPolicy

    seqs = jetstream.publish_many(f"{name}.events", [orjson.dumps({"x": i}) for i in range(30)])

    async def go():
        source = JetStreamSource(parse_end(f"{NATS_URL}?stream={name}-events&durable=d"), prefetch=100)
        await source.start()
        try:
            first = await source.fetch(20, 0.0)
            rest = await source.fetch(20, 0.5)
            empty = await source.fetch(20, 0.2)  # nothing left: a lingering pull that expires
            await source.ack(first + rest)
            return first, rest, empty
        finally:
            await source.close()

    first, rest, empty = asyncio.run(go())
    assert [d.id for d in first + rest] == [str(s) for s in seqs] and len(first) == 20 and empty == []
    assert orjson.loads(rest[-1].body) == {"x": 29} and all(d.attempts == 1 and d.produced_at for d in first)

    async def pending(js):
        return await js.consumer_info(f"{name}-events", "d")

    info = jetstream.call(pending)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert AckPolicy(info.config.ack_policy) is AckPolicy.EXPLICIT


def test_a_failed_commit_fails_the_write_and_the_next_write_gets_a_new_channel(rabbit, name):
    rabbit.queue(f"{name}-out")
    rabbit.exchanges.append(f"{name}-x")

    async def go():
        sink = AmqpSink(parse_end(f"{AMQP_URL}?exchange={name}-x&routing-key=k"))
        await sink.start()
        try:
            await sink.channel.queue_bind(f"{name}-out", f"{name}-x", routing_key="k")
            await sink.write(Predictions(["a", "b"], "1", [0, 1]))
            await sink.channel.exchange_delete(f"{name}-x")  # the next publish names a missing exchange
            with pytest.raises(ModelyardError, match="RabbitMQ did not commit 1 predictions"):
                await sink.write(Predictions(["c"], "1", [0]))
            # the exchange again, from another connection (RabbitMQ may have closed the sink's)
            rabbit.declare_exchange(f"{name}-x", f"{name}-out", "k")
            await sink.write(Predictions(["d"], "1", [1]))  # the sink opens a new connection and channel by itself
        finally:
            await sink.close()

    asyncio.run(go())
    assert rabbit.depth(f"{name}-out") == 3
