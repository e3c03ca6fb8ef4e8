"""The tracking-store protocol: what every store (SQL, REST, ...) implements.

Semantics are MLflow's (see docs in each method); the conformance suite in
``tests/store/conformance.py`` runs against every implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

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
    RunTag,
    ViewType,
)
from modelyard.entities.columnar import HistoryColumns
from modelyard.exceptions import InvalidParameterValue
from modelyard.validation import invalid_value, missing_value


def check_dataset_search(experiment_ids: Sequence[str]) -> None:
    """MLflow's rules (and messages) for ``experiments/search-datasets``' experiment ids."""
    if not experiment_ids:
        raise InvalidParameterValue("SearchDatasets request must specify at least one experiment_id.")
    if len(experiment_ids) > DATASET_SEARCH_MAX_EXPERIMENTS:
        raise InvalidParameterValue(
            f"SearchDatasets request cannot specify more than {DATASET_SEARCH_MAX_EXPERIMENTS} experiment_ids. "
            f"Received {len(experiment_ids)} experiment_ids."
        )

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"

SEARCH_RUNS_DEFAULT_MAX_RESULTS = 1000
SEARCH_MAX_RESULTS = 50_000
METRIC_HISTORY_PAGE = 25_000
METRIC_BULK_MAX_RUNS = 100
METRIC_INTERVAL_MAX_RESULTS = 2500
MODEL_VERSIONS_TAG = "mlflow.modelVersions"  # a logged model's registrations: [{"name", "version"}] as JSON
DATASET_SEARCH_MAX_EXPERIMENTS = 20  # MLflow's limits of experiments/search-datasets
DATASET_SEARCH_MAX_RESULTS = 1000


@dataclass(frozen=True)
class RunSearch:
    """One search of runs: ``search_runs``' arguments as one value, taken by the other forms of its
    answer (``search_run_dicts``, ``search_run_columns``) and by every layer that passes it on."""

    experiment_ids: Sequence[str]
    filter_string: str | None = None
    run_view_type: ViewType | str | int = ViewType.ACTIVE_ONLY
    max_results: int = SEARCH_RUNS_DEFAULT_MAX_RESULTS
    order_by: Sequence[str] | None = None
    page_token: str | None = None

    def args(self) -> tuple:
        """The positional arguments of ``search_runs``."""
        return (
            self.experiment_ids,
            self.filter_string,
            self.run_view_type,
            self.max_results,
            self.order_by,
            self.page_token,
        )


class RunRecord(NamedTuple):
    """A run that is over already, as ``record_run`` / ``record_runs`` take it."""

    experiment_id: str
    user_id: str
    start_time: int | None
    end_time: int
    status: str
    tags: Sequence[RunTag] = ()
    run_name: str | None = None
    params: Sequence[Param] = ()
    metrics: Sequence[Metric] = ()


class OutputModel(NamedTuple):
    """A logged model to create as the output of run ``run_id`` (``create_output_models``)."""

    experiment_id: str
    run_id: str
    name: str
    tags: dict[str, str]
    params: dict[str, str]
    step: int = 0
    metrics: Sequence[Metric] = ()  # the run's points at ``step``, linked to the model


def output_model_links(model: OutputModel, model_id: str) -> list[LoggedModelMetric]:
    return [LoggedModelMetric(p.key, p.value, p.timestamp, p.step, model.run_id, model_id) for p in model.metrics]


class TrackingStore(ABC):
    """Experiments, runs and everything logged to runs."""

    # -- experiments -------------------------------------------------------
    @abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Create an experiment and return its id. A taken name raises ResourceAlreadyExists."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raise ResourceDoesNotExist when absent (deleted experiments are returned)."""

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name (active or deleted), or None."""

    @abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]: ...

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft delete: the experiment and its runs move to lifecycle 'deleted'."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # -- runs ----------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run. No name: a generated one, mirrored into tag mlflow.runName."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    def record_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        end_time: int,
        status: str,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        params: Sequence[Param] = (),
        metrics: Sequence[Metric] = (),
    ) -> Run:
        """A run that is over already, with its tags, params and metrics (a finished AutoML
        trial). Here three calls, the data checked first so that bad data leaves no run; the SQL
        store does it all in one transaction."""
        from modelyard import validation as v

        v.validate_batch_sizes(len(metrics), len(params), 0)
        v.validate_unique_param_keys([p.key for p in params])
        for p in params:
            v.validate_param(p.key, p.value)
        for m in metrics:
            v.validate_metric(m.key, m.value, m.timestamp, m.step)
        run = self.create_run(experiment_id, user_id, start_time, tags, run_name)
        run_id = run.info.run_id
        if params or metrics:
            self.log_batch(run_id, metrics=metrics, params=params)
        self.update_run_info(run_id, status, end_time)
        return self.get_run(run_id)

    def record_runs(self, records: Sequence[RunRecord]) -> list[Run]:
        """Several runs that are over (``record_run`` each, in order); the SQL store writes them
        all in one transaction (all or none)."""
        return [self.record_run(*record) for record in records]


    @abstractmethod
    def update_run_info(
        self,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]: ...

    def search_run_dicts(self, search: RunSearch) -> PagedList[dict]:
        """``search_runs``' page as the runs' JSON objects (``Run.to_dict``), and its token: what a
        ``runs/search`` answer holds. A store that can write them straight from its rows overrides it."""
        page = self.search_runs(*search.args())
        return PagedList([r.to_dict() for r in page], page.token)

    def search_run_columns(self, search: RunSearch) -> tuple[dict, str | None]:
        """``search_runs``' page as columns (``columnar.runs_to_columns``: the ``search-columnar``
        answer of modelyard's own client), and its token. A store that can write them straight from
        its rows overrides it."""
        from modelyard.entities.columnar import runs_to_columns

        page = self.search_runs(*search.args())
        return runs_to_columns(page), page.token

    # -- logging ---------------------------------------------------------------
    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """All or nothing: a failing batch writes nothing."""

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None: ...

    @abstractmethod
    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        """The distinct (experiment, dataset name, digest, input context) of the datasets logged as
        inputs of runs in ``experiment_ids`` (1 to ``DATASET_SEARCH_MAX_EXPERIMENTS``, else
        InvalidParameterValue), at most ``DATASET_SEARCH_MAX_RESULTS``; unknown experiments add nothing."""

    @abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every logged point of one metric, ordered by step then timestamp."""

    def get_metric_history_columns(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> HistoryColumns:
        """``get_metric_history`` as columns (steps, timestamps, values) and the next page's token;
        a store that can skip building one ``Metric`` per point overrides it."""
        page = self.get_metric_history(run_id, metric_key, max_results, page_token)
        return HistoryColumns.of(page, page.token)

    def get_metric_history_dicts(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[dict]:
        """``get_metric_history``'s page as the points' JSON objects (``Metric.to_dict``), and its
        token; a store that can skip building one ``Metric`` per point overrides it."""
        page = self.get_metric_history(run_id, metric_key, max_results, page_token)
        return PagedList([m.to_dict() for m in page], page.token)

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = METRIC_INTERVAL_MAX_RESULTS,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        """A down-sampled history of one metric for up to 100 runs (for charts).

        Steps are sampled on the union of the runs' steps in ``[start_step, end_step]`` (give
        both or neither; neither means every step): at most ``max_results`` evenly spaced
        steps (see :func:`sample_steps`), plus each run's first and last step in the range so
        no line is cut short. Every point logged at a chosen step is returned, with its
        ``run_id``: runs in the order given, each by step then timestamp. An unknown run
        raises ResourceDoesNotExist.

        This default reads whole histories; the SQL store samples in the database.
        """
        run_ids = validate_interval_request(run_ids, max_results, start_step, end_step)
        histories: dict[str, list[Metric]] = {}
        for run_id in run_ids:
            points = _whole_history(self, run_id, metric_key)
            if start_step is not None and end_step is not None:
                points = [m for m in points if start_step <= m.step <= end_step]
            histories[run_id] = points
        all_steps = sorted({m.step for points in histories.values() for m in points})
        chosen = sample_steps(all_steps, max_results)
        for points in histories.values():
            if points:
                chosen.update((points[0].step, points[-1].step))
        return [m for points in histories.values() for m in select_points(points, chosen)]

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], metric_key: str, max_results: int = METRIC_HISTORY_PAGE
    ) -> list[Metric]:
        """Whole histories of one metric for up to 100 runs: runs sorted by id, each by step then
        timestamp, at most ``max_results`` points in all (the UI's ``get-history-bulk``)."""
        run_ids = validate_bulk_request(run_ids, max_results)
        out: list[Metric] = []
        for run_id in sorted(run_ids):
            out.extend(_whole_history(self, run_id, metric_key))
            if len(out) >= max_results:
                break
        return out[:max_results]

    # -- logged models (MLflow 3) ---------------------------------------------------
    # Not abstract, so that a store without logged models still instantiates; each default
    # raises NotImplementedFeature (501 on the wire).
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A PENDING model "m-<32 hex>" with artifacts at <experiment location>/models/<id>/artifacts."""
        raise _no_logged_models(self)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """ResourceDoesNotExist when absent, or deleted (unless ``allow_deleted``)."""
        raise _no_logged_models(self)

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | str, status_message: str | None = None
    ) -> LoggedModel:
        """Set the status (READY or UPLOAD_FAILED once the upload ended)."""
        raise _no_logged_models(self)

    def delete_logged_model(self, model_id: str) -> None:
        """Soft delete: hidden from get and search, kept in the database."""
        raise _no_logged_models(self)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Active models of the experiments; ``order_by`` items are ``"metrics.acc DESC"`` strings or
        MLflow's ``{field_name, ascending, dataset_name, dataset_digest}``."""
        raise _no_logged_models(self)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        raise _no_logged_models(self)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        raise _no_logged_models(self)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        raise _no_logged_models(self)

    def log_logged_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Link metric points logged to ``run_id`` with a ``model_id`` to that logged model."""
        raise _no_logged_models(self)

    def create_output_models(self, models: Sequence[OutputModel]) -> list[LoggedModel]:
        """Several logged models (PENDING), each an output of its source run at ``step`` with the
        run's ``metrics`` (points at that step) linked to it. Here one call after another; the SQL
        store writes them all in one transaction."""
        created = []
        for m in models:
            logged = self.create_logged_model(m.experiment_id, m.name, m.run_id, dict(m.tags), dict(m.params))
            self.log_outputs(m.run_id, [LoggedModelOutput(logged.model_id, m.step)])
            if m.metrics:
                self.log_logged_model_metrics(m.run_id, output_model_links(m, logged.model_id))
            created.append(logged)
        return created

    def finalize_logged_models(self, statuses: Sequence[tuple[str, LoggedModelStatus | str]]) -> None:
        """``finalize_logged_model`` for each ``(model_id, status)``; the SQL store: one transaction."""
        for model_id, status in statuses:
            self.finalize_logged_model(model_id, status)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput | tuple[str, int]]) -> None:
        """Record ``LoggedModelOutput`` (or ``(model_id, step)`` pairs) as outputs of the run (``run.outputs.model_outputs``)."""
        raise _no_logged_models(self)

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str]) -> None:
        """Record logged models as inputs of the run (``run.inputs.model_inputs``)."""
        raise _no_logged_models(self)

    def close(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release connections (engines, HTTP clients)."""


