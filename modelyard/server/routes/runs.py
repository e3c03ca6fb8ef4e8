"""Runs: create, get, update, delete, restore, search, and everything logged to a run.

Scalar fields follow protobuf's JSON mapping: int64 fields take a JSON number or a numeric
string, doubles also take "NaN", "Infinity" and "-Infinity"; booleans are refused for both
(``true`` is not a metric value). Run-scoped requests accept ``run_id`` or the legacy
``run_uuid``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, PlainValidator

from modelyard import validation as v
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import DELETE, EXPERIMENT, READ, RUN, UPDATE, needs
from modelyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelMetric,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from modelyard.entities.run import MetricRows
from modelyard.exceptions import InvalidParameterValue
from modelyard.server.protocol import KeyValue, Message, RouteTable, parse_message
from modelyard.server.services import Services
from modelyard.store.tracking.base import (
    DEFAULT_EXPERIMENT_ID,
    SEARCH_RUNS_DEFAULT_MAX_RESULTS,
    RunSearch,
)
from modelyard.tracking.loop_writes import DECLINED
from modelyard.validation import missing_value

table = RouteTable()

_INT_TEXT = re.compile(r"\s*[+-]?\d{1,20}\s*")


# -- protobuf-JSON scalars -------------------------------------------------------------------
def _int64(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value):
        number = int(value)
    else:
        raise ValueError("expected a 64-bit integer")
    if not v.INT64_MIN <= number <= v.INT64_MAX:
        raise ValueError("out of the 64-bit integer range")
    return number


def _double(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("out of the double range") from None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError('expected a number, "NaN", "Infinity" or "-Infinity"') from None
        if math.isfinite(number) or value.strip() in ("NaN", "Infinity", "-Infinity"):
            return number
    raise ValueError('expected a number, "NaN", "Infinity" or "-Infinity"')


def _id_text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _enum_value(value: Any) -> str | int:
    """A protobuf enum in JSON: its name, or its number (never a boolean)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError("expected an enum name or number")


Int64 = Annotated[int, PlainValidator(_int64)]
EnumValue = Annotated[str | int, PlainValidator(_enum_value)]
Double = Annotated[float, PlainValidator(_double)]
IdText = Annotated[str, PlainValidator(_id_text)]


# -- request messages --------------------------------------------------------------------------
class RunScoped(Message):
    """A request about one run: ``run_id``, or MLflow's legacy ``run_uuid``."""

    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def rid(self) -> str:
        run_id = self.run_id or self.run_uuid
        if not run_id:
            raise InvalidParameterValue(missing_value("run_id"))
        return run_id


def run_of(m: RunScoped) -> str | None:
    """Where a run-scoped request names its run (``run_id``, or the legacy ``run_uuid``)."""
    return m.run_id or m.run_uuid


class CreateRun(Message):
    experiment_id: IdText = DEFAULT_EXPERIMENT_ID
    user_id: str = ""
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = []


class UpdateRun(RunScoped):
    status: EnumValue | None = None
    end_time: Int64 | None = None
    run_name: str | None = None


class SearchRuns(Message):
    experiment_ids: list[IdText] = []
    filter: str | None = None
    run_view_type: EnumValue | None = None
    max_results: Int64 = SEARCH_RUNS_DEFAULT_MAX_RESULTS
    order_by: list[str] = []
    page_token: str | None = None


class MetricIn(Message):
    key: str
    value: Double
    timestamp: Int64
    step: Int64 = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def entity(self) -> Metric:
        return Metric(self.key, self.value, self.timestamp, self.step)


class LogMetric(RunScoped, MetricIn):
    pass


class LogParam(RunScoped):
    key: str
    value: str | None = None


class SetTag(RunScoped):
    key: str
    value: str | None = None


class DeleteTag(RunScoped):
    key: str


class LogBatch(RunScoped):
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


_PLAIN_METRIC_FIELDS = frozenset(("key", "value", "timestamp", "step"))


