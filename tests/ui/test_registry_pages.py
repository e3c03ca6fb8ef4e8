"""Registry pages in-process (no browser): content, links, escaping, errors, paging, CSRF."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markupsafe import escape

from modelyard.ui.pages.registry import model_url, models_filter, version_url

API = "/ajax-api/2.0/mlflow"
XSS = "<img src=x onerror=alert(1)>"
XSS_ATTR = "\"'><svg onload=alert(2)>"
# names may hold spaces, quotes, ?, #, % and markup (never / nor :)
ODD = "churn v2 ?#%'\"<b>"


def _seed(services, name: str = "churn", description: str | None = "Predicts churn.") -> dict:
    tracking, registry = services.tracking.store, services.registry.store
    run = tracking.create_run("0", "ada", 0, run_name="train-1")
    logged = tracking.create_logged_model("0", name="clf", source_run_id=run.info.run_id)
    registry.create_registered_model(name, tags={"team": "growth"}, description=description, user_id="ada")
    registry.create_model_version(
        name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, user_id="ada"
    )
    registry.create_model_version(name, f"models:/{logged.model_id}", model_id=logged.model_id, user_id="ada")
    registry.set_registered_model_alias(name, "champion", 1, user_id="ada")
    registry.set_registered_model_alias(name, "champion", 2, user_id="bob")
    registry.transition_model_version_stage(name, 2, "Production", user_id="bob")
    return {"run_id": run.info.run_id, "model_id": logged.model_id}


def _main(response) -> str:
    return re.search(r"<main>.*</main>", response.text, re.S).group(0)


def test_urls_quote_whole_names() -> None:
    assert model_url("a b?#%") == "/models/a%20b%3F%23%25"
    assert version_url("a b", 3) == "/models/a%20b/versions/3"
    assert models_filter("") is None
    assert models_filter("it's") == "name ILIKE '%it''s%'"
    assert models_filter("tags.team = 'x'") == "tags.team = 'x'"


def test_models_list_shows_latest_versions_and_aliases(ui_api) -> None:
    _seed(ui_api.services)
    response = ui_api.get("/models")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    main = _main(response)
    assert 'href="/models/churn"' in main
    assert 'href="/models/churn/versions/2">v2</a>' in main
    assert '<span class="badge stage-Production">Production</span>' in main
    assert "@champion → v2" in main and "team: growth" in main
    assert 'aria-current="page">Models' in response.text.replace('href="/models" ', "")


def test_search_by_name_by_grammar_and_inline_error(ui_api) -> None:
    registry = ui_api.services.registry.store
    registry.create_registered_model("churn-a", tags={"team": "vision"})
    registry.create_registered_model("fraud")
    names = lambda r: re.findall(r'data-model-name="([^"]*)"', r.text)  # noqa: E731
    assert names(ui_api.get("/models", params={"q": "CHURN"})) == ["churn-a"]
    assert names(ui_api.get("/models", params={"q": "tags.team = 'vision'"})) == ["churn-a"]
    assert names(ui_api.get("/models", params={"q": "name LIKE 'fr%'"})) == ["fraud"]
    bad = ui_api.get("/models", params={"q": "name = "})
    assert bad.status_code == 200
    assert 'id="filter-error"' in bad.text and "Invalid filter" in bad.text
    assert names(bad) == [] and "No registered models match this search" in bad.text
    assert 'value="name = "' in bad.text  # the query stays in the box to be fixed


def test_models_list_pages(ui_api) -> None:
    registry = ui_api.services.registry.store
    for i in range(55):
        registry.create_registered_model(f"m{i:03d}")
    first = ui_api.get("/models")
    rows = re.findall(r'data-model-name="([^"]*)"', first.text)
    assert rows == [f"m{i:03d}" for i in range(50)]
    token = html.unescape(re.search(r'id="next-page" href="([^"]*)"', first.text).group(1))
    second = ui_api.get(token)
    assert re.findall(r'data-model-name="([^"]*)"', second.text) == [f"m{i:03d}" for i in range(50, 55)]
    assert 'id="next-page"' not in second.text and "First page" in second.text


def test_model_page_content_and_history(ui_api) -> None:
    ids = _seed(ui_api.services)
    response = ui_api.get("/models/churn")
    assert response.status_code == 200
    main = _main(response)
    assert "<h1>churn</h1>" in main and "Predicts churn." in main
    assert (
        '<a class="badge alias" data-alias="champion" href="/models/churn/versions/2">@champion → v2</a>'
        in main
    )
    versions = re.findall(r'<tr data-version="(\d+)">', main)
    assert versions == ["2", "1"]
    assert f'href="/runs/{ids["run_id"]}"' in main
    assert f"models:/{ids['model_id']}" in main  # the source of version 2
    # the history: newest first, who and what
    history = re.search(r'<table id="history-table">.*?</table>', main, re.S).group(0)
    rows = re.findall(r'<tr data-kind="(\w+)" data-target="(\w+)" data-action="(\w+)">', history)
    assert rows == [
        ("stage", "Production", "transitioned"),
        ("alias", "champion", "moved"),
        ("alias", "champion", "created"),
    ]
    assert "bob" in history and "ada" in history
    assert 'href="/models/churn/versions/1">v1</a>' in history


def test_model_page_pages_versions_and_history(ui_api, monkeypatch) -> None:
    from modelyard.ui.pages import registry as pages

    monkeypatch.setattr(pages, "VERSIONS_PAGE_SIZE", 2)
    monkeypatch.setattr(pages, "HISTORY_PAGE_SIZE", 2)
    _seed(ui_api.services)
    run = ui_api.services.tracking.store.create_run("0", "ada", 0)
    ui_api.services.registry.store.create_model_version("churn", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    first = ui_api.get("/models/churn")
    assert re.findall(r'<tr data-version="(\d+)">', first.text) == ["3", "2"]
    older = html.unescape(re.search(r'id="versions-next" href="([^"]*)"', first.text).group(1))
    assert re.findall(r'<tr data-version="(\d+)">', ui_api.get(older).text) == ["1"]
    assert len(re.findall(r"<tr data-kind=", first.text)) == 2
    events = html.unescape(re.search(r'id="history-next" href="([^"]*)"', first.text).group(1))
    assert re.findall(r'data-action="(\w+)"', ui_api.get(events).text) == ["created"]


def test_version_page_lineage_controls_and_snippet(ui_api) -> None:
    ids = _seed(ui_api.services)
    response = ui_api.get("/models/churn/versions/2")
    assert response.status_code == 200
    main = _main(response)
    assert 'data-name="churn" data-version="2"' in main
    assert f'<a id="run-link" href="/runs/{ids["run_id"]}">train-1</a>' in main
    assert f'<code><a href="/logged-models/{ids["model_id"]}">models:/{ids["model_id"]}</a></code>' in main
    assert f'logged by <a href="/runs/{ids["run_id"]}">' in main
    assert 'id="stage-select"' in main and 'id="archive-existing"' in main
    assert (
        '<option value="Staging">' in main and '<option value="Production">' not in main
    )  # it is there already
    assert 'id="alias-input"' in main and 'data-alias="champion"' in main
    snippet = html.unescape(
        re.search(r'<pre class="preview" id="load-snippet">(.*?)</pre>', main, re.S).group(1)
    )
    assert 'modelyard.pyfunc.load_model("models:/churn/2")' in snippet
    assert 'modelyard.pyfunc.load_model("models:/churn@champion")' in snippet
    assert f'modelyard.pyfunc.load_model("models:/{ids["model_id"]}")' in snippet
    assert "/static/registry.js" in response.text
    # version 1 is from run artifacts: no logged model; champion is elsewhere, offered to move here
    one = _main(ui_api.get("/models/churn/versions/1"))
    assert "none (registered from run artifacts)" in one and "@champion → v2" in one


def test_version_page_reads_the_signature_from_mlmodel(ui_api) -> None:
    ids = _seed(ui_api.services)
    folder = Path(ui_api.services.artifacts.destination) / "0" / ids["run_id"] / "artifacts" / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(
        "flavors:\n  python_function: {}\nsignature:\n"
        '  inputs: \'[{"type": "double", "name": "age"}, {"type": "string", "name": "<i>plan</i>"}]\'\n'
        '  outputs: \'[{"type": "long"}]\'\n'
    )
    main = _main(ui_api.get("/models/churn/versions/1"))
    inputs = re.search(r'<table class="signature-inputs">.*?</table>', main, re.S).group(0)
    assert ">age<" in inputs and ">double<" in inputs and "&lt;i&gt;plan&lt;/i&gt;" in inputs
    assert ">long<" in re.search(r'<table class="signature-outputs">.*?</table>', main, re.S).group(0)
    assert "could not be read" in _main(ui_api.get("/models/churn/versions/2"))


def test_odd_names_round_trip_through_urls(ui_api) -> None:
    _seed(ui_api.services, name=ODD)
    listing = ui_api.get("/models")
    href = html.unescape(re.search(r'class="model-link" href="([^"]*)"', listing.text).group(1))
    assert href == model_url(ODD)
    page = ui_api.get(href)
    assert page.status_code == 200 and str(escape(ODD)) in page.text
    version = ui_api.get(version_url(ODD, 2))
    assert version.status_code == 200
    assert str(escape(ODD)) in version.text


@pytest.mark.parametrize("payload", [XSS, XSS_ATTR])
def test_user_strings_are_escaped(ui_api, payload: str) -> None:
    tracking, registry = ui_api.services.tracking.store, ui_api.services.registry.store
    run = tracking.create_run("0", "ada", 0, run_name=payload)
    registry.create_registered_model(payload, tags={"note": payload}, description=payload, user_id=payload)
    registry.create_model_version(
        payload, f"runs:/{run.info.run_id}/{payload}", run_id=run.info.run_id, description=payload
    )
    registry.set_model_version_tag(payload, 1, "k", payload)
    registry.set_registered_model_alias(payload, "champion", 1, user_id=payload)
    registry.transition_model_version_stage(payload, 1, "Staging", user_id=payload)
    pages = [
        ui_api.get("/models"),
        ui_api.get("/models", params={"q": payload}),
        ui_api.get(model_url(payload)),
        ui_api.get(version_url(payload, 1)),
    ]
    for response in pages:
        assert response.status_code == 200
        assert "<img src=x" not in response.text and "<svg" not in response.text
        assert "&lt;" in response.text
    version_page = pages[3].text
    assert version_page.count(str(escape(payload))) >= 4  # name, source, description, tag, run name


def test_alias_names_cannot_carry_markup(ui_api) -> None:
    _seed(ui_api.services)
    response = ui_api.post(
        f"{API}/registered-models/alias", json={"name": "churn", "alias": XSS, "version": "1"}
    )
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert XSS not in ui_api.services.registry.store.get_registered_model("churn").aliases


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/models/nope", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/models/churn/versions/9", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/models/nope/versions/1", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/models/churn/versions/abc", 400, "INVALID_PARAMETER_VALUE"),
        ("/models?page_token=garbage", 200, "Invalid"),
        ("/models/churn?versions_token=garbage", 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_errors_are_html_pages(ui_api, path: str, status: int, code: str) -> None:
    _seed(ui_api.services)
    response = ui_api.get(path)
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert code in _main(response) and "Traceback" not in response.text


def test_alias_endpoint_refuses_cross_site_requests(ui_api) -> None:
    _seed(ui_api.services)
    registry = ui_api.services.registry.store
    url = f"{API}/registered-models/alias"
    # a cross-site HTML form can only send form-encoded, multipart or text/plain bodies
    form = ui_api.request(
        "POST",
        url,
        content=b"name=churn&alias=evil&version=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:5000"},
    )
    assert form.status_code == 400
    plain = ui_api.request(
        "POST",
        url,
        content=b'{"name": "churn", "alias": "evil", "version": "1"}',
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 400
    # JSON from a foreign page (fetch with CORS) carries its Origin: refused before the handler
    foreign = ui_api.post(
        url,
        json={"name": "churn", "alias": "evil", "version": "1"},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    deleted = ui_api.request(
        "DELETE", url, json={"name": "churn", "alias": "champion"}, headers={"Origin": "https://evil.example"}
    )
    assert deleted.status_code == 403
    assert registry.get_registered_model("churn").aliases == {"champion": "2"}
    # the UI's own request (same-origin JSON) works
    ok = ui_api.post(
        url, json={"name": "churn", "alias": "evil", "version": "1"}, headers={"Origin": "http://localhost"}
    )
    assert ok.status_code == 200
    assert registry.get_registered_model("churn").aliases == {"champion": "2", "evil": "1"}


def test_history_shows_archived_side_effects_with_their_reason(ui_api) -> None:
    _seed(ui_api.services)
    registry = ui_api.services.registry.store
    registry.transition_model_version_stage(
        "churn", 1, "Production", archive_existing_versions=True, user_id="cy"
    )
    history = re.search(
        r'<table id="history-table">.*?</table>', ui_api.get("/models/churn").text, re.S
    ).group(0)
    rows = re.findall(
        r'<tr data-kind="stage" data-target="(\w+)" data-action="(\w+)">(.*?)</tr>', history, re.S
    )
    events = [(target, action) for target, action, _ in rows]
    assert events[:2] in (
        [("Production", "transitioned"), ("Archived", "archived")],
        [("Archived", "archived"), ("Production", "transitioned")],
    )
    archived = next(body for target, action, body in rows if action == "archived")
    reason = registry.get_promotion_history("churn", stage="Archived")[0].reason
    assert reason and str(escape(reason)) in archived and 'href="/models/churn/versions/2">v2</a>' in archived
