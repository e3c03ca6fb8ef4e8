"""Event triggers: each event fires a job once per event key, whoever publishes and how often."""

import time

from jobhelpers import task

from modelyard.jobs.scheduler import Scheduler
from modelyard.registry.service import RegistryService
from modelyard.store.registry import registry_store_for


def _deploy(env, name, triggers):
    env.jobs.deploy(env.ctx, {"name": name, "triggers": triggers, "tasks": [task("a", "jobtasks:noop")]})


def _runs(env, name):
    return env.jobs.list_runs(env.ctx, name, 100)


def test_published_events_fire_once_per_key_and_only_matching_jobs(env, name):
    _deploy(env, name, [{"on": "feature_table_updated", "table": "churn.features"}])
    _deploy(env, name + "-other", [{"on": "feature_table_updated", "table": "other.features"}])
    first = env.jobs.publish_event(env.ctx, "feature_table_updated", "churn.features/v3", {"table": "churn.features", "version": 3})
    again = env.jobs.publish_event(env.ctx, "feature_table_updated", "churn.features/v3", {"table": "churn.features", "version": 3})
    assert len(first) == 1 and again == []
    run = env.wait(first[0])
    assert run.trigger == "feature_table_updated" and run.trigger_detail["payload"]["version"] == 3
    assert _runs(env, name + "-other") == []


def test_any_published_event_kind(env, name):
    _deploy(env, name, [{"on": "event", "kind": "monitoring.alert"}])
    assert len(env.jobs.publish_event(env.ctx, "monitoring.alert", "drift-42")) == 1
    assert env.jobs.publish_event(env.ctx, "monitoring.other", "x") == []


def test_paused_jobs_are_not_triggered(env, name):
    _deploy(env, name, [{"on": "event", "kind": "k"}])
    env.jobs.pause(env.ctx, name)
    assert env.jobs.publish_event(env.ctx, "k", "1") == []


def test_registry_new_version_and_alias_move_trigger_jobs(env, name):
    registry = RegistryService(registry_store_for(env.tracking.store, env.ctx.settings))
    env.scheduler.registry = registry
    model = f"model-{name}"
    registry.create_registered_model(env.ctx, model)
    _deploy(env, name, [{"on": "model_version_created", "model": model}])
    _deploy(env, name + "-alias", [{"on": "alias_moved", "model": model, "alias": "champion"}])
    time.sleep(0.01)
    source_run = env.tracking.create_run(env.ctx, "0", "tester", None)
    registry.create_model_version(env.ctx, model, f"runs:/{source_run.info.run_id}/model", source_run.info.run_id)
    env.scheduler.run_once()
    env.scheduler.run_once()  # found again: fires nothing more
    runs = _runs(env, name)
    assert len(runs) == 1 and runs[0].trigger_detail["payload"] == {"model": model, "version": "1"}
    assert _runs(env, name + "-alias") == []
    registry.set_registered_model_alias(env.ctx, model, "champion", "1")
    env.scheduler.run_once()
    env.scheduler.run_once()
    moved = _runs(env, name + "-alias")
    assert len(moved) == 1 and moved[0].trigger_detail["payload"]["alias"] == "champion"
    registry.set_registered_model_alias(env.ctx, model, "champion", "1")  # set again, not moved
    env.scheduler.run_once()
    assert len(_runs(env, name + "-alias")) == 1
    # the scheduler consumed the registry's events from the kernel queue: none is left there
    assert env.jobs.store.claim_registry_events("probe", 1.0, 10) == []


def test_registry_events_are_consumed_once_by_several_schedulers(env, name):
    """Two schedulers share the registry's event queue: each event is leased to one of them."""
    registry = RegistryService(registry_store_for(env.tracking.store, env.ctx.settings))
    model = f"model-{name}"
    registry.create_registered_model(env.ctx, model)
    _deploy(env, name, [{"on": "model_version_created", "model": model}])
    time.sleep(0.01)
    for _ in range(3):
        source_run = env.tracking.create_run(env.ctx, "0", "tester", None)
        registry.create_model_version(env.ctx, model, f"runs:/{source_run.info.run_id}/model", source_run.info.run_id)
    other = Scheduler(env.jobs, env.tracking, None, env.ctx, env.config)
    try:
        handled = other.consume_registry_events(limit=2) + env.scheduler.consume_registry_events()
        assert handled == 3 and env.scheduler.consume_registry_events() == 0
    finally:
        other.stop()
    runs = _runs(env, name)
    assert sorted(r.trigger_detail["payload"]["version"] for r in runs) == ["1", "2", "3"]


def test_a_file_arriving_in_a_watched_folder_triggers_once(env, name, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    _deploy(env, name, [{"on": "file_arrived", "path": str(folder), "pattern": "*.csv"}])
    time.sleep(0.01)
    (folder / "ignored.txt").write_text("x")
    env.scheduler.run_once()
    assert _runs(env, name) == []
    (folder / "batch-1.csv").write_text("a,b\n")
    env.scheduler.run_once()
    env.scheduler.run_once()
    runs = _runs(env, name)
    assert len(runs) == 1 and runs[0].trigger_detail["payload"]["path"].endswith("batch-1.csv")


def test_webhook_trigger_needs_the_secret(env, name):
    from modelyard.exceptions import PermissionDenied

    _deploy(env, name, [{"on": "webhook", "secret": "s3cret"}])
    started = env.jobs.webhook(env.ctx, name, "s3cret", "delivery-1", {"from": "ci"})
    assert len(started) == 1
    assert env.jobs.webhook(env.ctx, name, "s3cret", "delivery-1", {}) == []  # the same delivery again
    try:
        env.jobs.webhook(env.ctx, name, "wrong", "delivery-2", {})
        raise AssertionError("a wrong secret was accepted")
    except PermissionDenied as exc:
        assert "no webhook trigger with that secret" in str(exc)
