"""The registry-store conformance suite: MLflow's registry semantics on every store.

Runs here on SQLite, PostgreSQL and MariaDB (``store`` of tests/store/conftest.py, registry in the
same database), and over REST against a live server in ``tests/server/test_registry_rest.py``,
which imports these very functions. Tests use only the ``RegistryStore`` protocol plus the
tracking store's public methods (runs, logged models).
"""

from __future__ import annotations

import json

import orjson
import pytest

from modelyard.entities import RunTag
from modelyard.exceptions import (
    InvalidParameterValue,
    ModelyardError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from modelyard.store.registry import registry_store_for

PUBLIC_HOOK = "https://93.184.216.34/hook"  # an IP literal: no DNS lookup, and public


@pytest.fixture
def registry(store):
    return registry_store_for(store)


@pytest.fixture
def run(store):
    return store.create_run("0", "ada", 1_700_000_000_000, [RunTag("team", "core")], "train")


def _model_version_count(registry, name: str) -> int:
    return len(registry.search_model_versions(f"name = '{name}'"))


# -- registered models ---------------------------------------------------------------------------
def test_create_and_get_registered_model(registry):
    created = registry.create_registered_model("churn", {"team": "growth"}, "predicts churn", user_id="ada")
    got = registry.get_registered_model("churn")
    assert got == created
    assert (got.name, got.description, got.user_id, got.tags) == ("churn", "predicts churn", "ada", {"team": "growth"})
    assert got.creation_timestamp == got.last_updated_timestamp > 0
    assert got.latest_versions == () and got.aliases == {}


def test_taken_name_is_resource_already_exists(registry):
    registry.create_registered_model("churn")
    with pytest.raises(ResourceAlreadyExists) as err:
        registry.create_registered_model("churn")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS" and err.value.http_status == 400


def test_missing_model_is_resource_does_not_exist(registry):
    with pytest.raises(ResourceDoesNotExist, match="name=nope not found"):
        registry.get_registered_model("nope")


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a:b", "../up", "x" * 257])
def test_bad_model_names_are_refused(registry, name):
    with pytest.raises(InvalidParameterValue):
        registry.create_registered_model(name)


def test_rename_moves_versions_aliases_and_history(registry, run):
    registry.create_registered_model("old")
    registry.create_model_version("old", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("old", "champion", 1, user_id="ada")
    registry.create_registered_model("taken")
    with pytest.raises(ResourceAlreadyExists):
        registry.rename_registered_model("old", "taken")
    renamed = registry.rename_registered_model("old", "new")
    assert renamed.name == "new" and renamed.aliases == {"champion": "1"}
    assert registry.get_model_version("new", 1).name == "new"
    assert [e.name for e in registry.get_promotion_history("new")] == ["new"]
    with pytest.raises(ResourceDoesNotExist):
        registry.get_registered_model("old")


def test_update_description(registry):
    registry.create_registered_model("churn", description="v0")
    assert registry.update_registered_model("churn", "v1").description == "v1"
    assert registry.get_registered_model("churn").description == "v1"


def test_delete_model_removes_versions_tags_aliases_keeps_history(registry, run):
    registry.create_registered_model("churn", {"a": "b"})
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={"k": "v"})
    registry.set_registered_model_alias("churn", "champion", "1", user_id="ada")
    registry.delete_registered_model("churn")
    with pytest.raises(ResourceDoesNotExist):
        registry.get_registered_model("churn")
    assert _model_version_count(registry, "churn") == 0
    assert [(e.target, e.action) for e in registry.get_promotion_history("churn")] == [("champion", "created")]
    registry.create_registered_model("churn")  # the name is free again; numbering restarts
    assert registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version == "1"


def test_registered_model_tags(registry):
    registry.create_registered_model("churn")
    registry.set_registered_model_tag("churn", "team", "a")
    registry.set_registered_model_tag("churn", "team", "b")
    registry.set_registered_model_tag("churn", "big", "x" * 100_000)
    assert registry.get_registered_model("churn").tags == {"big": "x" * 100_000, "team": "b"}
    registry.delete_registered_model_tag("churn", "team")
    registry.delete_registered_model_tag("churn", "never-set")  # a no-op, as MLflow
    assert set(registry.get_registered_model("churn").tags) == {"big"}
    with pytest.raises(InvalidParameterValue):
        registry.set_registered_model_tag("churn", "big", "x" * 100_001)
    with pytest.raises(InvalidParameterValue):
        registry.set_registered_model_tag("churn", "k" * 251, "v")
    with pytest.raises(ResourceDoesNotExist):
        registry.set_registered_model_tag("nope", "k", "v")


# -- versions ------------------------------------------------------------------------------------
def test_versions_are_max_plus_one_and_never_reused(registry, run):
    registry.create_registered_model("churn")
    source = f"runs:/{run.info.run_id}/model"
    assert [registry.create_model_version("churn", source, run.info.run_id).version for _ in range(3)] == ["1", "2", "3"]
    registry.delete_model_version("churn", "3")
    registry.delete_model_version("churn", 2)
    assert registry.create_model_version("churn", source, run.info.run_id).version == "4"
    with pytest.raises(ResourceDoesNotExist, match=r"name=churn, version=2"):
        registry.get_model_version("churn", "2")
    assert sorted(v.version for v in registry.search_model_versions("name = 'churn'")) == ["1", "4"]
    with pytest.raises(InvalidParameterValue):
        registry.get_model_version("churn", "two")


def test_version_from_a_run_records_lineage(registry, store, run):
    registry.create_registered_model("churn")
    version = registry.create_model_version(
        "churn", f"runs:/{run.info.run_id}/model", run.info.run_id, tags={"k": "v"}, description="d", user_id="ada"
    )
    assert (version.run_id, version.model_id, version.user_id, version.status) == (run.info.run_id, None, "ada", "READY")
    assert (version.current_stage, version.tags, version.description) == ("None", {"k": "v"}, "d")
    assert registry.get_model_version("churn", 1) == version
    assert registry.get_model_version_download_uri("churn", 1) == run.info.artifact_uri + "/model"
    lineage = registry.get_model_version_lineage("churn", "1")
    assert lineage["run"]["run_id"] == run.info.run_id and lineage["run"]["run_name"] == "train"
    assert lineage["experiment"]["name"] == "Default" and lineage.get("logged_model") is None


def test_version_from_a_logged_model_links_both_ways(registry, store, run):
    model = store.create_logged_model("0", "model", run.info.run_id)
    registry.create_registered_model("churn")
    v1 = registry.create_model_version("churn", f"models:/{model.model_id}", model_id=model.model_id)
    assert (v1.model_id, v1.run_id, v1.source) == (model.model_id, run.info.run_id, f"models:/{model.model_id}")
    assert registry.get_model_version_download_uri("churn", 1) == model.artifact_location
    # runs:/<run>/<name> finds the logged model the run produced (MLflow 3 layout)
    v2 = registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert v2.model_id == model.model_id
    assert registry.get_model_version_download_uri("churn", 2) == model.artifact_location
    assert [(v.name, v.version) for v in registry.get_logged_model_registrations(model.model_id)] == [
        ("churn", "1"),
        ("churn", "2"),
    ]
    assert [v.version for v in registry.search_model_versions(f"model_id = '{model.model_id}'")] == ["2", "1"]
    lineage = registry.get_model_version_lineage("churn", 1)
    assert lineage["logged_model"]["model_id"] == model.model_id and lineage["run"]["run_id"] == run.info.run_id
    registry.link_logged_model(model.model_id, "churn", "1")
    registry.link_logged_model(model.model_id, "churn", "1")  # once only
    registry.link_logged_model(model.model_id, "churn", "2")
    tag = store.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert json.loads(tag) == [{"name": "churn", "version": "1"}, {"name": "churn", "version": "2"}]


def test_version_from_another_version_and_inside_run_artifacts(registry, run):
    registry.create_registered_model("churn")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", 1)
    copied = registry.create_model_version("churn", "models:/churn@champion")
    assert copied.run_id == run.info.run_id
    assert registry.get_model_version_download_uri("churn", copied.version) == run.info.artifact_uri + "/model"
    inside = run.info.artifact_uri + "/sub/model"
    registry.create_model_version("churn", inside, run_id=run.info.run_id)
    assert registry.get_model_version_download_uri("churn", 3) == inside


def _unsafe_sources(artifact_uri: str) -> list[str]:
    """Inputs of CVE-2023-1177, -6977, -6909, 2024-1483, -1558, -1593, -1594, -2928, -3573 and kin."""
    return [
        "/etc/passwd",
        "/etc/",
        "file:///etc/passwd",
        "file://localhost/etc/",
        "//proc/self/root",
        "file:///tmp?x=/../../etc",
        "http:///#/../../../../etc/",
        "mlflow-artifacts:/0/x#/../../etc",
        artifact_uri + "/../../../etc",
        artifact_uri + "/%2e%2e/%2e%2e/etc",
        artifact_uri + "/%252e%252e%252fetc",
        artifact_uri + "/model;/../../etc",
        artifact_uri + "\\..\\..\\etc",
        artifact_uri + "/model/./../..",
        artifact_uri + "-sibling/model",
        "s3://someone-elses-bucket/model",
        "mlflow-artifacts://evil.example/0/x/artifacts/model",
        "http://169.254.169.254/latest/meta-data",
        "runs://host/abc/model",
        "models://host/churn/1",
        "runs:/../../etc",
        "C:\\Windows\\win.ini",
        "",
    ]


def test_unsafe_sources_are_refused(registry, run):
    registry.create_registered_model("churn")
    for source in _unsafe_sources(run.info.artifact_uri):
        with pytest.raises(InvalidParameterValue):
            registry.create_model_version("churn", source, run_id=run.info.run_id)
        with pytest.raises(InvalidParameterValue):  # and without a run: no way to own it at all
            registry.create_model_version("churn", source)
    assert _model_version_count(registry, "churn") == 0
    # a prompt tag switches nothing off (CVE-2026-2614)
    with pytest.raises(InvalidParameterValue):
        registry.create_model_version("churn", "file:///etc", tags={"mlflow.prompt.is_prompt": "true"})


def test_source_and_ids_must_agree(registry, store, run):
    other = store.create_run("0", "bob", 0)
    model = store.create_logged_model("0", "m", run.info.run_id)
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValue):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=other.info.run_id)
    with pytest.raises(InvalidParameterValue):
        registry.create_model_version("churn", run.info.artifact_uri + "/model", run_id=other.info.run_id)
    with pytest.raises(InvalidParameterValue, match="no model_id"):
        registry.create_model_version("churn", "models:/m-0123456789abcdef0123456789abcdef")
    with pytest.raises(ResourceDoesNotExist):
        unknown = "m-0123456789abcdef0123456789abcdef"
        registry.create_model_version("churn", f"models:/{unknown}", model_id=unknown)
    other_model = store.create_logged_model("0", "m2", run.info.run_id)
    with pytest.raises(InvalidParameterValue):
        registry.create_model_version("churn", f"models:/{model.model_id}", model_id=other_model.model_id)
    with pytest.raises(InvalidParameterValue, match="no run_id"):
        registry.create_model_version("churn", "runs:/0123456789abcdef0123456789abcdef/model")


