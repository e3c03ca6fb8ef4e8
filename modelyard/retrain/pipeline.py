"""One retraining: train a challenger, evaluate it and the current ``@champion`` on the same
holdout, check the gates, register the challenger as ``@challenger``, and move ``@champion`` when
every gate passes (at once with ``approval="none"``; with ``"manual"``, when ``approve`` is called).

The evaluation is one run (experiment ``retrain-<model>`` unless given): both models' metrics side
by side (``challenger_*`` / ``champion_*``, and ``comparison.json``), the gates (``gates.json``),
the challenger's plots and per-row table (``modelyard.evaluate``, the champion as baseline). The
version carries the outcome in tags (``modelyard.retrain.*``), and the alias move in the promotion
history names the evaluation run and why.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelyard.entities import RunTag
from modelyard.evaluation.timing import StageClock, stage
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.retrain import measure
from modelyard.retrain.gates import GateResult, Gates, Measured, check

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
from modelyard.retrain.approval import (  # noqa: E402  (the tag names live with the approval rule)
    GATE_RESULTS_TAG,
    GATES_TAG,
    REASON_LIMIT,
    REASON_TAG,
    RUN_TAG,
    STATUS_TAG,
    approval_reason,
)


@dataclass
class RetrainResult:
    model_name: str
    challenger_version: str
    champion_version: str | None  # before this retraining
    promoted: bool
    status: str
    reason: str
    evaluation_run_id: str
    gates: list[GateResult] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    overhead_seconds: float = 0.0  # everything but training
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # {stage: {wall_s, cpu_s}}, training included

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name, "challenger_version": self.challenger_version,
            "champion_version": self.champion_version, "promoted": self.promoted, "status": self.status,
            "reason": self.reason, "evaluation_run_id": self.evaluation_run_id,
            "gates": [g.to_dict() for g in self.gates], "challenger_metrics": self.challenger_metrics,
            "champion_metrics": self.champion_metrics, "overhead_seconds": self.overhead_seconds,
            "stages": self.stages,
        }


def _resolve_trainer(train: Any) -> Callable[..., Any] | None:
    if train is None or train == "automl" or isinstance(train, dict):
        return None
    if callable(train):
        return train
    if isinstance(train, str) and ":" in train:
        module, _, name = train.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise InvalidParameterValue(f"train {train!r}: cannot import {name} from {module} ({exc})") from exc
    raise InvalidParameterValue(f"train must be 'automl', an automl options dict, 'module:function' or a callable, not {train!r}")


def _train(train: Any, frame: Any, target_col: str, model_type: str) -> str:
    """The challenger's model URI."""
    import modelyard

    trainer = _resolve_trainer(train)
    if trainer is None:
        from modelyard import automl

        options = dict(train) if isinstance(train, dict) else {}
        options.setdefault("timeout_minutes", 10)
        search = automl.classify if model_type == "classifier" else automl.regress
        return search(frame, target_col=target_col, **options).best_model_path
    result = trainer(frame, target_col)
    if isinstance(result, str):
        return result
    if hasattr(result, "model_uri"):
        return result.model_uri
    if callable(getattr(result, "predict", None)):  # a fitted estimator: logged here
        with modelyard.start_run(run_name="retrain-challenger", nested=modelyard.active_run() is not None):
            example = frame.drop(columns=[target_col]).head(5)
            return modelyard.sklearn.log_model(result, name="model", input_example=example).model_uri
    raise InvalidParameterValue(f"the train function returned {type(result).__name__}: return a model URI or a fitted model")


def _measure(model: Any, uri: str, holdout: Any, target_col: str) -> Measured:
    features = holdout.drop(columns=[target_col])
    with stage("latency"):
        latency = measure.p95_single_row_latency_ms(model, features)
    with stage("size"):  # the folder the model was loaded from, not a second resolution of its URI
        size = measure.model_size_mb(getattr(model, "model_dir", None) or uri)
    return Measured({}, latency, size, measure.signature_inputs(model))


