"""Turning rows into entities, in bulk: one query per child table for a whole page of runs."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, select

from modelyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from modelyard.entities.columnar import HistoryColumns, metrics_of
from modelyard.store.tracking.tables import (
    datasets,
    experiment_tags,
    input_tags,
    latest_metrics,
    params,
    run_inputs,
    runs,
    tags,
)

DBL_MAX = sys.float_info.max
_CHUNK = 1000  # ids per IN (...) list


def metric_to_db(value: float) -> tuple[float, bool]:
    """(stored value, is_nan): NaN -> (0, True); +-inf -> +-DBL_MAX (MySQL has no infinities)."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (DBL_MAX if value > 0 else -DBL_MAX), False
    return value, False


def metric_from_db(value: float, is_nan: bool) -> float:
    if is_nan:
        return math.nan
    if value >= DBL_MAX:
        return math.inf
    if value <= -DBL_MAX:
        return -math.inf
    return value


def raw_rows(conn: Connection, stmt) -> list[tuple]:
    """All rows as the driver's plain tuples: skips building SQLAlchemy Row objects, which costs
    more than the database itself for long results (a 100,000-point history). Only for columns
    that need no type processing (numbers and strings)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def metrics_from_rows(rows: Sequence[tuple], key: str, run_id: str | None) -> list[Metric]:
    """Frozen Metric objects from (value, timestamp, step, is_nan) rows (``columnar.metrics_of``,
    which fills their slots directly)."""
    steps, stamps, values, _ = history_columns_from_rows(rows, None)
    return metrics_of(key, run_id, values, stamps, steps)


def history_columns_from_rows(rows: Sequence[tuple], token: str | None) -> HistoryColumns:
    """Columns of (value, timestamp, step, is_nan) rows, no ``Metric`` per point: values read back
    as ``metrics_from_rows`` reads them (NaN, and the infinities stored as +-DBL_MAX)."""
    if not rows:
        return HistoryColumns([], [], [], token)
    values, stamps, steps, nans = zip(*rows, strict=True)
    values = [
        value if not is_nan and -DBL_MAX < value < DBL_MAX else metric_from_db(value, is_nan)
        for value, is_nan in zip(values, nans, strict=True)
    ]
    return HistoryColumns(steps, stamps, values, token)


RUN_COLUMNS = (
    runs.c.id,
    runs.c.run_uuid,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.user_id,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.lifecycle_stage,
    runs.c.artifact_uri,
)


def run_info_from_row(row) -> RunInfo:
    return RunInfo(
        run_id=row.run_uuid,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=row.lifecycle_stage,
    )


def run_info_from_values(
    run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri
) -> RunInfo:
    """RunInfo from the values of a ``runs`` row, in the order of RUN_COLUMNS less ``id``."""
    return RunInfo(
        run_id=run_uuid,
        experiment_id=str(experiment_id),
        run_name=name,
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        artifact_uri=artifact_uri,
        lifecycle_stage=lifecycle_stage,
    )


def _chunks(ids: Sequence[int]):
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def load_runs(conn: Connection, rows: Sequence) -> list[Run]:
    """Full Run entities (latest metrics, params, tags, dataset inputs) for rows of RUN_COLUMNS."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    run_params: dict[int, dict[str, str]] = defaultdict(dict)
    run_tags: dict[int, dict[str, str]] = defaultdict(dict)
    run_metrics: dict[int, list[Metric]] = defaultdict(list)
    run_datasets: dict[int, list[DatasetInput]] = defaultdict(list)
    run_models: dict[int, list[str]] = defaultdict(list)
    run_outputs: dict[int, list] = defaultdict(list)
    for chunk in _chunks(ids):
        for rid, key, value in raw_rows(
            conn, select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(chunk))
        ):
            run_params[rid][key] = value
        for rid, key, value in raw_rows(
            conn, select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(chunk))
        ):
            run_tags[rid][key] = value
        for rid, key, value, ts, step, is_nan in raw_rows(
            conn,
            select(
                latest_metrics.c.run_id,
                latest_metrics.c.key,
                latest_metrics.c.value,
                latest_metrics.c.timestamp,
                latest_metrics.c.step,
                latest_metrics.c.is_nan,
            ).where(latest_metrics.c.run_id.in_(chunk)),
        ):
            run_metrics[rid].append(Metric(key, metric_from_db(value, is_nan), ts, step))
        _load_inputs(conn, chunk, run_datasets)
        _load_models(conn, chunk, run_models, run_outputs)
    out = []
    for r in rows:
        out.append(
            Run(
                info=run_info_from_row(r),
                data=RunData(
                    metric_objs=tuple(sorted(run_metrics.get(r.id, ()), key=lambda m: m.key)),
                    params=dict(sorted(run_params.get(r.id, {}).items())),
                    tags=dict(sorted(run_tags.get(r.id, {}).items())),
                ),
                inputs=RunInputs(
                    dataset_inputs=tuple(run_datasets.get(r.id, ())),
                    model_inputs=tuple(run_models.get(r.id, ())),
                ),
                outputs=RunOutputs(model_outputs=tuple(run_outputs.get(r.id, ()))),
            )
        )
    return out


def _load_models(conn: Connection, chunk: Sequence[int], inputs: dict, outputs: dict) -> None:
    """Logged models the runs read (model inputs) and produced (model outputs)."""
    from modelyard.store.tracking.sql.logged_models import load_run_models

    chunk_inputs, chunk_outputs = load_run_models(conn, chunk)
    inputs.update(chunk_inputs)
    outputs.update(chunk_outputs)


def _load_inputs(conn: Connection, chunk: Sequence[int], out: dict[int, list[DatasetInput]]) -> None:
    rows = conn.execute(
        select(
            run_inputs.c.id,
            run_inputs.c.run_id,
            datasets.c.name,
            datasets.c.digest,
            datasets.c.source_type,
            datasets.c.source,
            datasets.c.schema,
            datasets.c.profile,
        )
        .join(datasets, datasets.c.id == run_inputs.c.dataset_id)
        .where(run_inputs.c.run_id.in_(chunk))
        .order_by(run_inputs.c.id)
    ).all()
    if not rows:
        return
    tags_by_input: dict[int, list[InputTag]] = defaultdict(list)
    for input_id, key, value in conn.execute(
        select(input_tags.c.input_id, input_tags.c.key, input_tags.c.value).where(
            input_tags.c.input_id.in_([r.id for r in rows])
        )
    ):
        tags_by_input[input_id].append(InputTag(key, value))
    for r in rows:
        dataset = Dataset(r.name, r.digest, r.source_type, r.source, r.schema, r.profile)
        out[r.run_id].append(
            DatasetInput(dataset, tuple(sorted(tags_by_input.get(r.id, ()), key=lambda t: t.key)))
        )


def load_experiments(conn: Connection, rows: Sequence) -> list[Experiment]:
    if not rows:
        return []
    ids = [r.experiment_id for r in rows]
    exp_tags: dict[int, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for eid, key, value in conn.execute(
            select(experiment_tags.c.experiment_id, experiment_tags.c.key, experiment_tags.c.value).where(
                experiment_tags.c.experiment_id.in_(chunk)
            )
        ):
            exp_tags[eid][key] = value
    return [
        Experiment(
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location,
            lifecycle_stage=r.lifecycle_stage,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
            tags=dict(sorted(exp_tags.get(r.experiment_id, {}).items())),
        )
        for r in rows
    ]