def test_model_version_tags_and_description(registry, run):
    registry.create_registered_model("churn")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_model_version_tag("churn", "1", "validated", "yes")
    registry.set_model_version_tag("churn", 1, "validated", "no")
    assert registry.get_model_version("churn", 1).tags == {"validated": "no"}
    registry.delete_model_version_tag("churn", 1, "validated")
    registry.delete_model_version_tag("churn", 1, "never-set")
    assert registry.get_model_version("churn", 1).tags == {}
    assert registry.update_model_version("churn", 1, "better").description == "better"
    with pytest.raises(ResourceDoesNotExist):
        registry.set_model_version_tag("churn", 9, "k", "v")


# -- stages ---------------------------------------------------------------------------------------
def test_transition_stage_canonicalizes_and_archives(registry, run):
    registry.create_registered_model("churn")
    for _ in range(3):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    assert registry.transition_model_version_stage("churn", 1, "production").current_stage == "Production"
    assert registry.transition_model_version_stage("churn", 2, "PRODUCTION").current_stage == "Production"
    moved = registry.transition_model_version_stage("churn", 3, "Production", archive_existing_versions=True, user_id="ops")
    assert moved.current_stage == "Production"
    assert [registry.get_model_version("churn", n).current_stage for n in (1, 2)] == ["Archived", "Archived"]
    with pytest.raises(InvalidParameterValue, match="Invalid Model Version stage"):
        registry.transition_model_version_stage("churn", 1, "prod")
    with pytest.raises(InvalidParameterValue, match="not an Active stage"):
        registry.transition_model_version_stage("churn", 1, "Archived", archive_existing_versions=True)


