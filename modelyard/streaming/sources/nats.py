"""NATS JetStream source: a durable pull consumer with explicit acks.

``nats://[user:pass@]host:4222?stream=EVENTS&durable=scorers[&subject=events.>][&ack-wait=30]``

- The durable consumer is created (explicit ack, ``ack-wait`` seconds, ``max_ack_pending`` sized to
  the engine's read-ahead) unless it exists; every process naming the same ``durable`` shares it.
- A message is acknowledged only after its prediction is written; the ack is flushed to the server.
- **AckWait**: while a batch is being scored the engine sends ``+WPI`` (in progress) every third of
  ``ack-wait``, so a slow batch is not redelivered behind its back. (An ack arriving after the
  redelivery would confirm the other consumer's copy, nats-server#4786; the idempotent sink makes
  such a double delivery harmless, and the keep-alive keeps it from happening.)
- The event id is the stream sequence; ``produced_at`` the time JetStream stored the message.
- **Batches without a per-message wait**: the pull requests are JetStream's own
  (``$JS.API.CONSUMER.MSG.NEXT``, sent with nats-py) and their messages land, through one
  subscription callback, in the batch being collected: first a ``no_wait`` request for the whole
  batch; only when nothing is waiting, a lingering request for one message (``expires``: the fetch
  timeout), then ``no_wait`` for the rest. nats-py's ``fetch`` awaits each message with its own
  timeout (a timer per message), and its ``metadata`` builds a datetime per message; here the
  stream sequence, delivery count and time are read from the ack subject's tokens.
- Acknowledgements of a batch are sent back to back (``+ACK`` to each message's ack subject,
  published without a round trip each) and flushed once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import orjson

from modelyard.streaming.base import BaseSource, Delivery
from modelyard.streaming.uris import EndUri

logger = logging.getLogger(__name__)


def nats_servers(end: EndUri) -> str:
    return f"nats://{end.netloc}"


class JetStreamSource(BaseSource):
    def __init__(self, end: EndUri, *, prefetch: int = 1000, **_: object) -> None:
        self.end = end
        self.stream = end.option("stream", required=True)
        self.durable = end.option("durable", required=True)
        self.subject = end.option("subject")
        self.ack_wait = end.float_option("ack-wait", 30.0)
        self.in_progress_every_s = self.ack_wait / 3
        self.max_ack_pending = max(prefetch * 2, 1000)
        self.nc = None
        self._inbox = ""
        self._next_subject = ""
        self._request: _Pull | None = None
        self._early: list[Delivery] = []  # messages of a request given up on (they are ours: handed out next)

    async def start(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        # every subject this connection publishes to is the server's (ack subjects) or built from names
        # the server just checked (consumer_info): nats-py's check of each publish is turned off
        self.nc = await nats.connect(
            servers=[nats_servers(self.end)], name="modelyard-stream", skip_subject_validation=True
        )
        js = self.nc.jetstream()
        try:
            await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                max_ack_pending=self.max_ack_pending,
                filter_subject=self.subject,
            )
            await js.add_consumer(self.stream, config=config)
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        self._inbox = self.nc.new_inbox()
        await self.nc.subscribe(self._inbox, cb=self._received)

    async def _received(self, msg) -> None:
        request = self._request
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if status is not None:  # 404 no messages, 408 request expired, 409 ...: the request is over
            if status not in ("404", "408", "100"):
                logger.debug("JetStream pull status %s %s", status, headers.get("Description", ""))
            if status != "100" and request is not None and not request.done.done():
                request.done.set_result(None)
            return
        delivery = _delivery(msg)
        if request is None or request.done.done():
            self._early.append(delivery)
            return
        request.got.append(delivery)
        if len(request.got) >= request.wanted:
            request.done.set_result(None)

    async def _pull(self, wanted: int, expires_s: float | None) -> list[Delivery]:
        """One pull request: ``no_wait`` (``expires_s`` None) or lingering up to ``expires_s``."""
        request = _Pull(wanted, asyncio.get_running_loop().create_future())
        ask: dict = {"batch": wanted}
        if expires_s is None:
            ask["no_wait"] = True
        else:
            ask["expires"] = int(expires_s * 1e9)
        self._request = request
        try:
            await self.nc.publish(self._next_subject, orjson.dumps(ask), reply=self._inbox)
            try:  # the server ends the request itself (batch complete, or a status): this bounds a lost reply
                await asyncio.wait_for(asyncio.shield(request.done), (expires_s or 0) + 5.0)
            except TimeoutError:
                logger.warning("JetStream did not answer a pull request of %s.%s", self.stream, self.durable)
        finally:
            self._request = None
        return request.got

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        out = self._early[:max_messages]
        del self._early[: len(out)]
        if len(out) < max_messages:
            out += await self._pull(max_messages - len(out), None)
        if out or timeout_s <= 0:
            return out
        first = await self._pull(1, timeout_s)
        if first and max_messages > 1:
            first += await self._pull(max_messages - 1, None)
        return first

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        publish = self.nc.publish
        for d in deliveries:
            await publish(d.handle, b"+ACK")
        await self.nc.flush()

    async def in_progress(self, deliveries: Sequence[Delivery]) -> None:
        publish = self.nc.publish
        for d in deliveries:
            await publish(d.handle, b"+WPI")
        await self.nc.flush()

    async def lag(self) -> int | None:
        info = await self.nc.jetstream().consumer_info(self.stream, self.durable)
        return int(info.num_pending or 0)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.drain()


class _Pull:
    __slots__ = ("wanted", "done", "got")

    def __init__(self, wanted: int, done: asyncio.Future) -> None:
        self.wanted, self.done, self.got = wanted, done, []


def _delivery(msg) -> Delivery:
    """The stream sequence, JetStream's receive time and the delivery count from the ack subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<nanos>.<pending>`` (or the
    newer form with domain and account hash first, and a token after)."""
    reply = msg.reply
    tokens = reply.split(".")
    if len(tokens) == 9:
        delivered, seq, nanos = tokens[4], tokens[5], tokens[7]
    elif len(tokens) >= 11 and tokens[0] == "$JS" and tokens[1] == "ACK":
        delivered, seq, nanos = tokens[6], tokens[7], tokens[9]
    else:
        raise ValueError(f"not a JetStream message (ack subject {reply!r})")
    return Delivery(seq, msg.data, reply, int(nanos) / 1e9, int(delivered) or 1)
