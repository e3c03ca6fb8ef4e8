"""``get_run`` on PostgreSQL in one round trip.

The general path (``hydrate.load_runs``) reads a run with eight statements in a transaction: the
run, its params, tags, latest metrics, dataset inputs, model inputs and model outputs (and the
inputs' tags when it has any), each built and compiled by SQLAlchemy, each a round trip. Here four
prepared statements (planned once per connection) go as one query on a connection in autocommit
mode: the run's row; its params, tags, latest metrics, model inputs and outputs as one
``UNION ALL``; its dataset inputs; their tags. The entities are the ones ``load_runs`` builds,
in the same order.
"""

from __future__ import annotations

from collections import defaultdict

from modelyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Run,
    RunData,
    RunInputs,
    RunOutputs,
)
from modelyard.store.sql.database import Database
from modelyard.store.tracking.sql.hydrate import metric_from_db, run_info_from_values
from modelyard.store.tracking.sql.pgbatch import _NAME, run_prepared

_RID = "(SELECT id FROM runs WHERE run_uuid = $1)"
_STATEMENTS = {
    "run": "SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage,"
    " artifact_uri FROM runs WHERE run_uuid = $1",
    # kind 0 params, 1 tags, 2 latest metrics, 3 model inputs, 4 model outputs
    "children": "SELECT 0 AS kind, key::text, value::text, NULL::float8, NULL::int8, NULL::int8, NULL::bool,"
    f" 0::int8 AS ord FROM params WHERE run_id = {_RID}"
    f" UNION ALL SELECT 1, key, value, NULL, NULL, NULL, NULL, 0 FROM tags WHERE run_id = {_RID}"
    " UNION ALL SELECT 2, key, NULL, value, timestamp, step, is_nan, 0 FROM latest_metrics"
    f" WHERE run_id = {_RID}"
    " UNION ALL SELECT 3, lm.model_id, NULL, NULL, NULL, NULL, NULL, lm.id FROM run_model_inputs ri"
    f" JOIN logged_models lm ON lm.id = ri.model_id WHERE ri.run_id = {_RID}"
    " UNION ALL SELECT 4, lm.model_id, NULL, NULL, NULL, ro.step, NULL, lm.id FROM run_outputs ro"
    f" JOIN logged_models lm ON lm.id = ro.model_id WHERE ro.run_id = {_RID}"
    " ORDER BY 1, 8, 6",
    "inputs": "SELECT ri.id, d.name, d.digest, d.source_type, d.source, d.schema, d.profile FROM run_inputs ri"
    f" JOIN datasets d ON d.id = ri.dataset_id WHERE ri.run_id = {_RID} ORDER BY ri.id",
    "input_tags": "SELECT it.input_id, it.key, it.value FROM input_tags it JOIN run_inputs ri ON ri.id = it.input_id"
    f" WHERE ri.run_id = {_RID}",
}
_NAMES = {part: f"{_NAME}get_run_{part}" for part in _STATEMENTS}
_PREPARE = {part: f"PREPARE {_NAMES[part]} (text) AS {sql}" for part, sql in _STATEMENTS.items()}
_PREPARES = tuple((_NAMES[part], _PREPARE[part]) for part in _STATEMENTS)
_QUERY = "; ".join(f"EXECUTE {_NAMES[part]}(%(run)s)" for part in _STATEMENTS)


def _read(cur) -> tuple:
    row = cur.fetchone()
    cur.nextset()
    children = cur.fetchall()
    cur.nextset()
    inputs = cur.fetchall()
    cur.nextset()
    return row, children, inputs, cur.fetchall()


def get_run(db: Database, run_id: str) -> Run | None:
    """The run as ``hydrate.load_runs`` builds it, or None when there is no such run."""
    row, children, inputs, input_tags = run_prepared(db, _PREPARES, _QUERY, {"run": run_id}, _read)
    if row is None:
        return None
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    metrics: list[Metric] = []
    model_inputs: list[str] = []
    outputs: list[LoggedModelOutput] = []
    for kind, key, value, num, ts, step, is_nan, _ord in children:
        if kind == 0:
            params[key] = value
        elif kind == 1:
            tags[key] = value
        elif kind == 2:
            metrics.append(Metric(key, metric_from_db(num, is_nan), ts, step))
        elif kind == 3:
            model_inputs.append(key)
        else:
            outputs.append(LoggedModelOutput(key, step))
    datasets: list[DatasetInput] = []
    if inputs:
        tags_of: dict[int, list[InputTag]] = defaultdict(list)
        for input_id, key, value in input_tags:
            tags_of[input_id].append(InputTag(key, value))
        for input_id, name, digest, source_type, source, schema, profile in inputs:
            dataset = Dataset(name, digest, source_type, source, schema, profile)
            datasets.append(
                DatasetInput(dataset, tuple(sorted(tags_of.get(input_id, ()), key=lambda t: t.key)))
            )
    info = run_info_from_values(*row)
    return Run(
        info=info,
        data=RunData(
            metric_objs=tuple(sorted(metrics, key=lambda m: m.key)),
            params=dict(sorted(params.items())),
            tags=dict(sorted(tags.items())),
        ),
        inputs=RunInputs(dataset_inputs=tuple(datasets), model_inputs=tuple(model_inputs)),
        outputs=RunOutputs(model_outputs=tuple(outputs)),
    )