def _import_plotting_aside() -> threading.Thread | None:
    """Import matplotlib (the evaluation's plots; about half a CPU-second, seconds of wall on a
    busy machine) on a side thread while the challenger trains, instead of after it. None when
    it is imported already; a missing matplotlib is left for the plots to report."""
    if "matplotlib.backends.backend_agg" in sys.modules:
        return None

    def load() -> None:
        try:
            importlib.import_module("matplotlib.figure")
            importlib.import_module("matplotlib.backends.backend_agg")
        except Exception:  # noqa: BLE001 - ImportError, or a broken install: the plots say so later
            logger.debug("matplotlib could not be imported ahead of the plots", exc_info=True)

    thread = threading.Thread(target=load, name="modelyard-retrain-import", daemon=True)
    thread.start()
    return thread


def retrain(
    model_name: str,
    train_frame: Any = None,
    holdout_frame: Any = None,
    *,
    target_col: str,
    model_type: str = "classifier",
    data: Callable[[], tuple[Any, Any]] | None = None,
    train: Any = "automl",
    gates: Gates | dict | None = None,
    approval: str = "none",
    experiment_name: str | None = None,
) -> RetrainResult:
    """Train, evaluate against ``@champion``, gate, register, promote; see the module doc."""
    import modelyard

    if approval not in ("none", "manual"):
        raise InvalidParameterValue(f"approval must be 'none' or 'manual', got {approval!r}")
    if model_type not in ("classifier", "regressor"):
        raise InvalidParameterValue(f"model_type must be 'classifier' or 'regressor', got {model_type!r}")
    gates = gates if isinstance(gates, Gates) else Gates.from_dict(gates)
    if data is not None:
        train_frame, holdout_frame = data()
    if train_frame is None or holdout_frame is None:
        raise InvalidParameterValue("give train_frame and holdout_frame, or data=a function returning both")
    for name, frame in (("train_frame", train_frame), ("holdout_frame", holdout_frame)):
        if target_col not in frame.columns:
            raise InvalidParameterValue(f"target_col {target_col!r} is not a column of {name}")
    start = time.perf_counter()
    with StageClock() as clock:
        result = _retrain(modelyard, model_name, train_frame, holdout_frame, target_col, model_type, train, gates,
                          approval, experiment_name)
    result.stages = clock.stages
    result.overhead_seconds = time.perf_counter() - start - clock.stages["train"]["wall_s"]
    return result


