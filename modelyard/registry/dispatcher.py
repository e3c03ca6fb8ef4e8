"""The webhook delivery worker: drains the outbox in the background, so an API call that causes
an event never waits for a receiver.

One ``Worker`` per server process (started by the app's lifespan) claims due deliveries from the
kernel's durable queue
(``SqlRegistryStore.claim_webhook_deliveries``: a lease, so several processes share the work without
sending twice), sends them on a small thread pool, and records each attempt. A failed attempt that
may succeed later (connection error, timeout, 408/429/5xx) is retried after
``webhook_retry_backoff * 2**n`` seconds (capped at 10 minutes, +-20% jitter; the queue's backoff)
until ``webhook_max_attempts``; then it is FAILED (the queue keeps it as a dead letter).
The store wakes the worker after a commit that queued deliveries; otherwise it polls (retries,
and deliveries queued by other processes).

``test_webhook`` is the synchronous test call of the API: it sends one example event at once and
logs it with the other deliveries.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelyard.entities import WebhookEvent, WebhookTestResult
from modelyard.registry import delivery
from modelyard.settings import Settings
from modelyard.store.registry.sql import outbox
from modelyard.store.sql.common import now_ms
from modelyard.workers import Worker

logger = logging.getLogger(__name__)

EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    "registered_model.created": {"name": "example_model", "tags": {"example_key": "example_value"}, "description": "An example registered model"},
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/m-0123456789abcdef0123456789abcdef",
        "run_id": "0123456789abcdef0123456789abcdef",
        "model_id": "m-0123456789abcdef0123456789abcdef",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "model_version.stage_transitioned": {
        "name": "example_model",
        "version": "1",
        "from_stage": "Staging",
        "to_stage": "Production",
        "archived_versions": [],
    },
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "champion", "version": "1", "previous_version": None},
    "model_version_alias.deleted": {"name": "example_model", "alias": "champion", "version": "1"},
}


class WebhookDispatcher:
    """Delivers due webhook deliveries on a ``Worker`` (``modelyard.workers``), which the server
    app's lifespan starts and stops; building one starts nothing."""

    def __init__(
        self,
        store,
        settings: Settings,
        *,
        poll_interval_s: float = 2.0,
        batch: int = 20,
        workers: int = 4,
    ) -> None:
        self.store = store
        self.settings = settings
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lease_ms = int((settings.server.webhook_timeout + 30) * 1000)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.worker = Worker(
            "modelyard-webhook-dispatcher", self._round, interval=poll_interval_s, on_stop=self._close_pool
        )

    def start(self) -> WebhookDispatcher:
        self.worker.start()
        return self

    def wake(self, _queued: int = 1) -> None:
        self.worker.wake()

    def stop(self, timeout_s: float = 5.0) -> None:
        self.worker.stop(timeout_s)
        self._close_pool()

    def _round(self) -> float:
        """One round of the worker: send what is due; the seconds until the next round."""
        wait = self.poll_interval_s
        due = self.store.next_webhook_delivery_due()  # a read: idle polls take no write lock
        if due is not None and due <= now_ms():
            wait = 0.0 if self.run_once() >= self.batch else 0.01
        elif due is not None:  # a retry comes due before the next poll: wake for it
            wait = min(wait, max(0.01, (due - now_ms()) / 1000))
        return wait

    def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> int:
        """Claim and send one batch of due deliveries; returns how many were attempted."""
        claims = self.store.claim_webhook_deliveries(self.batch, self._lease_ms, self.worker_id)
        if claims:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="modelyard-webhook")
            list(self._pool.map(self._deliver, claims))
        return len(claims)

    def _deliver(self, claim: dict[str, Any]) -> None:
        outcome = delivery.send(claim["url"], claim["payload"], claim["delivery_id"], claim["secret"], self.settings)
        if not outcome.success:
            logger.warning(
                "webhook %s delivery %s (%s) attempt %d failed: %s",
                claim["public_webhook_id"],
                claim["delivery_id"],
                claim["event"],
                claim["attempts"] + 1,
                outcome.error_message,
            )
        self.store.settle_webhook_delivery(
            claim,
            succeeded=outcome.success,
            response_status=outcome.response_status,
            response_body=outcome.response_body,
            error_message=outcome.error_message,
            retryable=outcome.retryable,
            backoff_s=self.settings.server.webhook_retry_backoff,
            max_attempts=self.settings.server.webhook_max_attempts,
        )


def test_webhook(store, webhook_id: str, event: WebhookEvent | str | dict | None, settings: Settings) -> WebhookTestResult:
    """Send an example event to a webhook now (one attempt) and return what the receiver said."""
    hook = store.get_webhook(webhook_id)
    chosen = WebhookEvent.parse(event) if event else hook.events[0]
    payload = outbox.envelope(chosen, EXAMPLE_DATA[str(chosen)])
    delivery_id, url, secret = store.start_webhook_test(webhook_id, chosen, payload)
    outcome = delivery.send(url, payload, delivery_id, secret, settings)
    store.finish_webhook_delivery(
        delivery_id,
        succeeded=outcome.success,
        response_status=outcome.response_status,
        response_body=outcome.response_body,
        error_message=outcome.error_message,
        retry_at=None,
    )
    return WebhookTestResult(outcome.success, outcome.response_status, outcome.response_body, outcome.error_message)
