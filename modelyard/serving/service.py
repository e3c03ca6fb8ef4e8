"""``ScoringService``: everything one scoring app owns, and the one way a request is scored.

It holds the served models (``ModelSlots``), the predict thread pool, the metrics and the inference
log, and starts / stops them with the app. ``score`` runs a parsed request on a model snapshot
under the request timeout and turns any failure into an error of the tree (never a stack trace).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelyard.exceptions import DeadlineExceeded
from modelyard.serving.config import ServeConfig
from modelyard.serving.errors import model_error
from modelyard.serving.inputs import ParsedInput
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.slots import ModelSlots, ServedModel

logger = logging.getLogger(__name__)


class ScoringService:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.metrics = ServingMetrics()
        self.executor = ThreadPoolExecutor(max_workers=config.predict_threads, thread_name_prefix="modelyard-predict")
        self.slots = ModelSlots(
            config,
            self.executor,
            on_batch=self.metrics.observe_batch,
            on_switch=lambda name, old, new: self.metrics.switched(name, old, new, first=old is None),
            on_load_failure=lambda name: self.metrics.load_failures.labels(name).inc(),
        )
        self.inference_log: Any = None
        self._started = False

    def start(self) -> None:
        """Open the inference log and start loading the models (once; later calls do nothing).

        With ``models serve --workers N`` the models were loaded in the parent, and each forked
        worker starts here (from the app's lifespan) its own threads: the registry follower, the
        inference-log writer, the predict pool's threads as requests come.
        """
        if self._started:
            return
        self._started = True
        for name, slot in self.slots.slots.items():  # loaded before a fork: this worker answers with it
            if slot.current is not None and self.metrics.shared:
                self.metrics.switched(name, None, slot.current.version, first=True)
        if self.config.inference_log:
            from modelyard.serving.inference_log import InferenceLog, open_sink

            self.inference_log = InferenceLog(
                open_sink(self.config.inference_log),
                self.metrics,
                queue_size=self.config.inference_log_queue,
                flush_s=self.config.inference_log_flush_s,
            ).start()
        self.slots.start()

    def stop(self) -> None:
        self.slots.stop()
        if self.inference_log is not None:
            self.inference_log.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def served(self, name: str | None = None) -> ServedModel:
        """The snapshot that will answer a request for ``name`` (the default model when None)."""
        return self.slots.get(name).snapshot()

    async def score(self, served: ServedModel, item: ParsedInput) -> Any:
        """The model's prediction for ``item``; DeadlineExceeded after the request timeout."""
        try:
            return await asyncio.wait_for(served.batcher.predict(item), self.config.timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                f"Request processing time exceeded limit ({self.config.timeout:g} s): the model took too long"
            ) from None
        except Exception as exc:
            raise model_error(exc) from None
