"""The artifact browser (/runs/{id}/artifacts) and MLflow's download routes, in-process.

Previews of each kind (text, HTML as text, JSON, YAML, CSV/TSV tables, images, binary, MLmodel
of a real scikit-learn model), escaping of user strings (file names, contents, run and experiment
names), size caps, traversal refused in every form (page and download routes), and the download
headers (attachment, sandboxing CSP, nosniff, allow-listed content types, ranges).
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from urllib.parse import quote

import pytest

from modelyard.artifacts.service import proxied_path
from modelyard.entities import LoggedModelOutput
from modelyard.ui import previews

XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('pwned')</script>"


class Seeded:
    def __init__(self, services, experiment: str = "vision", run_name: str = "resnet-1") -> None:
        self.services = services
        store = services.tracking.store
        self.experiment_id = store.create_experiment(experiment)
        self.run = store.create_run(self.experiment_id, "alice", int(time.time() * 1000), run_name=run_name)
        self.run_id = self.run.info.run_id
        self.repo = services.artifacts.repository()
        self.root = proxied_path(self.run.info.artifact_uri)

    def put(self, rel: str, data: bytes | str) -> None:
        self.repo.write_bytes(f"{self.root}/{rel}", data.encode() if isinstance(data, str) else data)

    def local_root(self):
        from pathlib import Path

        return Path(self.services.artifacts.destination, *self.root.split("/"))

    def page(self, api, path: str | None = None, **params):
        query = {"path": path} if path is not None else {}
        query.update(params)
        return api.get(f"/runs/{self.run_id}/artifacts", params=query)


def preview_text(body: str) -> str:
    match = re.search(r'<pre class="preview" id="preview-text"[^>]*>(.*?)</pre>', body, re.S)
    assert match, "no text preview on the page"
    return html.unescape(match.group(1))


def crumbs(body: str) -> list[str]:
    nav = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', body, re.S).group(1)
    return [
        html.unescape(x) for x in re.findall(r"<(?:a|span)(?: [^>]*)?>([^<]*)</(?:a|span)>", nav) if x != "›"
    ]


@pytest.fixture
def seeded(ui_api):
    return Seeded(ui_api.services)


def test_folder_tree_listing_and_breadcrumbs(ui_api, seeded):
    seeded.put("data/train/part-0.csv", "a,b\n1,2\n")
    seeded.put("data/train/part-1.csv", "a,b\n3,4\n")
    seeded.put("data/README.md", "# data\n")
    seeded.put("notes.txt", "hello")

    root = seeded.page(ui_api)
    assert root.status_code == 200
    assert crumbs(root.text) == ["Experiments", "vision", "resnet-1", "Artifacts"]
    assert 'data-path="data"' in root.text and 'data-path="notes.txt"' in root.text
    assert 'data-path="data/train"' not in root.text  # folders are expanded only on the way to the selection
    assert 'id="folder-listing"' in root.text

    folder = seeded.page(ui_api, "data/train")
    assert folder.status_code == 200
    assert crumbs(folder.text) == ["Experiments", "vision", "resnet-1", "Artifacts", "data", "train"]
    assert f'href="/runs/{seeded.run_id}/artifacts?path=data"' in folder.text  # the "data" crumb links up
    listing = re.search(r'<table id="folder-listing">(.*?)</table>', folder.text, re.S).group(1)
    assert re.findall(r">(part-\d\.csv)<", listing) == ["part-0.csv", "part-1.csv"]

    # folders first, then files, in the tree; the selected file is marked
    deep = seeded.page(ui_api, "data/train/part-1.csv")
    tree = re.search(r'<nav class="card artifact-tree".*?</nav>', deep.text, re.S).group(0)
    order = re.findall(r'data-path="([^"]+)"', tree)
    assert order == [
        "data",
        "data/train",
        "data/train/part-0.csv",
        "data/train/part-1.csv",
        "data/README.md",
        "notes.txt",
    ]
    assert re.search(r'href="[^"]*part-1\.csv" aria-current="page"', tree)


def test_empty_run_and_missing_artifact(ui_api, seeded):
    empty = seeded.page(ui_api)
    assert empty.status_code == 200 and "No artifacts logged yet" in empty.text
    missing = seeded.page(ui_api, "nope.txt")
    assert missing.status_code == 404 and "does not exist" in missing.text
    unknown_run = ui_api.get("/runs/0123456789abcdef0123456789abcdef/artifacts")
    assert unknown_run.status_code == 404 and "<html" in unknown_run.text


def test_text_and_html_files_are_shown_as_escaped_text(ui_api, seeded):
    page_html = f"<html><body>{SCRIPT}<img src=x onerror=alert(2)></body></html>"
    seeded.put("report.html", page_html)
    seeded.put("train.py", "if a < b and c > d:\n    print('&amp;')\n")
    for rel, content in (
        ("report.html", page_html),
        ("train.py", "if a < b and c > d:\n    print('&amp;')\n"),
    ):
        res = seeded.page(ui_api, rel)
        assert res.status_code == 200
        assert preview_text(res.text) == content
    body = seeded.page(ui_api, "report.html").text
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in body


def test_xss_in_file_names_run_and_experiment_names(ui_api):
    seeded = Seeded(ui_api.services, experiment=f"exp {XSS}", run_name=f"run {SCRIPT}")
    folder = f"dir {XSS}"
    name = f"{XSS}.txt"
    seeded.put(f"{folder}/{name}", "safe")
    res = seeded.page(ui_api, f"{folder}/{name}")
    assert res.status_code == 200
    assert XSS not in res.text and SCRIPT not in res.text
    assert html.escape(XSS, quote=False) in res.text  # shown, as text
    assert crumbs(res.text)[1:] == [f"exp {XSS}", f"run {SCRIPT}", "Artifacts", folder, name]
    # the download link encodes the path; the route serves it back
    link = html.unescape(re.search(r'id="download" href="([^"]+)"', res.text).group(1))
    assert link == f"/get-artifact?run_id={seeded.run_id}&path={quote(folder + '/' + name)}"
    assert ui_api.get(link).content == b"safe"


def test_json_yaml_and_invalid_json(ui_api, seeded):
    seeded.put("metrics.json", json.dumps({"acc": 0.9, "note": SCRIPT, "nested": {"a": [1, 2]}}))
    seeded.put("bad.json", '{"open": ')
    seeded.put("conf/params.yaml", f"lr: 0.1\nname: '{SCRIPT}'\n")
    pretty = preview_text(seeded.page(ui_api, "metrics.json").text)
    assert pretty == json.dumps({"acc": 0.9, "note": SCRIPT, "nested": {"a": [1, 2]}}, indent=2)
    bad = seeded.page(ui_api, "bad.json").text
    assert preview_text(bad) == '{"open": ' and "not valid JSON" in bad
    yaml_page = seeded.page(ui_api, "conf/params.yaml").text
    assert 'data-format="yaml"' in yaml_page and preview_text(yaml_page) == f"lr: 0.1\nname: '{SCRIPT}'\n"
    assert SCRIPT not in yaml_page


def table_of(body: str) -> tuple[list[str], list[list[str]]]:
    table = re.search(r'<table id="preview-table">(.*?)</table>', body, re.S).group(1)
    head = [html.unescape(x) for x in re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table)]
    rows = [
        [html.unescape(c) for c in re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S)
    ]
    return head, rows


def test_csv_and_tsv_as_tables(ui_api, seeded):
    seeded.put("preds.csv", f'id,label,text\n1,cat,"a, quoted"\n2,{XSS},"multi\nline"\n')
    seeded.put("preds.tsv", "a\tb\n1\t2\n")
    body = seeded.page(ui_api, "preds.csv").text
    head, rows = table_of(body)
    assert head == ["id", "label", "text"]
    assert rows == [["1", "cat", "a, quoted"], ["2", XSS, "multi\nline"]]
    assert XSS not in body
    assert table_of(seeded.page(ui_api, "preds.tsv").text) == (["a", "b"], [["1", "2"]])


def test_csv_shows_the_first_rows_only(ui_api, seeded):
    lines = ["n,square"] + [f"{i},{i * i}" for i in range(previews.TABLE_ROWS + 50)]
    seeded.put("big.csv", "\n".join(lines) + "\n")
    body = seeded.page(ui_api, "big.csv").text
    _, rows = table_of(body)
    assert len(rows) == previews.TABLE_ROWS and rows[-1] == [
        str(previews.TABLE_ROWS - 1),
        str((previews.TABLE_ROWS - 1) ** 2),
    ]
    assert f"Showing the first {previews.TABLE_ROWS} rows" in body


def test_text_preview_is_capped(ui_api, seeded):
    cap = previews.PREVIEW_BYTES
    seeded.put("huge.log", ("x" * 99 + "\n") * (cap // 100 + 5000))
    body = seeded.page(ui_api, "huge.log").text
    assert len(preview_text(body)) == cap
    assert 'id="preview-notice"' in body and "Showing the first 1.0 MB" in body
    # a CSV bigger than the cap is still a table, without its cut-off last line
    row = "1,2,3\n"
    seeded.put("huge.csv", "a,b,c\n" + row * (cap // len(row) + 10))
    _, rows = table_of(seeded.page(ui_api, "huge.csv").text)
    assert len(rows) == previews.TABLE_ROWS and all(r == ["1", "2", "3"] for r in rows)


def test_images_binary_and_svg(ui_api, seeded, make_png):
    seeded.put("plots/roc.png", make_png(2, 2))
    seeded.put("plots/evil.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    seeded.put("model.bin", b"\x00\x01\x02binary\xff")
    seeded.put("noext", b"plain words, no extension\n")

    body = seeded.page(ui_api, "plots/roc.png").text
    src = html.unescape(
        re.search(r'<img class="artifact-image" id="preview-image" src="([^"]+)"', body).group(1)
    )
    assert src == f"/get-artifact?run_id={seeded.run_id}&path=plots/roc.png"
    image = ui_api.get(src)
    assert image.status_code == 200 and image.content == make_png(2, 2)
    assert image.headers["content-type"] == "image/png"

    svg_page = seeded.page(ui_api, "plots/evil.svg").text
    assert 'id="preview-image"' in svg_page and "<script>" not in svg_page  # only ever an <img> source
    svg = ui_api.get(f"/get-artifact?run_id={seeded.run_id}&path=plots/evil.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in svg.headers["content-security-policy"]
    assert "default-src 'none'" in svg.headers["content-security-policy"]
    assert svg.headers["content-disposition"].startswith("attachment")

    binary = seeded.page(ui_api, "model.bin").text
    assert 'id="no-preview"' in binary and 'id="download"' in binary
    assert preview_text(seeded.page(ui_api, "noext").text) == "plain words, no extension\n"


def test_mlmodel_preview_of_a_real_sklearn_model(ui_api, seeded, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import modelyard as my

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=300).fit(X, y)
    my.sklearn.save_model(clf, tmp_path / "model", input_example=X.iloc[:3])
    seeded.repo.log_artifacts(str(tmp_path / "model"), f"{seeded.root}/model")

    body = seeded.page(ui_api, "model/MLmodel").text
    assert 'data-kind="mlmodel"' in body
    flavors = re.findall(r'<span class="badge">([^<]+)</span>', body)
    assert set(flavors) == {"python_function", "sklearn"}
    inputs = re.search(r'<table id="signature-inputs">(.*?)</table>', body, re.S).group(1)
    assert "sepal length (cm)" in inputs and "double" in inputs
    assert '<table id="signature-outputs">' in body
    example = re.search(r'<table id="input-example">(.*?)</table>', body, re.S).group(1)
    assert example.count("<tr>") == 4  # the header and 3 rows
    assert "petal width (cm)" in example
    assert f'load_model("runs:/{seeded.run_id}/model")' in body  # the snippet to load it
    assert "flavors:" in preview_text(body)  # the raw file, folded away


def test_logged_models_of_the_run(ui_api, seeded):
    store = ui_api.services.tracking.store
    logged = store.create_logged_model(seeded.experiment_id, f"clf {XSS}", seeded.run_id)
    store.log_outputs(seeded.run_id, [LoggedModelOutput(logged.model_id, 0)])
    model_root = proxied_path(logged.artifact_location)
    seeded.repo.write_bytes(f"{model_root}/MLmodel", b"flavors:\n  python_function: {loader_module: x}\n")
    seeded.repo.write_bytes(f"{model_root}/requirements.txt", b"scikit-learn==1.9\n")

    run_page = seeded.page(ui_api).text
    assert f"?model={logged.model_id}" in run_page and XSS not in run_page
    model_page = seeded.page(ui_api, "requirements.txt", model=logged.model_id)
    assert model_page.status_code == 200
    assert preview_text(model_page.text) == "scikit-learn==1.9\n"
    assert crumbs(model_page.text)[3:] == [f"Model clf {XSS}", "requirements.txt"]
    link = html.unescape(re.search(r'id="download" href="([^"]+)"', model_page.text).group(1))
    assert (
        link
        == f"/ajax-api/2.0/mlflow/logged-models/{logged.model_id}/artifacts/files?artifact_file_path=requirements.txt"
    )
    assert ui_api.get(link).content == b"scikit-learn==1.9\n"
    mlmodel = seeded.page(ui_api, "MLmodel", model=logged.model_id).text
    assert f"models:/{logged.model_id}" in mlmodel

    # a model that is not an output of this run is not browsable through it
    other = store.create_logged_model(seeded.experiment_id, "other")
    assert seeded.page(ui_api, model=other.model_id).status_code == 404
    # MLflow's logged-model route needs its parameter
    missing = ui_api.get(f"/ajax-api/2.0/mlflow/logged-models/{logged.model_id}/artifacts/files")
    assert missing.status_code == 400 and missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_get_artifact_route_headers_and_errors(ui_api, seeded):
    seeded.put("dir/page.html", f"<html>{SCRIPT}</html>")
    seeded.put("weights.bin", bytes(range(256)))
    run_id = seeded.run_id

    res = ui_api.get("/get-artifact", params={"run_id": run_id, "path": "dir/page.html"})
    assert res.status_code == 200 and res.text == f"<html>{SCRIPT}</html>"
    assert res.headers["content-type"] == "text/plain; charset=utf-8"  # never text/html
    assert (
        res.headers["content-disposition"] == "attachment; filename=\"page.html\"; filename*=UTF-8''page.html"
    )
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in res.headers["content-security-policy"]

    binary = ui_api.get(
        "/get-artifact", params={"run_uuid": run_id, "path": "weights.bin"}
    )  # MLflow's old name
    assert (
        binary.content == bytes(range(256)) and binary.headers["content-type"] == "application/octet-stream"
    )
    ranged = ui_api.get(
        "/get-artifact", params={"run_id": run_id, "path": "weights.bin"}, headers={"Range": "bytes=10-19"}
    )
    assert ranged.status_code == 206 and ranged.content == bytes(range(10, 20))
    assert ranged.headers["content-range"] == "bytes 10-19/256"
    head = ui_api.request("HEAD", "/get-artifact", params={"run_id": run_id, "path": "weights.bin"})
    assert head.status_code == 200 and head.headers["content-length"] == "256" and head.content == b""

    def error(params, status, code):
        out = ui_api.get("/get-artifact", params=params)
        assert out.status_code == status, (params, out.text)
        assert out.json()["error_code"] == code
        return out.json()["message"]

    assert "path" in error({"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE")
    assert "run_uuid" in error({"path": "x"}, 400, "INVALID_PARAMETER_VALUE")
    error({"run_id": "0" * 32, "path": "x"}, 404, "RESOURCE_DOES_NOT_EXIST")
    error({"run_id": run_id, "path": "missing.txt"}, 404, "RESOURCE_DOES_NOT_EXIST")
    error({"run_id": run_id, "path": "dir"}, 400, "INVALID_PARAMETER_VALUE")  # a folder, not a file
    error({"run_id": run_id, "path": ""}, 400, "INVALID_PARAMETER_VALUE")


TRAVERSALS = [
    "../secret.txt",
    "dir/../../secret.txt",
    "..%2fsecret.txt",
    "%2e%2e/secret.txt",
    "%252e%252e/secret.txt",
    "/etc/passwd",
    "//server/share",
    "C:/Windows/win.ini",
    "dir\\..\\..\\secret.txt",
    "．．/secret.txt",
    ".. /secret.txt",
    "dir/%00",
]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_traversal_is_refused_everywhere(ui_api, seeded, bad):
    seeded.put("dir/ok.txt", "ok")
    page = seeded.page(ui_api, bad)
    assert page.status_code == 400 and "Invalid artifact path" in page.text and "<html" in page.text
    download = ui_api.get("/get-artifact", params={"run_id": seeded.run_id, "path": bad})
    assert download.status_code == 400 and download.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_symlink_escaping_the_artifact_root_is_refused(ui_api, seeded, tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("top secret")
    seeded.put("ok.txt", "ok")
    root = seeded.local_root()
    os.symlink(secret, root / "link.txt")
    os.symlink(secret.parent, root / "linkdir")

    listing = seeded.page(ui_api)
    assert listing.status_code == 200 and "link.txt" not in listing.text and "linkdir" not in listing.text
    for rel in ("link.txt", "linkdir/secret.txt", "linkdir"):
        page = seeded.page(ui_api, rel)
        assert page.status_code in (400, 404) and "top secret" not in page.text
        download = ui_api.get("/get-artifact", params={"run_id": seeded.run_id, "path": rel})
        assert download.status_code in (400, 404) and b"top secret" not in download.content


def test_model_version_artifact_route(ui_api, seeded):
    seeded.put("model/MLmodel", "flavors: {}\n")
    seeded.put("model/conda.yaml", "name: env\n")
    registry = ui_api.services.registry.store
    registry.create_registered_model("churn")
    registry.create_model_version("churn", f"{seeded.run.info.artifact_uri}/model", seeded.run_id)
    res = ui_api.get(
        "/model-versions/get-artifact", params={"name": "churn", "version": "1", "path": "conda.yaml"}
    )
    assert res.status_code == 200 and res.text == "name: env\n"
    assert res.headers["content-disposition"].startswith("attachment")
    bad = ui_api.get(
        "/model-versions/get-artifact", params={"name": "churn", "version": "1", "path": "../../x"}
    )
    assert bad.status_code == 400
    missing = ui_api.get(
        "/model-versions/get-artifact", params={"name": "churn", "version": "9", "path": "MLmodel"}
    )
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_runs_with_a_local_artifact_root(ui_api, tmp_path):
    """A run whose artifact_uri is a plain folder (not mlflow-artifacts:/) is read from there directly."""
    store = ui_api.services.tracking.store
    eid = store.create_experiment("local-root", artifact_location=str(tmp_path / "store"))
    run = store.create_run(eid, "alice", 0, run_name="local")
    root = tmp_path / "store" / run.info.run_id / "artifacts"
    assert run.info.artifact_uri == str(root)
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "table.tsv").write_text("k\tv\nalpha\t1\n")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "sub" / "escape.txt")

    body = ui_api.get(f"/runs/{run.info.run_id}/artifacts", params={"path": "sub/table.tsv"}).text
    assert table_of(body) == (["k", "v"], [["alpha", "1"]]) and "escape.txt" not in body
    res = ui_api.get("/get-artifact", params={"run_id": run.info.run_id, "path": "sub/table.tsv"})
    assert res.status_code == 200 and res.text == "k\tv\nalpha\t1\n"
    for rel in ("sub/escape.txt", "../../secret.txt"):
        res = ui_api.get("/get-artifact", params={"run_id": run.info.run_id, "path": rel})
        assert res.status_code == 400 and b"top secret" not in res.content