def test_latest_versions(registry, run):
    registry.create_registered_model("churn")
    for _ in range(4):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.transition_model_version_stage("churn", 2, "Staging")
    registry.transition_model_version_stage("churn", 3, "Production")
    assert [v.version for v in registry.get_latest_versions("churn", ["staging"])] == ["2"]
    assert [(v.current_stage, v.version) for v in registry.get_latest_versions("churn")] == [
        ("None", "4"),
        ("Staging", "2"),
        ("Production", "3"),
    ]
    model = registry.get_registered_model("churn")
    assert sorted((v.current_stage, v.version) for v in model.latest_versions) == [
        ("None", "4"),
        ("Production", "3"),
        ("Staging", "2"),
    ]
    assert registry.get_latest_versions("churn", ["Archived"]) == []
    with pytest.raises(InvalidParameterValue):
        registry.get_latest_versions("churn", ["Prod"])
    for _ in range(2):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.delete_model_version("churn", 6)  # the newest of stage None goes: 5 is the latest again
    assert [v.version for v in registry.get_latest_versions("churn", ["None"])] == ["5"]
    registry.transition_model_version_stage("churn", 3, "Staging")  # Production empties, Staging gains
    registry.transition_model_version_stage("churn", 5, "Archived")
    assert [(v.current_stage, v.version) for v in registry.get_latest_versions("churn")] == [
        ("None", "4"),
        ("Staging", "3"),
        ("Archived", "5"),
    ]
    (model,) = registry.search_registered_models("name = 'churn'")
    assert sorted((v.current_stage, v.version) for v in model.latest_versions) == [
        ("Archived", "5"),
        ("None", "4"),
        ("Staging", "3"),
    ]


