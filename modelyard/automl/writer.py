"""Recording the trials off the search's critical path.

A trial that is over (finished, pruned or failed) is handed to a ``TrialWriter`` as a
``TrialRecord``: its run (status, times, tags, params, metrics) and, when it finished, its fitted
pipeline. A background ``workers.Worker`` takes every record queued since its last round and
writes them as a batch: the runs in one call (``record_runs``: one transaction on a database), the
finished trials' logged models as their runs' outputs in another (``create_output_models``), the
model folders (written in place on a local artifact store), the models finalized in a third. The search
thread makes no tracking call per trial: short trials (a tenth of a second on small data) are
written many at a time instead of one transaction and one model each while the next trial waits.

The queue is bounded (``MAX_PENDING`` records): when the writer falls behind, the search waits for
it instead of holding every fitted pipeline in memory. ``drain()`` (the end of the search) waits
for the rest and returns each trial's run id and model URI; a trial whose model could not be
written keeps its run (tagged with the error) and leaves the leaderboard.

Used by a search's own process; worker processes (``parallelism`` > 1, ``modelyard automl worker``)
log synchronously, so a trial's run and model are in the shared study as soon as the trial ends.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_PENDING = 8  # trial records (with their fitted pipelines) waiting to be written
MAX_BATCH = 64  # records written in one round (one transaction for their runs)


@dataclass
class TrialRecord:
    """A trial that is over: ``run`` holds ``record_runs``' keys (``status``, ``start_time``,
    ``end_time``, ``tags``, ``run_name``, ``params``, ``metrics``); ``pipeline`` is None unless
    the trial finished."""

    trial_number: int
    run: dict[str, Any]
    pipeline: Any = None
    example: Any = None
    signature: Any = None


def save_trial_model(record: TrialRecord, logged: Any, repo: Any) -> None:
    """Write a trial's pipeline as the model folder of ``logged`` (a PENDING logged model). A local
    artifact store gets the folder written in place (the model stays PENDING until finalized, so
    nothing reads it half-written); any other is sent a folder saved in a temporary one."""
    import tempfile
    from pathlib import Path

    from modelyard.artifacts.local import LocalArtifactRepository
    from modelyard.flavors import sklearn as flavor
    from modelyard.models.mlmodel import Model

    template = Model(
        artifact_path=logged.artifact_location, run_id=logged.source_run_id, model_id=logged.model_id,
        model_uuid=logged.model_id,
    )

    def save(folder: Path) -> None:
        flavor.save_model(
            record.pipeline, folder, mlflow_model=template, input_example=record.example,
            signature=record.signature, serialization_format="cloudpickle",
        )

    if isinstance(repo, LocalArtifactRepository):
        save(Path(repo.root))
        return
    with tempfile.TemporaryDirectory(prefix="modelyard-automl-model-") as tmp:
        save(Path(tmp) / "model")
        repo.log_artifacts(str(Path(tmp) / "model"))


class TrialWriter:
    """A bounded queue of trial records and the background worker that writes them in batches."""

    def __init__(self, experiment_id: str, max_pending: int = MAX_PENDING) -> None:
        from modelyard import workers
        from modelyard.tracking import context

        self.experiment_id = experiment_id
        self.context = context.current()  # the worker's thread does not see the caller's context variables
        self.queue: queue.Queue[TrialRecord] = queue.Queue(maxsize=max_pending)
        self.run_ids: dict[int, str] = {}
        self.model_uris: dict[int, str] = {}
        self.errors: dict[int, str] = {}
        self.busy_seconds = 0.0  # time spent writing (on the worker's thread, mostly)
        self.model_seconds: list[float] = []  # each model's writing time
        self.batches = 0
        self.worker = workers.Worker("automl-trial-writer", self._step, interval=None, on_stop=self._write_all)

    def submit(self, record: TrialRecord) -> None:
        """Queue a trial (waits while ``max_pending`` records are queued already)."""
        self.worker.start()
        self.queue.put(record)
        self.worker.wake()

    def drain(self) -> tuple[dict[int, str], dict[int, str]]:
        """Write what is queued, stop the worker; returns ``({trial: run id}, {trial: model URI})``."""
        self.worker.stop(timeout=None)
        self._write_all()  # in case the worker never started or stopped early
        return dict(self.run_ids), dict(self.model_uris)

    @property
    def model_log_seconds(self) -> float:
        """What writing one model took, on average (0 before any)."""
        return sum(self.model_seconds) / len(self.model_seconds) if self.model_seconds else 0.0

    def _step(self) -> float | None:
        return 0 if self._write_batch() else None

    def _write_all(self) -> None:
        while self._write_batch():
            pass

    def _take(self) -> list[TrialRecord]:
        batch: list[TrialRecord] = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_batch(self) -> bool:
        batch = self._take()
        if not batch:
            return False
        started = time.perf_counter()
        try:
            self._write(batch)
        finally:
            self.busy_seconds += time.perf_counter() - started
            self.batches += 1
            for _ in batch:
                self.queue.task_done()
        return True

    def _write(self, batch: list[TrialRecord]) -> None:
        """The batch's runs (one call), the finished trials' logged models created as their runs'
        outputs (one call), their folders written, the models finalized (one call)."""
        from modelyard.entities import LoggedModelStatus

        client = self.context.client()
        try:
            runs = client.record_runs(self.experiment_id, [r.run for r in batch])
        except Exception as exc:  # the trials stay in the study, without runs (not in the leaderboard)
            logger.warning("Could not record the runs of trials %s", [r.trial_number for r in batch], exc_info=True)
            for r in batch:
                self.errors[r.trial_number] = f"{type(exc).__name__}: {exc}"[:2000]
            return
        for record, run in zip(batch, runs, strict=True):
            self.run_ids[record.trial_number] = run.info.run_id
        finished = [(r, run) for r, run in zip(batch, runs, strict=True) if r.pipeline is not None]
        if not finished:
            return
        t0 = time.perf_counter()
        try:
            models = client.service.create_output_models(client.context, [run for _, run in finished], "model")
        except Exception as exc:
            logger.warning("Could not create the models of trials %s", [r.trial_number for r, _ in finished],
                           exc_info=True)
            for record, run in finished:
                self._failed(record, run, exc)
            return
        statuses = []
        for (record, run), logged in zip(finished, models, strict=True):
            try:
                repo = self.context.artifact_repository(logged.artifact_location, tracking_uri=client.tracking_uri)
                save_trial_model(record, logged, repo)
                self.model_uris[record.trial_number] = f"models:/{logged.model_id}"
                statuses.append((logged.model_id, LoggedModelStatus.READY))
            except Exception as exc:  # the trial keeps its run; it has no model, so it leaves the leaderboard
                statuses.append((logged.model_id, LoggedModelStatus.UPLOAD_FAILED))
                self._failed(record, run, exc)
            record.pipeline = None  # written: the memory goes back
        try:
            client.service.finalize_logged_models(client.context, statuses)
        except Exception as exc:
            for record, run in finished:
                self.model_uris.pop(record.trial_number, None)
                self._failed(record, run, exc)
        per_model = (time.perf_counter() - t0) / len(finished)
        self.model_seconds += [per_model] * len(finished)

    def _failed(self, record: TrialRecord, run: Any, exc: BaseException) -> None:
        logger.warning("Could not log the model of trial %s", record.trial_number, exc_info=exc)
        self.errors[record.trial_number] = f"{type(exc).__name__}: {exc}"[:2000]
        _tag_error(run.info.run_id, self.errors[record.trial_number], self.context)


def _tag_error(run_id: str, error: str, context: Any) -> None:
    from modelyard.entities import RunTag

    try:
        context.client().log_batch(run_id, tags=[RunTag("modelyard.automl.model_error", error)])
    except Exception:
        logger.warning("Could not tag run %s with its model error", run_id, exc_info=True)
