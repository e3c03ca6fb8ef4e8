"""The search's cheap tracking and its time budget: trial models written by the background
writer (a bounded queue, drained at the end, each model an output of its trial's run), and the
bounds put on fits that cannot be interrupted."""

from types import SimpleNamespace

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import modelyard
from modelyard.automl.budget import MIN_UNITS, Estimates
from modelyard.automl.writer import ModelJob, ModelWriter


def _fit(seconds_learnt: dict | None = None):
    return SimpleNamespace(learnt=seconds_learnt or {})


def test_a_family_not_seen_yet_runs_as_drawn():
    assert Estimates().bound("random_forest", {"rf_n_estimators": 400}, 0.5) == {"rf_n_estimators": 400}
    assert Estimates().bound("linear", {"linear_C": 1.0}, None) == {"linear_C": 1.0}
    assert Estimates().bound("linear", {"linear_C": 1.0}, -1.0) is None  # no time at all


def test_a_forest_gets_the_trees_that_fit_in_the_time_left():
    est = Estimates()
    est.observe("random_forest", {"rf_n_estimators": 100}, _fit(), 2.0)  # 20 ms a tree
    assert est.bound("random_forest", {"rf_n_estimators": 50}, 10.0) == {"rf_n_estimators": 50}
    capped = est.bound("random_forest", {"rf_n_estimators": 400, "rf_max_depth": 8}, 3.0)
    assert capped == {"rf_n_estimators": 100, "rf_max_depth": 8}  # 3 s / (20 ms x 1.5 safety)
    assert est.bound("random_forest", {"rf_n_estimators": 400}, 0.02 * 1.5 * (MIN_UNITS - 1)) is None


def test_boosting_rounds_are_capped_and_other_fits_skipped_when_they_would_overrun():
    est = Estimates()
    est.observe("hist_gradient_boosting", {}, _fit({"best_iteration": 200}), 4.0)  # 20 ms a round
    assert est.bound("hist_gradient_boosting", {"hgb_learning_rate": 0.1}, 1.5) == {
        "hgb_learning_rate": 0.1, "hgb_max_iter": 50
    }
    est.observe("linear", {}, _fit(), 2.0)
    assert est.bound("linear", {"linear_C": 3.0}, 10.0) == {"linear_C": 3.0}
    assert est.bound("linear", {"linear_C": 3.0}, 2.0) is None


class Unpicklable(LinearRegression):
    def __reduce__(self):
        raise TypeError("cannot pickle this one")


def test_the_writer_logs_every_queued_model_as_an_output_of_its_run(tracking):
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    target = [0.0, 2.0, 4.0, 6.0]
    client = modelyard.MlflowClient()
    exp = client.create_experiment("writer")
    runs = [client.record_run(exp, "FINISHED", 1, 2, run_name=f"t{i}") for i in range(3)]
    writer = ModelWriter(max_pending=1)  # a full queue makes submit wait: nothing is dropped
    for i, run in enumerate(runs):
        writer.submit(ModelJob(i, run.info.run_id, LinearRegression().fit(frame, target), frame.head(2), None))
    broken = client.record_run(exp, "FINISHED", 1, 2, run_name="broken")
    writer.submit(ModelJob(3, broken.info.run_id, Unpicklable().fit(frame, target), frame.head(2), None))
    uris = writer.drain()
    assert sorted(uris) == [0, 1, 2] and writer.errors.keys() == {3}
    for i, run in enumerate(runs):
        model_id = uris[i].removeprefix("models:/")
        assert client.get_logged_model(model_id).source_run_id == run.info.run_id
        outputs = client.get_run(run.info.run_id).outputs.model_outputs
        assert [o.model_id for o in outputs] == [model_id]
        assert modelyard.pyfunc.load_model(uris[i]).predict(pd.DataFrame({"x": [5.0]}))[0] == pytest.approx(10.0)
    assert "cannot pickle" in client.get_run(broken.info.run_id).data.tags["modelyard.automl.model_error"]


@pytest.mark.parametrize("name", ["random_forest", "hist_gradient_boosting"])
def test_forests_and_hist_boosting_stop_at_the_deadline_between_chunks(name):
    import time

    import numpy as np
    from sklearn.datasets import make_classification

    from modelyard.automl import space

    X, y = make_classification(600, 8, random_state=0)
    spec = space.spec_named(name)
    params = {**spec.defaults, "rf_n_estimators": 70}
    whole = spec.build(params, space.Context(True, 2))
    learnt_whole = space.fit(spec, whole, X, y, X, y, None)
    grown = spec.build(params, space.Context(True, 2))
    learnt_grown = space.fit(spec, grown, X, y, X, y, None, deadline=time.time() + 3600)
    if name == "random_forest":  # grown a chunk at a time, the forest is the one a single fit makes
        assert learnt_grown == learnt_whole and np.allclose(whole.predict_proba(X), grown.predict_proba(X))
    else:  # early stopping restarts its patience at a chunk's end: it may take a few more rounds
        assert learnt_whole["best_iteration"] <= learnt_grown["best_iteration"] < space.MAX_BOOSTING_ROUNDS
    late = spec.build(params, space.Context(True, 2))
    learnt_late = space.fit(spec, late, X, y, X, y, None, deadline=time.time() - 1)
    key, chunk = space.CHUNKED[name]
    if name == "random_forest":
        assert learnt_late == {"n_estimators": chunk} and len(late.estimators_) == chunk
    else:
        assert late.n_iter_ == chunk == learnt_late["best_iteration"]
    assert late.get_params()["warm_start"] is False
