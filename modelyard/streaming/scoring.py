"""The model side of a stream: the loaded version (following an alias like the scoring server) and
one micro-batch predicted, bad rows isolated.

The model is held by the scoring server's ``ModelSlots`` (modelyard/serving/slots.py), so an alias,
stage or ``latest`` is followed the same way: the new version is loaded beside the old one, warmed,
then swapped with one assignment. A batch takes the snapshot when it starts and is predicted by
that version only; each prediction names it.

A batch whose predict call fails is split in halves until the failing rows are alone (a bisection:
``log2(batch)`` extra calls per bad row, not one call per row); a lone row is tried ``max_retries``
times in all, then dead-lettered with the reason (``schema`` for an input the signature refuses,
``model_error`` otherwise). The rest of the batch is scored.

Feature lookups: a model logged with a feature spec gets the features an event lacks from the
online store by the event's keys, through the scoring server's own lookup
(``modelyard.features.serving.enricher_for``), once per micro-batch: one round trip per online
store (one Redis pipeline) for the whole batch. An event whose key has no online row (and no
default) is dead-lettered with the reason ``missing_features``; the rest of the batch is scored.
An online store that keeps failing (``max_retries`` tries) stops the consumer without acknowledging
the batch, as a failing sink does: its events are redelivered, not dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.serving.config import ModelSpec, ServeConfig, default_name
from modelyard.serving.outputs import jsonable
from modelyard.serving.slots import ModelSlots, ServedModel
from modelyard.streaming.messages import MISSING_FEATURES, MODEL_ERROR, SCHEMA, Event

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Scored:
    version: str
    events: list[Event] = field(default_factory=list)  # the scored ones, in order
    values: list = field(default_factory=list)  # their predictions (JSON-able), one per event
    failures: list[tuple[Event, str, str, int]] = field(default_factory=list)  # (event, reason, error, attempts)


class Scorer:
    def __init__(
        self,
        model_uri: str,
        *,
        tracking_uri: str | None = None,
        poll_interval: float = 2.0,
        max_retries: int = 3,
        on_switch: Callable[[str, str | None, str], None] | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.tracking_uri = tracking_uri
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelyard-stream-slot")
        spec = ModelSpec(default_name(model_uri), model_uri)
        config = ServeConfig(models=(spec,), tracking_uri=tracking_uri, poll_interval=poll_interval, batching=False)
        self.slots = ModelSlots(config, self._executor, on_switch=on_switch)
        self.slot = self.slots.slots[spec.name]

    def start(self) -> None:
        """Load the model (and start following its alias); raise if it cannot be loaded."""
        self.slots.start()
        self.slots.first_load_done.wait()
        if self.slot.current is None:
            self.slots.stop()
            raise ModelyardError(f"Cannot load {self.slot.spec.uri}: {self.slot.error}")

    def stop(self) -> None:
        self.slots.stop()
        self._executor.shutdown(wait=False)

    @property
    def version(self) -> str | None:
        current = self.slot.current
        return current.version if current is not None else None

    def score(self, events: Sequence[Event]) -> Scored:
        """Predictions of the readable events with one model version; failures after ``max_retries`` tries."""
        served = self.slot.snapshot()
        result = Scored(served.version)
        if events:
            events = list(events)
            rows: Any = [e.row for e in events]
            from modelyard.features.serving import enricher_for  # (imported once: then a dict lookup)

            enricher = enricher_for(served.model, self.tracking_uri)
            if enricher is not None:
                events, rows = self._enrich(enricher, events, rows, result)
            if events:
                self._group(served, events, rows, result)
        return result

    def _enrich(self, enricher: Any, events: list[Event], rows: list[dict], result: Scored) -> tuple[list, Any]:
        """The batch's missing features in one lookup; events that cannot get theirs are failures."""
        import pandas as pd

        frame = pd.DataFrame.from_records(rows)
        for attempt in range(1, self.max_retries + 1):
            try:
                frame, refused = enricher.lookup(frame)
                break
            except Exception as exc:  # the store, not the events: retried, then the batch is not acknowledged
                if attempt == self.max_retries:
                    raise ModelyardError(f"The online feature store failed {attempt} times ({type(exc).__name__}: "
                                         f"{exc}); the batch was not acknowledged") from exc
                time.sleep(0.1 * 2 ** (attempt - 1))
        for i, why in sorted(refused.items()):
            result.failures.append((events[i], MISSING_FEATURES, why, 1))
        if not refused:
            return events, frame.reset_index(drop=True)
        keep = [i for i in range(len(events)) if i not in refused]
        if not keep:
            return [], None
        return [events[i] for i in keep], frame.iloc[keep].reset_index(drop=True)

    def _group(self, served: ServedModel, events: list[Event], rows: Any, result: Scored) -> None:
        try:
            values = self._call(served, rows, len(events))
        except Exception as exc:
            if len(events) > 1:
                mid = len(events) // 2
                self._group(served, events[:mid], rows[:mid], result)
                self._group(served, events[mid:], rows[mid:], result)
                return
            values = self._retry(served, events[0], rows, exc, result)
            if values is None:
                return
        result.events.extend(events)
        result.values.extend(values)

    def _retry(self, served: ServedModel, event: Event, rows: Any, exc: Exception, result: Scored) -> list | None:
        for _ in range(self.max_retries - 1):
            try:
                return self._call(served, rows, 1)
            except Exception as again:
                exc = again
        reason = SCHEMA if isinstance(exc, InvalidParameterValue) else MODEL_ERROR
        message = exc.message if isinstance(exc, ModelyardError) else str(exc)
        result.failures.append((event, reason, f"{type(exc).__name__}: {message}", self.max_retries))
        return None

    def _call(self, served: ServedModel, rows: Any, n: int) -> list:
        """``rows``: the events' dicts, or (feature lookups) a DataFrame of the model's input columns."""
        frame = rows if not isinstance(rows, list) else build_frame(served, rows)
        return split_values(served.model.predict(frame), n)


def build_frame(served: ServedModel, rows: list[dict]) -> Any:
    """The rows as a DataFrame; an all-double signature takes the float64 fast path (no inference)."""
    import numpy as np
    import pandas as pd

    schema = served.schema
    if schema.all_double and schema.names:
        pick = itemgetter(*schema.names)
        try:
            width = len(schema.names)
            if width == 1:  # itemgetter of one name gives scalars
                array = np.fromiter(map(pick, rows), np.float64, count=len(rows)).reshape(-1, 1)
            else:  # one flat pass, no nested-sequence discovery
                array = np.fromiter(chain.from_iterable(map(pick, rows)), np.float64,
                                    count=len(rows) * width).reshape(-1, width)
            return pd.DataFrame(array, columns=schema.index, copy=False)
        except (KeyError, ValueError, TypeError):
            pass  # a missing or non-numeric value: the general path names the column
    return pd.DataFrame.from_records(rows)


def split_values(pred: Any, n: int) -> list:
    """One JSON-able prediction per row."""
    values = jsonable(pred)
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, list) or len(values) != n:
        raise ModelyardError(f"The model returned {type(pred).__name__} that does not hold one prediction per row")
    return values
