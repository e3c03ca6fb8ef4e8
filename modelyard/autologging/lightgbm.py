"""LightGBM autologging (``modelyard.lightgbm.autolog()``): ``lightgbm.train`` and the
scikit-learn API (LGBMClassifier, LGBMRegressor, LGBMRanker).

``lightgbm.train``: the params dict plus ``num_boost_round``; the training Dataset (context
``train``) and each of ``valid_sets`` (context ``eval``, named by ``valid_names``) as dataset
inputs, read before training (LightGBM frees the raw data once the Dataset is built);
per-iteration evaluation metrics through a callback added to a copy of the user's
``callbacks`` (ordered before early stopping, so the last iteration is recorded too); early
stopping; ``split`` and ``gain`` feature importance; the Booster via
``modelyard.lightgbm.log_model``.

The scikit-learn API logs like scikit-learn autologging plus the evaluation history of
``eval_set`` (``evals_result_``), early stopping and feature importance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.autologging import boosting, config, datasets, estimators, model_logging, safety

FLAVOR = "lightgbm"
SKLEARN_CLASSES = ("LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")
IMPORTANCE_TYPES = ("split", "gain")
CALLBACK_ORDER = 25  # after record_evaluation (20), before early_stopping (30)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    silent: bool = False,
) -> None:
    """Autolog LightGBM training (the options are MLflow's); ``disable=True`` unpatches."""
    cfg = config.make(
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        disable=disable,
        exclusive=exclusive,
        disable_for_unsupported_versions=disable_for_unsupported_versions,
        registered_model_name=registered_model_name,
        extra_tags=extra_tags,
        silent=silent,
    )
    boosting.install(FLAVOR, cfg, "lightgbm", TrainHandler, SklearnFitHandler, SKLEARN_CLASSES)


class AutologCallback:
    """Records each iteration's evaluation results (a LightGBM callback)."""

    def __init__(self, history: boosting.History) -> None:
        self.history = history
        self.order = CALLBACK_ORDER  # in the instance dict: LightGBM setdefaults it there
        self.before_iteration = False

    def __call__(self, env: Any) -> None:
        metrics = {}
        for item in env.evaluation_result_list or ():
            data_name, eval_name, value = item[0], item[1], item[2]
            metrics[f"{data_name}-{eval_name}"] = value
        self.history.record(env.iteration - env.begin_iteration, metrics)


def _dataset_input(dataset: Any, context: str, name: str | None = None) -> Any:
    if isinstance(dataset.data, str | bytes) or dataset.data is None:
        return None  # a file path or an already freed Dataset
    return datasets.dataset_input(dataset.data, dataset.label, context=context, name=name)


def log_importance(session: safety.Session, booster: Any) -> None:
    names = booster.feature_name()
    for importance_type in IMPORTANCE_TYPES:
        values = booster.feature_importance(importance_type=importance_type)
        boosting.log_feature_importance(session, names, list(values), importance_type)


class TrainHandler:
    """One ``lightgbm.train`` call."""

    def __init__(self, original: Any, session: safety.Session) -> None:
        self.original = original
        self.session = session
        self.history = boosting.History(session)
        self.example: Any = None

    def before(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        s = self.session
        sig = estimators._signature(self.original)
        bound = sig.bind(*args, **kwargs)
        with_defaults = sig.bind(*args, **kwargs)
        with_defaults.apply_defaults()
        given = with_defaults.arguments
        s.batch.log_params(dict(given.get("params") or {}))
        s.batch.log_params({"num_boost_round": given.get("num_boost_round")})
        train_set = given.get("train_set")
        if s.config.log_datasets and train_set is not None:
            found = s.attempt("describing the training dataset", _dataset_input, train_set, "train")
            if found is not None:
                s.batch.log_input(found)
            valid_sets = given.get("valid_sets") or []
            valid_names = given.get("valid_names") or [f"valid_{i}" for i in range(len(valid_sets))]
            for valid, name in zip(valid_sets, valid_names, strict=False):
                if valid is not train_set:
                    found = s.attempt("describing an evaluation dataset", _dataset_input, valid, "eval", name)
                    if found is not None:
                        s.batch.log_input(found)
        if (
            train_set is not None
            and s.config.log_models
            and (s.config.log_input_examples or s.config.log_model_signatures)
        ):
            data = train_set.data
            if data is not None and not isinstance(data, str | bytes):
                self.example = model_logging.input_example(data)
        bound.arguments["callbacks"] = [*(given.get("callbacks") or ()), AutologCallback(self.history)]
        return bound.args, bound.kwargs

    def after(self, args: tuple, kwargs: dict, booster: Any) -> None:
        s = self.session
        best = getattr(booster, "best_iteration", 0) or 0
        if best > 0:  # 1-based in LightGBM; 0 means no early stopping
            s.attempt(
                "logging early stopping", self.history.log_best, best, self.history.iterations, best - 1
            )
        s.attempt("logging feature importance", log_importance, s, booster)
        s.attempt("logging to the tracking store", s.batch.flush)
        if s.config.log_models:
            s.attempt(
                "logging the model",
                model_logging.log_model,
                s,
                FLAVOR,
                booster,
                name="model",
                features=self.example,
                predict=booster.predict,
            )


class SklearnFitHandler(boosting.BoostingFitHandler):
    """``fit`` of the LightGBM scikit-learn API."""

    flavor = FLAVOR

    def eval_sets(self, arguments: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        pairs = list(arguments.get("eval_set") or ())
        eval_X, eval_y = arguments.get("eval_X"), arguments.get("eval_y")
        if eval_X is not None:
            xs = eval_X if isinstance(eval_X, tuple) else (eval_X,)
            ys = eval_y if isinstance(eval_y, tuple) else (eval_y,)
            pairs.extend(zip(xs, ys, strict=False))
        names = list(arguments.get("eval_names") or ())
        return [(names[i] if i < len(names) else f"valid_{i}", X, y) for i, (X, y) in enumerate(pairs)]

    def log_history(self, estimator: Any) -> None:
        results = getattr(estimator, "evals_result_", None)
        if not results:
            return
        self.history = boosting.History(self.session)
        self.history.record_all(results)
        best = getattr(estimator, "best_iteration_", 0) or 0
        if best > 0:  # 1-based in LightGBM
            self.history.log_best(best, self.history.iterations, best - 1)

    def log_importance(self, estimator: Any) -> None:
        log_importance(self.session, estimator.booster_)

    def log_models(self, estimator: Any, searched: bool) -> None:
        s = self.session
        if s.config.log_models:
            s.attempt(
                "logging the model",
                model_logging.log_model,
                s,
                FLAVOR,
                estimator,
                name="model",
                features=self.X,
                predict=estimator.predict,
            )
