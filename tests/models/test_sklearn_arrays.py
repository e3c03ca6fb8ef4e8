"""The scikit-learn flavor hands numeric frames to the estimator as arrays: same predictions, no warning.

Each case compares ``SklearnPredictor.predict`` with the estimator called directly on the same
DataFrame, with every warning turned into an error (scikit-learn's "X does not have valid feature
names" would be one), and checks whether the array path was taken where it should be and not
where a DataFrame is required (columns selected by name, categorical or string columns).
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import modelyard as my
from modelyard.flavors.sklearn import SklearnPredictor

N = 300


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.standard_normal((N, 4)), columns=["a", "b", "c", "d"])
    frame["n"] = rng.integers(0, 5, N)  # an int column beside floats
    y = (frame["a"] + frame["n"] > 2).astype("int64")
    return frame, y


def _calls_arrays(predictor: SklearnPredictor, frame: pd.DataFrame) -> bool:
    return predictor._arrays.applies(frame)


def _same(est, frame, predict_fn="predict", expect_arrays=True):
    predictor = SklearnPredictor(est, predict_fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for rows in (frame.iloc[:1], frame.iloc[:7], frame):
            assert _calls_arrays(predictor, rows) is expect_arrays
            ours = predictor.predict(rows)
            theirs = getattr(est, predict_fn)(rows)
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    return predictor


@pytest.mark.parametrize(
    "make, predict_fn",
    [
        (lambda: LogisticRegression(max_iter=500), "predict"),
        (lambda: LogisticRegression(max_iter=500), "predict_proba"),
        (lambda: LinearRegression(), "predict"),
        (lambda: RandomForestClassifier(n_estimators=5, random_state=0), "predict_proba"),
        (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "predict_proba"),
    ],
)
def test_plain_estimators_and_pipelines_take_arrays_with_identical_results(data, make, predict_fn):
    frame, y = data
    est = make().fit(frame, y)
    _same(est, frame, predict_fn)
    assert list(est.feature_names_in_) == list(frame.columns)  # the loaded estimator is untouched


def test_reordered_or_missing_columns_keep_the_frame_and_sklearns_own_error(data):
    frame, y = data
    est = LogisticRegression(max_iter=500).fit(frame, y)
    predictor = SklearnPredictor(est)
    reordered = frame[["b", "a", "c", "d", "n"]]
    assert not _calls_arrays(predictor, reordered)
    with pytest.raises(ValueError, match="feature names"):
        predictor.predict(reordered)
    assert not _calls_arrays(predictor, frame.drop(columns="d"))
    with pytest.raises(ValueError):
        predictor.predict(frame.drop(columns="d"))


def test_a_column_transformer_selecting_by_name_keeps_getting_the_frame(data):
    frame, y = data
    mixed = frame.assign(color=np.where(frame["b"] > 0, "red", "blue"))
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["color"]), (StandardScaler(), ["a", "b", "c"])),
        LogisticRegression(max_iter=500),
    ).fit(mixed, y)
    _same(pipe, mixed, "predict_proba", expect_arrays=False)
    numeric_only = make_pipeline(
        ColumnTransformer([("s", StandardScaler(), ["a", "c"])]), LogisticRegression(max_iter=500)
    ).fit(frame, y)
    _same(numeric_only, frame, expect_arrays=False)  # numeric, but the columns are picked by name


def test_function_transformers_and_string_or_categorical_columns_keep_the_frame(data):
    frame, y = data
    picker = make_pipeline(FunctionTransformer(lambda df: df[["a", "n"]]), LogisticRegression()).fit(frame, y)
    _same(picker, frame, expect_arrays=False)
    cats = frame.assign(n=frame["n"].astype("category"))
    hgb = HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype").fit(cats, y)
    _same(hgb, cats, "predict_proba", expect_arrays=False)  # categories come from the dtype
    _same(hgb, frame.assign(n=frame["n"].astype("category")), expect_arrays=False)
    strings = frame.assign(n=frame["n"].astype(str))
    assert not _calls_arrays(SklearnPredictor(hgb), strings)


def test_without_feature_names_or_with_pandas_output_nothing_changes(data):
    frame, y = data
    on_arrays = LogisticRegression(max_iter=500).fit(frame.to_numpy(), y)
    assert SklearnPredictor(on_arrays)._arrays.names is None
    pandas_out = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).set_output(transform="pandas")
    pandas_out.fit(frame, y)
    _same(pandas_out, frame, expect_arrays=False)


def test_threads_share_the_array_path(data):
    frame, y = data
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, y)
    predictor = SklearnPredictor(est, "predict_proba")
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(40):
                start = (offset * 7 + i) % (N - 5)
                rows = frame.iloc[start : start + 5]
                np.testing.assert_array_equal(predictor.predict(rows), est.predict_proba(rows))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_a_saved_model_predicts_the_same_through_pyfunc(tmp_path, data):
    frame, y = data
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, y)
    my.sklearn.save_model(est, tmp_path / "m", input_example=frame.iloc[:3])
    loaded = my.pyfunc.load_model(str(tmp_path / "m"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(np.asarray(loaded.predict(frame)), est.predict(frame))
        np.testing.assert_array_equal(np.asarray(loaded.predict(frame.iloc[:1])), est.predict(frame.iloc[:1]))
