"""A search page's runs are loaded in bulk (one statement per child table, IN lists padded to a few
fixed lengths; entities built without their ``__init__``): every run comes back whole and its own,
whatever the page size, on every backend."""

from __future__ import annotations

import math

import pytest

from modelyard.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, Metric, Param, RunTag
from modelyard.store.tracking.sql import rawsql
from modelyard.store.tracking.sql.store import SqlTrackingStore

VALUES = (0.5, math.nan, math.inf, -math.inf, -2.0)


def _fill(store: SqlTrackingStore, n: int) -> dict[str, dict]:
    """``n`` runs, each with its own params, tags, latest metrics (non-finite ones too), some with a
    dataset input or a model output; returns what each run should show, by run id."""
    exp_id = store.create_experiment("page")
    expected = {}
    for i in range(n):
        run = store.create_run(exp_id, "u", 1000 + i, [RunTag("t", f"tag-{i}")], f"run-{i}")
        run_id = run.info.run_id
        metrics = [Metric("zeta", float(i), 5, 1), Metric("alpha", VALUES[i % len(VALUES)], 7, 2)]
        store.log_batch(run_id, metrics=metrics, params=[Param("p", f"v{i}"), Param("b", str(i))])
        want = {"inputs": (), "outputs": ()}
        if i % 3 == 0:
            ds = DatasetInput(
                Dataset(f"d{i}", "digest", "local", "src"), (InputTag("mlflow.data.context", "train"),)
            )
            store.log_inputs(run_id, [ds])
            want["inputs"] = (ds,)
        if i % 4 == 1:
            model_id = store.create_logged_model(exp_id, f"m{i}", run_id).model_id
            store.log_outputs(run_id, [LoggedModelOutput(model_id, i)])
            want["outputs"] = (LoggedModelOutput(model_id, i),)
        want.update(
            name=f"run-{i}",
            params={"b": str(i), "p": f"v{i}"},
            tags={"mlflow.runName": f"run-{i}", "t": f"tag-{i}"},
            metrics=[("alpha", VALUES[i % len(VALUES)], 7, 2), ("zeta", float(i), 5, 1)],
        )
        expected[run_id] = want
    return expected


@pytest.mark.parametrize("page", [1, 3, 17])
def test_every_run_of_a_page_comes_back_whole(store: SqlTrackingStore, page: int) -> None:
    expected = _fill(store, 17)
    exp_id = store.get_experiment_by_name("page").experiment_id
    runs = store.search_runs([exp_id], max_results=page, order_by=["attributes.start_time DESC"])
    assert [r.info.run_name for r in runs] == [f"run-{i}" for i in range(16, 16 - page, -1)]
    for run in runs:
        want = expected[run.info.run_id]
        assert run.info.run_name == want["name"] and run.info.experiment_id == exp_id
        assert run.data.params == want["params"] and list(run.data.params) == ["b", "p"]
        assert run.data.tags == want["tags"]
        got = [(m.key, m.value, m.timestamp, m.step) for m in run.data.metric_objs]
        assert [g[0] for g in got] == ["alpha", "zeta"]
        for (key, value, ts, step), (wkey, wvalue, wts, wstep) in zip(got, want["metrics"], strict=True):
            same = value == wvalue or (math.isnan(value) and math.isnan(wvalue))
            assert (key, ts, step) == (wkey, wts, wstep) and same
        assert run.inputs.dataset_inputs == want["inputs"]
        assert run.outputs.model_outputs == want["outputs"]
        assert run == store.get_run(run.info.run_id)


def test_page_reads_pad_their_in_lists_to_a_few_lengths() -> None:
    assert [rawsql._bucket(n) for n in (1, 2, 3, 5, 8, 9, 600, 1000)] == [1, 2, 4, 8, 8, 16, 1000, 1000]
