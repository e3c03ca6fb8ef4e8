"""The preprocessing pipeline, inferred from the column types of the training frame.

- numeric and boolean columns: median imputation (plus a missing-indicator column when values are
  missing), standard scaling for linear models only (trees do not care);
- categorical columns with at most ``ONE_HOT_MAX`` values: constant imputation, one-hot encoding
  (unknown values at predict time ignored);
- categorical columns with more values: target encoding (scikit-learn's cross-fitted
  ``TargetEncoder``), so a thousand-valued column costs one feature, not a thousand;
- identifier-like columns (a distinct text value on almost every row) and date/time columns are
  dropped: they generalise badly. ``ColumnPlan`` says which column went where, for the profile.

Only scikit-learn's own transformers are used, so the logged pipeline loads with plain libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ONE_HOT_MAX = 20
ID_LIKE_FRACTION = 0.9


@dataclass
class ColumnPlan:
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.high_cardinality]

    def to_dict(self) -> dict:
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "high_cardinality": self.high_cardinality,
            "dropped": self.dropped,
        }


def plan_columns(frame: Any, target_col: str, time_col: str | None = None) -> ColumnPlan:
    import pandas as pd

    plan = ColumnPlan()
    rows = max(len(frame), 1)
    for column in frame.columns:
        if column == target_col:
            continue
        series = frame[column]
        name = str(column)
        if column == time_col:
            plan.dropped[name] = "time_col (used for the split)"
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            if series.notna().sum() == 0:
                plan.dropped[name] = "no values"
            else:
                plan.numeric.append(name)
        elif pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
            plan.dropped[name] = "date/time column"
        else:
            distinct = series.nunique(dropna=True)
            if distinct <= 1:
                plan.dropped[name] = "constant"
            elif distinct <= ONE_HOT_MAX:
                plan.categorical.append(name)
            elif distinct >= ID_LIKE_FRACTION * rows and rows >= 50:
                plan.dropped[name] = "identifier-like (a distinct value on almost every row)"
            else:
                plan.high_cardinality.append(name)
    if not plan.features:
        raise_no_features(plan)
    return plan


def raise_no_features(plan: ColumnPlan) -> None:
    from modelyard.exceptions import InvalidParameterValue

    raise InvalidParameterValue(f"no usable feature column: {plan.dropped or 'the dataset has only the target'}")


def build(plan: ColumnPlan, *, scale: bool, classification: bool) -> Any:
    """A fresh (unfitted) ``ColumnTransformer`` for ``plan``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if plan.numeric:
        steps = [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), list(plan.numeric)))
    if plan.categorical:
        steps = [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
        parts.append(("categorical", Pipeline(steps), list(plan.categorical)))
    if plan.high_cardinality:
        steps = [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", target_encoder(classification)),
        ]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("high_cardinality", Pipeline(steps), list(plan.high_cardinality)))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)


def target_encoder_code(classification: bool) -> str:
    """The ``TargetEncoder(...)`` expression with a seeded cross-fitting split (also written into
    the reproduction script). scikit-learn 1.9 takes the splitter as ``cv``; older versions a seed."""
    import sklearn

    if _version(sklearn.__version__) >= (1, 9):
        splitter = "StratifiedKFold" if classification else "KFold"
        return f'TargetEncoder(target_type="auto", cv={splitter}(5, shuffle=True, random_state=0))'
    return 'TargetEncoder(target_type="auto", random_state=0)'


def target_encoder(classification: bool) -> Any:
    import sklearn
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import TargetEncoder

    if _version(sklearn.__version__) >= (1, 9):
        splitter = StratifiedKFold if classification else KFold
        return TargetEncoder(target_type="auto", cv=splitter(5, shuffle=True, random_state=0))
    return TargetEncoder(target_type="auto", random_state=0)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)
