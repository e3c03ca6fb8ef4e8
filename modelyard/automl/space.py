"""The models an AutoML search tries, their hyperparameter spaces, and how each one is fitted.

Each ``ModelSpec`` names its framework (``sklearn``, ``xgboost``, ``lightgbm``: the values of
``exclude_frameworks``), draws its hyperparameters from an Optuna trial (names prefixed, so the
conditional spaces never share a name), builds the estimator, and fits it on the preprocessed
training data. Boosted trees stop early on the validation split and report their validation loss
to Optuna every few rounds, so an unpromising trial is pruned mid-training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_BOOSTING_ROUNDS = 2000
SMALL_ROWS = 5000  # train + validation rows up to which a search is "small": cross-validated, SVMs searched
EARLY_STOPPING_ROUNDS = 30
REPORT_EVERY = 10


@dataclass(frozen=True)
class Context:
    classification: bool
    n_classes: int
    seed: int = 0
    n_jobs: int = 1  # threads per trial: the cores divided by the search's processes


@dataclass(frozen=True)
class ModelSpec:
    name: str
    framework: str
    scale: bool  # whether the preprocessing scales numeric columns
    suggest: Callable[[Any], dict]
    build: Callable[[dict, Context], Any]
    defaults: dict
    tasks: tuple[str, ...] = ("classification", "regression")
    starts: tuple[dict, ...] = ()  # more points tried early, after every family's defaults
    small_starts: tuple[dict, ...] = ()  # more start points when the data is small (cross-validated)
    max_rows: int | None = None  # searched only when train + validation has at most this many rows


# -- hyperparameter spaces ---------------------------------------------------------------------------
def _linear_space(trial: Any) -> dict:
    return {"linear_C": trial.suggest_float("linear_C", 1e-4, 1e3, log=True)}


def _lasso_space(trial: Any) -> dict:
    return {"lasso_alpha": trial.suggest_float("lasso_alpha", 1e-4, 1e2, log=True)}


def _svm_space(trial: Any) -> dict:
    return {
        "svm_C": trial.suggest_float("svm_C", 1e-2, 1e3, log=True),
        "svm_gamma": trial.suggest_float("svm_gamma", 1e-4, 1.0, log=True),
    }


def _forest_space(trial: Any) -> dict:
    return {
        "rf_n_estimators": trial.suggest_int("rf_n_estimators", 50, 400, log=True),
        "rf_max_depth": trial.suggest_int("rf_max_depth", 4, 40, log=True),
        "rf_min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 20, log=True),
        "rf_max_features": trial.suggest_categorical("rf_max_features", ["sqrt", "0.5", "1.0"]),
    }


def _extra_trees_space(trial: Any) -> dict:
    return {
        "et_n_estimators": trial.suggest_int("et_n_estimators", 50, 400, log=True),
        "et_max_depth": trial.suggest_int("et_max_depth", 4, 40, log=True),
        "et_min_samples_leaf": trial.suggest_int("et_min_samples_leaf", 1, 20, log=True),
        "et_max_features": trial.suggest_categorical("et_max_features", ["sqrt", "0.5", "1.0"]),
    }


def _hgb_space(trial: Any) -> dict:
    return {
        "hgb_learning_rate": trial.suggest_float("hgb_learning_rate", 0.01, 0.3, log=True),
        "hgb_max_leaf_nodes": trial.suggest_int("hgb_max_leaf_nodes", 8, 128, log=True),
        "hgb_min_samples_leaf": trial.suggest_int("hgb_min_samples_leaf", 2, 100, log=True),
        "hgb_l2_regularization": trial.suggest_float("hgb_l2_regularization", 1e-8, 10.0, log=True),
    }


def _xgb_space(trial: Any) -> dict:
    return {
        "xgb_learning_rate": trial.suggest_float("xgb_learning_rate", 0.01, 0.3, log=True),
        "xgb_max_depth": trial.suggest_int("xgb_max_depth", 2, 10),
        "xgb_min_child_weight": trial.suggest_float("xgb_min_child_weight", 0.5, 20.0, log=True),
        "xgb_subsample": trial.suggest_float("xgb_subsample", 0.5, 1.0),
        "xgb_colsample_bytree": trial.suggest_float("xgb_colsample_bytree", 0.4, 1.0),
        "xgb_reg_lambda": trial.suggest_float("xgb_reg_lambda", 1e-3, 10.0, log=True),
        "xgb_reg_alpha": trial.suggest_float("xgb_reg_alpha", 1e-8, 1.0, log=True),
    }


def _lgbm_space(trial: Any) -> dict:
    return {
        "lgbm_learning_rate": trial.suggest_float("lgbm_learning_rate", 0.01, 0.3, log=True),
        "lgbm_num_leaves": trial.suggest_int("lgbm_num_leaves", 4, 256, log=True),
        "lgbm_min_child_samples": trial.suggest_int("lgbm_min_child_samples", 2, 100, log=True),
        "lgbm_subsample": trial.suggest_float("lgbm_subsample", 0.5, 1.0),
        "lgbm_colsample_bytree": trial.suggest_float("lgbm_colsample_bytree", 0.4, 1.0),
        "lgbm_reg_lambda": trial.suggest_float("lgbm_reg_lambda", 1e-3, 10.0, log=True),
    }


# -- estimators -----------------------------------------------------------------------------------------
def _linear(p: dict, ctx: Context) -> Any:
    if ctx.classification:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=p["linear_C"], max_iter=2000)
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0 / p["linear_C"])


def _lasso(p: dict, ctx: Context) -> Any:
    """L1-regularised least squares: on small regression sets with a few informative columns it
    beats Ridge (diabetes: validation R² 0.524 vs 0.523, test 0.467 vs 0.454 at the defaults)."""
    from sklearn.linear_model import Lasso

    return Lasso(alpha=p["lasso_alpha"], max_iter=5000, random_state=ctx.seed)


def _svm(p: dict, ctx: Context) -> Any:
    """A kernel (RBF) support vector machine on the scaled columns: on small sets of smooth numeric
    features (digits, breast_cancer) often the best family, and quick to fit below a few thousand
    rows (its cost grows with the square of the rows: ``max_rows``). Classification: Platt-scaled
    probabilities (a sigmoid fitted on 3-fold out-of-fold decision values, then the SVM fitted on
    every row); regression: on the standardized target, so ``C`` and ``epsilon`` mean the same on
    any target scale."""
    from sklearn import svm

    if ctx.classification:
        from sklearn.calibration import CalibratedClassifierCV

        return CalibratedClassifierCV(svm.SVC(C=p["svm_C"], gamma=p["svm_gamma"]), method="sigmoid", cv=3,
                                      ensemble=False)
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(svm.SVR(C=p["svm_C"], gamma=p["svm_gamma"]), transformer=StandardScaler())


def _forest(p: dict, ctx: Context) -> Any:
    from sklearn import ensemble

    cls = ensemble.RandomForestClassifier if ctx.classification else ensemble.RandomForestRegressor
    features = p["rf_max_features"]
    return cls(
        n_estimators=p["rf_n_estimators"],
        max_depth=p["rf_max_depth"],
        min_samples_leaf=p["rf_min_samples_leaf"],
        max_features=features if features == "sqrt" else float(features),
        n_jobs=ctx.n_jobs,
        random_state=ctx.seed,
    )


def _extra_trees(p: dict, ctx: Context) -> Any:
    """Extremely randomized trees: split points drawn at random, so lower variance than a random
    forest on small, noisy sets (FLAML searches them too)."""
    from sklearn import ensemble

    cls = ensemble.ExtraTreesClassifier if ctx.classification else ensemble.ExtraTreesRegressor
    features = p["et_max_features"]
    return cls(
        n_estimators=p["et_n_estimators"],
        max_depth=p["et_max_depth"],
        min_samples_leaf=p["et_min_samples_leaf"],
        max_features=features if features == "sqrt" else float(features),
        n_jobs=ctx.n_jobs,
        random_state=ctx.seed,
    )


def _hgb(p: dict, ctx: Context) -> Any:
    from sklearn import ensemble

    cls = ensemble.HistGradientBoostingClassifier if ctx.classification else ensemble.HistGradientBoostingRegressor
    return cls(
        learning_rate=p["hgb_learning_rate"],
        max_leaf_nodes=p["hgb_max_leaf_nodes"],
        min_samples_leaf=p["hgb_min_samples_leaf"],
        l2_regularization=p["hgb_l2_regularization"],
        max_iter=int(p.get("hgb_max_iter", MAX_BOOSTING_ROUNDS)),  # capped late in the budget (budget.py)
        early_stopping=True,
        n_iter_no_change=EARLY_STOPPING_ROUNDS,
        validation_fraction=0.1,
        random_state=ctx.seed,
    )


def _xgb(p: dict, ctx: Context) -> Any:
    import xgboost

    common = dict(
        n_estimators=MAX_BOOSTING_ROUNDS,
        learning_rate=p["xgb_learning_rate"],
        max_depth=p["xgb_max_depth"],
        min_child_weight=p["xgb_min_child_weight"],
        subsample=p["xgb_subsample"],
        colsample_bytree=p["xgb_colsample_bytree"],
        reg_lambda=p["xgb_reg_lambda"],
        reg_alpha=p["xgb_reg_alpha"],
        tree_method="hist",
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        n_jobs=ctx.n_jobs,
        random_state=ctx.seed,
    )
    return xgboost.XGBClassifier(**common) if ctx.classification else xgboost.XGBRegressor(**common)


def _lgbm(p: dict, ctx: Context) -> Any:
    import lightgbm

    common = dict(
        n_estimators=MAX_BOOSTING_ROUNDS,
        learning_rate=p["lgbm_learning_rate"],
        num_leaves=p["lgbm_num_leaves"],
        min_child_samples=p["lgbm_min_child_samples"],
        subsample=p["lgbm_subsample"],
        subsample_freq=1,
        colsample_bytree=p["lgbm_colsample_bytree"],
        reg_lambda=p["lgbm_reg_lambda"],
        n_jobs=ctx.n_jobs,
        random_state=ctx.seed,
        verbose=-1,
    )
    return lightgbm.LGBMClassifier(**common) if ctx.classification else lightgbm.LGBMRegressor(**common)


# Cheapest first: the search starts with every family at its library defaults, in this order.
SPECS: tuple[ModelSpec, ...] = (
    # a strongly regularized linear model too: on small sets (wine's 107 training rows) it is
    # often the best of all, and costs next to nothing
    ModelSpec("linear", "sklearn", True, _linear_space, _linear, {"linear_C": 1.0}, starts=({"linear_C": 0.1},)),
    ModelSpec("lasso", "sklearn", True, _lasso_space, _lasso, {"lasso_alpha": 1.0}, tasks=("regression",)),
    # gamma near 1 / the number of scaled columns (scikit-learn's "scale") for 10 to 60 columns
    ModelSpec("svm", "sklearn", True, _svm_space, _svm, {"svm_C": 1.0, "svm_gamma": 0.03},
              starts=({"svm_C": 10.0, "svm_gamma": 0.01}, {"svm_C": 3.0, "svm_gamma": 0.1}), max_rows=SMALL_ROWS),
    # small data: fewer leaves, smaller leaves, slower learning and row / column subsampling than
    # the library defaults (LightGBM's 20-row leaves and 31 leaves on wine's 107 training rows)
    ModelSpec("lightgbm", "lightgbm", False, _lgbm_space, _lgbm, {
        "lgbm_learning_rate": 0.1, "lgbm_num_leaves": 31, "lgbm_min_child_samples": 20,
        "lgbm_subsample": 1.0, "lgbm_colsample_bytree": 1.0, "lgbm_reg_lambda": 1e-3},
        small_starts=({"lgbm_learning_rate": 0.05, "lgbm_num_leaves": 8, "lgbm_min_child_samples": 5,
                       "lgbm_subsample": 0.8, "lgbm_colsample_bytree": 0.6, "lgbm_reg_lambda": 1.0},
                      {"lgbm_learning_rate": 0.03, "lgbm_num_leaves": 4, "lgbm_min_child_samples": 3,
                       "lgbm_subsample": 0.7, "lgbm_colsample_bytree": 0.5, "lgbm_reg_lambda": 0.1})),
    ModelSpec("hist_gradient_boosting", "sklearn", False, _hgb_space, _hgb, {
        "hgb_learning_rate": 0.1, "hgb_max_leaf_nodes": 31, "hgb_min_samples_leaf": 20,
        "hgb_l2_regularization": 1e-8}),
    ModelSpec("xgboost", "xgboost", False, _xgb_space, _xgb, {
        "xgb_learning_rate": 0.1, "xgb_max_depth": 6, "xgb_min_child_weight": 1.0, "xgb_subsample": 1.0,
        "xgb_colsample_bytree": 1.0, "xgb_reg_lambda": 1.0, "xgb_reg_alpha": 1e-8},
        small_starts=({"xgb_learning_rate": 0.05, "xgb_max_depth": 3, "xgb_min_child_weight": 1.0,
                       "xgb_subsample": 0.8, "xgb_colsample_bytree": 0.6, "xgb_reg_lambda": 1.0,
                       "xgb_reg_alpha": 1e-8},)),
    ModelSpec("random_forest", "sklearn", False, _forest_space, _forest, {
        "rf_n_estimators": 100, "rf_max_depth": 40, "rf_min_samples_leaf": 1, "rf_max_features": "sqrt"}),
    ModelSpec("extra_trees", "sklearn", False, _extra_trees_space, _extra_trees, {
        "et_n_estimators": 100, "et_max_depth": 40, "et_min_samples_leaf": 1, "et_max_features": "sqrt"}),
)
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm")
# small (cross-validated) data: the defaults tried in this order instead, the strong and cheap
# families there first: a trial costs a fit per fold, so on a loaded machine a 60 s budget may see
# only a few of them (digits: 4), and histogram gradient boosting of ten classes is the dearest
SMALL_DATA_ORDER = ("linear", "lasso", "svm", "extra_trees", "random_forest", "lightgbm", "xgboost",
                    "hist_gradient_boosting")


def available_specs(
    exclude_frameworks: list[str] | None, task: str | None = None, rows: int | None = None,
) -> list[ModelSpec]:
    """The specs of ``task`` (classification / regression; None: every one) left after
    ``exclude_frameworks`` (framework names or model names), installed only; with ``rows`` (of
    train + validation), only those whose ``max_rows`` allows that many."""
    import importlib.util

    from modelyard.exceptions import InvalidParameterValue

    excluded = set(exclude_frameworks or [])
    known = set(FRAMEWORKS) | {s.name for s in SPECS}
    unknown = sorted(excluded - known)
    if unknown:
        raise InvalidParameterValue(f"exclude_frameworks has unknown names {unknown}: use {sorted(known)}")
    specs = [
        s for s in SPECS
        if s.framework not in excluded and s.name not in excluded and (task is None or task in s.tasks)
        and importlib.util.find_spec(s.framework) is not None
        and (rows is None or s.max_rows is None or rows <= s.max_rows)
    ]
    if not specs:
        raise InvalidParameterValue(
            "no framework left to search: exclude_frameworks removed every installed one "
            "(pip install 'modelyard[automl,xgboost,lightgbm]')"
        )
    return specs


def spec_named(name: str) -> ModelSpec:
    return next(s for s in SPECS if s.name == name)


# -- fitting ----------------------------------------------------------------------------------------------
class _Reporter:
    """Reports the validation loss to Optuna every few rounds (sign-adjusted to the study's
    direction) and stops training at the search's deadline."""

    def __init__(self, trial: Any, maximize: bool, deadline: float | None) -> None:
        self.trial, self.sign, self.deadline = trial, (-1.0 if maximize else 1.0), deadline

    def step(self, iteration: int, loss: float) -> bool:
        """True when training must stop now (deadline); raises TrialPruned when unpromising."""
        if self.trial is not None and iteration % REPORT_EVERY == 0:
            import optuna

            self.trial.report(self.sign * loss, iteration)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at round {iteration}")
        return self.deadline is not None and time.time() > self.deadline