class _PlainBatch:
    """A log-batch request whose metrics are all plain (key, number, int timestamp, int step):
    the points are kept as tuples (``MetricRows``), without a pydantic model per point (5 ms per
    1,000) or an entity per point (3 ms)."""

    __slots__ = ("run_id", "run_uuid", "params", "tags", "entities")
    metrics: tuple = ()  # no model ids to check or link

    rid = RunScoped.rid


def parse_log_batch(data: dict, path_params: dict | None = None) -> LogBatch | _PlainBatch:
    """LogBatch, with a fast path for plain metrics; any other shape goes through pydantic, so
    errors read exactly as before."""
    points = data.get("metrics")
    entities = _plain_metrics(points) if type(points) is list and not path_params else None
    if entities is None:
        return parse_message(data, LogBatch, path_params)
    rest = parse_message({k: val for k, val in data.items() if k != "metrics"}, LogBatch)
    out = _PlainBatch()
    out.run_id, out.run_uuid, out.params, out.tags = rest.run_id, rest.run_uuid, rest.params, rest.tags
    out.entities = entities
    return out


def _plain_metrics(points: list) -> MetricRows | None:
    out: list[tuple[str, float, int, int]] = []
    append, plain, float_, int_ = out.append, _PLAIN_METRIC_FIELDS, float, int
    for p in points:
        if type(p) is not dict or not p.keys() <= plain:
            return None
        key, value, ts, step = p.get("key"), p.get("value"), p.get("timestamp"), p.get("step", 0)
        tv = type(value)
        if (
            type(key) is not str
            or (tv is not float_ and tv is not int_)
            or type(ts) is not int_
            or type(step) is not int_
            or not v.INT64_MIN <= ts <= v.INT64_MAX
            or not v.INT64_MIN <= step <= v.INT64_MAX
        ):
            return None
        if tv is int_:
            try:
                value = float_(value)
            except OverflowError:
                return None
        append((key, value, ts, step))
    return MetricRows(out)


class DatasetIn(Message):
    name: str
    digest: str
    source_type: str
    source: str
    dataset_schema: str | None = Field(None, alias="schema")
    profile: str | None = None


class DatasetInputIn(Message):
    dataset: DatasetIn
    tags: list[KeyValue] = []

    def entity(self) -> DatasetInput:
        d = self.dataset
        return DatasetInput(
            Dataset(d.name, d.digest, d.source_type, d.source, d.dataset_schema, d.profile),
            tuple(InputTag(t.key, t.value or "") for t in self.tags),
        )


class ModelInputIn(Message):
    model_id: str

    model_config = ConfigDict(protected_namespaces=())


class ModelOutputIn(Message):
    model_id: str
    step: Int64 = 0

    model_config = ConfigDict(protected_namespaces=())


class LogInputs(RunScoped):
    datasets: list[DatasetInputIn] = []
    models: list[ModelInputIn] = []


class LogOutputs(RunScoped):
    models: list[ModelOutputIn] = []


class LogModel(RunScoped):
    model_json: str

    model_config = ConfigDict(protected_namespaces=())


# -- handlers ------------------------------------------------------------------------------------
@table.post("/mlflow/runs/create", CreateRun, inline=True, needs=needs(EXPERIMENT, UPDATE, "experiment_id"))
def create_run(svc: Services, m: CreateRun, ctx: RequestContext) -> dict:
    """Create a run (a generated name when none is given)."""
    tags = [RunTag(t.key, t.value or "") for t in m.tags]
    run = svc.tracking.create_run(ctx, m.experiment_id, m.user_id, m.start_time, tags, m.run_name or None)
    return {"run": run.to_dict()}


@table.post("/mlflow/runs/update", UpdateRun, inline=True, needs=needs(RUN, UPDATE, run_of))
def update_run(svc: Services, m: UpdateRun, ctx: RequestContext) -> dict:
    """Update a run's status, end time or name."""
    status = None if m.status == "" else m.status
    info = svc.tracking.update_run_info(ctx, m.rid, status, m.end_time, m.run_name or None)
    return {"run_info": info.to_dict()}


