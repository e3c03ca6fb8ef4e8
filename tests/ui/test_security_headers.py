"""Every page family, every artifact download and the API answer with anti-framing headers
(``Content-Security-Policy: ... frame-ancestors 'none'`` and ``X-Frame-Options: DENY``) and
``X-Content-Type-Options: nosniff``. Pages get a script policy that runs only the server's own
scripts and the inline scripts carrying this answer's nonce; downloads keep their sandbox."""

from __future__ import annotations

import re

import pytest

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")


def assert_no_framing(res) -> str:
    csp = res.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp, (res.url, csp)
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["x-content-type-options"] == "nosniff"
    return csp


def assert_page(res) -> None:
    assert res.status_code in (200, 404), (res.url, res.status_code)
    assert res.headers["content-type"].startswith("text/html")
    csp = assert_no_framing(res)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    script = directives["script-src"]
    assert "'unsafe-inline'" not in script and "*" not in script
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", res.text)
    nonce = NONCE.search(script)
    if inline:
        assert nonce, csp
        for attrs in inline:  # every inline script carries this answer's nonce
            assert f'nonce="{nonce.group(1)}"' in attrs, attrs


@pytest.fixture
def seeded(ui_api):
    api = ui_api
    exp = api.post("/api/2.0/mlflow/experiments/create", json={"name": "headers"}).json()["experiment_id"]
    run = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]
    run_id = run["run_id"]
    api.post("/api/2.0/mlflow/runs/log-metric", json={"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 1})
    other = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
    api.post("/api/2.0/mlflow/registered-models/create", json={"name": "hdr"})
    api.post(
        "/api/2.0/mlflow/model-versions/create", json={"name": "hdr", "source": f"runs:/{run_id}/model", "run_id": run_id}
    )
    model = api.post("/api/2.0/mlflow/logged-models", json={"experiment_id": exp, "name": "m"}).json()["model"]
    return {"exp": exp, "run_id": run_id, "other": other, "run": run, "model_id": model["info"]["model_id"]}


def test_every_page_family_has_the_page_policy(ui_api, seeded):
    run_id, exp = seeded["run_id"], seeded["exp"]
    pages = [
        "/experiments",
        f"/experiments/{exp}",
        f"/runs/{run_id}",
        f"/runs/{run_id}/artifacts",
        f"/compare?runs={run_id},{seeded['other']}",
        "/models",
        "/models/hdr",
        "/models/hdr/versions/1",
        f"/logged-models/{seeded['model_id']}",
        "/jobs",
        "/docs",
        "/runs/no-such-run",  # the error page
    ]
    for path in pages:
        assert_page(ui_api.get(path))
    compare = ui_api.get(f"/compare?runs={run_id},{seeded['other']}").headers["content-security-policy"]
    assert "'unsafe-eval'" in compare  # plotly's WebGL chart, on that page only
    assert "'unsafe-eval'" not in ui_api.get(f"/runs/{run_id}").headers["content-security-policy"]
    one, two = (NONCE.search(ui_api.get("/experiments").headers["content-security-policy"]) for _ in range(2))
    assert one and two and one.group(1) != two.group(1)  # a fresh nonce per answer


def test_downloads_keep_their_sandbox_and_cannot_be_framed(ui_api, seeded):
    run_id = seeded["run_id"]
    root = seeded["run"]["artifact_uri"].split("mlflow-artifacts:/", 1)[1].strip("/")
    put = ui_api.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{root}/page.html", content=b"<script>x</script>")
    assert put.status_code == 200
    downloads = [
        ui_api.get("/get-artifact", params={"run_id": run_id, "path": "page.html"}),
        ui_api.get(f"/api/2.0/mlflow-artifacts/artifacts/{root}/page.html"),
    ]
    for res in downloads:
        assert res.status_code == 200
        csp = assert_no_framing(res)
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert res.headers["content-disposition"].startswith("attachment")
        assert not res.headers["content-type"].startswith("text/html")


def test_api_answers_and_refusals_cannot_be_framed(ui_api):
    for res in (
        ui_api.get("/api/2.0/mlflow/experiments/search", params={"max_results": 1}),
        ui_api.get("/api/2.0/mlflow/runs/get", params={"run_id": "nope"}),
        ui_api.get("/health"),
        ui_api.get("/no/such/path"),
        ui_api.get("/health", headers={"host": "evil.example"}),  # the Host guard's 403
    ):
        assert assert_no_framing(res).startswith("default-src 'none'")
