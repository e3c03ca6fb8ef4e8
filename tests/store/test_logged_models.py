"""Logged models in the SQL store (SQLite, PostgreSQL, MariaDB): lifecycle, tags, params, linked
metrics, run outputs and inputs, search (filters, datasets, ordering, pages).

Not a ``test_conformance_*`` module: the REST store does not implement logged models yet, and
``tests/server/test_rest_store.py`` replays every conformance module over REST.
"""

from __future__ import annotations

import math
import re
import time

import pytest

from modelyard.entities import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
)
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.store.tracking.sql.store import SqlTrackingStore


def _metric(model_id: str, key: str, value: float, ts: int, step: int = 0, **kw) -> LoggedModelMetric:
    return LoggedModelMetric(key, value, ts, step, model_id=model_id, **kw)


def test_create_and_get_round_trip(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("lm")
    run = store.create_run(exp_id, "ada", None)
    model = store.create_logged_model(
        exp_id, "model", run.info.run_id, {"k": "v"}, {"lr": "0.1"}, model_type="sklearn"
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    location = store.get_experiment(exp_id).artifact_location
    assert model.artifact_location == f"{location}/models/{model.model_id}/artifacts"
    assert (model.name, model.status, model.model_type, model.source_run_id, model.experiment_id) == (
        "model",
        LoggedModelStatus.PENDING,
        "sklearn",
        run.info.run_id,
        exp_id,
    )
    assert model.creation_timestamp == model.last_updated_timestamp > 0
    assert (model.tags, model.params, model.metrics) == ({"k": "v"}, {"lr": "0.1"}, ())
    assert store.get_logged_model(model.model_id) == model
    assert LoggedModel.from_dict(model.to_dict()) == model
    info = model.to_dict()["info"]
    assert info["status"] == "LOGGED_MODEL_PENDING" and info["artifact_uri"] == model.artifact_location


def test_create_validates(store: SqlTrackingStore) -> None:
    unnamed = store.create_logged_model("0")
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", unnamed.name)
    for bad in ("", "a/b", "a.b", "a:b", "50%", "it's"):
        with pytest.raises(InvalidParameterValue):
            store.create_logged_model("0", bad)
    with pytest.raises(ResourceDoesNotExist):
        store.create_logged_model("12345")
    with pytest.raises(InvalidParameterValue):
        store.create_logged_model("0", "m", tags={"bad/../key": "x"})
    with pytest.raises(InvalidParameterValue):
        store.create_logged_model("0", "m", params={"p": "x" * 6001})
    exp_id = store.create_experiment("gone")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        store.create_logged_model(exp_id, "m")


def test_finalize_tags_params_and_soft_delete(store: SqlTrackingStore) -> None:
    model = store.create_logged_model("0", "m", tags={"a": "1"}, params={"p": "1"})
    ready = store.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status is LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= model.last_updated_timestamp
    assert store.finalize_logged_model(model.model_id, 3).status is LoggedModelStatus.UPLOAD_FAILED
    with pytest.raises(InvalidParameterValue):
        store.finalize_logged_model(model.model_id, "DONE")
    store.set_logged_model_tags(model.model_id, {"a": "2", "b": "x" * 20_000})
    store.delete_logged_model_tag(model.model_id, "b")
    with pytest.raises(ResourceDoesNotExist):
        store.delete_logged_model_tag(model.model_id, "b")
    store.log_logged_model_params(model.model_id, {"p": "1", "q": "2"})  # same value: fine
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        store.log_logged_model_params(model.model_id, {"q": "3"})
    got = store.get_logged_model(model.model_id)
    assert (got.tags, got.params) == ({"a": "2"}, {"p": "1", "q": "2"})

    store.delete_logged_model(model.model_id)
    with pytest.raises(ResourceDoesNotExist, match=model.model_id):
        store.get_logged_model(model.model_id)
    assert store.get_logged_model(model.model_id, allow_deleted=True).lifecycle_stage == "deleted"
    with pytest.raises(ResourceDoesNotExist):
        store.set_logged_model_tags(model.model_id, {"c": "1"})
    with pytest.raises(ResourceDoesNotExist):
        store.get_logged_model("m-" + "0" * 32)


def test_metrics_link_to_models_with_datasets_and_non_finite_values(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    a = store.create_logged_model("0", "a").model_id
    b = store.create_logged_model("0", "b").model_id
    points = [
        _metric(a, "acc", 0.5, 10, 0),
        _metric(a, "acc", 0.5, 10, 0),  # an exact repeat is stored once
        _metric(a, "acc", 0.9, 20, 1, dataset_name="eval", dataset_digest="d1"),
        _metric(a, "loss", math.nan, 20, 1),
        _metric(b, "loss", math.inf, 30, 0),
    ]
    store.log_logged_model_metrics(run_id, points)
    store.log_logged_model_metrics(run_id, points[:1])  # and so is a re-sent batch
    got = store.get_logged_model(a).metrics
    assert [
        (m.key, m.value, m.step, m.dataset_name, m.run_id, m.model_id) for m in got if m.key == "acc"
    ] == [
        ("acc", 0.5, 0, None, run_id, a),
        ("acc", 0.9, 1, "eval", run_id, a),
    ]
    assert math.isnan(next(m.value for m in got if m.key == "loss"))
    assert store.get_logged_model(b).metrics[0].value == math.inf
    with pytest.raises(ResourceDoesNotExist):
        store.log_logged_model_metrics(run_id, [_metric("m-" + "1" * 32, "acc", 1.0, 1)])
    with pytest.raises(ResourceDoesNotExist):
        store.log_logged_model_metrics("f" * 32, [_metric(a, "acc", 1.0, 1)])
    with pytest.raises(InvalidParameterValue):
        store.log_logged_model_metrics(run_id, [_metric(a, "bad/../key", 1.0, 1)])


def test_run_outputs_and_model_inputs_show_on_runs(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", None).info.run_id
    out = store.create_logged_model("0", "out", run_id).model_id
    used = store.create_logged_model("0", "used").model_id
    store.log_outputs(run_id, [LoggedModelOutput(out, 0), LoggedModelOutput(out, 5)])
    store.log_outputs(run_id, [(out, 0)])  # idempotent
    store.log_model_inputs(run_id, [used, used])
    run = store.get_run(run_id)
    assert run.outputs.model_outputs == (LoggedModelOutput(out, 0), LoggedModelOutput(out, 5))
    assert run.inputs.model_inputs == (used,)
    assert run.to_dict()["outputs"] == {
        "model_outputs": [{"model_id": out, "step": 0}, {"model_id": out, "step": 5}]
    }
    assert store.search_runs(["0"])[0].outputs == run.outputs
    with pytest.raises(ResourceDoesNotExist):
        store.log_outputs(run_id, [("m-" + "2" * 32, 0)])
    store.delete_run(run_id)
    with pytest.raises(InvalidParameterValue, match="active"):
        store.log_outputs(run_id, [(out, 1)])


@pytest.fixture
def models(store: SqlTrackingStore) -> dict[str, str]:
    """Five models in a new experiment (plus one elsewhere and one deleted), name -> model_id."""
    exp_id = store.create_experiment("search")
    run_id = store.create_run(exp_id, "u", None).info.run_id
    ids = {}
    for i, (name, kind) in enumerate([("alpha", "sk"), ("beta", "xgb"), ("gamma", "sk"), ("delta", None)]):
        m = store.create_logged_model(
            exp_id, name, run_id, {"team": "red" if i % 2 else "blue"}, {"i": str(i)}, kind
        )
        ids[name] = m.model_id
        time.sleep(0.003)  # distinct creation timestamps: the default order is newest first
    ids["_exp"] = exp_id
    store.finalize_logged_model(ids["alpha"], LoggedModelStatus.READY)
    store.finalize_logged_model(ids["gamma"], LoggedModelStatus.READY)
    store.log_logged_model_metrics(
        run_id,
        [
            _metric(ids["alpha"], "acc", 0.7, 1),
            _metric(ids["alpha"], "acc", 0.95, 2, dataset_name="test"),  # latest point
            _metric(ids["beta"], "acc", 0.8, 1, dataset_name="train"),
            _metric(ids["gamma"], "acc", math.nan, 1),
        ],
    )
    deleted = store.create_logged_model(exp_id, "deleted")
    store.delete_logged_model(deleted.model_id)
    store.create_logged_model("0", "elsewhere")
    return ids


def _names(store: SqlTrackingStore, models: dict[str, str], *args, **kwargs) -> list[str]:
    return [m.name for m in store.search_logged_models([models["_exp"]], *args, **kwargs)]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["alpha", "beta", "delta", "gamma"]),
        ("name = 'beta'", ["beta"]),
        ("name LIKE '%ta'", ["beta", "delta"]),
        ("model_type = 'sk'", ["alpha", "gamma"]),
        ("model_type != 'sk'", ["beta"]),  # NULL model_type matches neither = nor !=
        ("status = 'READY'", ["alpha", "gamma"]),
        ("status = 'LOGGED_MODEL_PENDING'", ["beta", "delta"]),
        ("creation_time > 0 AND last_updated_timestamp_ms > 0", ["alpha", "beta", "delta", "gamma"]),
        ("metrics.acc > 0.75", ["alpha", "beta"]),  # any point of the metric
        ("metrics.acc < 0.75", ["alpha"]),
        ("metrics.acc != 0.8", ["alpha", "gamma"]),
        ("params.i IN ('0', '3')", ["alpha", "delta"]),
        ("tags.team = 'red' AND params.i = '3'", ["delta"]),
        ("tags.missing IS NULL AND name != 'alpha'", ["beta", "delta", "gamma"]),
        ("name = 'alpha' OR name = 'gamma'", ["alpha", "gamma"]),
    ],
)
def test_search_filters(store: SqlTrackingStore, models, filter_string, expected) -> None:
    assert sorted(_names(store, models, filter_string)) == expected


def test_search_datasets_scope_metric_filters(store: SqlTrackingStore, models) -> None:
    assert _names(store, models, datasets=[{"dataset_name": "train"}]) == ["beta"]
    assert _names(store, models, "metrics.acc > 0.5", datasets=[{"dataset_name": "test"}]) == ["alpha"]
    scoped = [{"dataset_name": "test", "dataset_digest": "nope"}]
    assert _names(store, models, "metrics.acc > 0.5", datasets=scoped) == []
    with pytest.raises(InvalidParameterValue, match="dataset_name"):
        store.search_logged_models([models["_exp"]], datasets=[{"dataset_digest": "x"}])


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, ["delta", "gamma", "beta", "alpha"]),  # newest first
        ([{"field_name": "metrics.acc", "ascending": False}], ["alpha", "beta", "gamma", "delta"]),
        ([{"field_name": "metrics.acc", "ascending": True}], ["beta", "alpha", "gamma", "delta"]),
        (["metrics.acc DESC"], ["alpha", "beta", "gamma", "delta"]),
        (
            [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "train"}],
            ["beta", "delta", "gamma", "alpha"],
        ),
        ([{"field_name": "name", "ascending": True}], ["alpha", "beta", "delta", "gamma"]),
        (
            [{"field_name": "model_type"}, {"field_name": "name", "ascending": False}],
            ["gamma", "alpha", "beta", "delta"],
        ),
        (["params.i DESC"], ["delta", "gamma", "beta", "alpha"]),
        (["creation_timestamp ASC"], ["alpha", "beta", "gamma", "delta"]),
    ],
)
def test_search_order_by(store: SqlTrackingStore, models, order_by, expected) -> None:
    assert _names(store, models, order_by=order_by) == expected


