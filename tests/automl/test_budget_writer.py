"""The search's cheap tracking and its time budget: trial models written by the background
writer (a bounded queue, drained at the end, each model an output of its trial's run), and the
bounds put on fits that cannot be interrupted."""

from types import SimpleNamespace

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import modelyard
from modelyard.automl.budget import MIN_UNITS, Estimates
from modelyard.automl.writer import TrialRecord, TrialWriter


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


def _record(number: int, status: str = "FINISHED", pipeline=None, example=None) -> TrialRecord:
    run = dict(status=status, start_time=1, end_time=2, run_name=f"t{number}", params={"n": number},
               metrics={"val_r2": 0.5} if status == "FINISHED" else None)
    return TrialRecord(number, run, pipeline, example)


def test_the_writer_records_queued_trials_in_batches_each_model_an_output_of_its_run(tracking):
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    target = [0.0, 2.0, 4.0, 6.0]
    client = modelyard.MlflowClient()
    exp = client.create_experiment("writer")
    writer = TrialWriter(exp, max_pending=2)  # a full queue makes submit wait: nothing is dropped
    for i in range(3):
        writer.submit(_record(i, pipeline=LinearRegression().fit(frame, target), example=frame.head(2)))
    writer.submit(_record(3, pipeline=Unpicklable().fit(frame, target), example=frame.head(2)))
    writer.submit(_record(4, status="KILLED"))  # a pruned trial: a run, no model
    run_ids, uris = writer.drain()
    assert sorted(run_ids) == [0, 1, 2, 3, 4] and sorted(uris) == [0, 1, 2] and writer.errors.keys() == {3}
    assert 1 <= writer.batches <= 5 and writer.model_log_seconds > 0
    for i in range(3):
        run = client.get_run(run_ids[i])
        assert (run.info.status, run.info.run_name, run.data.params, run.data.metrics) == (
            "FINISHED", f"t{i}", {"n": str(i)}, {"val_r2": 0.5}
        )
        model_id = uris[i].removeprefix("models:/")
        assert client.get_logged_model(model_id).source_run_id == run_ids[i]
        assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
        assert modelyard.pyfunc.load_model(uris[i]).predict(pd.DataFrame({"x": [5.0]}))[0] == pytest.approx(10.0)
    assert "cannot pickle" in client.get_run(run_ids[3]).data.tags["modelyard.automl.model_error"]
    assert client.get_run(run_ids[4]).info.status == "KILLED"


def test_record_runs_writes_every_run_or_none(tracking):
    from modelyard.exceptions import InvalidParameterValue

    client = modelyard.MlflowClient()
    exp = client.create_experiment("bulk")
    runs = client.record_runs(exp, [dict(status="FINISHED", start_time=1, end_time=2, run_name=f"r{i}",
                                         params={"a": i}, metrics={"m": float(i)}, tags={"t": "x"}) for i in range(3)])
    stored = {r.info.run_name: r for r in client.search_runs([exp])}
    assert sorted(stored) == ["r0", "r1", "r2"] and [r.info.run_id for r in runs] == [
        stored[f"r{i}"].info.run_id for i in range(3)
    ]
    assert stored["r2"].data.metrics == {"m": 2.0} and stored["r2"].data.tags["t"] == "x"
    bad = [dict(status="FINISHED", start_time=1, end_time=2, run_name="ok"),
           dict(status="FINISHED", start_time=1, end_time=2, run_name="bad", params={"k" * 300: 1})]
    with pytest.raises(InvalidParameterValue):
        client.record_runs(exp, bad)
    with pytest.raises(InvalidParameterValue, match="over"):
        client.record_runs(exp, [dict(status="RUNNING", start_time=1, end_time=2)])
    assert len(client.search_runs([exp])) == 3  # nothing of the refused batches


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
    key, chunk, first = space.CHUNKED[name]
    if name == "random_forest":  # past the deadline: the first, small chunk only
        assert learnt_late == {"n_estimators": first} and len(late.estimators_) == first
    else:
        assert late.n_iter_ == first == learnt_late["best_iteration"]
    assert late.get_params()["warm_start"] is False


def test_chunks_are_sized_to_end_before_the_deadline(monkeypatch):
    """After the first chunk, a chunk holds only the trees the time left allows at the pace so far:
    a fit whose trees take 0.1 s each, with 1 s left, grows ~10 more, not a whole chunk of 20."""

    from modelyard.automl import space

    clock = {"now": 1000.0}
    monkeypatch.setattr(space.time, "time", lambda: clock["now"])

    class Forest:  # a warm-started ensemble whose every new tree costs 0.1 s of the fake clock
        def __init__(self) -> None:
            self.params = {"n_estimators": 100, "warm_start": False}
            self.trees, self.fits = 0, []

        def get_params(self) -> dict:
            return dict(self.params)

        def set_params(self, **params) -> None:
            self.params.update(params)

        def fit(self, X, y, sample_weight=None) -> None:
            new = self.params["n_estimators"] - self.trees
            clock["now"] += 0.1 * new
            self.trees = self.params["n_estimators"]
            self.fits.append(new)

    forest = Forest()
    learnt = space._fit_in_chunks("random_forest", forest, None, None, None, deadline=1001.5)
    assert forest.fits == [5, 10]  # 0.5 s for the first 5, then the 1.0 s left holds 10
    assert learnt == {"n_estimators": 15} and clock["now"] <= 1001.5


