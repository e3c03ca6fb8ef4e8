"""Post-training metrics: ``sklearn.metrics`` calls on an autologged model's predictions.

After ``model.fit(X_train, y_train)`` was autologged, ``y_pred = model.predict(X_test)``
is remembered (by identity, through a weak reference where the type allows) together with
the run and the *name of the variable* that held the data, found in the caller's frame.
``accuracy_score(y_test, y_pred)`` then logs ``accuracy_score_X_test`` to that run, and
``model.score(X_test, y_test)`` logs ``<ModelClass>_score_X_test``. Calling the same metric
again on the same dataset adds an index: ``accuracy_score-2_X_test`` (MLflow's naming).
``metric_info.json`` records the call behind each key.

Only calls made outside autologged training are watched, and only the outermost one (a
pipeline's ``predict`` calling its steps' ``transform`` is one call).
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelyard.autologging import estimators
from modelyard.autologging.batch import clean_key, now_ms
from modelyard.entities import Metric

PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform")
PREDICTION_ARGS = ("y_pred", "y_score", "y_prob", "y_proba", "probas_pred", "labels_pred")
UNKNOWN_DATASET = "unknown_dataset"
MAX_STRONG_REFS = 256

_lock = threading.Lock()


@dataclass
class _Tracked:
    ref: Callable[[], Any]
    run_id: str
    dataset_name: str = ""


_models: dict[int, _Tracked] = {}
_predictions: dict[int, _Tracked] = {}
_call_counts: dict[tuple[str, str, str], int] = {}
_metric_info: dict[str, dict[str, str]] = {}


def _track(table: dict[int, _Tracked], obj: Any, run_id: str, dataset_name: str = "") -> None:
    key = id(obj)
    strong = False
    try:
        ref: Callable[[], Any] = weakref.ref(obj, lambda _r, key=key: _forget(table, key))
    except TypeError:  # no weak references (tuples, lists): keep a bounded number alive
        ref = lambda obj=obj: obj  # noqa: E731
        strong = True
    with _lock:
        if strong and len(table) >= MAX_STRONG_REFS:
            table.pop(next(iter(table)))
        table[key] = _Tracked(ref, run_id, dataset_name)


def _forget(table: dict[int, _Tracked], key: int) -> None:
    with _lock:
        table.pop(key, None)


def _lookup(table: dict[int, _Tracked], obj: Any) -> _Tracked | None:
    found = table.get(id(obj))
    if found is None or found.ref() is not obj:
        return None
    return found


def register_model(model: Any, run_id: str) -> None:
    """Predictions of ``model`` will count as post-training evaluations of ``run_id``."""
    _track(_models, model, run_id)


def clear() -> None:
    with _lock:
        _models.clear()
        _predictions.clear()
        _call_counts.clear()
        _metric_info.clear()


def _caller_frame():
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("modelyard.autologging"):
        frame = frame.f_back
    return frame


def variable_name(obj: Any, frame: Any) -> str | None:
    """The name the caller's frame binds ``obj`` to (public names first)."""
    if frame is None:
        return None
    names = [name for name, value in frame.f_locals.items() if value is obj]
    if not names:
        return None
    return sorted(names, key=lambda n: (n.startswith("_"), len(n)))[0]


def _first_arg(original: Callable, args: tuple, kwargs: dict, index: int) -> Any:
    try:
        bound = estimators._signature(original).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    names = list(bound.signature.parameters)
    return bound.arguments.get(names[index]) if len(names) > index else None


class PredictObserver:
    """Remembers the output of an autologged model's predict/transform."""

    def before(self, original: Callable, args: tuple, kwargs: dict) -> Any:
        if not args or (model := _lookup(_models, args[0])) is None:
            return None
        X = _first_arg(original, args, kwargs, 1)
        name = variable_name(X, _caller_frame()) or UNKNOWN_DATASET
        return model.run_id, name

    def after(self, context: Any, args: tuple, kwargs: dict, result: Any) -> None:
        run_id, name = context
        _track(_predictions, result, run_id, name)


class ScoreObserver:
    """``model.score(X_test, y_test)`` on an autologged model: ``<Class>_score_X_test``."""

    def before(self, original: Callable, args: tuple, kwargs: dict) -> Any:
        if not args or (model := _lookup(_models, args[0])) is None:
            return None
        X = _first_arg(original, args, kwargs, 1)
        frame = _caller_frame()
        name = variable_name(X, frame) or UNKNOWN_DATASET
        return model.run_id, f"{type(args[0]).__name__}_score", name, _call_text(f"{type(args[0]).__name__}.score", original, args[1:], kwargs, frame)

    def after(self, context: Any, args: tuple, kwargs: dict, result: Any) -> None:
        run_id, metric_name, dataset_name, call = context
        log_metric(run_id, metric_name, dataset_name, result, call)


class MetricObserver:
    """An ``sklearn.metrics`` function called on the tracked predictions of a model."""

    def before(self, original: Callable, args: tuple, kwargs: dict) -> Any:
        try:
            bound = estimators._signature(original).bind(*args, **kwargs)
        except (TypeError, ValueError):
            return None
        for arg in PREDICTION_ARGS:
            value = bound.arguments.get(arg)
            if value is not None and (found := _lookup(_predictions, value)) is not None:
                call = _call_text(original.__name__, original, args, kwargs, _caller_frame())
                return found.run_id, original.__name__, found.dataset_name, call
        return None

    def after(self, context: Any, args: tuple, kwargs: dict, result: Any) -> None:
        run_id, metric_name, dataset_name, call = context
        log_metric(run_id, metric_name, dataset_name, result, call)


def _call_text(fn_name: str, original: Callable, args: tuple, kwargs: dict, frame: Any) -> str:
    try:
        params = [p for p in estimators._signature(original).parameters if p != "self"]
    except (TypeError, ValueError):
        params = []
    parts = []
    for i, arg in enumerate(args):
        label = params[i] if i < len(params) else f"arg{i}"
        parts.append(f"{label}={variable_name(arg, frame) or _short(arg)}")
    parts.extend(f"{k}={variable_name(val, frame) or _short(val)}" for k, val in kwargs.items())
    return f"{fn_name}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    return f"<{type(value).__name__}>"


def log_metric(run_id: str, metric_name: str, dataset_name: str, value: Any, call: str) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return  # a report or an array, not a scalar metric
    with _lock:
        index = _call_counts.get((run_id, metric_name, dataset_name), 0)
        _call_counts[(run_id, metric_name, dataset_name)] = index + 1
        name = metric_name if index == 0 else f"{metric_name}-{index + 1}"
        key = clean_key(f"{name}_{dataset_name}")
        info = _metric_info.setdefault(run_id, {})
        info[key] = call
        snapshot = dict(info)
    from modelyard.tracking import context

    client = context.current().client()
    client.log_batch(run_id, metrics=[Metric(key, number, now_ms(), 0)])
    client.log_dict(run_id, snapshot, "metric_info.json")