# -- aliases -------------------------------------------------------------------------------------
def test_aliases(registry, run):
    registry.create_registered_model("churn")
    for _ in range(3):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.set_registered_model_alias("churn", "challenger", 2)
    registry.set_registered_model_alias("churn", "champion", "2")
    assert registry.get_model_version_by_alias("churn", "champion").version == "2"
    assert registry.get_model_version("churn", 2).aliases == ("challenger", "champion")
    assert registry.get_registered_model("churn").aliases == {"challenger": "2", "champion": "2"}
    assert registry.get_model_version_by_alias("churn", "LATEST").version == "3"
    registry.delete_registered_model_alias("churn", "challenger")
    registry.delete_registered_model_alias("churn", "never-set")
    assert registry.get_registered_model("churn").aliases == {"champion": "2"}
    with pytest.raises(InvalidParameterValue, match="alias challenger not found"):
        registry.get_model_version_by_alias("churn", "challenger")
    for reserved in ("latest", "Latest", "v1", "V12"):
        with pytest.raises(InvalidParameterValue, match="reserved"):
            registry.set_registered_model_alias("churn", reserved, 1)
    for bad in ("has space", "dot.ted", "a/b", "x" * 256, ""):
        with pytest.raises(InvalidParameterValue):
            registry.set_registered_model_alias("churn", bad, 1)
    with pytest.raises(ResourceDoesNotExist):
        registry.set_registered_model_alias("churn", "ghost", 9)
    registry.delete_model_version("churn", 2)  # its aliases go with it
    assert registry.get_registered_model("churn").aliases == {}


