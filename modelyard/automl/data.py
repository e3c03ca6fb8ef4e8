"""The data side of an AutoML search: checking the input, the train/validation/test split, the profile.

The split is 60/20/20, stratified on the target for classification, or time-ordered (oldest rows
train, newest rows test) when ``time_col`` is given — the same three frames are used by every
trial, by the generated reproduction script and by the benchmark against FLAML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2
SPLIT_SEED = 42


@dataclass
class Splits:
    """The three frames (features and target together), as every trial sees them."""

    train: Any
    val: Any
    test: Any


def to_pandas(dataset: Any) -> Any:
    """A pandas DataFrame from pandas, a Spark DataFrame, or anything with ``to_pandas``/``toPandas``."""
    import pandas as pd

    if isinstance(dataset, pd.DataFrame):
        return dataset
    for method in ("toPandas", "to_pandas", "load_df"):
        convert = getattr(dataset, method, None)
        if callable(convert):
            frame = convert()
            if hasattr(frame, "toPandas"):  # a training set's load_df() may return a Spark frame
                frame = frame.toPandas()
            if isinstance(frame, pd.DataFrame):
                return frame
    raise InvalidParameterValue(
        f"dataset must be a pandas DataFrame, a Spark DataFrame or a training set, not {type(dataset).__name__}"
    )


def prepare(
    dataset: Any, target_col: str, *, exclude_cols: list[str] | None, time_col: str | None, classification: bool,
    split_col: str | None = None,
) -> Any:
    """The frame the search uses: checked, without excluded columns, rows with no target dropped."""
    frame = to_pandas(dataset)
    if not isinstance(target_col, str) or target_col not in frame.columns:
        raise InvalidParameterValue(f"target_col {target_col!r} is not a column of the dataset")
    for name, value in (("exclude_cols", exclude_cols or []),):
        missing = [c for c in value if c not in frame.columns]
        if missing:
            raise InvalidParameterValue(f"{name} names columns that are not in the dataset: {missing}")
    if target_col in (exclude_cols or []):
        raise InvalidParameterValue("exclude_cols must not contain target_col")
    if time_col is not None and time_col not in frame.columns:
        raise InvalidParameterValue(f"time_col {time_col!r} is not a column of the dataset")
    if split_col is not None:
        if split_col in (target_col, time_col) or split_col in (exclude_cols or []):
            raise InvalidParameterValue("split_col must be a column of its own (not the target, time or excluded)")
        check_split_col(frame, split_col)
    frame = frame.drop(columns=list(exclude_cols or []))
    frame = frame[frame[target_col].notna()].reset_index(drop=True)
    for column in frame.columns:  # category dtype -> object: one code path for imputation and encoding
        if str(frame[column].dtype) == "category":
            frame[column] = frame[column].astype(object)
    if len(frame) < 20:
        raise InvalidParameterValue(f"the dataset has {len(frame)} labelled rows; AutoML needs at least 20")
    if classification:
        counts = frame[target_col].value_counts()
        if len(counts) < 2:
            raise InvalidParameterValue(f"target_col {target_col!r} has a single class: nothing to classify")
    return frame


SPLIT_VALUES = {"train": "train", "validate": "val", "val": "val", "test": "test"}


def check_split_col(frame: Any, split_col: str) -> None:
    """``split_col`` (Databricks AutoML's): a column of train / validate / test, each present."""
    if split_col not in frame.columns:
        raise InvalidParameterValue(f"split_col {split_col!r} is not a column of the dataset")
    values = set(frame[split_col].dropna().astype(str).str.lower())
    unknown = sorted(values - set(SPLIT_VALUES))
    if unknown or frame[split_col].isna().any():
        raise InvalidParameterValue(f"split_col {split_col!r} must hold train, validate or test on every row; "
                                    f"found {unknown or 'empty values'}")
    missing = sorted({"train", "val", "test"} - {SPLIT_VALUES[v] for v in values})
    if missing:
        raise InvalidParameterValue(f"split_col {split_col!r} has no {', '.join(missing)} rows")


def split(frame: Any, target_col: str, *, time_col: str | None, classification: bool,
          split_col: str | None = None, seed: int = SPLIT_SEED) -> Splits:
    """60/20/20; stratified for classification (classes too rare to stratify are kept in train);
    or the user's own split: ``split_col`` says train / validate / test per row (the column is dropped)."""
    from sklearn.model_selection import train_test_split

    if split_col is not None:
        parts = frame[split_col].astype(str).str.lower().map(SPLIT_VALUES)
        rest = frame.drop(columns=[split_col])
        return Splits(*(rest[(parts == p).to_numpy()] for p in ("train", "val", "test")))

    if time_col is not None:
        ordered = frame.sort_values(time_col, kind="stable").reset_index(drop=True)
        n = len(ordered)
        a = int(round(n * (1 - VALIDATION_FRACTION - TEST_FRACTION)))
        b = int(round(n * (1 - TEST_FRACTION)))
        return Splits(ordered.iloc[:a], ordered.iloc[a:b], ordered.iloc[b:])
    stratify = None
    if classification:
        counts = frame[target_col].value_counts()
        if counts.min() >= 3:
            stratify = frame[target_col]
    rest, test = train_test_split(
        frame, test_size=TEST_FRACTION, random_state=seed, stratify=stratify
    )
    stratify = rest[target_col] if stratify is not None else None
    train, val = train_test_split(
        rest, test_size=VALIDATION_FRACTION / (1 - TEST_FRACTION), random_state=seed, stratify=stratify
    )
    return Splits(train, val, test)


def profile(frame: Any, target_col: str, classification: bool) -> dict:
    """Types, missing values, cardinality per column; class balance or target distribution."""
    columns = {}
    for column in frame.columns:
        series = frame[column]
        columns[str(column)] = {
            "dtype": str(series.dtype),
            "missing": int(series.isna().sum()),
            "missing_fraction": round(float(series.isna().mean()), 6),
            "cardinality": int(series.nunique(dropna=True)),
        }
    target = frame[target_col]
    out: dict = {"rows": int(len(frame)), "columns": columns, "target_col": target_col}
    if classification:
        counts = target.value_counts()
        out["class_balance"] = {str(k): int(v) for k, v in counts.items()}
        out["minority_class_fraction"] = round(float(counts.min() / counts.sum()), 6)
    else:
        described = target.astype(float).describe()
        out["target_distribution"] = {str(k): float(v) for k, v in described.items()}
    return out