# -- helpers for the bulk metric queries (shared by every store) --------------------------------
def sample_steps(steps: Sequence[int], max_results: int) -> set[int]:
    """At most ``max_results`` of the sorted distinct ``steps``, evenly spaced by rank.

    The first and the last step are always kept; when there are no more steps than
    ``max_results`` all of them are. Spacing by rank (not by step value) samples the steps
    that exist, so gaps in the logging do not waste the budget.
    """
    n = len(steps)
    if n <= max_results:
        return set(steps)
    if max_results == 1:
        return {steps[0], steps[-1]}
    return {steps[(i * (n - 1)) // (max_results - 1)] for i in range(max_results)}


def _unique_run_ids(run_ids: Sequence[str], request: str) -> list[str]:
    """The run ids of a bulk history ``request``, deduplicated; MLflow's messages for each refusal."""
    param = "run_ids" if request == "GetMetricHistoryBulkInterval" else "run_id"
    if isinstance(run_ids, str) or not all(isinstance(r, str) and r for r in run_ids):
        raise InvalidParameterValue(invalid_value(param, run_ids, "each item must be a non-empty run id."))
    unique = list(dict.fromkeys(run_ids))
    if not unique:
        if param == "run_ids":
            raise InvalidParameterValue(missing_value(param))
        raise InvalidParameterValue(f"{request} request must specify at least one run_id.")
    if len(unique) > METRIC_BULK_MAX_RUNS:
        limit = "must specify at most" if param == "run_ids" else "cannot specify more than"
        raise InvalidParameterValue(
            f"{request} request {limit} {METRIC_BULK_MAX_RUNS} run_ids. Received {len(unique)} run_ids."
        )
    return unique


def validate_interval_request(
    run_ids: Sequence[str], max_results: int, start_step: int | None, end_step: int | None
) -> list[str]:
    """Check the arguments of get_metric_history_bulk_interval; the run ids, deduplicated."""
    unique = _unique_run_ids(run_ids, "GetMetricHistoryBulkInterval")
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= METRIC_INTERVAL_MAX_RESULTS
    ):
        raise InvalidParameterValue(f"max_results must be between 1 and {METRIC_INTERVAL_MAX_RESULTS}.")
    if (start_step is None) != (end_step is None):
        raise InvalidParameterValue("Give both start_step and end_step, or neither.")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidParameterValue(
            f"end_step ({end_step}) must be greater than or equal to start_step ({start_step})."
        )
    return unique


def validate_bulk_request(run_ids: Sequence[str], max_results: int) -> list[str]:
    """Check the arguments of get_metric_history_bulk; the run ids, deduplicated."""
    unique = _unique_run_ids(run_ids, "GetMetricHistoryBulk")
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= METRIC_HISTORY_PAGE
    ):
        raise InvalidParameterValue(invalid_value("max_results", max_results, f"it must be between 1 and {METRIC_HISTORY_PAGE}."))
    return unique


def select_points(points: Sequence[Metric], steps: set[int]) -> list[Metric]:
    """The points of one run at the chosen steps, at most METRIC_HISTORY_PAGE of them (as MLflow)."""
    return [m for m in points if m.step in steps][:METRIC_HISTORY_PAGE]


def _whole_history(store: TrackingStore, run_id: str, metric_key: str) -> list[Metric]:
    points: list[Metric] = []
    token = None
    while True:
        page = store.get_metric_history(run_id, metric_key, METRIC_HISTORY_PAGE, token)
        points.extend(page)
        token = page.token
        if not token:
            return points


def _no_logged_models(store: TrackingStore) -> Exception:
    from modelyard.exceptions import NotImplementedFeature

    return NotImplementedFeature(f"{type(store).__name__} does not support logged models")