def test_promotion_history_records_who_when_from_and_to(registry, run):
    registry.create_registered_model("churn")
    for _ in range(3):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", 1, user_id="ada")
    registry.set_registered_model_alias("churn", "champion", 1, user_id="ada")  # no move, no event
    registry.set_registered_model_alias("churn", "champion", 2, user_id="bob")
    registry.transition_model_version_stage("churn", 1, "Production", user_id="ops")
    registry.transition_model_version_stage("churn", 3, "Production", True, user_id="ops")
    registry.delete_registered_model_alias("churn", "champion", user_id="eve")
    events = list(registry.get_promotion_history("churn"))
    assert [(e.kind, e.target, e.action, e.user_id, e.from_version, e.to_version) for e in events] == [
        ("alias", "champion", "deleted", "eve", "2", None),
        ("stage", "Production", "transitioned", "ops", None, "3"),
        ("stage", "Archived", "archived", "ops", None, "1"),
        ("stage", "Production", "transitioned", "ops", None, "1"),
        ("alias", "champion", "moved", "bob", "1", "2"),
        ("alias", "champion", "created", "ada", None, "1"),
    ]
    assert events[2].reason == "archive_existing_versions" and events[2].from_stage == "Production"
    assert all(e.timestamp > 0 for e in events)
    alias_only = registry.get_promotion_history("churn", alias="champion")
    assert [e.action for e in alias_only] == ["deleted", "moved", "created"]
    production = registry.get_promotion_history("churn", stage="production")
    assert [(e.version, e.to_stage) for e in production] == [("3", "Production"), ("1", "Archived"), ("1", "Production")]
    first = registry.get_promotion_history("churn", max_results=4)
    second = registry.get_promotion_history("churn", max_results=4, page_token=first.token)
    assert [e.event_id for e in [*first, *second]] == [e.event_id for e in events] and second.token is None


