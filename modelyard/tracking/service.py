"""The tracking service: the one entry point for experiments, runs, logged models and their data.

REST handlers, UI pages, the CLI and the embedded client call it with a ``RequestContext``; it owns
the orchestration that spans several store calls (a metric that names a logged model is checked,
written and linked; MLflow 2's log-model history), and records the request's principal where a
change names its author. It works on any ``TrackingStore`` (SQL or REST).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from modelyard import validation as v
from modelyard.auth import visibility
from modelyard.auth.context import RequestContext
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
)
from modelyard.entities.columnar import HistoryColumns
from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature
from modelyard.store.tracking.base import (
    METRIC_HISTORY_PAGE,
    METRIC_INTERVAL_MAX_RESULTS,
    MODEL_VERSIONS_TAG,
    SEARCH_RUNS_DEFAULT_MAX_RESULTS,
    OutputModel,
    RunRecord,
    RunSearch,
    TrackingStore,
)

LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
MODEL_INHERITED_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit")
_HISTORY_READ_PAGE = 1000  # points per read while looking for a step (record_model_output)
_MODEL_JSON_FIELDS = ("artifact_path", "flavors", "utc_time_created", "run_id")


class TrackingService:
    def __init__(self, store: TrackingStore) -> None:
        self.store = store

    def close(self) -> None:
        self.store.close()

    # -- orchestration -------------------------------------------------------------------------
    def create_run(
        self,
        ctx: RequestContext,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run owned by the request's principal (else the ``user_id`` sent)."""
        return self.store.create_run(experiment_id, ctx.user(user_id) or "", start_time, tags, run_name)

    def record_run(
        self,
        ctx: RequestContext,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        end_time: int,
        status: str,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        params: Sequence[Param] = (),
        metrics: Sequence[Metric] = (),
    ) -> Run:
        """Create a run that is over already (``status`` FINISHED, FAILED or KILLED) with its tags,
        params and metrics at once: one transaction on a database (an AutoML trial's whole record)."""
        return self.record_runs(
            ctx, [RunRecord(experiment_id, user_id, start_time, end_time, status, tags, run_name, params, metrics)]
        )[0]

    def record_runs(self, ctx: RequestContext, records: Sequence[RunRecord]) -> list[Run]:
        """Several runs that are over at once, as ``record_run`` each (a record's ``user_id`` as
        ``create_run``'s): one transaction on a database, so a search's finished trials are written
        in one go."""
        for r in records:
            if RunStatus.parse(r.status) in (RunStatus.RUNNING, RunStatus.SCHEDULED):
                raise InvalidParameterValue(f"record_run is for a run that is over, got status {r.status}")
        return self.store.record_runs([r._replace(user_id=ctx.user(r.user_id) or "") for r in records])

    def log_metric(
        self,
        ctx: RequestContext,
        run_id: str,
        metric: Metric,
        model_metrics: Sequence[LoggedModelMetric] = (),
    ) -> None:
        """Log one point; ``model_metrics`` (points naming a logged model) are checked first and linked after."""
        if not model_metrics:  # the hot path: one store call
            return self.store.log_metric(run_id, metric)
        self._check_models(model_metrics)
        self.store.log_metric(run_id, metric)
        self.store.log_logged_model_metrics(run_id, list(model_metrics))

    def log_batch(
        self,
        ctx: RequestContext,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        model_metrics: Sequence[LoggedModelMetric] = (),
    ) -> None:
        """Log metrics, params and tags at once (all or nothing); model links as in ``log_metric``."""
        self._check_models(model_metrics)
        self.store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        if model_metrics:
            self.store.log_logged_model_metrics(run_id, list(model_metrics))

    def log_batch_in_chunks(
        self,
        ctx: RequestContext,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Any number of points, params and tags (the clients' ``log_batch``): one store batch when
        they fit MLflow's per-request limits (1000 metrics, 100 params, 100 tags, 1000 in all),
        else params, then tags, then metrics in chunks that do (each chunk all or nothing)."""
        if (
            len(metrics) <= v.MAX_METRICS_PER_BATCH
            and len(params) <= v.MAX_PARAMS_PER_BATCH
            and len(tags) <= v.MAX_TAGS_PER_BATCH
            and len(metrics) + len(params) + len(tags) <= v.MAX_ENTITIES_PER_BATCH
        ):
            return self.store.log_batch(run_id, metrics, params, tags)
        v.validate_unique_param_keys([p.key for p in params])
        for i in range(0, len(params), v.MAX_PARAMS_PER_BATCH):
            self.store.log_batch(run_id, params=params[i : i + v.MAX_PARAMS_PER_BATCH])
        for i in range(0, len(tags), v.MAX_TAGS_PER_BATCH):
            self.store.log_batch(run_id, tags=tags[i : i + v.MAX_TAGS_PER_BATCH])
        for i in range(0, len(metrics), v.MAX_METRICS_PER_BATCH):
            self.store.log_batch(run_id, metrics=metrics[i : i + v.MAX_METRICS_PER_BATCH])

    def _check_models(self, model_metrics: Sequence[LoggedModelMetric]) -> None:
        """Metrics that name a logged model need it to exist: checked before anything is written."""
        for model_id in sorted({x.model_id for x in model_metrics if x.model_id}):
            self.store.get_logged_model(model_id)

    def log_inputs(
        self,
        ctx: RequestContext,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        model_ids: Sequence[str] = (),
    ) -> None:
        """Log dataset inputs (and logged-model inputs) of a run."""
        if model_ids:
            link_models = self._store_hook("log_model_inputs", "model inputs")
            _check_datasets(datasets)
            link_models(run_id, list(model_ids))
        if datasets or not model_ids:
            self.store.log_inputs(run_id, datasets)

    def log_outputs(self, ctx: RequestContext, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Link logged models to the run that produced them (MLflow 3)."""
        self._store_hook("log_outputs", "model outputs")(run_id, list(models))

    def record_model_output(self, ctx: RequestContext, run: Run, model_id: str, step: int) -> None:
        """A logged model made by ``run`` at ``step`` (``log_model``): recorded as the run's output,
        and the run's metric points at ``step`` become the model's metrics (as MLflow 3 does). A
        metric whose latest point is at ``step`` needs no read; otherwise its history is read in
        step order only until past ``step``."""
        run_id = run.info.run_id
        self.store.log_outputs(run_id, [LoggedModelOutput(model_id, step)])
        links = []
        for latest in run.data.metric_objs:
            points = [latest] if latest.step == step else self._points_at(run_id, latest.key, step)
            links += [LoggedModelMetric(p.key, p.value, p.timestamp, p.step, run_id, model_id) for p in points]
        if links:
            self.store.log_logged_model_metrics(run_id, links)

    def create_output_models(self, ctx: RequestContext, runs: Sequence[Run], name: str, step: int = 0) -> list[LoggedModel]:
        """One logged model (PENDING) named ``name`` per run, as ``log_model`` creates it: in the
        run's experiment, with the run's params and its user / source tags, recorded as the run's
        output at ``step``, the run's latest metric points at ``step`` linked to it. One
        transaction on a database: the models of an AutoML search's finished trials, in one go."""
        models = [
            OutputModel(
                run.info.experiment_id, run.info.run_id, name,
                {k: val for k, val in run.data.tags.items() if k in MODEL_INHERITED_TAGS}, dict(run.data.params),
                step, [m for m in run.data.metric_objs if m.step == step],
            )
            for run in runs
        ]
        return self.store.create_output_models(models)

    def finalize_logged_models(self, ctx: RequestContext, statuses: Sequence[tuple[str, LoggedModelStatus | str]]) -> None:
        """``finalize_logged_model`` for several models (one transaction on a database)."""
        self.store.finalize_logged_models(list(statuses))

    def _points_at(self, run_id: str, key: str, step: int) -> list[Metric]:
        out: list[Metric] = []
        token = None
        while True:
            page = self.store.get_metric_history(run_id, key, _HISTORY_READ_PAGE, token)
            out += [m for m in page if m.step == step]
            token = page.token
            if not token or (page and page[-1].step > step):
                return out

    def record_logged_model(self, ctx: RequestContext, run_id: str, model_json: str) -> None:
        """Append an MLmodel (JSON) to the run's tag mlflow.log-model.history (MLflow 2 clients)."""
        model = _parse_model_json(model_json)
        history = _history_list(self.store.get_run(run_id).data.tags.get(LOG_MODEL_HISTORY_TAG))
        history.append(model)
        self.store.set_tag(run_id, RunTag(LOG_MODEL_HISTORY_TAG, json.dumps(history, separators=(",", ":"))))

    @property
    def can_count_runs(self) -> bool:
        return hasattr(self.store, "count_runs")

    def count_runs(self, ctx: RequestContext, experiment_ids: Sequence[str]) -> int:
        """Active runs of the experiments (one indexed COUNT; SQL stores only: see ``can_count_runs``)."""
        return self.store.count_runs(list(experiment_ids))

    def _store_hook(self, name: str, what: str):
        """The store's method ``name``; 501 before anything is written when the store lacks it."""
        hook = getattr(self.store, name, None)
        if hook is None or getattr(hook, "__func__", None) is getattr(TrackingStore, name, None):
            raise NotImplementedFeature(f"This server's tracking store cannot record {what}.")
        return hook

    # -- one store call each ---------------------------------------------------------------------
    def create_experiment(
        self,
        ctx: RequestContext,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Create an experiment and return its id. A taken name raises ResourceAlreadyExists."""
        experiment_id = self.store.create_experiment(name, artifact_location, tags)
        visibility.created(ctx, "experiment", experiment_id)  # the creator gets MANAGE on it
        return experiment_id

    def get_experiment(self, ctx: RequestContext, experiment_id: str) -> Experiment:
        """Raise ResourceDoesNotExist when absent (deleted experiments are returned)."""
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, ctx: RequestContext, name: str) -> Experiment | None:
        """The experiment with this name (active or deleted), or None."""
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        ctx: RequestContext,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        def fetch(token):
            return self.store.search_experiments(view_type, max_results, filter_string, order_by, token)

        return visibility.readable_page(ctx, "experiment", fetch, lambda e: e.experiment_id, page_token)

    def delete_experiment(self, ctx: RequestContext, experiment_id: str) -> None:
        """Soft delete: the experiment and its runs move to lifecycle 'deleted'."""
        return self.store.delete_experiment(experiment_id)

    def restore_experiment(self, ctx: RequestContext, experiment_id: str) -> None:
        return self.store.restore_experiment(experiment_id)

    def rename_experiment(self, ctx: RequestContext, experiment_id: str, new_name: str) -> None:
        return self.store.rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, ctx: RequestContext, experiment_id: str, key: str, value: str) -> None:
        return self.store.set_experiment_tag(experiment_id, key, value)

    def delete_experiment_tag(self, ctx: RequestContext, experiment_id: str, key: str) -> None:
        return self.store.delete_experiment_tag(experiment_id, key)

    def get_run(self, ctx: RequestContext, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def update_run_info(
        self,
        ctx: RequestContext,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        return self.store.update_run_info(run_id, run_status, end_time, run_name)

    def delete_run(self, ctx: RequestContext, run_id: str) -> None:
        return self.store.delete_run(run_id)

    def restore_run(self, ctx: RequestContext, run_id: str) -> None:
        return self.store.restore_run(run_id)

    def search_runs(
        self,
        ctx: RequestContext,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        return self.store.search_runs(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    def search_run_dicts(self, ctx: RequestContext, search: RunSearch) -> PagedList[dict]:
        """``search_runs``, the runs as their JSON objects (``Run.to_dict``): the ``runs/search`` answer."""
        return self.store.search_run_dicts(search)

    def search_run_columns(self, ctx: RequestContext, search: RunSearch) -> tuple[dict, str | None]:
        """``search_runs``, the runs as columns (``columnar.runs_to_columns``) and the next page's
        token: the ``search-columnar`` answer."""
        return self.store.search_run_columns(search)

    def search_datasets(self, ctx: RequestContext, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        """The datasets the runs of some experiments used (MLflow's experiments/search-datasets)."""
        return self.store.search_datasets(experiment_ids)

    def log_param(self, ctx: RequestContext, run_id: str, param: Param) -> None:
        return self.store.log_param(run_id, param)

    def set_tag(self, ctx: RequestContext, run_id: str, tag: RunTag) -> None:
        return self.store.set_tag(run_id, tag)

    def delete_tag(self, ctx: RequestContext, run_id: str, key: str) -> None:
        return self.store.delete_tag(run_id, key)

    def get_metric_history(
        self,
        ctx: RequestContext,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every logged point of one metric, ordered by step then timestamp."""
        return self.store.get_metric_history(run_id, metric_key, max_results, page_token)

    def get_metric_history_dicts(
        self,
        ctx: RequestContext,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[dict]:
        """``get_metric_history``, the points as their JSON objects (``Metric.to_dict``): the
        ``metrics/get-history`` answer."""
        return self.store.get_metric_history_dicts(run_id, metric_key, max_results, page_token)

    def get_metric_history_columns(
        self,
        ctx: RequestContext,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> HistoryColumns:
        """``get_metric_history`` as columns (steps, timestamps, values), for answers that never
        need one ``Metric`` per point (the Arrow history of ``modelyard.server.routes.columnar``)."""
        return self.store.get_metric_history_columns(run_id, metric_key, max_results, page_token)

    def get_metric_history_bulk_interval(
        self,
        ctx: RequestContext,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = METRIC_INTERVAL_MAX_RESULTS,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        """A down-sampled history of one metric for up to 100 runs (for charts)."""
        return self.store.get_metric_history_bulk_interval(
            run_ids, metric_key, max_results, start_step, end_step
        )

    def get_metric_history_bulk(
        self,
        ctx: RequestContext,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = METRIC_HISTORY_PAGE,
    ) -> list[Metric]:
        """Whole histories of one metric for up to 100 runs: runs sorted by id, each by step then"""
        return self.store.get_metric_history_bulk(run_ids, metric_key, max_results)

    def create_logged_model(
        self,
        ctx: RequestContext,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A PENDING model "m-<32 hex>" with artifacts at <experiment location>/models/<id>/artifacts."""
        return self.store.create_logged_model(experiment_id, name, source_run_id, tags, params, model_type)

    def get_logged_model(
        self, ctx: RequestContext, model_id: str, allow_deleted: bool = False
    ) -> LoggedModel:
        """ResourceDoesNotExist when absent, or deleted (unless ``allow_deleted``)."""
        return self.store.get_logged_model(model_id, allow_deleted)

    def finalize_logged_model(
        self,
        ctx: RequestContext,
        model_id: str,
        status: LoggedModelStatus | str,
        status_message: str | None = None,
    ) -> LoggedModel:
        """Set the status (READY or UPLOAD_FAILED once the upload ended)."""
        return self.store.finalize_logged_model(model_id, status, status_message)

    def delete_logged_model(self, ctx: RequestContext, model_id: str) -> None:
        """Soft delete: hidden from get and search, kept in the database."""
        return self.store.delete_logged_model(model_id)

    def search_logged_models(
        self,
        ctx: RequestContext,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Active models of the experiments; ``order_by`` items are ``"metrics.acc DESC"`` strings or
        MLflow's ``{field_name, ascending, dataset_name, dataset_digest}``."""
        return self.store.search_logged_models(
            experiment_ids, filter_string, datasets, max_results, order_by, page_token
        )

    def set_logged_model_tags(self, ctx: RequestContext, model_id: str, tags: dict[str, str]) -> None:
        links = tags.get(MODEL_VERSIONS_TAG)
        if links is not None:
            tags = {**tags, MODEL_VERSIONS_TAG: _distinct_links(links)}
        return self.store.set_logged_model_tags(model_id, tags)

    def delete_logged_model_tag(self, ctx: RequestContext, model_id: str, key: str) -> None:
        return self.store.delete_logged_model_tag(model_id, key)

    def log_logged_model_params(self, ctx: RequestContext, model_id: str, params: dict[str, str]) -> None:
        return self.store.log_logged_model_params(model_id, params)


def _distinct_links(value: str) -> str:
    """A logged model's ``mlflow.modelVersions`` list without repeats. The server adds a version when it
    is created with a model_id, and MLflow's ``register_model`` then appends it again on its own (it
    reads the tag, adds the version, writes it back): each registration is listed once."""
    try:
        links = json.loads(value)
    except ValueError:
        return value
    if not isinstance(links, list):
        return value
    distinct = []
    for link in links:
        if link not in distinct:
            distinct.append(link)
    return value if len(distinct) == len(links) else json.dumps(distinct)


def _check_datasets(datasets: Sequence[DatasetInput]) -> None:
    """The store's dataset rules, applied before the model links are written (two store calls)."""
    for d in datasets:
        ds = d.dataset
        v.validate_dataset(ds.name, ds.digest, ds.source, ds.schema, ds.profile)
        for t in d.tags:
            v.validate_input_tag(t.key, t.value)


def _parse_model_json(text: str) -> dict:
    try:
        model = json.loads(text)
    except ValueError:
        raise InvalidParameterValue(
            f"Malformed model info: model_json {text[:100]!r} is not valid JSON."
        ) from None
    if not isinstance(model, dict):
        raise InvalidParameterValue("Malformed model info: model_json must be a JSON object.")
    missing = [f for f in _MODEL_JSON_FIELDS if f not in model]
    if missing:
        raise InvalidParameterValue(f"Model json is missing mandatory fields: {', '.join(missing)}")
    return model


def _history_list(previous: str | None) -> list:
    if not previous:
        return []
    try:
        history = json.loads(previous)
    except ValueError:
        return []
    return history if isinstance(history, list) else []