def fit(
    spec: ModelSpec, estimator: Any, X: Any, y: Any, X_val: Any, y_val: Any, sample_weight: Any,
    trial: Any = None, maximize: bool = True, deadline: float | None = None,
) -> dict:
    """Fit ``estimator`` in place; returns what was learnt beyond the params (``best_iteration``)."""
    reporter = _Reporter(trial, maximize, deadline)
    if spec.framework == "xgboost":
        import xgboost

        class _Callback(xgboost.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                scores = next(iter(evals_log.get("validation_0", {}).values()), None)
                return bool(scores) and reporter.step(epoch, float(scores[-1]))

        estimator.set_params(callbacks=[_Callback()])
        estimator.fit(X, y, sample_weight=sample_weight, eval_set=[(X_val, y_val)], verbose=False)
        estimator.set_params(callbacks=None)  # the logged model carries no closure
        return {"best_iteration": int(estimator.best_iteration) + 1}
    if spec.framework == "lightgbm":
        import lightgbm

        def callback(env) -> None:
            if env.evaluation_result_list and reporter.step(env.iteration, float(env.evaluation_result_list[0][2])):
                raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

        import inspect

        # LightGBM 4.7 renamed eval_set to eval_X / eval_y (the old name warns)
        evals = (
            {"eval_X": (X_val,), "eval_y": (y_val,)}
            if "eval_X" in inspect.signature(estimator.fit).parameters
            else {"eval_set": [(X_val, y_val)]}
        )
        estimator.fit(
            X, y, sample_weight=sample_weight,
            callbacks=[lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), callback], **evals,
        )
        return {"best_iteration": int(estimator.best_iteration_ or estimator.n_estimators)}
    if spec.name in CHUNKED and deadline is not None:
        return _fit_in_chunks(spec.name, estimator, X, y, sample_weight, deadline)
    if spec.name in ITERATIVE and deadline is not None and _iterative(estimator):
        return _fit_iterations(spec.name, estimator, X, y, sample_weight, deadline)
    estimator.fit(X, y, sample_weight=sample_weight)
    if spec.name == "hist_gradient_boosting":
        return {"best_iteration": int(estimator.n_iter_)}
    return {}


