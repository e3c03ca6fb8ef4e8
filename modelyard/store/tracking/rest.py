"""``RestTrackingStore``: the tracking-store protocol over HTTP, against a modelyard (or MLflow) server.

- One ``httpx.Client`` per store: connections are reused, requests are thread-safe.
- Timeouts from ``Settings.client.http_request_timeout``. A refused connection fails at once, naming
  the URL; timeouts and 429/503 answers are retried ``Settings.client.http_request_max_retries`` times
  with exponential backoff, each retry logged (``modelyard.http_retry`` holds the policy).
- Auth: ``Settings.client.tracking_token`` as a Bearer token, else ``tracking_username`` /
  ``tracking_password`` as basic auth (credentials in the URI work too).
- A server error becomes the matching class of ``modelyard.exceptions`` (from its
  ``error_code``), so ``except ResourceDoesNotExist`` works against a server as against a
  database. Values JSON cannot carry faithfully (bools as metric values, fractional steps)
  are checked here before sending, with the same rules the SQL store applies.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson

from modelyard import __version__, http_retry
from modelyard import validation as v
from modelyard.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
    columnar,
)
from modelyard.entities.run import json_float
from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceDoesNotExist, error_for_code
from modelyard.http_retry import RETRY_STATUSES
from modelyard.settings import Settings
from modelyard.store.tracking import base

logger = logging.getLogger(__name__)

API = "/api/2.0/mlflow"
AJAX_API = "/ajax-api/2.0/mlflow"
SERVER_INFO = "/api/3.0/mlflow/server-info"
HISTORY_ARROW = "/api/2.0/modelyard/metrics/history-arrow"
SEARCH_COLUMNAR = "/api/2.0/modelyard/runs/search-columnar"
NEXT_PAGE_HEADER = "x-modelyard-next-page-token"
# The fast routes this client reads, and their format versions (modelyard.entities.columnar).
FAST_PATHS = {"history_arrow": columnar.HISTORY_FORMAT, "search_columnar": columnar.RUNS_FORMAT}
MAX_BACKOFF_S = 60.0
# What a non-JSON error answer means, by HTTP status (MLflow's client maps the same way).
_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def from_uri(uri: str, settings: Settings) -> RestTrackingStore:
    """The factory registered for ``http`` and ``https`` in ``modelyard.plugins``."""
    return RestTrackingStore(uri, settings)


def _now_ms() -> int:
    return int(time.time() * 1000)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs tens of milliseconds."""
    return httpx.create_ssl_context()


def _auth(settings: Settings) -> tuple[dict[str, str], httpx.Auth | None]:
    if settings.client.tracking_token:
        return {"Authorization": f"Bearer {settings.client.tracking_token}"}, None
    if settings.client.tracking_username is not None and settings.client.tracking_password is not None:
        return {}, httpx.BasicAuth(settings.client.tracking_username, settings.client.tracking_password)
    return {}, None


