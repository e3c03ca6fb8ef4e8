"""XGBoost autologging (``modelyard.xgboost.autolog()``): ``xgboost.train`` and the
scikit-learn API (XGBClassifier, XGBRegressor, XGBRanker, XGBRF*).

``xgboost.train``: the params dict plus ``num_boost_round``, ``early_stopping_rounds``,
``maximize`` and ``verbose_eval``; the training DMatrix (context ``train``) and each
``evals`` DMatrix (context ``eval``, named as in ``evals``) as dataset inputs; per-iteration
evaluation metrics through a ``TrainingCallback`` appended to a copy of the user's
``callbacks``; early stopping; feature importance for each of ``importance_types``
(default ``["weight"]``); the Booster via ``modelyard.xgboost.log_model``.

The scikit-learn API logs like scikit-learn autologging (params, dataset, training metrics)
plus the evaluation history of ``eval_set`` (``evals_result()``), early stopping and
feature importance; its inner ``train`` call is not logged again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.autologging import boosting, config, datasets, estimators, model_logging, safety

FLAVOR = "xgboost"
SKLEARN_CLASSES = (
    "XGBModel",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)
LOGGED_TRAIN_ARGS = ("num_boost_round", "early_stopping_rounds", "maximize", "verbose_eval")


def autolog(
    importance_types: Iterable[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Autolog XGBoost training (the options are MLflow's); ``disable=True`` unpatches.

    ``model_format=None`` (the default) saves in the xgboost flavor's default format; MLflow's
    default, the legacy binary "xgb", is not written by XGBoost 3.
    """
    cfg = config.make(
        importance_types=importance_types,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        log_datasets=log_datasets,
        disable=disable,
        exclusive=exclusive,
        disable_for_unsupported_versions=disable_for_unsupported_versions,
        silent=silent,
        registered_model_name=registered_model_name,
        model_format=model_format,
        extra_tags=extra_tags,
    )
    boosting.install(FLAVOR, cfg, "xgboost", TrainHandler, SklearnFitHandler, SKLEARN_CLASSES)


def _dmatrix_input(dmatrix: Any, context: str, name: str | None = None) -> Any:
    return datasets.dataset_input(dmatrix.get_data(), dmatrix.get_label(), context=context, name=name)


def _dmatrix_example(dmatrix: Any) -> Any:
    """The first rows of a DMatrix, dense, as a DataFrame when it has feature names."""
    head = dmatrix.slice(list(range(min(model_logging.EXAMPLE_ROWS, dmatrix.num_row())))).get_data().toarray()
    names = dmatrix.feature_names
    if names:
        import pandas as pd

        return pd.DataFrame(head, columns=list(names))
    return head


def _make_callback(history: boosting.History) -> Any:
    import xgboost

    class AutologCallback(xgboost.callback.TrainingCallback):
        """Records each iteration's evaluation results; never asks to stop."""

        def after_iteration(self, model: Any, epoch: int, evals_log: Mapping) -> bool:
            metrics = {}
            for data, per_data in evals_log.items():
                for metric, values in per_data.items():
                    value = values[-1]
                    metrics[f"{data}-{metric}"] = value[0] if isinstance(value, tuple) else value
            history.record(epoch, metrics)
            return False

    return AutologCallback()


def _format_kw(session: safety.Session) -> dict[str, Any]:
    fmt = session.config.model_format
    return {} if fmt is None else {"model_format": fmt}


def log_importance(session: safety.Session, booster: Any) -> None:
    for importance_type in session.config.importance_types:
        scores = booster.get_score(importance_type=importance_type)
        boosting.log_feature_importance(session, list(scores), list(scores.values()), importance_type)


class TrainHandler:
    """One ``xgboost.train`` call."""

    def __init__(self, original: Any, session: safety.Session) -> None:
        self.original = original
        self.session = session
        self.history = boosting.History(session)
        self.example: Any = None
        self.feature_names: Any = None
        self.early_stopping = False

    def before(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        s = self.session
        sig = estimators._signature(self.original)
        bound = sig.bind(*args, **kwargs)
        with_defaults = sig.bind(*args, **kwargs)
        with_defaults.apply_defaults()
        given = with_defaults.arguments
        s.batch.log_params(dict(given.get("params") or {}))
        s.batch.log_params({k: given[k] for k in LOGGED_TRAIN_ARGS if k in given})
        self.early_stopping = given.get("early_stopping_rounds") is not None
        dtrain = given.get("dtrain")
        if s.config.log_datasets and dtrain is not None:
            found = s.attempt("describing the training dataset", _dmatrix_input, dtrain, "train")
            if found is not None:
                s.batch.log_input(found)
            for dmatrix, name in given.get("evals") or ():
                if dmatrix is not dtrain:
                    found = s.attempt(
                        "describing an evaluation dataset", _dmatrix_input, dmatrix, "eval", name
                    )
                    if found is not None:
                        s.batch.log_input(found)
        if (
            dtrain is not None
            and s.config.log_models
            and (s.config.log_input_examples or s.config.log_model_signatures)
        ):
            self.example = s.attempt("taking an input example", _dmatrix_example, dtrain)
            self.feature_names = dtrain.feature_names
        bound.arguments["callbacks"] = [*(given.get("callbacks") or ()), _make_callback(self.history)]
        return bound.args, bound.kwargs

    def after(self, args: tuple, kwargs: dict, booster: Any) -> None:
        s = self.session
        if self.early_stopping and booster.attr("best_iteration") is not None:
            s.attempt(
                "logging early stopping",
                self.history.log_best,
                int(booster.attr("best_iteration")),
                self.history.iterations - 1,
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
                predict=self._predict(booster),
                **_format_kw(s),
            )

    def _predict(self, booster: Any) -> Any:
        import xgboost

        names = self.feature_names

        def predict(example: Any) -> Any:
            return booster.predict(xgboost.DMatrix(example, feature_names=names))

        return predict


class SklearnFitHandler(boosting.BoostingFitHandler):
    """``fit`` of the XGBoost scikit-learn API."""

    flavor = FLAVOR

    def eval_sets(self, arguments: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        return [(f"validation_{i}", X, y) for i, (X, y) in enumerate(arguments.get("eval_set") or ())]

    def log_history(self, estimator: Any) -> None:
        try:
            results = estimator.evals_result()
        except Exception:  # no eval_set: xgboost raises
            return
        self.history = boosting.History(self.session)
        self.history.record_all(results)
        if getattr(estimator, "early_stopping_rounds", None) is not None:
            best = getattr(estimator, "best_iteration", None)
            if best is not None:
                self.history.log_best(int(best), self.history.iterations - 1)

    def log_importance(self, estimator: Any) -> None:
        log_importance(self.session, estimator.get_booster())

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
                **_format_kw(s),
            )