@table.on_loop(create_run)
async def create_run_on_loop(svc: Services, m: CreateRun, ctx: RequestContext):
    tags = [RunTag(t.key, t.value or "") for t in m.tags]
    run = await svc.loop_writes.create_run(
        ctx, m.experiment_id, m.user_id, m.start_time, tags, m.run_name or None
    )
    return run if run is DECLINED else {"run": run.to_dict()}


@table.on_loop(update_run)
async def update_run_on_loop(svc: Services, m: UpdateRun, ctx: RequestContext):
    status = None if m.status == "" else m.status
    info = await svc.loop_writes.update_run_info(ctx, m.rid, status, m.end_time, m.run_name or None)
    return info if info is DECLINED else {"run_info": info.to_dict()}


@table.post("/mlflow/runs/delete", RunScoped, needs=needs(RUN, DELETE, run_of))
def delete_run(svc: Services, m: RunScoped, ctx: RequestContext) -> dict:
    """Soft-delete a run."""
    svc.tracking.delete_run(ctx, m.rid)
    return {}


@table.post("/mlflow/runs/restore", RunScoped, needs=needs(RUN, DELETE, run_of))
def restore_run(svc: Services, m: RunScoped, ctx: RequestContext) -> dict:
    """Restore a deleted run."""
    svc.tracking.restore_run(ctx, m.rid)
    return {}


@table.get("/mlflow/runs/get", RunScoped, inline=True, needs=needs(RUN, READ, run_of))
def get_run(svc: Services, m: RunScoped, ctx: RequestContext) -> dict:
    """Get a run with its latest metrics, params, tags and inputs."""
    return {"run": svc.tracking.get_run(ctx, m.rid).to_dict()}


def run_search(m: SearchRuns) -> RunSearch:
    """A ``runs/search`` body as the search it asks for."""
    return RunSearch(
        m.experiment_ids,
        m.filter,
        ViewType.parse(m.run_view_type),
        m.max_results,
        m.order_by,
        m.page_token,
    )


@table.post("/mlflow/runs/search", SearchRuns, needs=needs(EXPERIMENT, READ, "experiment_ids"))
def search_runs(svc: Services, m: SearchRuns, ctx: RequestContext) -> dict:
    """Search runs of some experiments with a filter."""
    page = svc.tracking.search_run_dicts(ctx, run_search(m))
    out: dict = {"runs": list(page)}
    if page.token:
        out["next_page_token"] = page.token
    return out


@table.post("/mlflow/runs/log-metric", LogMetric, inline=True, needs=needs(RUN, UPDATE, run_of))
def log_metric(svc: Services, m: LogMetric, ctx: RequestContext) -> dict:
    """Log one metric point."""
    svc.tracking.log_metric(ctx, m.rid, m.entity(), _model_metrics(m.rid, [m]))
    return {}


@table.on_loop(log_metric)
async def log_metric_on_loop(svc: Services, m: LogMetric, ctx: RequestContext):
    if m.model_id:  # a logged model's metric too: checked and linked by the handler
        return DECLINED
    return _done(await svc.loop_writes.log_batch(ctx, m.rid, metrics=[m.entity()]))


def _done(answer) -> dict:
    return answer if answer is DECLINED else {}


def _model_metrics(run_id: str, metrics: list[MetricIn]) -> list[LoggedModelMetric]:
    """The points that name a logged model, as that model's metrics (MLflow 3)."""
    return [
        LoggedModelMetric(
            x.key, x.value, x.timestamp, x.step, run_id, x.model_id, x.dataset_name, x.dataset_digest
        )
        for x in metrics
        if x.model_id
    ]


