"""Logging the trials' models off the search's critical path.

A trial's run is recorded (one transaction) as soon as its fit is scored; its pipeline model (the
folder, the logged model, the run's output link) is written by a background ``workers.Worker``
while the next trial fits. The queue is bounded (``MAX_PENDING`` models): when the writer falls
behind, the search waits for it instead of holding every fitted pipeline in memory. ``drain()``
(the end of the search) waits for the rest and returns each trial's model URI, or its error.

Used by a search's own process; worker processes (``parallelism`` > 1, ``modelyard automl worker``)
log synchronously, so a trial's model URI is in the shared study as soon as the trial ends.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_PENDING = 4  # fitted pipelines waiting to be written


@dataclass
class ModelJob:
    trial_number: int
    run_id: str
    pipeline: Any
    example: Any
    signature: Any


def log_trial_model(job: ModelJob, context: Any = None) -> str:
    """Write one trial's pipeline as the ``model`` of its run; returns the model URI."""
    from modelyard.flavors import sklearn as flavor
    from modelyard.models.log import log_model

    info = log_model(
        lambda folder, template: flavor.save_model(
            job.pipeline, folder, mlflow_model=template, input_example=job.example, signature=job.signature,
            serialization_format="cloudpickle",
        ),
        name="model", context=context, run_id=job.run_id,
    )
    return info.model_uri


class ModelWriter:
    """A bounded queue of trial models and the background worker that writes them."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        from modelyard import workers
        from modelyard.tracking import context

        self.context = context.current()  # the worker's thread does not see the caller's context variables
        self.queue: queue.Queue[ModelJob] = queue.Queue(maxsize=max_pending)
        self.model_uris: dict[int, str] = {}
        self.errors: dict[int, str] = {}
        self.busy_seconds = 0.0  # time spent writing models (on the worker's thread, mostly)
        self.worker = workers.Worker("automl-model-writer", self._step, interval=None, on_stop=self._write_all)

    def submit(self, job: ModelJob) -> None:
        """Queue a model (waits while ``max_pending`` models are queued already)."""
        self.worker.start()
        self.queue.put(job)
        self.worker.wake()

    def drain(self) -> dict[int, str]:
        """Write what is queued, stop the worker; returns ``{trial number: model URI}``."""
        self.worker.stop(timeout=None)
        self._write_all()  # in case the worker never started or stopped early
        return dict(self.model_uris)

    def _step(self) -> float | None:
        return 0 if self._write_one() else None

    def _write_all(self) -> None:
        while self._write_one():
            pass

    def _write_one(self) -> bool:
        try:
            job = self.queue.get_nowait()
        except queue.Empty:
            return False
        started = time.perf_counter()
        try:
            self.model_uris[job.trial_number] = log_trial_model(job, self.context)
        except Exception as exc:  # the trial keeps its run; it has no model, so it leaves the leaderboard
            logger.warning("Could not log the model of trial %s", job.trial_number, exc_info=True)
            self.errors[job.trial_number] = f"{type(exc).__name__}: {exc}"[:2000]
            _tag_error(job.run_id, self.errors[job.trial_number], self.context)
        finally:
            self.busy_seconds += time.perf_counter() - started
            self.queue.task_done()
        return True


def _tag_error(run_id: str, error: str, context: Any) -> None:
    from modelyard.entities import RunTag

    try:
        context.client().log_batch(run_id, tags=[RunTag("modelyard.automl.model_error", error)])
    except Exception:
        logger.warning("Could not tag run %s with its model error", run_id, exc_info=True)