class RestTrackingStore(base.TrackingStore):
    """Experiments, runs and logging through a tracking server's MLflow REST API."""

    def __init__(
        self,
        uri: str,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        backoff_factor: float = 1.0,
        backoff_jitter: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        fast_paths: bool | None = None,
    ) -> None:
        self.uri = uri.rstrip("/")
        # False: MLflow's standard routes only (default: Settings.client.fast_paths)
        self.use_fast_paths = settings.client.fast_paths if fast_paths is None else fast_paths
        self._offered: frozenset[str] | None = None  # what server-info offered, once asked
        self.max_retries = max(0, int(settings.client.http_request_max_retries))
        self.backoff_factor = backoff_factor
        self.backoff_jitter = backoff_jitter
        self._sleep = sleep
        headers, auth = _auth(settings)
        headers["User-Agent"] = f"modelyard/{__version__}"
        self._client = httpx.Client(
            base_url=self.uri,
            headers=headers,
            auth=auth,
            timeout=settings.client.http_request_timeout,
            verify=_tls_context(),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RestTrackingStore({self.uri!r})"

    def close(self) -> None:
        self._client.close()

    # -- HTTP ------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        endpoint: str,
        body: dict | None = None,
        params: dict | None = None,
        *,
        api: str = API,
    ) -> dict:
        """One API call, retried on 408/429/5xx and connection errors; the decoded JSON answer."""
        path = f"{api}/{endpoint}"
        return self._decode(self._send(method, path, body, params), method, path)

    def _send(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> httpx.Response:
        """One request, retried on 408/429/5xx and connection errors; the last answer, whatever its status."""
        try:
            content = orjson.dumps(body) if body is not None else None
        except TypeError as exc:  # e.g. an integer beyond 64 bits
            raise InvalidParameterValue(f"Cannot send this request as JSON: {exc}") from None
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, content=content, params=params, headers=headers)
            except httpx.TransportError as exc:
                if http_retry.refused(exc):
                    raise http_retry.cannot_connect("tracking server", self.uri, exc) from exc
                why, retry_after = str(exc) or type(exc).__name__, None
                if attempt >= self.max_retries:
                    raise http_retry.gave_up("tracking server", self.uri, method, path, attempt + 1, why) from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                    return response
                why, retry_after = f"HTTP {response.status_code}", response.headers.get("retry-after")
            http_retry.wait_before_retry(
                self._sleep, "tracking server", method, f"{self.uri}{path}", why, attempt, self.max_retries,
                retry_after, factor=self.backoff_factor, jitter=self.backoff_jitter, cap=MAX_BACKOFF_S,
            )
            attempt += 1

    # -- modelyard's fast paths ------------------------------------------------------------
    def fast_paths(self) -> frozenset[str]:
        """The fast routes of ``modelyard.server.routes.columnar`` this server offers (in
        ``server-info``) in a format this client reads; asked once per store. Empty against a
        server that does not offer them (an MLflow server, an older modelyard): the standard
        routes are used then."""
        if self._offered is None:
            offered = self._negotiate()
            if offered is None:  # could not tell (server busy, network): ask again next time
                return frozenset()
            self._offered = offered
        return self._offered

    def _negotiate(self) -> frozenset[str] | None:
        if not self.use_fast_paths:
            return frozenset()
        try:
            response = self._client.get(SERVER_INFO)
        except httpx.TransportError:
            return None
        if response.status_code in RETRY_STATUSES:
            return None
        try:
            data = orjson.loads(response.content) if response.status_code == 200 else None
        except orjson.JSONDecodeError:
            data = None
        offered = data.get("modelyard_fast_paths") if isinstance(data, dict) else None
        if not isinstance(offered, dict):
            return frozenset()
        return frozenset(name for name, version in FAST_PATHS.items() if offered.get(name) == version)

    def _fast(self, name: str, method: str, path: str, body: dict | None = None, params: dict | None = None):
        """The answer of fast route ``name`` (``httpx.Response``, status 200); None when the server
        turns out not to have it after all (404 ENDPOINT_NOT_FOUND): then it is not asked again."""
        response = self._send(method, path, body, params)
        if response.status_code == 200:
            return response
        if response.status_code == 404:
            try:
                code = orjson.loads(response.content).get("error_code")
            except (orjson.JSONDecodeError, AttributeError):
                code = "ENDPOINT_NOT_FOUND"  # not our JSON error: some other server's 404 page
            if code == "ENDPOINT_NOT_FOUND":
                self._offered = frozenset(self.fast_paths() - {name})
                return None
        self._decode(response, method, path)  # raises the server's error, as the standard route's
        raise ModelyardError(f"{method} {self.uri}{path} answered HTTP {response.status_code}")

    def _decode(self, response: httpx.Response, method: str, path: str) -> dict:
        status = response.status_code
        try:
            data = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            data = None
        if 200 <= status < 300:
            if not isinstance(data, dict):
                raise ModelyardError(
                    f"The tracking server at {self.uri} answered {method} {path} with a body that is not a "
                    f"JSON object: {response.text[:200]!r}"
                )
            return data
        if isinstance(data, dict) and isinstance(data.get("error_code"), str):
            raise error_for_code(data["error_code"], str(data.get("message", "")))
        code = _CODE_BY_STATUS.get(status, "INTERNAL_ERROR")
        raise error_for_code(
            code, f"{method} {self.uri}{path} failed with HTTP {status}: {response.text[:300].strip()}"
        )

    def _get(self, endpoint: str, **params: Any) -> dict:
        return self._call("GET", endpoint, params={k: val for k, val in params.items() if val is not None})

    def _post(self, endpoint: str, **body: Any) -> dict:
        return self._call("POST", endpoint, {k: val for k, val in body.items() if val is not None})

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        kv = [{"key": k, "value": _text(val)} for k, val in (tags or {}).items()]
        data = self._call(
            "POST",
            "experiments/create",
            {"name": name, "artifact_location": artifact_location or None, "tags": kv},
        )
        return str(data["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._get("experiments/get", experiment_id=str(experiment_id))
        return Experiment.from_dict(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._get("experiments/get-by-name", experiment_name=name)
        except ResourceDoesNotExist as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":  # e.g. ENDPOINT_NOT_FOUND: a real problem
                raise
            return None
        return Experiment.from_dict(data["experiment"])

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = base.SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        data = self._post(
            "experiments/search",
            view_type=ViewType.parse(view_type).name,
            max_results=max_results,
            filter=filter_string,
            order_by=list(order_by or []),
            page_token=page_token,
        )
        items = [Experiment.from_dict(e) for e in data.get("experiments", [])]
        return PagedList(items, data.get("next_page_token") or None)

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("experiments/delete", experiment_id=str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("experiments/restore", experiment_id=str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("POST", "experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "experiments/set-experiment-tag",
            {"experiment_id": str(experiment_id), "key": key, "value": _text(value)},
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call(
            "POST", "experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key}
        )

    # -- runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        data = self._post(
            "runs/create",
            experiment_id=str(experiment_id),
            user_id=user_id or "",
            start_time=_now_ms() if start_time is None else int(start_time),
            tags=[{"key": t.key, "value": _text(t.value)} for t in tags],
            run_name=run_name,
        )
        return Run.from_dict(data["run"])

    def get_run(self, run_id: str) -> Run:
        return Run.from_dict(self._call("GET", "runs/get", params={"run_id": run_id})["run"])

    def update_run_info(
        self,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        status = run_status.value if isinstance(run_status, RunStatus) else run_status
        data = self._post(
            "runs/update",
            run_id=run_id,
            status=status,
            end_time=None if end_time is None else int(end_time),
            run_name=run_name,
        )
        return RunInfo.from_dict(data["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "runs/restore", {"run_id": run_id})

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = base.SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        body = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "filter": filter_string,
            "run_view_type": ViewType.parse(run_view_type).name,
            "max_results": max_results,
            "order_by": list(order_by or []),
            "page_token": page_token,
        }
        body = {k: val for k, val in body.items() if val is not None}
        if "search_columnar" in self.fast_paths():
            response = self._fast("search_columnar", "POST", SEARCH_COLUMNAR, body)
            if response is not None:
                data = self._json_of(response, SEARCH_COLUMNAR)
                try:
                    runs = columnar.runs_from_columns(data)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ModelyardError(
                        f"The tracking server at {self.uri} answered {SEARCH_COLUMNAR} with runs this "
                        f"client cannot read: {exc!r}"
                    ) from None
                return PagedList(runs, data.get("next_page_token") or None)
        data = self._call("POST", "runs/search", body)
        return PagedList(
            [Run.from_dict(r) for r in data.get("runs", [])], data.get("next_page_token") or None
        )

    # -- logging ---------------------------------------------------------------------------------
    def log_metric(self, run_id: str, metric: Metric) -> None:
        self._call("POST", "runs/log-metric", {"run_id": run_id, **_metric_json(metric)})

    def log_param(self, run_id: str, param: Param) -> None:
        self._call(
            "POST", "runs/log-parameter", {"run_id": run_id, "key": param.key, "value": _text(param.value)}
        )

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self._call("POST", "runs/set-tag", {"run_id": run_id, "key": tag.key, "value": _text(tag.value)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        body = {
            "run_id": run_id,
            "metrics": [_metric_json(m) for m in metrics],
            "params": [{"key": p.key, "value": _text(p.value)} for p in params],
            "tags": [{"key": t.key, "value": _text(t.value)} for t in tags],
        }
        self._call("POST", "runs/log-batch", body)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        self._call("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [d.to_dict() for d in datasets]})

    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        base.check_dataset_search(experiment_ids)
        out = self._call("POST", "experiments/search-datasets", {"experiment_ids": list(experiment_ids)})
        return [DatasetSummary.from_dict(d) for d in out.get("dataset_summaries", [])]

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput | tuple[str, int]]) -> None:
        """Link logged models to the run that produced them (``runs/outputs``, MLflow 3)."""
        outputs = [m if isinstance(m, LoggedModelOutput) else LoggedModelOutput(*m) for m in models]
        self._call("POST", "runs/outputs", {"run_id": run_id, "models": [m.to_dict() for m in outputs]})

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str]) -> None:
        """Record logged models as inputs of the run (``runs/log-inputs`` with ``models``)."""
        self._call(
            "POST", "runs/log-inputs", {"run_id": run_id, "models": [{"model_id": m} for m in model_ids]}
        )

    # -- logged models (MLflow 3) ---------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        data = self._post(
            "logged-models",
            experiment_id=str(experiment_id),
            name=name,
            source_run_id=source_run_id,
            model_type=model_type,
            tags=_pairs(tags),
            params=_pairs(params),
        )
        return LoggedModel.from_dict(data["model"])

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        params = {"allow_deleted": "true"} if allow_deleted else None
        data = self._call("GET", f"logged-models/{_segment(model_id)}", params=params)
        return LoggedModel.from_dict(data["model"])

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | str, status_message: str | None = None
    ) -> LoggedModel:
        status_value = LoggedModelStatus.parse(status).value
        data = self._call("PATCH", f"logged-models/{_segment(model_id)}", {"model_id": model_id, "status": status_value})
        return LoggedModel.from_dict(data["model"])

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"logged-models/{_segment(model_id)}")

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        data = self._post(
            "logged-models/search",
            experiment_ids=[str(e) for e in experiment_ids],
            filter=filter_string or None,
            datasets=[dict(d) for d in datasets or ()],
            max_results=max_results,
            order_by=[_order_by(o) for o in order_by or ()],
            page_token=page_token,
        )
        models = [LoggedModel.from_dict(m) for m in data.get("models", [])]
        return PagedList(models, data.get("next_page_token") or None)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self._call(
            "PATCH", f"logged-models/{_segment(model_id)}/tags", {"model_id": model_id, "tags": _pairs(tags)}
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", f"logged-models/{_segment(model_id)}/tags/{_segment(key)}")

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        self._call(
            "POST", f"logged-models/{_segment(model_id)}/params", {"model_id": model_id, "params": _pairs(params)}
        )

    def log_logged_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Metric points with a ``model_id`` sent through ``runs/log-batch``: the server links them (MLflow 3)."""
        for i in range(0, len(metrics), 1000):
            chunk = []
            for m in metrics[i : i + 1000]:
                point = _metric_json(Metric(m.key, m.value, m.timestamp, m.step))
                point.update({k: val for k in ("model_id", "dataset_name", "dataset_digest") if (val := getattr(m, k))})
                chunk.append(point)
            self._call("POST", "runs/log-batch", {"run_id": run_id, "metrics": chunk})

    # -- metric histories ------------------------------------------------------------------------
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        if max_results is not None:
            return self._history_page(run_id, metric_key, max_results, page_token)
        if "history_arrow" in self.fast_paths():
            points = self._history_arrow(run_id, metric_key, page_token)
            if points is not None:
                return PagedList(points, None)
        points: list[Metric] = []
        token = page_token
        while True:  # no max_results: every point, following the server's pages
            page = self._history_page(run_id, metric_key, base.METRIC_HISTORY_PAGE, token)
            points.extend(page)
            if not (token := page.token):
                return PagedList(points, None)

    def _history_arrow(self, run_id: str, metric_key: str, page_token: str | None) -> list[Metric] | None:
        """Every point from ``page_token`` on, in one Arrow answer; None if the route is missing."""
        params = {"run_id": run_id, "metric_key": metric_key}
        if page_token:
            params["page_token"] = page_token
        response = self._fast("history_arrow", "GET", HISTORY_ARROW, params=params)
        if response is None:
            return None
        if response.headers.get(NEXT_PAGE_HEADER):  # it pages only when asked to (max_results)
            raise ModelyardError(f"The tracking server at {self.uri} paged a whole metric history")
        try:
            return columnar.history_from_arrow(response.content, metric_key, run_id)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors, for a body that is not the stream
            raise ModelyardError(
                f"The tracking server at {self.uri} answered {HISTORY_ARROW} with a body that is not "
                f"an Arrow metric history: {exc}"
            ) from None

    def _json_of(self, response: httpx.Response, path: str) -> dict:
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ModelyardError(
                f"The tracking server at {self.uri} answered {path} with a body that is not a "
                f"JSON object: {response.text[:200]!r}"
            )
        return data

    def _history_page(
        self, run_id: str, metric_key: str, max_results: int, page_token: str | None
    ) -> PagedList[Metric]:
        data = self._get(
            "metrics/get-history",
            run_id=run_id,
            metric_key=metric_key,
            max_results=max_results,
            page_token=page_token or None,
        )
        points = [_metric_of(d, run_id) for d in data.get("metrics", [])]
        return PagedList(points, data.get("next_page_token") or None)

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = base.METRIC_INTERVAL_MAX_RESULTS,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        run_ids = base.validate_interval_request(run_ids, max_results, start_step, end_step)
        data = self._get(
            "metrics/get-history-bulk-interval",
            run_ids=run_ids,
            metric_key=metric_key,
            max_results=max_results,
            start_step=start_step,
            end_step=end_step,
        )
        return [Metric.from_dict(d) for d in data.get("metrics", [])]

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], metric_key: str, max_results: int = base.METRIC_HISTORY_PAGE
    ) -> list[Metric]:
        run_ids = base.validate_bulk_request(run_ids, max_results)
        params = {"run_id": run_ids, "metric_key": metric_key, "max_results": max_results}
        data = self._call("GET", "metrics/get-history-bulk", params=params, api=AJAX_API)
        return [Metric.from_dict(d) for d in data.get("metrics", [])]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _metric_json(m: Metric) -> dict:
    """A metric as protobuf JSON, checked first: JSON would turn True into 1 and "1.0" into a number."""
    value = v.validate_metric(m.key, m.value, m.timestamp, m.step)
    return {"key": m.key, "value": json_float(value), "timestamp": int(m.timestamp), "step": int(m.step)}


def _metric_of(d: dict, run_id: str) -> Metric:
    metric = Metric.from_dict(d)
    return metric if metric.run_id else dataclasses.replace(metric, run_id=run_id)


def _pairs(values: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": _text(val)} for k, val in (values or {}).items()]


def _segment(value: str) -> str:
    """One URL path segment: ``/`` and friends percent-encoded."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def _order_by(item: dict | str) -> dict:
    """``"metrics.acc DESC"`` as MLflow's ``{field_name, ascending}``; dicts pass unchanged."""
    if isinstance(item, dict):
        return item
    parts = item.strip().rsplit(None, 1)
    if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
        return {"field_name": parts[0], "ascending": parts[1].upper() == "ASC"}
    return {"field_name": item.strip(), "ascending": True}