@table.post("/mlflow/runs/log-parameter", LogParam, inline=True, needs=needs(RUN, UPDATE, run_of))
def log_param(svc: Services, m: LogParam, ctx: RequestContext) -> dict:
    """Log a parameter (immutable once logged)."""
    svc.tracking.log_param(ctx, m.rid, Param(m.key, m.value or ""))
    return {}


@table.post("/mlflow/runs/set-tag", SetTag, inline=True, needs=needs(RUN, UPDATE, run_of))
def set_tag(svc: Services, m: SetTag, ctx: RequestContext) -> dict:
    """Set a tag on a run."""
    svc.tracking.set_tag(ctx, m.rid, RunTag(m.key, m.value or ""))
    return {}


@table.on_loop(log_param)
async def log_param_on_loop(svc: Services, m: LogParam, ctx: RequestContext):
    return _done(await svc.loop_writes.log_batch(ctx, m.rid, params=[Param(m.key, m.value or "")]))


@table.on_loop(set_tag)
async def set_tag_on_loop(svc: Services, m: SetTag, ctx: RequestContext):
    return _done(await svc.loop_writes.log_batch(ctx, m.rid, tags=[RunTag(m.key, m.value or "")]))


@table.post("/mlflow/runs/delete-tag", DeleteTag, needs=needs(RUN, UPDATE, run_of))
def delete_tag(svc: Services, m: DeleteTag, ctx: RequestContext) -> dict:
    """Delete a tag of a run."""
    svc.tracking.delete_tag(ctx, m.rid, m.key)
    return {}


@table.post(
    "/mlflow/runs/log-batch", LogBatch, parse=parse_log_batch, inline=True, needs=needs(RUN, UPDATE, run_of)
)
def log_batch(svc: Services, m: LogBatch | _PlainBatch, ctx: RequestContext) -> dict:
    """Log metrics, params and tags at once (all or nothing)."""
    svc.tracking.log_batch(
        ctx, m.rid, *_batch_entities(m), model_metrics=_model_metrics(m.rid, m.metrics) if m.metrics else ()
    )
    return {}


@table.on_loop(log_batch)
async def log_batch_on_loop(svc: Services, m: LogBatch | _PlainBatch, ctx: RequestContext):
    if m.metrics and any(x.model_id for x in m.metrics):  # logged models' metrics: the handler's
        return DECLINED
    return _done(await svc.loop_writes.log_batch(ctx, m.rid, *_batch_entities(m)))


def _batch_entities(m: LogBatch | _PlainBatch) -> tuple[Any, list[Param], list[RunTag]]:
    """A log-batch request's metrics, params and tags, as the tracking service takes them."""
    return (
        m.entities if isinstance(m, _PlainBatch) else [x.entity() for x in m.metrics],
        [Param(p.key, p.value or "") for p in m.params],
        [RunTag(t.key, t.value or "") for t in m.tags],
    )


@table.post("/mlflow/runs/log-inputs", LogInputs, needs=needs(RUN, UPDATE, run_of))
def log_inputs(svc: Services, m: LogInputs, ctx: RequestContext) -> dict:
    """Log dataset inputs (and logged-model inputs) of a run."""
    svc.tracking.log_inputs(ctx, m.rid, [d.entity() for d in m.datasets], [x.model_id for x in m.models])
    return {}


@table.post("/mlflow/runs/outputs", LogOutputs, needs=needs(RUN, UPDATE, run_of))
def log_outputs(svc: Services, m: LogOutputs, ctx: RequestContext) -> dict:
    """Link logged models to the run that produced them (MLflow 3)."""
    svc.tracking.log_outputs(ctx, m.rid, [LoggedModelOutput(x.model_id, x.step) for x in m.models])
    return {}


@table.post("/mlflow/runs/log-model", LogModel, needs=needs(RUN, UPDATE, run_of))
def log_model(svc: Services, m: LogModel, ctx: RequestContext) -> dict:
    """Record an MLmodel in the run's tag mlflow.log-model.history (MLflow 2 clients)."""
    svc.tracking.record_logged_model(ctx, m.rid, m.model_json)
    return {}
