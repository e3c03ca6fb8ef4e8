"""The generated Python script that reproduces the best trial with plain libraries.

Databricks AutoML generates notebooks; a script is what a user can run, read and edit. It reads
the search's own splits (logged on the parent run under ``data/``), rebuilds the same
preprocessing and the same estimator with the trial's hyperparameters (boosted trees with the
number of rounds early stopping chose), fits on the training split (train + validation when the
search was cross-validated, as its trials' models) and prints the test metrics.
"""

from __future__ import annotations

from modelyard.automl import preprocess, space
from modelyard.automl.trial import SearchConfig, needs_codes

_ES_PARAMS = {"xgboost": ("early_stopping_rounds",), "lightgbm": ()}


def estimator_code(config: SearchConfig, model: str, params: dict, learnt: dict) -> tuple[str, str]:
    """``(import line, constructor expression)`` of the trial's estimator, non-default params only."""
    spec = space.spec_named(model)
    estimator = spec.build(params, space.Context(config.classification, len(config.classes), config.seed, config.n_jobs))
    cls = type(estimator)
    chosen = estimator.get_params(deep=False)
    if spec.framework in ("xgboost", "lightgbm") and learnt.get("best_iteration"):
        chosen["n_estimators"] = int(learnt["best_iteration"])
        for key in _ES_PARAMS[spec.framework]:
            chosen[key] = None
    if learnt.get("n_estimators"):  # a forest the deadline stopped
        chosen["n_estimators"] = int(learnt["n_estimators"])
    if learnt.get("stopped_at_iteration"):  # a linear model the deadline stopped
        chosen["max_iter"] = int(learnt["stopped_at_iteration"])
    defaults = cls().get_params(deep=False)
    kwargs = {k: v for k, v in chosen.items() if k in defaults and not _same(defaults[k], v) and k != "callbacks"}
    module = ".".join(p for p in cls.__module__.split(".") if not p.startswith("_"))  # sklearn.ensemble
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
    imports = f"from {module} import {cls.__name__}"
    if model == "svm":  # SVC(...) / SVR(...) inside CalibratedClassifierCV(...) / TransformedTargetRegressor(...)
        imports += "\nfrom sklearn.svm import SVC, SVR"
    return imports, f"{cls.__name__}({args})"


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)  # NaN == NaN here


def generate(config: SearchConfig, trial_number: int, model: str, params: dict, learnt: dict, metrics: dict) -> str:
    imports, constructor = estimator_code(config, model, params, learnt)
    plan = config.column_plan
    spec = space.spec_named(model)
    decode = needs_codes(config, spec)
    balanced = params.get("class_weight") == "balanced"
    val_metric = metrics.get(f"val_{config.primary_metric}")
    lines = [
        f'"""Reproduces trial {trial_number} of the AutoML search of run {config.parent_run_id} ({model}).',
        "",
        f"Validation {config.primary_metric}: {val_metric!r}. The splits are the search's own, logged on its parent",
        "run under data/:",
        f"    modelyard artifacts download --run-id {config.parent_run_id} --artifact-path data --dst-path .",
        "    python reproduce_best_trial.py data",
        '"""',
        "",
        "import sys",
        "",
        "import numpy as np",
        "import pandas as pd",
        "from sklearn import metrics",
        "from sklearn.compose import ColumnTransformer",
        "from sklearn.impute import SimpleImputer",
        "from sklearn.model_selection import KFold, StratifiedKFold",
        "from sklearn.pipeline import Pipeline",
        "from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder",
        imports,
        "",
        'DATA_DIR = sys.argv[1] if len(sys.argv) > 1 else "data"',
        f"TARGET = {config.target_col!r}",
        f"NUMERIC = {plan.numeric!r}",
        f"CATEGORICAL = {plan.categorical!r}",
        f"HIGH_CARDINALITY = {plan.high_cardinality!r}",
        "FEATURES = NUMERIC + CATEGORICAL + HIGH_CARDINALITY",
        "",
        'train = pd.read_parquet(f"{DATA_DIR}/train.parquet")',
        'test = pd.read_parquet(f"{DATA_DIR}/test.parquet")',
    ]
    if config.cv_folds:  # a cross-validated search: the trial's model is fitted on train + validation
        lines.append('train = pd.concat([train, pd.read_parquet(f"{DATA_DIR}/val.parquet")], ignore_index=True)')
    lines += [
        "",
        "parts = []",
        "if NUMERIC:",
        '    numeric = [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))]',
    ]
    if spec.scale:
        lines.append('    numeric.append(("scale", StandardScaler()))')
    lines += [
        '    parts.append(("numeric", Pipeline(numeric), NUMERIC))',
        "if CATEGORICAL:",
        '    categorical = [("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),',
        '                   ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]',
        '    parts.append(("categorical", Pipeline(categorical), CATEGORICAL))',
        "if HIGH_CARDINALITY:",
        '    high = [("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),',
        f'            ("encode", {preprocess.target_encoder_code(config.classification)})]',
    ]
    if spec.scale:
        lines.append('    high.append(("scale", StandardScaler()))')
    lines += [
        '    parts.append(("high_cardinality", Pipeline(high), HIGH_CARDINALITY))',
        'preprocess = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)',
        f"model = {constructor}",
        'pipeline = Pipeline([("preprocess", preprocess), ("model", model)])',
        "",
        "y = train[TARGET]",
    ]
    if decode:
        lines += [f"CLASSES = np.asarray({list(config.classes)!r})", "y = np.searchsorted(CLASSES, y)"]
    fit_kwargs = ""
    if balanced:
        lines.append("from sklearn.utils.class_weight import compute_sample_weight")
        fit_kwargs = ', model__sample_weight=compute_sample_weight("balanced", y)'
    lines.append(f"pipeline.fit(train[FEATURES], y{fit_kwargs})")
    lines.append("predicted = pipeline.predict(test[FEATURES])")
    if decode:
        lines.append("predicted = CLASSES[predicted]")
    if config.classification:
        average = f"pos_label={config.pos_label!r}" if len(config.classes) == 2 else 'average="weighted"'
        lines += [
            'print("test accuracy:", metrics.accuracy_score(test[TARGET], predicted))',
            f'print("test f1:", metrics.f1_score(test[TARGET], predicted, {average}))',
        ]
    else:
        lines += [
            'print("test r2:", metrics.r2_score(test[TARGET], predicted))',
            'print("test rmse:", float(np.sqrt(metrics.mean_squared_error(test[TARGET], predicted))))',
        ]
    return "\n".join(lines) + "\n"