def test_an_alias_move_can_say_why(registry, run):
    registry.create_registered_model("eta")
    for _ in range(2):
        registry.create_model_version("eta", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("eta", "champion", 1, user_id="ada")
    registry.set_registered_model_alias("eta", "champion", 2, user_id="bot", reason="retrain: every gate passed (run r1)")
    moved, created = registry.get_promotion_history("eta", alias="champion")
    assert (moved.action, moved.reason, moved.to_version) == ("moved", "retrain: every gate passed (run r1)", "2")
    assert created.reason is None


# -- search ------------------------------------------------------------------------------------------
@pytest.fixture
def catalog(registry, run):
    """Five models (alpha, beta, Gamma, delta, prompt-x) with tags and versions."""
    source = f"runs:/{run.info.run_id}/model"
    for i, name in enumerate(["alpha", "beta", "Gamma", "delta"]):
        registry.create_registered_model(name, {"team": "core" if i % 2 else "growth", "rank": str(i)})
        for _ in range(i + 1):
            registry.create_model_version(name, source, run.info.run_id, tags={"n": str(i)})
    registry.create_registered_model("prompt-x", {"mlflow.prompt.is_prompt": "true"})
    registry.create_model_version("prompt-x", source, run.info.run_id)
    return registry


def _names(page) -> list[str]:
    return [m.name for m in page]


def test_search_registered_models_filters_and_order(catalog, run):
    r = catalog
    assert _names(r.search_registered_models()) == ["Gamma", "alpha", "beta", "delta"]  # prompts left out
    assert _names(r.search_registered_models("name = 'beta'")) == ["beta"]
    assert _names(r.search_registered_models("name LIKE '%a'")) == ["Gamma", "alpha", "beta", "delta"]
    assert _names(r.search_registered_models("name LIKE 'g%'")) == []
    assert _names(r.search_registered_models("name ILIKE 'g%'")) == ["Gamma"]
    assert _names(r.search_registered_models("tags.team = 'core'")) == ["beta", "delta"]
    assert _names(r.search_registered_models("tags.team = 'core' AND name != 'beta'")) == ["delta"]
    assert _names(r.search_registered_models("name IN ('alpha', 'delta') OR tags.rank = '1'")) == ["alpha", "beta", "delta"]
    assert _names(r.search_registered_models("tags.`mlflow.prompt.is_prompt` = 'true'")) == ["prompt-x"]
    assert _names(r.search_registered_models("tags.`mlflow.prompt.is_prompt` != 'false'")) == ["prompt-x"]
    mlflow_default = "name LIKE '%a' AND tag.`mlflow.prompt.is_prompt` != 'true'"  # what MLflow's client sends
    assert _names(r.search_registered_models(mlflow_default)) == ["Gamma", "alpha", "beta", "delta"]
    assert _names(r.search_registered_models(order_by=["name DESC"])) == ["delta", "beta", "alpha", "Gamma"]
    newest_first = r.search_registered_models(order_by=["last_updated_timestamp DESC"])
    assert _names(newest_first)[0] == "delta"
    with pytest.raises(InvalidParameterValue):
        r.search_registered_models("metrics.x > 1")
    with pytest.raises(InvalidParameterValue):
        r.search_registered_models("name = ")


def test_search_registered_models_pages(catalog):
    r = catalog
    first = r.search_registered_models(max_results=3)
    assert _names(first) == ["Gamma", "alpha", "beta"] and first.token
    second = r.search_registered_models(max_results=3, page_token=first.token)
    assert _names(second) == ["delta"] and second.token is None
    assert len(r.search_registered_models(max_results=1000)) == 4
    with pytest.raises(InvalidParameterValue):
        r.search_registered_models(max_results=1001)
    with pytest.raises(InvalidParameterValue):
        r.search_registered_models(page_token="not a token")


def test_search_registered_models_hydrates_latest_versions_and_aliases(catalog):
    catalog.set_registered_model_alias("delta", "champion", 2)
    catalog.transition_model_version_stage("delta", 3, "Production")
    (delta,) = catalog.search_registered_models("name = 'delta'")
    assert delta.aliases == {"champion": "2"} and delta.tags == {"rank": "3", "team": "core"}
    assert sorted((v.current_stage, v.version) for v in delta.latest_versions) == [("None", "4"), ("Production", "3")]


def test_search_model_versions(catalog, run):
    r = catalog
    versions = r.search_model_versions("name = 'delta'")
    assert [v.version for v in versions] == ["4", "3", "2", "1"]  # newest update first
    assert len(r.search_model_versions()) == 10  # prompts left out
    assert len(r.search_model_versions(f"run_id = '{run.info.run_id}'")) == 10
    assert len(r.search_model_versions(f"run_id IN ('{run.info.run_id}', 'x')")) == 10
    assert [(v.name, v.version) for v in r.search_model_versions("version_number >= 3")] == [("delta", "4"), ("delta", "3"), ("Gamma", "3")]
    assert {v.name for v in r.search_model_versions("tags.n = '1'")} == {"beta"}
    assert len(r.search_model_versions("source_path LIKE 'runs:/%'")) == 10
    ordered = r.search_model_versions("name = 'beta' OR name = 'alpha'", order_by=["name ASC", "version_number ASC"])
    assert [(v.name, v.version) for v in ordered] == [("alpha", "1"), ("beta", "1"), ("beta", "2")]
    first = r.search_model_versions(max_results=4, order_by=["name", "version_number"])
    rest = r.search_model_versions(max_results=100, order_by=["name", "version_number"], page_token=first.token)
    assert len(first) == 4 and len(rest) == 6 and rest.token is None
    assert len(r.search_model_versions(max_results=200_000)) == 10
    with pytest.raises(InvalidParameterValue):
        r.search_model_versions(max_results=200_001)
    with pytest.raises(InvalidParameterValue):
        r.search_model_versions("params.x = '1'")


def test_resolve_download_uri_selectors(registry, run):
    registry.create_registered_model("churn")
    for _ in range(3):
        registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.transition_model_version_stage("churn", 2, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    expected = run.info.artifact_uri + "/model"
    picks = {s: registry.resolve_download_uri("churn", s) for s in ("1", "Production", "production", "latest", "@champion")}
    assert {s: (v.version, uri) for s, (v, uri) in picks.items()} == {
        "1": ("1", expected),
        "Production": ("2", expected),
        "production": ("2", expected),
        "latest": ("3", expected),
        "@champion": ("1", expected),
    }
    with pytest.raises(ResourceDoesNotExist):
        registry.resolve_download_uri("churn", "Staging")
    with pytest.raises(ModelyardError):
        registry.resolve_download_uri("churn", "@nobody")


# -- webhooks --------------------------------------------------------------------------------------
def test_webhook_crud_and_outbox(registry, run):
    hook = registry.create_webhook(
        "ci", PUBLIC_HOOK, ["model_version.created", {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}], "d", "s3cret"
    )
    assert hook.to_dict()["events"] == [
        {"entity": "MODEL_VERSION", "action": "CREATED"},
        {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
    ]
    assert "secret" not in hook.to_dict() and hook.status == "ACTIVE"
    assert registry.get_webhook(hook.webhook_id).name == "ci"
    assert [w.webhook_id for w in registry.list_webhooks()] == [hook.webhook_id]
    updated = registry.update_webhook(hook.webhook_id, name="ci-2", status="DISABLED")
    assert (updated.name, updated.status, updated.url) == ("ci-2", "DISABLED", PUBLIC_HOOK)
    registry.create_registered_model("churn")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)  # disabled: nothing queued
    assert list(registry.list_webhook_deliveries(hook.webhook_id)) == []
    registry.update_webhook(hook.webhook_id, status="ACTIVE")
    registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", 2)
    registry.set_model_version_tag("churn", 2, "k", "v")  # not subscribed
    log = list(registry.list_webhook_deliveries(hook.webhook_id))
    assert [d.event for d in log] == ["model_version_alias.created", "model_version.created"]
    body = json.loads(log[1].payload)
    assert (body["entity"], body["action"], body["data"]["name"], body["data"]["version"]) == (
        "model_version",
        "created",
        "churn",
        "2",
    )
    with pytest.raises(InvalidParameterValue):
        registry.create_webhook("bad", PUBLIC_HOOK, ["budget_policy.exceeded"])
    with pytest.raises(InvalidParameterValue):
        registry.create_webhook("bad", PUBLIC_HOOK, [])
    for url in ("ftp://93.184.216.34/x", "https://user:pw@93.184.216.34/x", "not a url"):
        with pytest.raises(InvalidParameterValue):
            registry.create_webhook("bad", url, ["model_version.created"])
    registry.delete_webhook(hook.webhook_id)
    with pytest.raises(ResourceDoesNotExist):
        registry.get_webhook(hook.webhook_id)


def test_server_fast_path_answers_exactly_what_the_entities_say(catalog):
    """The SQL store's ``*_wire`` searches (JSON built partly by the database) equal ``to_dict``."""
    r = catalog  # SQL stores only: tests/server/test_registry_rest.py leaves this test out
    r.set_registered_model_tag("beta", "odd", 'quote " back \\ ünïcode ✓\n')
    r.set_model_version_tag("beta", 2, "odd", "<tab>\t</tab>")
    r.set_registered_model_alias("beta", "champion", 2)
    r.transition_model_version_stage("beta", 1, "Staging")
    for filter_string in (None, "tags.team = 'core'", "name = 'nobody'"):
        items, token = r.search_registered_models_wire(filter_string, 1000)
        expected = [m.to_dict() for m in r.search_registered_models(filter_string, max_results=1000)]
        assert orjson.loads(orjson.dumps(items)) == expected and token is None
    for filter_string in (None, "tags.n = '1'", "tags.odd LIKE '<tab>%'", "name = 'nobody'"):
        items, _ = r.search_model_versions_wire(filter_string, 1000)
        expected = [v.to_dict() for v in r.search_model_versions(filter_string)]
        assert orjson.loads(orjson.dumps(items)) == expected
