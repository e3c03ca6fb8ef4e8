"""What one autologged call logs to its run, gathered and sent in as few requests as possible.

Params, metrics and tags go out together in ``log_batch`` (the client splits a batch that is
over MLflow's per-request limits), dataset inputs in one ``log_inputs``. Keys are made valid
(characters outside ``[/\\w.\\- :]`` become ``_``; at most 250 characters) and values are
truncated to the limits, so one odd parameter name cannot sink the whole batch. Params are
immutable in a run: when the combined batch is refused (a re-fit in the same run with other
values), metrics and tags are sent again without the params before the error is raised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from modelyard import validation as v
from modelyard.entities import DatasetInput, Metric, Param, RunTag

_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")
METRICS_FLUSH_SIZE = 1000
METRICS_FLUSH_INTERVAL_S = 10.0


def clean_key(key: Any) -> str:
    """A valid metric/param/tag key made from ``key``."""
    text = _BAD_KEY_CHARS.sub("_", str(key)).strip("/") or "_"
    while text.startswith(".."):
        text = text[1:]
    return text[: v.MAX_ENTITY_KEY_LENGTH]


def now_ms() -> int:
    return int(time.time() * 1000)


class RunBatch:
    """Collects what is logged to one run until ``flush()``."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.params: dict[str, str] = {}
        self.metrics: list[Metric] = []
        self.tags: dict[str, str] = {}
        self.inputs: list[DatasetInput] = []
        self._last_metrics_flush = time.monotonic()

    def log_params(self, params: Mapping[Any, Any]) -> None:
        for key, value in params.items():
            self.params.setdefault(clean_key(key), str(value)[: v.MAX_PARAM_VAL_LENGTH])

    def log_metric(self, key: Any, value: Any, step: int = 0, timestamp: int | None = None) -> None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return
        self.metrics.append(Metric(clean_key(key), number, timestamp if timestamp is not None else now_ms(), int(step)))

    def log_metrics(self, metrics: Mapping[Any, Any], step: int = 0, timestamp: int | None = None) -> None:
        ts = timestamp if timestamp is not None else now_ms()
        for key, value in metrics.items():
            self.log_metric(key, value, step, ts)

    def set_tags(self, tags: Mapping[Any, Any]) -> None:
        for key, value in tags.items():
            self.tags[clean_key(key)] = str(value)[: v.MAX_TAG_VAL_LENGTH]

    def log_input(self, dataset_input: DatasetInput) -> None:
        self.inputs.append(dataset_input)

    def maybe_flush_metrics(self) -> None:
        """Send the pending metrics once there are many, or some have waited long enough."""
        if len(self.metrics) >= METRICS_FLUSH_SIZE or (
            self.metrics and time.monotonic() - self._last_metrics_flush > METRICS_FLUSH_INTERVAL_S
        ):
            metrics, self.metrics = self.metrics, []
            self._last_metrics_flush = time.monotonic()
            self.client.log_batch(self.run_id, metrics=metrics)

    def flush(self) -> None:
        """Send everything pending; what was sent is forgotten even when a request fails."""
        metrics, self.metrics = self.metrics, []
        params, self.params = self.params, {}
        tags, self.tags = self.tags, {}
        inputs, self.inputs = self.inputs, []
        error: Exception | None = None
        if inputs:
            try:
                self.client.log_inputs(self.run_id, inputs)
            except Exception as exc:
                error = exc
        if metrics or params or tags:
            param_objs = [Param(k, val) for k, val in params.items()]
            tag_objs = [RunTag(k, val) for k, val in tags.items()]
            try:
                self.client.log_batch(self.run_id, metrics=metrics, params=param_objs, tags=tag_objs)
            except Exception as exc:
                if not param_objs or not (metrics or tag_objs):
                    raise
                self.client.log_batch(self.run_id, metrics=metrics, tags=tag_objs)
                raise exc
        if error is not None:
            raise error