# scikit-learn ensembles that grow with warm_start: (the parameter counting trees / rounds, a chunk,
# the first chunk). The first is small: it times one tree / round before the fit commits to more.
CHUNKED = {
    "random_forest": ("n_estimators", 20, 5),
    "extra_trees": ("n_estimators", 20, 5),
    "hist_gradient_boosting": ("max_iter", 50, 10),
}


def _fit_in_chunks(name: str, estimator: Any, X: Any, y: Any, sample_weight: Any, deadline: float) -> dict:
    """A forest or a histogram gradient boosting grown a chunk at a time (``warm_start``; a forest
    is the one a single fit makes, the same random draws; boosting's early stopping restarts its
    patience at a chunk's end, so it may run a few more rounds), stopping at the deadline: these
    fits cannot be interrupted otherwise. After the small first chunk each chunk is sized from the
    time a tree / round took so far, so that it ends before the deadline, and the fit stops when not
    even one more fits. Returns the trees / rounds grown."""
    key, chunk, first = CHUNKED[name]
    total = int(estimator.get_params()[key])
    estimator.set_params(warm_start=True)
    grown, step, started = 0, first, time.time()
    try:
        while grown < total:
            grown = min(total, grown + step)
            estimator.set_params(**{key: grown})
            estimator.fit(X, y, sample_weight=sample_weight)
            if name == "hist_gradient_boosting" and estimator.n_iter_ < grown:  # early stopping ended it
                break
            now = time.time()
            per_unit = (now - started) / grown
            fits = int((deadline - now) / per_unit) if per_unit > 0 else chunk
            if fits < 1:
                break
            step = min(chunk, fits)
    finally:
        estimator.set_params(warm_start=False)
    if name == "hist_gradient_boosting":
        estimator.set_params(max_iter=total)
        return {"best_iteration": int(estimator.n_iter_)}
    return {"n_estimators": grown} if grown < total else {}


