"""An AutoML search from start to end: ``prepare`` (checks, split, profile, the parent run, the
study), ``run`` (trials, in this process or in ``parallelism`` worker processes), ``finish``
(stale trials failed, the leaderboard, the best model, the reproduction script, the summary)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modelyard.automl import data, ensemble, preprocess, space, storage
from modelyard.automl import metrics as metric_defs
from modelyard.automl.summary import AutoMLSummary, TrialInfo, leaderboard_row
from modelyard.automl.trial import REFIT_SAFETY, STUDY_TAG, Objective, SearchConfig
from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MINUTES = 120.0  # Databricks AutoML's default
CONFIG_ATTR = "modelyard_config"
REFIT_TAG = "modelyard.automl.refit"  # on the parent run: refitted, or why not
IMBALANCE_RATIO = 0.5  # minority share below half of an even share: offer balanced class weights
CV_FOLDS = 5  # folds of a small search's cross-validation (space.SMALL_ROWS rows of train + validation at most)
CV_REFIT_NOTE = "not needed: cross-validated, every trial's model is fitted on train+validation"


def _default_pos_label(classes: list, counts: Any) -> Any:
    for candidate in (1, True):
        if candidate in classes and len(classes) == 2:
            return candidate
    return counts.idxmin() if len(classes) == 2 else None


class Search:
    def __init__(self, config: SearchConfig, splits: data.Splits, study: Any, storage_uri: str | None) -> None:
        self.config, self.splits, self.study, self.storage_uri = config, splits, study, storage_uri
        self.started = time.perf_counter()
        self.tracking_seconds = 0.0
        self.refit = True
        self.best_model_metrics: dict[str, float] | None = None
        self.model_uris: dict[int, str] = {}  # trial number -> model URI, from the background writer
        self.run_ids: dict[int, str] = {}  # trial number -> run id, from the background writer
        self.background_tracking_seconds = 0.0
        self.model_log_seconds = 0.0  # what logging one trial's model took (the writer's mean)
        self.refit_note = ""
        self.tracking_parts: dict[str, float] = {}  # prepare / trials / drain / finish
        self.kept_pipelines: dict[int, Any] = {}  # the best trial's pipeline, kept in memory by the objective

    @property
    def study_id(self) -> str:
        return self.study.study_name

    # -- prepare ------------------------------------------------------------------------------------
    @classmethod
    def prepare(
        cls,
        dataset: Any,
        target_col: str,
        *,
        task: str,
        primary_metric: str | None = None,
        timeout_minutes: float | None = None,
        max_trials: int | None = None,
        exclude_frameworks: list[str] | None = None,
        exclude_cols: list[str] | None = None,
        time_col: str | None = None,
        pos_label: Any = None,
        experiment_name: str | None = None,
        parallelism: int = 1,
        study_storage: str | None = None,
        split_col: str | None = None,
        heartbeat: tuple[int, int] = (storage.HEARTBEAT_INTERVAL_S, storage.GRACE_PERIOD_S),
        seed: int = 0,
    ) -> Search:
        """``timeout_minutes`` counts from here: preparing, the trials and the finish fit in it."""
        import modelyard

        started_at = time.time()
        classification = task == "classification"
        metric = metric_defs.check_metric(primary_metric, classification)
        if timeout_minutes is not None and not timeout_minutes > 0:
            raise InvalidParameterValue(f"timeout_minutes must be positive, got {timeout_minutes!r}")
        if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 1):
            raise InvalidParameterValue(f"max_trials must be a positive integer, got {max_trials!r}")
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidParameterValue(f"parallelism must be a positive integer, got {parallelism!r}")
        space.available_specs(exclude_frameworks, task)  # refuse early (the data's size narrows them below)
        tracking_uri = modelyard.get_tracking_uri()
        storage_uri = storage.storage_uri(tracking_uri, study_storage, parallelism)  # refuse early
        frame = data.prepare(dataset, target_col, exclude_cols=exclude_cols, time_col=time_col,
                             classification=classification, split_col=split_col)
        splits = data.split(frame, target_col, time_col=time_col, classification=classification, split_col=split_col)
        if split_col is not None:
            frame = frame.drop(columns=[split_col])
        rows = len(splits.train) + len(splits.val)
        specs = space.available_specs(exclude_frameworks, task, rows)
        # small data (not time-ordered): trials chosen by k-fold cross-validation over train + validation
        folds = CV_FOLDS if rows <= space.SMALL_ROWS and time_col is None and rows >= 2 * CV_FOLDS else 0
        plan = preprocess.plan_columns(frame, target_col, time_col)
        profile = data.profile(frame, target_col, classification)
        profile["preprocessing"] = plan.to_dict()
        classes: list = []
        imbalanced = False
        if classification:
            counts = frame[target_col].value_counts()
            classes = sorted(counts.index.tolist())
            classes = [c.item() if hasattr(c, "item") else c for c in classes]
            if pos_label is None:
                pos_label = _default_pos_label(classes, counts)
            elif len(classes) == 2 and pos_label not in classes:
                raise InvalidParameterValue(f"pos_label {pos_label!r} is not one of the classes {classes}")
            pos_label = pos_label.item() if hasattr(pos_label, "item") else pos_label
            imbalanced = counts.min() / counts.sum() < IMBALANCE_RATIO / len(classes)
        if experiment_name:
            experiment_id = modelyard.set_experiment(experiment_name).experiment_id
        else:
            from modelyard.tracking import context

            experiment_id = context.current().experiment_id()
        budget = timeout_minutes if timeout_minutes is not None else (None if max_trials else DEFAULT_TIMEOUT_MINUTES)
        parent = modelyard.start_run(
            experiment_id=experiment_id,
            run_name=f"automl-{task}-{target_col}",
            nested=modelyard.active_run() is not None,
            tags={"modelyard.automl.task": task, "modelyard.automl.target_col": target_col},
        )
        t0 = time.perf_counter()
        config = SearchConfig(
            task=task, target_col=target_col, primary_metric=metric, models=[s.name for s in specs],
            plan=plan.to_dict(), experiment_id=experiment_id, parent_run_id=parent.info.run_id,
            tracking_uri=tracking_uri, deadline=(started_at + budget * 60) if budget else None,
            max_trials=max_trials, classes=classes, pos_label=pos_label, imbalanced=bool(imbalanced), seed=seed,
            n_jobs=max(1, (os.cpu_count() or 1) // parallelism), budget_seconds=budget * 60 if budget else None,
            cv_folds=folds,
        )
        modelyard.log_params({
            "target_col": target_col, "primary_metric": metric, "timeout_minutes": budget, "max_trials": max_trials,
            "models": ",".join(config.models), "time_col": time_col, "pos_label": pos_label,
            "parallelism": parallelism, "exclude_cols": ",".join(exclude_cols or []), "cv_folds": folds,
        })
        modelyard.log_dict(profile, "data_profile.json")
        with tempfile.TemporaryDirectory(prefix="modelyard-automl-") as tmp:
            for name in ("train", "val", "test"):
                getattr(splits, name).to_parquet(Path(tmp) / f"{name}.parquet", index=False)
            modelyard.log_artifacts(tmp, "data")
        tracking = time.perf_counter() - t0
        study = cls._create_study(config, storage_uri, heartbeat, specs)  # the search's own (Optuna), not tracking
        t0 = time.perf_counter()
        modelyard.set_tag(STUDY_TAG, study.study_name)
        search = cls(config, splits, study, storage_uri)
        search.tracking_seconds += tracking + time.perf_counter() - t0
        search.tracking_parts["prepare"] = search.tracking_seconds
        return search

    @staticmethod
    def _create_study(config: SearchConfig, storage_uri: str | None, heartbeat: tuple[int, int], specs: list) -> Any:
        import json

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        store = None
        if storage_uri is not None:
            store = storage.open_storage(storage_uri, heartbeat_interval=heartbeat[0], grace_period=heartbeat[1])
        study = optuna.create_study(
            storage=store,
            study_name=f"automl-{config.parent_run_id}",
            direction="maximize" if config.maximize else "minimize",
            sampler=optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=max(10, 2 * len(specs))),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20),
        )
        study.set_user_attr(CONFIG_ATTR, json.dumps(asdict(config), default=str))
        study.set_user_attr("heartbeat", list(heartbeat))
        # every model family first, at its library defaults, then a few more start points: a good start, cheaply
        if config.cv_folds:  # small data
            specs = sorted(specs, key=lambda s: space.SMALL_DATA_ORDER.index(s.name))
        starts = [{"model": s.name, **s.defaults} for s in specs]
        starts += [{"model": s.name, **point} for s in specs for point in s.starts]
        if config.cv_folds:  # small data
            starts += [{"model": s.name, **point} for s in specs for point in s.small_starts]
        for point in starts[: config.max_trials or None]:
            study.enqueue_trial(point, skip_if_exists=True)
        return study

    # -- run ----------------------------------------------------------------------------------------
    def run(self, parallelism: int = 1) -> None:
        from modelyard.automl import worker

        if parallelism <= 1:
            from modelyard.automl.writer import TrialWriter

            # in the search's own process (no worker shares the study): trials' runs and models
            # written in the background, the runs of several trials in one transaction
            writer = TrialWriter(self.config.experiment_id) if self.storage_uri is None else None
            objective = Objective(self.config, self.splits, writer)
            try:
                worker.optimize(self.study, objective, self.config)
                objective.add_ensemble(self.study)
            finally:
                if writer is not None:
                    t0 = time.perf_counter()
                    run_ids, model_uris = writer.drain()  # waiting for the writer is tracking time
                    self.run_ids.update(run_ids)
                    self.model_uris.update(model_uris)
                    self.tracking_parts["drain"] = time.perf_counter() - t0
                    objective.tracking_seconds += self.tracking_parts["drain"]
                    self.background_tracking_seconds = writer.busy_seconds
                    self.kept_pipelines = objective.kept
                    self.model_log_seconds = writer.model_log_seconds
                self.tracking_seconds += objective.tracking_seconds
                self.tracking_parts["trials"] = objective.tracking_seconds - self.tracking_parts.get("drain", 0.0)
            return
        worker.run_processes(self.storage_uri, self.study_id, parallelism)

    # -- finish ---------------------------------------------------------------------------------------
    def finish(self, registered_model_name: str | None = None, refit: bool = True) -> AutoMLSummary:
        import modelyard
        from modelyard.automl import script, worker

        t0 = time.perf_counter()
        self.refit = refit
        worker.fail_stale_trials(self.study)
        trials = [
            trial_info(t, self.model_uris.get(t.number), self.run_ids.get(t.number))
            for t in self.study.get_trials(deepcopy=False)
            if not t.user_attrs.get("skipped") and t.state.name != "WAITING"
        ]
        worker.fail_orphan_runs(trials)
        complete = [t for t in trials if t.state == "COMPLETE" and t.model_path]
        key = f"val_{self.config.primary_metric}"
        sign = -1.0 if self.config.maximize else 1.0
        complete.sort(key=lambda t: sign * t.metrics.get(key, float("nan")))
        others = sorted((t for t in trials if t not in complete), key=lambda t: t.number)
        leaderboard = complete + others
        if not complete:
            modelyard.end_run("FAILED")
            errors = sorted({t.error for t in trials if t.error})
            raise InvalidParameterValue(
                f"no trial completed within the budget ({len(trials)} started); errors: {errors or 'none'}"
            )
        best = complete[0]
        rows = [leaderboard_row(t) for t in leaderboard]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        table = {"columns": columns, "data": [[_plain(row.get(c)) for c in columns] for row in rows]}
        modelyard.log_dict(table, "leaderboard.json")
        modelyard.log_metrics({
            **{f"best_{k}": v for k, v in best.metrics.items() if k.startswith(("val_", "test_"))},
            "trials_complete": len(complete),
            "trials_pruned": sum(t.state == "PRUNED" for t in trials),
            "trials_failed": sum(t.state == "FAIL" for t in trials),
        })
        modelyard.set_tags({"modelyard.automl.best_run_id": best.run_id, "modelyard.automl.best_model": best.model_description})
        # the script reproduces the best single trial (an ensemble's first member when it won)
        scripted = next(t for t in complete if t.model_description != ensemble.MODEL)
        raw = self.study.get_trials(deepcopy=False)[scripted.number]
        learnt = raw.user_attrs.get("learnt") or {}
        params = {k: v for k, v in scripted.params.items() if k != "model"}
        modelyard.log_text(
            script.generate(self.config, scripted.number, scripted.model_description, params, learnt, scripted.metrics),
            "reproduce_best_trial.py",
        )
        if self.config.cv_folds:
            self.refit_note = CV_REFIT_NOTE
        else:
            self.refit_note = self._refit_decision(best) if self.refit else "off: refit=False"
        modelyard.set_tag(REFIT_TAG, self.refit_note)
        if not self.refit_note.startswith("refitted"):  # the best trial's own model (fitted on train)
            pipeline = self.kept_pipelines.get(best.number)
            if pipeline is None:  # not kept in memory (worker processes): read back from the store
                pipeline = best.load_model()
            if self.config.cv_folds:  # the best model is the best trial's (fitted on train + validation)
                self.best_model_metrics = {k: v for k, v in best.metrics.items() if k.startswith("test_")}
                modelyard.log_metrics({f"best_model_{k}": v for k, v in self.best_model_metrics.items()})
        else:
            from modelyard.automl.trial import refit

            t_refit = time.perf_counter()
            pipeline, refit_test = refit(self.config, self.splits, best.model_description, params, learnt)
            modelyard.log_metrics({f"best_model_test_{k}": v for k, v in refit_test.items()})
            self.best_model_metrics = {f"test_{k}": v for k, v in refit_test.items()}
            t0 += time.perf_counter() - t_refit  # fitting is not tracking
        example = self.splits.train[self.config.column_plan.features].head(5)
        from modelyard.flavors import sklearn as sklearn_flavor  # not modelyard.sklearn: it loads autologging

        info = sklearn_flavor.log_model(
            pipeline, name="best_model", input_example=example, serialization_format="cloudpickle",
            registered_model_name=registered_model_name,
        )
        run_id = self.config.parent_run_id
        modelyard.end_run("FINISHED")
        self.tracking_parts["finish"] = time.perf_counter() - t0
        self.tracking_seconds += self.tracking_parts["finish"]
        return AutoMLSummary(
            experiment_id=self.config.experiment_id, parent_run_id=run_id, study_id=self.study_id,
            primary_metric=self.config.primary_metric, best_trial=best, trials=leaderboard,
            best_model_path=info.model_uri, best_model_metrics=self.best_model_metrics,
            registered_model_version=str(info.registered_model_version) if registered_model_name else None,
            tracking_seconds=self.tracking_seconds, background_tracking_seconds=self.background_tracking_seconds,
            wall_seconds=time.perf_counter() - self.started, refit=self.refit_note,
            tracking_parts={k: round(v, 4) for k, v in self.tracking_parts.items()},
        )

    def _refit_decision(self, best: TrialInfo) -> str:
        """Whether refitting the best configuration on train + validation fits in the time left:
        its trial's fit time scaled to the larger training set (times ``REFIT_SAFETY``), plus the
        time one model took to log. A refit that would overrun the deadline is not started: the
        best trial's own model (fitted on train) is the best model. The reason is the parent's
        ``modelyard.automl.refit`` tag."""
        if self.config.deadline is None:
            return "refitted on train+validation (no time budget)"
        n_train, n_val = len(self.splits.train), len(self.splits.val)
        fit_s = float(best.metrics.get("fit_duration_s") or best.duration or 0.0)
        estimate = fit_s * (n_train + n_val) / max(n_train, 1) * REFIT_SAFETY + self.model_log_seconds
        left = self.config.deadline - time.time()
        if estimate > left:
            return (f"skipped: refitting would take ~{estimate:.1f} s, {max(left, 0.0):.1f} s of the budget left; "
                    "the best model is the best trial's (fitted on train)")
        return f"refitted on train+validation (~{estimate:.1f} s estimated, {left:.1f} s left)"

    def abort(self) -> None:
        import modelyard

        active = modelyard.active_run()
        if active is not None and active.info.run_id == self.config.parent_run_id:
            modelyard.end_run("FAILED")


def trial_info(t: Any, model_uri: str | None = None, run_id: str | None = None) -> TrialInfo:
    """``model_uri``, ``run_id``: the trial's model and run when the background writer wrote them
    (else user attributes: a worker process's trials)."""
    attrs = t.user_attrs
    duration = attrs.get("duration_s")
    if duration is None and t.datetime_start and t.datetime_complete:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    return TrialInfo(
        number=t.number, state=t.state.name, model_description=str(t.params.get("model", attrs.get("model", ""))),
        run_id=run_id or attrs.get("run_id"), model_path=model_uri or attrs.get("model_uri"),
        params={**t.params, **(attrs.get("bounded") or {}),
                **({"model": attrs["model"], "members": attrs.get("members")} if "model" in attrs else {})},
        metrics=dict(attrs.get("metrics") or {}), duration=duration, error=attrs.get("error"),
    )


def _plain(value: Any) -> Any:
    import json

    return json.dumps(value, default=str) if isinstance(value, dict) else value
