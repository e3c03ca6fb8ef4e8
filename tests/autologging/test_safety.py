"""The never-break guarantees: the user's call is unchanged whatever autologging does."""

import logging
import threading
import warnings

import lightgbm
import numpy as np
import pytest
import sklearn.metrics
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._available_if import available_if

import modelyard
from modelyard.autologging import estimators, safety
from modelyard.autologging import sklearn as sklearn_integration


def snapshot(owners_and_names):
    return {(owner, name): vars(owner).get(name, "<inherited>") for owner, name in owners_and_names}


def test_disable_restores_every_original_exactly():
    targets = [(cls, m) for cls in sklearn_integration.estimator_classes() for m in ("fit", "fit_transform", "fit_predict", "predict", "predict_proba", "transform", "score")]
    targets += [(sklearn.metrics, name) for name in sklearn.metrics.__all__]
    targets += [(xgboost, "train"), (lightgbm, "train")]
    targets += [(xgboost.sklearn.XGBClassifier, "fit"), (xgboost.sklearn.XGBRegressor, "fit"), (xgboost.sklearn.XGBModel, "fit")]
    targets += [(lightgbm.LGBMClassifier, "fit"), (lightgbm.LGBMRegressor, "fit"), (lightgbm.LGBMModel, "fit")]
    before = snapshot(targets)
    original_train = xgboost.train

    modelyard.autolog()
    assert xgboost.train is not original_train
    assert LogisticRegression.fit.__wrapped__ is before[(LogisticRegression, "fit")]
    assert "fit" not in vars(xgboost.sklearn.XGBRegressor)  # inherits XGBModel's patched fit
    assert xgboost.sklearn.XGBRegressor.fit.__modelyard_autolog__ == "xgboost"
    assert "fit" in vars(LogisticRegression) and "fit_transform" in vars(StandardScaler)
    assert snapshot(targets) != before

    modelyard.autolog(disable=True)
    after = snapshot(targets)
    changed = [key for key in targets if after[key] is not before[key]]
    assert changed == []
    assert xgboost.train is original_train
    assert safety.patched_count("sklearn") == safety.patched_count("xgboost") == safety.patched_count("lightgbm") == 0


class _Base:
    def fit(self, X):
        return "base"


class _Child(_Base):
    @staticmethod
    def helper():
        return "static"

    def _has(self):
        return True

    @available_if(_has)
    def maybe(self):
        return "maybe"


def test_patch_and_revert_plain_inherited_static_and_available_if():
    originals = {name: vars(_Child).get(name) for name in ("fit", "helper", "maybe")}
    base_fit = _Base.__dict__["fit"]

    def wrap(fn):
        def wrapper(*args, **kwargs):
            return ("wrapped", fn(*args, **kwargs))

        return wrapper

    for name in ("fit", "helper", "maybe"):
        assert safety.patch("testing", _Child, name, wrap)
    assert not safety.patch("testing", _Child, "fit", wrap)  # already patched: not twice
    assert not safety.patch("testing", _Child, "no_such_method", wrap)
    assert (_Child().fit(1), _Child.helper(), _Child().maybe()) == (("wrapped", "base"), ("wrapped", "static"), ("wrapped", "maybe"))
    safety.revert("testing")
    assert vars(_Child).get("fit") is None and _Child.fit is base_fit
    assert vars(_Child)["helper"] is originals["helper"]
    assert vars(_Child)["maybe"] is originals["maybe"]
    assert (_Child().fit(1), _Child.helper(), _Child().maybe()) == ("base", "static", "maybe")


def test_available_if_keeps_its_availability_check():
    modelyard.sklearn.autolog(log_models=False)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    assert not hasattr(pipe, "fit_transform")  # the last step has no transform: still unavailable
    assert hasattr(Pipeline([("scale", StandardScaler())]), "fit_transform")


def test_users_exception_propagates_unchanged_and_the_run_fails(classification, only_run):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    with pytest.raises(ValueError) as patched_error:
        LogisticRegression(C=-1.0).fit(X, y)
    modelyard.sklearn.autolog(disable=True)
    with pytest.raises(ValueError) as plain_error:
        LogisticRegression(C=-1.0).fit(X, y)
    assert type(patched_error.value) is type(plain_error.value)
    assert str(patched_error.value) == str(plain_error.value)
    run = only_run()
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "-1.0"  # what was logged before the failure is kept
    assert modelyard.active_run() is None


def test_exception_from_a_users_callback_is_the_same_object(classification, only_run):
    X, y = classification
    error = RuntimeError("stop here")

    class Boom(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            raise error

    modelyard.xgboost.autolog(log_models=False)
    with pytest.raises(RuntimeError) as raised:
        xgboost.train({}, xgboost.DMatrix(X, y), 3, callbacks=[Boom()])
    assert raised.value is error
    assert only_run().info.status == "FAILED"


def test_keyboard_interrupt_kills_the_run(classification, only_run):
    X, y = classification

    def interrupt(env):
        raise KeyboardInterrupt

    modelyard.lightgbm.autolog(log_models=False)
    with pytest.raises(KeyboardInterrupt):
        lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), 3, callbacks=[interrupt])
    assert only_run().info.status == "KILLED"