def _retrain(modelyard, model_name, train_frame, holdout_frame, target_col, model_type, train, gates: Gates,
             approval, experiment_name) -> RetrainResult:
    with stage("setup"):
        client = modelyard.MlflowClient()
        try:
            champion_version = client.get_model_version_by_alias(model_name, CHAMPION).version
        except (ResourceDoesNotExist, InvalidParameterValue):  # no such model / no @champion yet
            champion_version = None
        modelyard.set_experiment(experiment_name or f"retrain-{model_name}")
        run = modelyard.start_run(run_name=f"retrain-{model_name}")
    with run:
        warming = _import_plotting_aside()
        with stage("train"):
            challenger_uri = _train(train, train_frame, target_col, model_type)
        if warming is not None:
            with stage("import_wait"):
                warming.join()
        with stage("register"):
            version = modelyard.register_model(challenger_uri, model_name).version
            client.set_registered_model_alias(model_name, CHALLENGER, version,
                                              reason=f"retrain: trained in run {run.info.run_id}")
        challenger_ref = f"models:/{model_name}/{version}"
        champion_ref = f"models:/{model_name}/{champion_version}" if champion_version else None
        with stage("load"):
            from modelyard.models.load import load_pyfunc

            # each model loaded once: evaluated, then timed and measured
            challenger_model = load_pyfunc(challenger_ref)
            champion_model = load_pyfunc(champion_ref) if champion_ref else None
        result = modelyard.evaluate(challenger_model, holdout_frame, targets=target_col, model_type=model_type,
                                    baseline_model=champion_model)
        challenger = _measure(challenger_model, challenger_ref, holdout_frame, target_col)
        challenger.metrics = dict(result.metrics)
        champion = None
        if champion_ref:
            champion = _measure(champion_model, champion_ref, holdout_frame, target_col)
            champion.metrics = dict(result.baseline_metrics or {})
        missing = sorted(m for m in gates.metrics() if m not in challenger.metrics)
        if missing:
            raise InvalidParameterValue(f"gates name metrics that evaluate does not compute: {missing} "
                                        f"(available: {sorted(challenger.metrics)})")
        with stage("gates"):
            outcome = check(gates, challenger, champion)
            passed = all(g.passed for g in outcome)
        with stage("log_evaluation"):
            _log_evaluation(model_name, version, champion_version, challenger, champion, outcome)
        run_id = run.info.run_id
        with stage("end_run"):
            modelyard.end_run()  # the with's exit then finds the run ended
    with stage("promote"):
        if not passed:
            status = "rejected"
            reason = "retrain: gates failed: " + "; ".join(g.gate for g in outcome if not g.passed)
            logger.warning("Challenger %s v%s not promoted: %s (evaluation run %s)", model_name, version, reason, run_id)
        elif approval == "manual":
            status, reason = "awaiting_approval", f"retrain: every gate passed (run {run_id}); waiting for approval"
        else:
            status, reason = "promoted", f"retrain: every gate passed (evaluation run {run_id})"
            client.set_registered_model_alias(model_name, CHAMPION, version, reason=reason[:REASON_LIMIT])
        client.set_model_version_tag(model_name, version, STATUS_TAG, status)
        client.set_model_version_tag(model_name, version, RUN_TAG, run_id)
        client.set_model_version_tag(model_name, version, GATES_TAG, "passed" if passed else "failed")
        client.log_batch(run_id, tags=[RunTag(STATUS_TAG, status), RunTag(REASON_TAG, reason)])
    return RetrainResult(
        model_name, str(version), champion_version, status == "promoted", status, reason, run_id, outcome,
        challenger.metrics, champion.metrics if champion else None,
    )


def _log_evaluation(model_name, version, champion_version, challenger: Measured, champion: Measured | None, outcome) -> None:
    import modelyard

    figures = {"p95_latency_ms": (challenger.p95_latency_ms, champion.p95_latency_ms if champion else None),
               "model_mb": (challenger.model_mb, champion.model_mb if champion else None)}
    for metric, value in challenger.metrics.items():
        figures[metric] = (value, champion.metrics.get(metric) if champion else None)
    values = {f"challenger_{k}": a for k, (a, _) in figures.items()}
    values.update({f"champion_{k}": b for k, (_, b) in figures.items() if b is not None})
    values["gates_passed"] = float(all(g.passed for g in outcome))
    modelyard.log_metrics(values)
    modelyard.log_dict({"columns": ["metric", "challenger", "champion"],
                        "data": [[k, a, b] for k, (a, b) in sorted(figures.items())]}, "comparison.json")
    modelyard.log_dict({"gates": [g.to_dict() for g in outcome]}, "gates.json")
    modelyard.set_tags({GATE_RESULTS_TAG: json.dumps([[g.gate, g.passed, g.detail[:200]] for g in outcome])[:7900],
                        "modelyard.retrain.model": model_name, "modelyard.retrain.challenger_version": str(version),
                        "modelyard.retrain.champion_version": str(champion_version or ""),
                        GATES_TAG: "passed" if all(g.passed for g in outcome) else "failed"})


def approve(model_name: str, version: str | int, *, user_note: str | None = None) -> None:
    """Move ``@champion`` to a challenger that passed its gates and waits for approval."""
    import modelyard

    client = modelyard.MlflowClient()
    mv = client.get_model_version(model_name, version)
    reason = approval_reason(mv.tags, model_name, version, user_note)
    client.set_registered_model_alias(model_name, CHAMPION, version, reason=reason)
    client.set_model_version_tag(model_name, version, STATUS_TAG, "promoted")
    if mv.tags.get(RUN_TAG):
        client.set_tag(mv.tags[RUN_TAG], STATUS_TAG, "promoted")
        client.set_tag(mv.tags[RUN_TAG], REASON_TAG, reason)
