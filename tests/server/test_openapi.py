"""/openapi.json describes every endpoint the router mounts; /docs lists them."""

from modelyard.server.routes.openapi import endpoints


def test_openapi_covers_every_endpoint(api):
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for ep in endpoints():
        path = f"/api/{ep.since}.0{ep.path}".replace(":path}", "}")
        assert ep.method.lower() in spec["paths"][path], path
    create = spec["paths"]["/api/2.0/mlflow/experiments/create"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "name" in spec["components"]["schemas"][body]["required"]
    get = spec["paths"]["/api/2.0/mlflow/runs/get"]["get"]
    assert {p["name"] for p in get["parameters"]} >= {"run_id"}
    assert "/api/2.0/mlflow-artifacts/artifacts/{path}" in spec["paths"]


def test_docs_page_lists_endpoints(api):
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/2.0/mlflow/runs/search" in page.text
    assert "<script" not in page.text