def test_search_pages_and_validation(store: SqlTrackingStore, models) -> None:
    exp = [models["_exp"]]
    pages, token = [], None
    while True:
        page = store.search_logged_models(exp, max_results=3, order_by=["name ASC"], page_token=token)
        pages.append([m.name for m in page])
        token = page.token
        if token is None:
            break
    assert pages == [["alpha", "beta", "delta"], ["gamma"]]
    first = store.search_logged_models(exp, max_results=1, order_by=["name ASC"])
    with pytest.raises(InvalidParameterValue, match="for this search"):
        store.search_logged_models(exp, max_results=1, order_by=["name DESC"], page_token=first.token)
    with pytest.raises(InvalidParameterValue):
        store.search_logged_models(exp, page_token="not a token")
    for bad in ("bogus = 'x'", "metrics.acc LIKE 'x'", "name >"):
        with pytest.raises(InvalidParameterValue):
            store.search_logged_models(exp, bad)
    with pytest.raises(InvalidParameterValue):
        store.search_logged_models(exp, max_results=0)
    with pytest.raises(InvalidParameterValue):
        store.search_logged_models(exp, order_by=[{"field_name": "name", "dataset_name": "x"}])
    assert list(store.search_logged_models([])) == []
    assert [m.name for m in store.search_logged_models(["0"])] == ["elsewhere"]
    both = store.search_logged_models(["0", *exp])
    assert len(both) == 5
    assert both[0].metrics == () or all(m.model_id == both[0].model_id for m in both[0].metrics)