def test_failure_after_training_is_a_warning_and_the_fit_is_intact(classification, only_run, lenient, monkeypatch):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("metrics are broken")

    monkeypatch.setattr(estimators, "training_metrics", broken)
    with pytest.warns(safety.AutologgingWarning, match="ZeroDivisionError: metrics are broken"):
        model = LogisticRegression().fit(X, y)
    run = only_run()
    modelyard.sklearn.autolog(disable=True)
    plain = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, plain.coef_)
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "1.0"


def test_failure_before_training_calls_the_original_with_the_users_arguments(classification, lenient, monkeypatch):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    monkeypatch.setattr(estimators, "log_pretraining", lambda *a: 1 / 0)
    with pytest.warns(safety.AutologgingWarning, match="preparing to log"):
        model = LogisticRegression().fit(X, y)
    assert model.score(X, y) > 0.7


def test_store_down_when_starting_the_run(classification, lenient, monkeypatch):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)

    def unavailable(*args, **kwargs):
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(modelyard.tracking.fluent, "start_run", unavailable)
    with pytest.warns(safety.AutologgingWarning, match="starting a run: ConnectionError"):
        model = LogisticRegression().fit(X, y)
    assert hasattr(model, "coef_")
    assert modelyard.active_run() is None


def test_failing_callback_does_not_stop_training(classification, only_run, lenient, monkeypatch):
    X, y = classification
    modelyard.xgboost.autolog(log_models=False)
    monkeypatch.setattr(modelyard.autologging.batch.RunBatch, "log_metric", lambda *a, **k: 1 / 0)
    dtrain = xgboost.DMatrix(X, y)
    with pytest.warns(safety.AutologgingWarning, match="evaluation metrics") as record:
        booster = xgboost.train({"objective": "binary:logistic"}, dtrain, 7, evals=[(dtrain, "train")], verbose_eval=False)
    assert booster.num_boosted_rounds() == 7
    assert len([w for w in record if issubclass(w.category, safety.AutologgingWarning)]) == 1  # once, not per round
    assert only_run().info.status == "FINISHED"


def test_silent_logs_instead_of_warning(classification, lenient, monkeypatch, caplog):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False, silent=True)
    monkeypatch.setattr(estimators, "training_metrics", lambda *a: 1 / 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG, logger="modelyard.autologging.safety"):
            LogisticRegression().fit(X, y)
    assert "ZeroDivisionError" in caplog.text


def test_warnings_as_errors_still_do_not_break_the_fit(classification, lenient, monkeypatch, caplog):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    monkeypatch.setattr(estimators, "training_metrics", lambda *a: 1 / 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticRegression().fit(X, y)
    assert hasattr(model, "coef_")
    assert "autologging failed while computing training metrics" in caplog.text


def test_fit_returns_what_the_original_returns(classification):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    model = LogisticRegression()
    assert model.fit(X, y) is model
    scaled = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(scaled, StandardScaler().fit(X).transform(X))


def test_nested_fits_log_once(classification, runs):
    X, y = classification
    modelyard.autolog(log_models=False)
    Pipeline([("scale", StandardScaler()), ("xgb", xgboost.XGBClassifier(n_estimators=3))]).fit(X, y)
    [run] = runs()
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.tags["mlflow.autologging"] == "sklearn"


def test_active_run_is_used_and_left_open_and_exclusive_skips_it(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    with modelyard.start_run() as run:
        LogisticRegression().fit(X, y)
        assert modelyard.active_run().info.run_id == run.info.run_id
        assert modelyard.get_run(run.info.run_id).info.status == "RUNNING"
    logged = modelyard.get_run(run.info.run_id)
    assert "training_accuracy_score" in logged.data.metrics
    assert "mlflow.autologging" not in logged.data.tags  # only runs autologging created get the tag

    modelyard.sklearn.autolog(log_models=False, exclusive=True)
    with modelyard.start_run() as user_run:
        LogisticRegression().fit(X, y)
    assert modelyard.get_run(user_run.info.run_id).data.metrics == {}
    assert len(runs()) == 2


def test_concurrent_fits_in_threads_get_their_own_runs(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    errors = []

    def train(c):
        try:
            LogisticRegression(C=c).fit(X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train, args=(c,)) for c in (0.1, 0.2, 0.3, 0.4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = runs()
    assert sorted(r.data.params["C"] for r in found) == ["0.1", "0.2", "0.3", "0.4"]
    assert all(r.info.status == "FINISHED" and "training_accuracy_score" in r.data.metrics for r in found)


def test_user_estimator_subclass_is_autologged_once(classification, only_run):
    class MyModel(LogisticRegression):
        def fit(self, X, y):
            return super().fit(X, y)

    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    MyModel().fit(X, y)  # its fit is not patched; the inherited one is, once
    assert only_run().data.tags["estimator_name"] == "MyModel"

