"""Feature-table pages in-process (no browser): the list and its search, a table's page (keys,
schema, tags, online-store state, versions, a preview at a version, the runs and model versions
that used it), the feature spec on a model version's page, escaping, errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import yaml
from markupsafe import escape

from modelyard.auth.context import local_context
from modelyard.features.catalog import server_catalog
from modelyard.features.model import dataset_input
from modelyard.features.service import FeatureTableService
from modelyard.features.spec import SPEC_FILE, FeatureOutput, FeatureSpec, ResolvedLookup
from modelyard.ui.pages.features import name_pattern, table_url

XSS = "<img src=x onerror=alert(1)>"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _main(response) -> str:
    return re.search(r"<main>.*</main>", response.text, re.S).group(0)


def seed(services, tmp_path=None, name: str = "churn.customer_features") -> dict:
    """A time-series table with two versions, published online at the first; a run that trained on
    version 0 and the model version it registered (its folder holds feature_spec.yaml)."""
    catalog = server_catalog(services)
    svc = FeatureTableService(catalog, local_context(services.settings, "ada"))
    rows = pa.table({
        "customer_id": [1, 1, 2],
        "ts": pa.array([T0, T0 + timedelta(days=10), T0 + timedelta(days=5)], pa.timestamp("us", "UTC")),
        "purchases": [3, 7, 1],
        "note": [XSS, "plain", "x"],
    })
    table = svc.create(name, "customer_id", rows, timestamp_keys="ts", description=f"30-day **aggregates** {XSS}",
                       tags={"team": "growth", "xss": XSS})
    catalog.record_publish(name, "redis://127.0.0.1:6379/0", 0)
    svc.write(name, pa.table({"customer_id": [3], "ts": pa.array([T0], pa.timestamp("us", "UTC")),
                              "purchases": [9], "note": ["new"]}), mode="merge")
    lookup = ResolvedLookup(
        table_name=name, table_version=0, location=table.location, primary_keys=("customer_id",),
        lookup_key=("cid",), features=(FeatureOutput("purchases", "purchases", 0),), timestamp_key="ts",
        timestamp_lookup_key="event_ts", timestamp_type="timestamp[us, tz=UTC]",
    )
    store = services.tracking.store
    run = store.create_run("0", "ada", 0, run_name="train-churn")
    store.log_inputs(run.info.run_id, [dataset_input(lookup)])
    other = store.create_run("0", "ada", 0, run_name="unrelated")
    spec = FeatureSpec(lookups=(lookup,), input_columns=("purchases",), label="y")
    services.artifacts.repository().write_bytes(
        f"{run.info.artifact_uri.split(':', 1)[1].lstrip('/')}/model/{SPEC_FILE}", yaml.safe_dump(spec.to_dict()).encode()
    )
    services.registry.store.create_registered_model("churn", user_id="ada")
    services.registry.store.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
                                                 user_id="ada")
    return {"run_id": run.info.run_id, "other_run_id": other.info.run_id}


def test_name_pattern_and_urls() -> None:
    assert name_pattern("") is None and name_pattern("  ") is None
    assert name_pattern("churn") == "%churn%"
    assert name_pattern("churn.%") == "churn.%"
    assert table_url("a.b-c") == "/features/a.b-c"


def test_tables_list_and_search(ui_api, tmp_path) -> None:
    seed(ui_api.services, tmp_path)
    FeatureTableService(server_catalog(ui_api.services)).create("profile", "customer_id",
                                                                pa.table({"customer_id": [1], "age": [3.0]}))
    response = ui_api.get("/features")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"
    main = _main(response)
    assert 'href="/features/churn.customer_features"' in main and 'href="/features/profile"' in main
    row = re.search(r'<tr data-table-name="churn.customer_features">.*?</tr>', main, re.S).group(0)
    assert "<td>1</td>" in row  # current version
    assert 'class="badge stale"' in row  # published at version 0, table now at 1
    assert "team: growth" in row
    assert 'aria-current="page">Features' in response.text
    found = _main(ui_api.get("/features?q=prof"))
    assert 'href="/features/profile"' in found and "churn.customer_features" not in found
    none = _main(ui_api.get("/features?q=nothing-like-this"))
    assert "No feature tables match this search." in none


def test_table_page_shows_schema_versions_online_state_and_lineage(ui_api, tmp_path) -> None:
    ids = seed(ui_api.services, tmp_path)
    response = ui_api.get("/features/churn.customer_features")
    assert response.status_code == 200
    main = _main(response)
    assert re.search(r'id="primary-keys">customer_id<', main) and re.search(r'id="timestamp-keys">ts<', main)
    schema = re.search(r'<table id="schema-table">.*?</table>', main, re.S).group(0)
    assert schema.count("<tr data-column=") == 4
    assert "timestamp[us, tz=UTC]" in schema and "primary key" in schema and "timestamp key" in schema
    online = re.search(r'id="online-stores">.*?</table>', main, re.S).group(0)
    assert "redis://127.0.0.1:6379/0" in online and "1 version(s) behind" in online
    history = re.search(r'<table id="history-table">.*?</table>', main, re.S).group(0)
    assert 'data-version="1"' in history and 'data-version="0"' in history and "MERGE" in history
    assert "<strong>aggregates</strong>" in main  # the description is Markdown
    lineage = re.search(r'<table id="lineage-table">.*?</table>', main, re.S).group(0)
    assert f'data-run-id="{ids["run_id"]}"' in lineage and "train-churn" in lineage
    assert ids["other_run_id"] not in lineage
    assert '?version=0#preview">v0</a>' in lineage
    assert 'href="/models/churn/versions/1">churn v1</a>' in lineage
    preview = re.search(r'<table id="preview-table">.*?</table>', main, re.S).group(0)
    assert preview.count("<tr>") == 1 + 4  # the header and the 4 rows of version 1
    old = re.search(r'<table id="preview-table">.*?</table>', _main(ui_api.get("/features/churn.customer_features?version=0")), re.S).group(0)
    assert old.count("<tr>") == 1 + 3 and ">new<" not in old


def test_user_strings_are_escaped(ui_api, tmp_path) -> None:
    seed(ui_api.services, tmp_path)
    for path in ("/features", "/features/churn.customer_features"):
        text = ui_api.get(path).text
        assert XSS not in text
    assert str(escape(XSS)) in ui_api.get("/features/churn.customer_features").text


def test_errors_are_pages_not_traces(ui_api, tmp_path) -> None:
    seed(ui_api.services, tmp_path)
    missing = ui_api.get("/features/no.such.table")
    assert missing.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" in missing.text and "Traceback" not in missing.text
    bad = ui_api.get("/features/churn.customer_features?version=abc")
    assert bad.status_code == 400 and "version must be a version number" in bad.text
    gone = ui_api.get("/features/churn.customer_features?version=99")
    assert gone.status_code == 400 and "Traceback" not in gone.text


def test_model_version_page_shows_its_feature_spec(ui_api, tmp_path) -> None:
    seed(ui_api.services, tmp_path)
    main = _main(ui_api.get("/models/churn/versions/1"))
    spec = re.search(r'<table id="feature-spec-table">.*?</table>', main, re.S).group(0)
    assert 'href="/features/churn.customer_features"' in spec
    assert "cid → customer_id" in spec and "event_ts → ts" in spec and "purchases (default 0)" in spec
    assert '?version=0#preview">v0</a>' in spec