@pytest.mark.parametrize("name", ["linear", "lasso"])
def test_linear_models_stop_at_the_deadline_between_chunks_of_iterations(name, monkeypatch):
    import time

    import numpy as np
    from sklearn.datasets import make_classification, make_regression

    from modelyard.automl import space

    monkeypatch.setitem(space.ITERATIVE, name, 10)  # small chunks: a small problem needs several
    classification = name == "linear"
    if classification:
        X, y = make_classification(300, 10, n_informative=8, random_state=0)
        X = X * np.logspace(-1, 1, X.shape[1])  # unscaled and barely regularized: lbfgs takes ~50 iterations
        params = {"linear_C": 1e4}
    else:
        X, y = make_regression(300, 10, n_informative=8, noise=5.0, random_state=0)
        X = np.hstack([X, X + np.random.default_rng(0).normal(0, 1e-2, X.shape)])  # correlated: slow descent
        params = {"lasso_alpha": 1e-3}
    spec = space.spec_named(name)
    ctx = space.Context(classification, 2)
    whole = spec.build(params, ctx)
    assert space.fit(spec, whole, X, y, X, y, None) == {}
    chunk = space.ITERATIVE[name]
    assert int(np.max(whole.n_iter_)) > chunk  # the case under test: more than one chunk of work
    grown = spec.build(params, ctx)
    assert space.fit(spec, grown, X, y, X, y, None, deadline=time.time() + 3600) == {}  # converged, in chunks
    assert np.corrcoef(whole.predict(X), grown.predict(X))[0, 1] > 0.99
    late = spec.build(params, ctx)
    assert space.fit(spec, late, X, y, X, y, None, deadline=time.time() - 1) == {"stopped_at_iteration": chunk}
    assert late.get_params()["warm_start"] is False and late.max_iter == whole.max_iter
    assert late.predict(X).shape == (len(X),)  # the coefficients it reached: a usable model


def test_the_refit_is_skipped_when_it_would_overrun_the_budget():
    import time

    from modelyard.automl.search import Search
    from modelyard.automl.summary import TrialInfo

    splits = SimpleNamespace(train=range(60), val=range(20))
    best = TrialInfo(0, "COMPLETE", "xgboost", "r", "models:/m-1", {}, {"fit_duration_s": 10.0})
    search = Search(SimpleNamespace(deadline=time.time() + 5.0), splits, None, None)
    assert search._refit_decision(best).startswith("skipped: refitting would take ~20.0 s")  # 10 s x 80/60 x 1.5
    search.config.deadline = time.time() + 60.0
    assert search._refit_decision(best).startswith("refitted on train+validation (~20.0 s estimated")
    search.model_log_seconds = 50.0  # logging the model counts too
    assert search._refit_decision(best).startswith("skipped")
    search.config.deadline = None
    assert search._refit_decision(best) == "refitted on train+validation (no time budget)"


def test_the_search_keeps_time_for_refitting_its_best_trial_so_far():
    from modelyard.automl.trial import FitResult, Objective

    config = SimpleNamespace(primary_metric="r2", maximize=True, budget_seconds=None, cv_folds=0)
    objective = Objective(config, SimpleNamespace(train=range(60), val=range(20)), SimpleNamespace(model_log_seconds=0.25))
    assert objective._refit_reserve() == 0.0  # no trial yet
    objective._keep_if_best(0, FitResult("p0", {}, {"r2": 0.5}, {}, 3.0))
    assert objective._refit_reserve() == pytest.approx(3.0 * 80 / 60 * 1.5 + 2 * 0.25)
    objective._keep_if_best(1, FitResult("p1", {}, {"r2": 0.4}, {}, 100.0))  # worse: not kept
    assert objective.kept == {0: "p0"}
    objective._keep_if_best(2, FitResult("p2", {}, {"r2": 0.6}, {}, 1.0))
    assert objective.kept == {2: "p2"} and objective._refit_reserve() == pytest.approx(1.0 * 80 / 60 * 1.5 + 0.5)
    config.budget_seconds = 12.0  # at most a quarter of the budget is kept for the refit
    assert objective._refit_reserve() == pytest.approx(2.5)
    config.budget_seconds = 8.0  # a refit that needs more is not waited for: the finish's logging only
    assert objective._refit_reserve() == pytest.approx(0.5)
    config.cv_folds = 5  # cross-validated: no refit, the ensemble trial's and the finish's logging
    assert objective._refit_reserve() == pytest.approx(3 * 0.25 + 1.0)