# linear models solved iteratively, resumable with warm_start (the coefficients of the last fit are
# the next one's start): their iterations, run a chunk at a time. Ridge is solved in closed form
# (one fit, bounded by the family's time estimate in budget.py).
ITERATIVE = {"linear": 100, "lasso": 200}


def _iterative(estimator: Any) -> bool:
    """LogisticRegression (lbfgs) and Lasso resume from their coefficients; Ridge has no iterations."""
    params = estimator.get_params()
    return "warm_start" in params and "max_iter" in params


def _fit_iterations(name: str, estimator: Any, X: Any, y: Any, sample_weight: Any, deadline: float) -> dict:
    """A linear model's solver run ``ITERATIVE[name]`` iterations at a time from the last fit's
    coefficients (``warm_start``), stopping once it converges or the deadline has passed: a single
    fit of up to ``max_iter`` iterations cannot be interrupted. A fit the deadline cut short keeps
    the coefficients it reached (``stopped_at_iteration`` in what it learnt)."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    chunk = ITERATIVE[name]
    total = int(estimator.get_params()["max_iter"])
    estimator.set_params(warm_start=True, max_iter=min(chunk, total))
    done, converged = 0, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a chunk ending is not a failure to converge
            while done < total:
                step = min(chunk, total - done)
                estimator.set_params(max_iter=step)
                estimator.fit(X, y, sample_weight=sample_weight)
                ran = int(np.max(estimator.n_iter_))
                done += ran
                if ran < step:
                    converged = True
                    break
                if time.time() > deadline:
                    break
    finally:
        estimator.set_params(warm_start=False, max_iter=total)
    if converged or done >= total:
        return {}
    return {"stopped_at_iteration": done}
