"""The ``retrain:`` job type: the section checked at deploy, a training set built from a label
query and a feature table (at its current version), a holdout of the last days, and the whole
retraining run as a job task (in its own process) that a feature-table event triggers."""

import pytest
from retrainhelpers import FEATURES, HERE, TABLE, jobs_env, section, wait

import modelyard
from modelyard.entities.job import SUCCEEDED
from modelyard.exceptions import InvalidParameterValue
from modelyard.jobs.spec import parse
from modelyard.retrain import job


def test_the_section_becomes_one_task_and_bad_fields_are_named():
    spec = parse({"name": "churn-retrain", "schedule": {"cron": "0 4 * * 1"},
                  "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                  "retrain": section("sqlite:///x.db", approval="manual")})
    (task,) = spec.tasks
    assert task.key == "retrain" and task.run == job.RUN and task.env == {"PYTHONPATH": HERE}
    assert task.params["model"] == "churn" and task.params["approval"] == "manual"
    assert task.params["gates"]["max_drop"] == {"roc_auc": 0.0}
    spec.check_overrides({"approval": "none"})  # a field of the section is a parameter of the run
    bad = {"name": "j", "retrain": {**section("sqlite:///x.db"), "traning_set": {}}}
    with pytest.raises(InvalidParameterValue, match=r"retrain\.traning_set: unknown field"):
        parse(bad)
    with pytest.raises(InvalidParameterValue, match=r"unknown gates \['min_roc'\]"):
        parse({"name": "j", "retrain": {**section("x"), "gates": {"min_roc": 1}}})
    with pytest.raises(InvalidParameterValue, match=r"retrain\.approval"):
        parse({"name": "j", "retrain": {**section("x"), "approval": "sometimes"}})
    with pytest.raises(InvalidParameterValue, match="retrain: must be a mapping"):
        parse({"name": "j", "retrain": "churn"})


def test_training_set_from_a_feature_table_and_a_label_query(shop, tracking):
    labels_uri, _ = shop
    from modelyard.retrain import source

    rows = source.load(section(labels_uri)["training_set"], tracking)
    assert rows.label == "churned" and rows.timestamp_col == "event_ts"  # the label inferred, the time from the table
    assert set(FEATURES) <= set(rows.frame.columns) and len(rows.frame) == 400
    train, holdout = source.split_holdout(rows, {"last_days": 10})
    assert set(holdout.columns) == {*FEATURES, "churned"}
    assert set(train.columns) == {*FEATURES, "churned"}  # keys and time are not features
    assert 0 < len(holdout) < len(train) and len(train) + len(holdout) == 400
    with pytest.raises(InvalidParameterValue, match="name the label column"):
        source.load({"labels": "sql:SELECT customer_id, event_ts, churned, churned AS again FROM labels",
                     "labels_uri": labels_uri, "features": [TABLE]}, tracking)
    with pytest.raises(InvalidParameterValue, match="the query failed"):
        source.load({"labels": "sql:SELECT nothing FROM nowhere", "labels_uri": labels_uri}, tracking)


def test_run_promotes_then_a_worse_challenger_changes_nothing(shop, tracking):
    labels_uri, _ = shop
    params = parse({"name": "churn-retrain", "retrain": section(labels_uri)}).tasks[0].params
    import sys

    sys.path.insert(0, HERE)
    try:
        first = job.run(**params)
        assert first["status"] == "promoted" and first["champion_version"] is None
        worse = job.run(**{**params, "train": {"run": "retraintasks:fit_constant"}})
    finally:
        sys.path.remove(HERE)
    assert worse["status"] == "rejected" and "min.roc_auc" in worse["reason"]
    client = modelyard.MlflowClient()
    assert client.get_model_version_by_alias("churn", "champion").version == first["challenger_version"]
    assert client.get_model_version_by_alias("churn", "challenger").version == worse["challenger_version"]
    signature = modelyard.pyfunc.load_model("models:/churn@champion").metadata.get_input_schema()
    assert sorted(signature.input_names()) == sorted(FEATURES)  # trained on the features, not keys nor time


@pytest.mark.slow
def test_deployed_job_retrains_when_the_feature_table_event_fires(shop, tracking, tmp_path):
    labels_uri, write_labels = shop
    ctx, tracking_service, jobs, scheduler = jobs_env(tracking, tmp_path)
    try:
        jobs.deploy(ctx, {"name": "churn-retrain", "triggers": [{"on": "feature_table_updated", "table": TABLE}],
                          "retrain": section(labels_uri)})
        first = wait(scheduler, jobs, ctx, jobs.run_now(ctx, "churn-retrain").job_run_id)
        assert first.status == SUCCEEDED, jobs.logs(ctx, first.job_run_id)["text"]
        outcome = first.latest()["retrain"].result
        assert outcome["status"] == "promoted"
        write_labels(True, seed=2)  # the world drifts: the champion's roc_auc on fresh data falls
        (started,) = jobs.publish_event(ctx, "feature_table_updated", f"{TABLE}/v2", {"table": TABLE, "version": 2})
        second = wait(scheduler, jobs, ctx, started)
        assert second.status == SUCCEEDED and second.trigger == "feature_table_updated"
        after = second.latest()["retrain"].result
        assert after["status"] == "promoted" and after["champion_version"] == outcome["challenger_version"]
        assert after["champion_metrics"]["roc_auc"] < 0.7 < after["challenger_metrics"]["roc_auc"]
        champion = modelyard.MlflowClient().get_model_version_by_alias("churn", "champion")
        assert champion.version == after["challenger_version"]
    finally:
        scheduler.stop()
        tracking_service.close()
