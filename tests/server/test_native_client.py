"""modelyard's client on modelyard's server: the fast routes it negotiates through server-info
(an Arrow metric history, a columnar run search) answer exactly what the standard routes answer,
with the same errors; and the client falls back to the standard routes wherever they are not
offered (a server that does not advertise them, one that advertises a route it then lacks)."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import orjson
import pytest

from modelyard.entities import DatasetInput, LoggedModelOutput, Metric, Param, RunTag, columnar
from modelyard.entities.run import Dataset, InputTag, Run, RunData, RunInfo, RunInputs, RunOutputs
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.server.routes import columnar as columnar_routes
from modelyard.settings import Settings
from modelyard.store.tracking.rest import HISTORY_ARROW, SEARCH_COLUMNAR, SERVER_INFO, RestTrackingStore

STANDARD_HISTORY = "/api/2.0/mlflow/metrics/get-history"
STANDARD_SEARCH = "/api/2.0/mlflow/runs/search"


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that notes the path of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def _store(url: str, *, fast: bool = True) -> tuple[RestTrackingStore, Recording]:
    transport = Recording()
    settings = Settings.defaults(http_request_max_retries=0, http_request_timeout=30)
    return RestTrackingStore(url, settings, transport=transport, fast_paths=fast), transport


@pytest.fixture
def stores(live_server, fresh_backend):
    fast, fast_log = _store(live_server.url)
    standard, standard_log = _store(live_server.url, fast=False)
    yield fast, fast_log, standard, standard_log
    fast.close()
    standard.close()


def test_server_info_offers_the_fast_paths(api) -> None:
    info = api.get(SERVER_INFO).json()
    assert info["modelyard_fast_paths"] == {"history_arrow": 1, "search_columnar": 1, "artifact_batches": 1}


def test_a_whole_history_comes_in_one_arrow_answer_equal_to_the_standard_pages(stores) -> None:
    fast, fast_log, standard, standard_log = stores
    run_id = fast.create_run("0", "ada", 1).info.run_id
    n = 30_000  # more than one standard page (25,000)
    points = [Metric("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(n)]
    points += [
        Metric("loss", float("nan"), 5, 7),
        Metric("loss", float("inf"), 6, 7),
        Metric("loss", float("-inf"), 7, n + 5),
        Metric("loss", -0.0, 8, -3),
    ]
    for i in range(0, len(points), 1000):
        fast.log_batch(run_id, metrics=points[i : i + 1000])
    fast_log.paths.clear()

    got = fast.get_metric_history(run_id, "loss")
    want = standard.get_metric_history(run_id, "loss")

    assert fast_log.paths == [SERVER_INFO, HISTORY_ARROW]  # asked once, then one answer
    assert standard_log.paths.count(STANDARD_HISTORY) == 2 and HISTORY_ARROW not in standard_log.paths
    assert got.token is None and len(got) == n + 4
    assert list(got) == list(want)  # Metric's equality: NaN equals NaN
    assert all(m.run_id == run_id and m.key == "loss" for m in got)
    assert [m.step for m in got][:2] == [-3, 0] and math.isnan(got[8].value)
    fast.get_metric_history(run_id, "loss")
    assert fast_log.paths.count(SERVER_INFO) == 1  # negotiated once per store


def test_paged_history_requests_keep_the_standard_route(stores) -> None:
    fast, fast_log, _standard, _ = stores
    run_id = fast.create_run("0", "ada", 1).info.run_id
    fast.log_batch(run_id, metrics=[Metric("m", float(s), s, s) for s in range(5)])
    page = fast.get_metric_history(run_id, "m", max_results=2)
    assert [m.step for m in page] == [0, 1] and page.token
    rest = fast.get_metric_history(run_id, "m", page_token=page.token)  # the rest, from the token on
    assert [m.step for m in rest] == [2, 3, 4]
    assert fast_log.paths.count(STANDARD_HISTORY) == 1 and fast_log.paths.count(HISTORY_ARROW) == 1


def _seed_runs(store: RestTrackingStore) -> str:
    exp = store.create_experiment("native-search")
    for i in range(12):
        run_id = store.create_run(
            exp, "ada", 1_000 + i, [RunTag("team", f"t{i % 3}")], f"run-{i}"
        ).info.run_id
        metrics = [Metric("acc", i / 10, 5, 0), Metric("loss", 1.0 / (i + 1), 5, 2)]
        if i == 3:
            metrics.append(Metric("odd", float("nan"), 5, 0))
        params = [Param("lr", f"0.{i}"), Param("opt", "adam" if i % 2 else "sgd"), Param("empty", "")]
        store.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("note", "é ünïcode")])
        if i == 5:
            dataset = Dataset("ds", "d1", "local", "/tmp/ds", '{"a": 1}')
            store.log_inputs(run_id, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
        if i == 7:
            model = store.create_logged_model(exp, "m", run_id)
            store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])
        if i == 9:
            store.update_run_info(run_id, "FINISHED", 9_999)
        if i == 11:
            store.delete_run(run_id)
    return exp


def test_a_columnar_search_answers_the_same_runs_and_pages_as_the_standard_one(stores) -> None:
    fast, fast_log, standard, _ = stores
    exp = _seed_runs(fast)
    for view in ("ACTIVE_ONLY", "ALL"):
        for query, order in (
            ("", None),
            ("metrics.acc > 0.2 and params.opt = 'adam'", ["metrics.loss ASC"]),
            ("tags.team = 't1'", ["attributes.start_time DESC"]),
        ):
            got_pages, want_pages = [], []
            for store, pages in ((fast, got_pages), (standard, want_pages)):
                token = None
                while True:
                    page = store.search_runs([exp], query, view, 5, order, token)
                    pages.append(list(page))
                    if not (token := page.token):
                        break
            assert got_pages == want_pages, (view, query)
    assert fast_log.paths.count(SEARCH_COLUMNAR) > 6 and STANDARD_SEARCH not in fast_log.paths
    runs = {r.info.run_name: r for r in fast.search_runs([exp], run_view_type="ALL")}
    assert runs["run-5"].inputs.dataset_inputs[0].dataset.name == "ds"
    assert runs["run-7"].outputs.model_outputs[0].step == 3
    assert math.isnan(runs["run-3"].data.metrics["odd"]) and runs["run-3"].data.params["empty"] == ""
    assert runs["run-9"].info.end_time == 9_999 and runs["run-11"].info.lifecycle_stage == "deleted"


def test_the_fast_routes_give_the_standard_errors(stores) -> None:
    fast, fast_log, standard, _ = stores
    errors = []
    for store in (fast, standard):
        with pytest.raises(ResourceDoesNotExist) as missing_run:
            store.get_metric_history("0" * 32, "loss")
        with pytest.raises(InvalidParameterValue) as bad_filter:
            store.search_runs(["0"], "metrics.acc >>> 1")
        with pytest.raises(InvalidParameterValue) as too_many:
            store.search_runs(["0"], max_results=10**9)
        errors.append([(e.value.error_code, str(e.value)) for e in (missing_run, bad_filter, too_many)])
    assert errors[0] == errors[1]
    assert fast_log.paths.count(HISTORY_ARROW) == 1 and fast_log.paths.count(SEARCH_COLUMNAR) == 2


def test_a_server_that_does_not_offer_them_gets_the_standard_routes(
    live_server, fresh_backend, monkeypatch
) -> None:
    monkeypatch.setattr(columnar_routes, "FAST_PATHS", {})  # what server-info advertises
    store, log = _store(live_server.url)
    try:
        run_id = store.create_run("0", "ada", 1, run_name="plain").info.run_id
        store.log_batch(run_id, metrics=[Metric("m", 1.5, 2, 3)])
        assert [(m.value, m.step) for m in store.get_metric_history(run_id, "m")] == [(1.5, 3)]
        assert [r.info.run_name for r in store.search_runs(["0"])] == ["plain"]
        assert store.fast_paths() == frozenset()
        assert HISTORY_ARROW not in log.paths and SEARCH_COLUMNAR not in log.paths
        assert STANDARD_HISTORY in log.paths and STANDARD_SEARCH in log.paths
    finally:
        store.close()


def _mock_server(advertise: dict | None, fast_status: int = 404, fast_body: bytes = b""):
    """An httpx.MockTransport: server-info advertising ``advertise``; the fast routes answering
    ``fast_status``; the standard routes answering one run and one point."""
    seen: list[str] = []
    run = {"info": {"run_id": "r1", "experiment_id": "0", "run_name": "one", "status": "RUNNING"}}

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append(path)
        if path == SERVER_INFO:
            if advertise is None:
                return httpx.Response(404, text="<html>not found</html>")
            return httpx.Response(200, json={"store_type": "SqlStore", "modelyard_fast_paths": advertise})
        if path in (HISTORY_ARROW, SEARCH_COLUMNAR):
            return httpx.Response(fast_status, content=fast_body)
        if path == STANDARD_HISTORY:
            return httpx.Response(
                200, json={"metrics": [{"key": "m", "value": 2.0, "timestamp": 1, "step": 0}]}
            )
        if path == STANDARD_SEARCH:
            return httpx.Response(200, json={"runs": [run]})
        return httpx.Response(404, json={"error_code": "ENDPOINT_NOT_FOUND", "message": path})

    settings = Settings.defaults(http_request_max_retries=0)
    return RestTrackingStore("http://mock", settings, transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize(
    "advertise",
    [None, {}, {"history_arrow": 99, "search_columnar": 99}],
    ids=["no-server-info (MLflow 2)", "not-advertised (MLflow 3)", "unknown-versions"],
)
def test_fallback_when_the_server_does_not_advertise_a_format_we_read(advertise) -> None:
    store, seen = _mock_server(advertise)
    assert [m.value for m in store.get_metric_history("r1", "m")] == [2.0]
    assert [r.info.run_name for r in store.search_runs(["0"])] == ["one"]
    assert HISTORY_ARROW not in seen and SEARCH_COLUMNAR not in seen
    assert seen.count(SERVER_INFO) == 1


def test_fallback_when_an_advertised_route_is_missing_and_it_is_not_asked_again() -> None:
    not_found = orjson.dumps({"error_code": "ENDPOINT_NOT_FOUND", "message": "no such route"})
    store, seen = _mock_server(dict(columnar_routes.FAST_PATHS), 404, not_found)
    for _ in range(2):
        assert [m.value for m in store.get_metric_history("r1", "m")] == [2.0]
        assert [r.info.run_name for r in store.search_runs(["0"])] == ["one"]
    assert seen.count(HISTORY_ARROW) == 1 and seen.count(SEARCH_COLUMNAR) == 1
    assert seen.count(STANDARD_HISTORY) == 2 and seen.count(STANDARD_SEARCH) == 2


def test_a_busy_server_info_is_asked_again_later() -> None:
    calls = {"info": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == SERVER_INFO:
            calls["info"] += 1
            if calls["info"] == 1:
                return httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"})
            return httpx.Response(200, json={"modelyard_fast_paths": dict(columnar_routes.FAST_PATHS)})
        return httpx.Response(200, json={"metrics": []})

    store = RestTrackingStore(
        "http://mock", Settings.defaults(http_request_max_retries=0), transport=httpx.MockTransport(handle)
    )
    assert store.fast_paths() == frozenset()
    assert store.fast_paths() == frozenset(columnar_routes.FAST_PATHS)
    assert store.fast_paths() == frozenset(columnar_routes.FAST_PATHS) and calls["info"] == 2


def test_a_body_that_is_not_an_arrow_history_is_an_error_not_garbage() -> None:
    store, _seen = _mock_server(dict(columnar_routes.FAST_PATHS), 200, b"not arrow at all")
    with pytest.raises(Exception, match="not an Arrow metric history"):
        store.get_metric_history("r1", "m")


def test_columnar_runs_round_trip_without_a_server() -> None:
    assert columnar.runs_from_columns(columnar.runs_to_columns([])) == []
    with pytest.raises(ValueError, match="format"):
        columnar.runs_from_columns({"format": 99})


def _run(i: int, metrics=(), params=None, tags=None, inputs=None, outputs=None) -> Run:
    info = RunInfo(
        f"r{i}", "7", f"run-{i}", "u", "FINISHED", 1000 + i, None if i % 2 else 2000 + i, f"a/{i}", "active"
    )
    data = RunData(tuple(metrics), params or {}, tags or {})
    return Run(info, data, inputs or RunInputs(), outputs or RunOutputs())


def test_columnar_runs_come_back_as_the_entities_they_were() -> None:
    """Through JSON and back: every field of every run, non-finite and integral metric values, runs
    without metrics, params or tags, and the few with dataset inputs or logged-model outputs."""
    dataset = DatasetInput(
        Dataset("d", "digest", "local", "src"), (InputTag("mlflow.data.context", "train"),)
    )
    runs = [
        _run(
            0,
            [Metric("a", 0.5, 1, 2), Metric("b", math.nan, 3, 4), Metric("c", math.inf, 5, 6)],
            {"p": "1"},
            {"t": "x"},
        ),
        _run(1),
        _run(
            2,
            [Metric("a", -math.inf, 7, 8)],
            tags={"t": "y", "u": ""},
            inputs=RunInputs(dataset_inputs=(dataset,)),
        ),
        _run(
            3,
            [Metric("a", 3.0, 9, 10)],
            {"p": "2", "q": "3"},
            outputs=RunOutputs(model_outputs=(LoggedModelOutput("m-1", 4),)),
        ),
    ]
    wire = orjson.loads(orjson.dumps(columnar.runs_to_columns(runs)))
    wire["metrics"]["value"][-1] = 3  # an integral value, as a JSON writer may send it
    back = columnar.runs_from_columns(wire)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in runs]
    assert [r.info for r in back] == [r.info for r in runs]
    assert [(r.data.params, r.data.tags) for r in back] == [(r.data.params, r.data.tags) for r in runs]
    assert all(type(m.value) is float and m.run_id is None for r in back for m in r.data.metric_objs)
    assert math.isnan(back[0].data.metrics["b"]) and back[2].data.metrics["a"] == -math.inf
    assert back[2].inputs == runs[2].inputs and back[3].outputs == runs[3].outputs


@pytest.mark.parametrize(
    "damage",
    [
        lambda w: w["info"]["run_name"].pop(),
        lambda w: w["metrics"]["step"].pop(),
        lambda w: w["metrics"]["counts"].__setitem__(0, 5),
        lambda w: w["params"]["value"].append("extra"),
        lambda w: w["tags"]["counts"].pop(),
    ],
)
def test_ragged_columnar_runs_are_refused(damage) -> None:
    wire = columnar.runs_to_columns([_run(0, [Metric("a", 1.0, 1, 1)], {"p": "1"}, {"t": "x"}), _run(1)])
    damage(wire)
    with pytest.raises(ValueError, match="ragged"):
        columnar.runs_from_columns(wire)


# -- batches of small artifacts --------------------------------------------------------------------
def _repo(url: str, run_id: str, *, fast: bool = True, transport: httpx.BaseTransport | None = None):
    from modelyard.artifacts import http as artifact_http

    artifact_http._batches_offered.clear()  # a fresh process's view of the servers
    settings = Settings.defaults(http_request_max_retries=0, fast_paths=fast)
    recording = transport or Recording()
    uri = f"{url}/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts"
    repo = artifact_http.HttpArtifactRepository(
        uri, tracking_uri=url, settings=settings, client=httpx.Client(transport=recording)
    )
    return repo, recording


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_small_files_go_up_and_down_in_batches_large_ones_alone(live_server, fresh_backend, tmp_path) -> None:
    import os

    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    for i in range(40):
        (src / f"f{i:03d}.bin").write_bytes(os.urandom(i * 37))  # the empty file too
    (src / "sub" / "é ü.txt").write_text("unicode name")
    (src / "sub" / "deeper" / "x.json").write_text("{}")
    (src / "big.bin").write_bytes(os.urandom(1024 * 1024 + 1))  # over BATCH_FILE_MAX: alone
    run_id = fresh_backend.create_run("0", "ada", 1).info.run_id
    results = {}
    for fast in (True, False):
        repo, rec = _repo(live_server.url, run_id, fast=fast)
        repo.log_artifacts(src, f"logged-{fast}")
        dst = tmp_path / f"down-{fast}"
        local = repo.download_artifacts(f"logged-{fast}", dst)
        results[fast] = (_tree(Path(local)), rec.paths)
    (fast_tree, fast_paths), (standard_tree, standard_paths) = results[True], results[False]
    assert fast_tree == standard_tree == _tree(src)
    batch_up = [p for p in fast_paths if p.startswith("/api/2.0/modelyard/artifacts/batch/")]
    batch_down = [p for p in fast_paths if p.startswith("/api/2.0/modelyard/artifacts/batch-get/")]
    assert len(batch_up) == 1 and len(batch_down) == 1 and fast_paths.count(SERVER_INFO) == 1
    singles = [
        p
        for p in fast_paths
        if p.startswith("/api/2.0/mlflow-artifacts/artifacts/") and p.endswith("big.bin")
    ]
    assert len(singles) == 2  # the large file: one PUT, one GET
    assert not any("/modelyard/" in p for p in standard_paths) and SERVER_INFO not in standard_paths
    assert len(standard_paths) > 2 * 43


def _tar(members) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as archive:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                archive.addfile(info)
            else:
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
    return out.getvalue()


@pytest.mark.parametrize(
    "members",
    [
        [("../escape.txt", "file")],
        [("ok.txt", "file"), ("a/../../up.txt", "file")],
        [("link", "link")],
        [("/abs", "file")],
    ],
    ids=["parent", "nested-parent", "symlink", "absolute"],
)
def test_a_batch_that_would_leave_its_folder_is_refused_whole(api, members) -> None:
    base = "/api/2.0/modelyard/artifacts/batch/0/r1/artifacts"
    resp = api.request("PUT", base, content=_tar(members), headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
    listing = api.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "0/r1/artifacts"})
    assert listing.json().get("files", []) == []  # nothing was written, not even ok.txt


def test_batch_requests_with_bad_bodies_get_mlflow_errors(api) -> None:
    up = "/api/2.0/modelyard/artifacts/batch/0/r1/artifacts"
    get = "/api/2.0/modelyard/artifacts/batch-get/0/r1/artifacts"
    not_tar = api.request("PUT", up, content=b"plain text", headers={"Content-Type": "application/x-tar"})
    assert not_tar.status_code == 400 and not_tar.json()["error_code"] == "BAD_REQUEST"
    form = api.post(get, content=b"files=a", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and form.json()["error_code"] == "BAD_REQUEST"
    escape = api.post(get, json={"files": ["../../other/x"]})
    assert escape.status_code == 400 and escape.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    wrong = api.post(get, json={"files": "a"})
    assert wrong.status_code == 400 and wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = api.post(get, json={"files": ["nope.txt"]})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_artifacts_fall_back_to_single_files_where_batches_are_not_offered(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(str(i))
    stored: dict[str, bytes] = {}
    for advertise in (None, {"history_arrow": 1}, {"artifact_batches": 1}):
        seen: list[str] = []

        def handle(request: httpx.Request, seen=seen, advertise=advertise) -> httpx.Response:
            path = request.url.path
            seen.append(f"{request.method} {path}")
            if path == SERVER_INFO:
                if advertise is None:
                    return httpx.Response(404, text="not found")
                return httpx.Response(200, json={"modelyard_fast_paths": advertise})
            if "/modelyard/artifacts/" in path:  # advertised, yet missing: an older server
                return httpx.Response(404, json={"error_code": "ENDPOINT_NOT_FOUND", "message": path})
            if request.method == "PUT":
                stored[path] = request.read()
                return httpx.Response(200, json={})
            return httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": path})

        stored.clear()
        repo, _ = _repo("http://peer", "r1", transport=httpx.MockTransport(handle))
        repo.log_artifacts(src, "out")
        repo.log_artifacts(src, "again")
        assert sorted(p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in stored) == sorted(
            f"{folder}/f{i}.txt" for folder in ("out", "again") for i in range(3)
        )
        assert seen.count(f"GET {SERVER_INFO}") == 1
        batch_calls = [s for s in seen if "/modelyard/" in s]
        assert batch_calls == ([] if advertise != {"artifact_batches": 1} else batch_calls[:1]), seen
