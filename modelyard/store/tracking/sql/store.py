"""The SQL tracking store (SQLite, PostgreSQL, MySQL/MariaDB) on SQLAlchemy Core.

Every public method is one transaction of the kernel's ``Database`` (``read()`` / ``write()``,
``modelyard.store.sql.database``), which translates database and driver errors to the modelyard
error tree, raised ``from`` the original. Writes validate everything before
touching the database, and a batch is all-or-nothing.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, and_, delete, func, select, update

from modelyard import validation as v
from modelyard.entities import (
    DatasetInput,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.entities.columnar import HistoryColumns
from modelyard.entities.run import MetricRows
from modelyard.exceptions import (
    InvalidParameterValue,
    ResourceDoesNotExist,
)
from modelyard.settings import DEFAULT_ARTIFACTS_DIR, Settings
from modelyard.store.sql.common import join_uri, now_ms
from modelyard.store.sql.database import Database
from modelyard.store.sql.dml import upsert
from modelyard.store.sql.migrate import ensure_schema
from modelyard.store.tracking import base
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.names import random_run_name
from modelyard.store.tracking.sql import hydrate, pgbatch, rawsql
from modelyard.store.tracking.sql.common import (
    ACTIVE,
    DELETED,
    RUN_NAME_TAG,
    experiment_int,
)
from modelyard.store.tracking.sql.store_experiments import ExperimentMethods
from modelyard.store.tracking.sql.store_logged_models import LoggedModelMethods
from modelyard.store.tracking.sql.store_pg import PgCallMethods, new_run, run_info_values
from modelyard.store.tracking.sql.store_search import RunSearchMethods

logger = logging.getLogger(__name__)


class SqlTrackingStore(
    ExperimentMethods, RunSearchMethods, LoggedModelMethods, PgCallMethods, base.TrackingStore
):
    def __init__(self, database: Database, default_artifact_root: str) -> None:
        self.db = database
        self.engine = database.engine
        # The kernel's transactions, bound once: no extra layer on the logging path.
        self._read = database.read
        self._write = database.write
        # Run creation and logging on SQLite and PostgreSQL: SQL text on the driver's connection
        # (rawsql), in transactions without SQLAlchemy's per-transaction layer (Database.write_raw).
        self._raw = database.dialect in rawsql.DIALECTS
        self._write_hot = database.write_raw if self._raw else database.write
        self.default_artifact_root = default_artifact_root
        self.uri = database.uri
        # PostgreSQL through psycopg 3: a log_batch is one round trip (pgbatch.py)
        self._pg_batch = database.dialect == "postgresql" and database.engine.dialect.driver == "psycopg"
        self._artifact_locations: dict[int, str] = {}  # experiment id -> artifact location (PostgreSQL path)
        self._scope_sizes = None  # run_search.ScopeSizes, made by the first search
        ensure_schema(database.engine, database.uri)
        self._ensure_default_experiment()

    @classmethod
    def from_uri(
        cls, uri: str, settings: Settings | None = None, default_artifact_root: str | None = None
    ) -> SqlTrackingStore:
        settings = settings or Settings()
        root = (
            default_artifact_root or settings.artifacts.default_root or os.path.abspath(DEFAULT_ARTIFACTS_DIR)
        )
        return cls(Database.from_uri(uri, settings), root)

    def close(self) -> None:
        self.db.close()

    # -- runs -------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        tag_map, name = self._run_tags(tags, run_name)
        if self._pg_batch:
            run = self._pg_create_run(experiment_id, user_id, start_time, tag_map, name)
            if run is not None:
                return run
        with self._write_hot() as conn:
            run, _ = self._insert_run(
                conn, experiment_id, user_id, start_time, None, RunStatus.RUNNING.value, tag_map, name
            )
        return run

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
        """One transaction: the run, its tags, params and metrics, already terminated."""
        record = base.RunRecord(
            experiment_id, user_id, start_time, end_time, status, tags, run_name, params, metrics
        )
        return self.record_runs([record])[0]

    def record_runs(self, records: Sequence[base.RunRecord]) -> list[Run]:
        """One transaction for them all: each run, its tags, params and metrics, already terminated
        (every record checked before anything is written)."""
        checked = []
        for r in records:
            status = RunStatus.parse(r.status).value
            tag_map, name = self._run_tags(r.tags, r.run_name)
            v.validate_batch_sizes(len(r.metrics), len(r.params), 0)
            param_rows, _, metric_rows = self._batch_rows(r.metrics, r.params, ())
            checked.append((r, status, tag_map, name, param_rows, metric_rows))
        runs = []
        with self._write_hot() as conn:
            raw = rawsql.enabled(conn)
            for r, status, tag_map, name, param_rows, metric_rows in checked:
                run, rid = self._insert_run(
                    conn, r.experiment_id, r.user_id, r.start_time, int(r.end_time), status, tag_map, name
                )
                if param_rows and raw:
                    rawsql.insert_params(conn, rid, list(param_rows.items()))
                elif param_rows:
                    conn.execute(
                        db.params.insert(),
                        [{"run_id": rid, "key": k, "value": val} for k, val in param_rows.items()],
                    )
                if metric_rows:
                    self._insert_metrics(conn, rid, metric_rows)
                data = RunData(
                    metric_objs=tuple(r.metrics), params=dict(sorted(param_rows.items())), tags=run.data.tags
                )
                runs.append(Run(info=run.info, data=data))
        return runs

    @staticmethod
    def _run_tags(tags: Sequence[RunTag], run_name: str | None) -> tuple[dict[str, str], str]:
        tag_map = {t.key: v.validate_tag(t.key, t.value) for t in tags}
        name_tag = tag_map.get(RUN_NAME_TAG)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidParameterValue(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
                f"values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        name = v.validate_run_name(run_name or name_tag or random_run_name())
        tag_map[RUN_NAME_TAG] = name
        return tag_map, name

    def _insert_run(
        self,
        conn: Connection,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        end_time: int | None,
        status: str,
        tag_map: dict[str, str],
        name: str,
    ) -> tuple[Run, int]:
        start_time = now_ms() if start_time is None else int(start_time)
        run_uuid = uuid.uuid4().hex
        raw = rawsql.enabled(conn)
        if raw:
            found = rawsql.experiment_row(conn, experiment_int(experiment_id))
            if found is None:
                raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
            exp_id, stage, location = found
        else:
            exp = self._experiment_row(conn, experiment_id)
            exp_id, stage, location = exp.experiment_id, exp.lifecycle_stage, exp.artifact_location
        if stage != ACTIVE:
            raise InvalidParameterValue(
                f"The experiment {experiment_id} must be in the 'active' state. Current state is {stage}."
            )
        artifact_uri = join_uri(location, run_uuid, "artifacts")
        values = (run_uuid, exp_id, name, user_id or "", status, start_time, end_time, ACTIVE, artifact_uri)
        if raw:
            row_id = rawsql.insert_run(conn, values, tag_map)
        else:
            row_id = conn.execute(
                db.runs.insert().values(dict(zip(_RUN_INSERT_COLUMNS, values, strict=True)))
            ).inserted_primary_key[0]
            conn.execute(
                db.tags.insert(), [{"run_id": row_id, "key": k, "value": val} for k, val in tag_map.items()]
            )
        new = new_run(run_uuid, exp_id, name, user_id, status, start_time, end_time, artifact_uri, tag_map)
        return new, row_id

    def _run_row(self, conn: Connection, run_id: str):
        row = conn.execute(select(*hydrate.RUN_COLUMNS).where(db.runs.c.run_uuid == run_id)).first()
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row

    def _active_run_row(self, conn: Connection, run_id: str, *, lock: bool = True):
        """The run's row, refusing a deleted run. ``lock`` holds the row until commit (PostgreSQL,
        MySQL; SQLite's BEGIN IMMEDIATE already serializes writers), so concurrent writes to one run
        see each other: else two equal params both insert (a duplicate-key error) and an older
        latest metric can overwrite a newer one."""
        if rawsql.enabled(conn):
            row = rawsql.run_row(conn, run_id, lock=lock)
            row = row and _RunRow(*row)
        else:
            stmt = select(db.runs.c.id, db.runs.c.lifecycle_stage).where(db.runs.c.run_uuid == run_id)
            row = conn.execute(stmt.with_for_update(key_share=True) if lock else stmt).first()
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        if row.lifecycle_stage != ACTIVE:
            raise InvalidParameterValue(
                f"The run {run_id} must be in the 'active' state. Current state is {row.lifecycle_stage}."
            )
        return row

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidParameterValue(v.missing_value("run_id"))
        if self._pg_batch:  # one round trip (pgread.py)
            from modelyard.store.tracking.sql import pgread

            run = pgread.get_run(self.db, run_id)
            if run is None:
                raise ResourceDoesNotExist(f"Run with id={run_id} not found")
            return run
        with self._read() as conn:
            return hydrate.load_runs(conn, [self._run_row(conn, run_id)])[0]

    def update_run_info(
        self,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values = run_info_values(run_status, end_time, run_name)
        if self._pg_batch:  # one round trip (pgbatch.py)
            row = pgbatch.update_run(
                self.db, run_id, values.get("status"), values.get("end_time"), values.get("name")
            )
            if row is not None:
                return hydrate.run_info_from_values(*row)
            with self._read() as conn:  # why not: no such run, or a deleted one (raises)
                self._active_run_row(conn, run_id, lock=False)
        if self._raw:
            return self._update_run_info_raw(run_id, values)
        with self._write() as conn:
            row = self._active_run_row(conn, run_id)
            if values:
                conn.execute(update(db.runs).where(db.runs.c.id == row.id).values(**values))
            if run_name:
                upsert(
                    conn,
                    db.tags,
                    [{"run_id": row.id, "key": RUN_NAME_TAG, "value": values["name"]}],
                    keys=("run_id", "key"),
                    update=("value",),
                )
            return hydrate.run_info_from_row(self._run_row(conn, run_id))

    def _update_run_info_raw(self, run_id: str, values: dict) -> RunInfo:
        """update_run_info in SQL text: the row is read (and locked) once, and the RunInfo built from
        it and the new values rather than read again."""
        with self._write_hot() as conn:
            row = rawsql.run_full_row(conn, run_id, lock=True)
            if row is None:
                raise ResourceDoesNotExist(f"Run with id={run_id} not found")
            stage = row[8]
            if stage != ACTIVE:
                raise InvalidParameterValue(
                    f"The run {run_id} must be in the 'active' state. Current state is {stage}."
                )
            if values:
                rawsql.update_run(conn, row[0], values)
            if "name" in values:
                rawsql.upsert_tags(conn, row[0], {RUN_NAME_TAG: values["name"]}, None)
        info = hydrate.run_info_from_row(row)
        if not values:
            return info
        changes = {_RUN_INFO_FIELD.get(k, k): val for k, val in values.items()}
        return RunInfo(**{**_run_info_fields(info), **changes})

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with self._write() as conn:
            row = self._run_row(conn, run_id)
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == row.id)
                .values(lifecycle_stage=stage, deleted_time=now_ms() if stage == DELETED else None)
            )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, ACTIVE)

    # -- logging ----------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        v.validate_batch_sizes(len(metrics), len(params), len(tags))
        param_rows, tag_rows, metric_rows = self._batch_rows(metrics, params, tags)
        if not (metric_rows or param_rows or tag_rows):
            with self._read() as conn:
                self._active_run_row(conn, run_id, lock=False)
            return
        if self._pg_batch:
            pgbatch.execute(self.db, self._pg_batch_call(run_id, param_rows, tag_rows, metric_rows))
            return
        with self._write_hot() as conn:
            rid = self._active_run_row(conn, run_id).id
            if param_rows:
                self._insert_params(conn, rid, run_id, param_rows)
            if tag_rows:
                self._upsert_tags(conn, rid, tag_rows)
            if metric_rows:
                self._insert_metrics(conn, rid, metric_rows)

    @staticmethod
    def _batch_rows(
        metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> tuple[dict[str, str], dict[str, str], list[dict]]:
        """Validated rows of a batch: params and tags by key, metric rows ready to insert."""
        v.validate_unique_param_keys([p.key for p in params])
        param_rows = {p.key: v.validate_param(p.key, p.value) for p in params}
        tag_rows = {t.key: v.validate_tag(t.key, t.value) for t in tags}
        metric_rows = []
        append, check, to_db, dbl_max = (
            metric_rows.append,
            v.validate_metric,
            hydrate.metric_to_db,
            hydrate.DBL_MAX,
        )
        # the server's plain points come as tuples (MetricRows): no entity built per point
        points = (
            metrics.rows
            if type(metrics) is MetricRows
            else ((m.key, m.value, m.timestamp, m.step) for m in metrics)
        )
        for key, value, timestamp, step in points:
            value = check(key, value, timestamp, step)
            if -dbl_max < value < dbl_max:  # finite and storable as is (NaN fails both tests)
                stored, is_nan = value, False
            else:
                stored, is_nan = to_db(value)
            append(
                {
                    "key": key,
                    "value": stored,
                    "timestamp": int(timestamp),
                    "step": int(step),
                    "is_nan": is_nan,
                }
            )
        return param_rows, tag_rows, metric_rows

    def _insert_params(self, conn: Connection, rid: int, run_id: str, rows: dict[str, str]) -> None:
        raw = rawsql.enabled(conn)
        if raw:
            existing = rawsql.stored_params(conn, rid, list(rows))
        else:
            existing = dict(
                conn.execute(
                    select(db.params.c.key, db.params.c.value).where(
                        db.params.c.run_id == rid, db.params.c.key.in_(list(rows))
                    )
                ).all()
            )
        changed = {k: (existing[k], val) for k, val in rows.items() if k in existing and existing[k] != val}
        if changed:
            detail = ", ".join(
                f"'{k}' (old value '{old}', new value '{new}')" for k, (old, new) in changed.items()
            )
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Params were already logged for run ID '{run_id}' "
                f"with different values: {detail}."
            )
        if raw:
            fresh = [(k, val) for k, val in rows.items() if k not in existing]
            if fresh:
                rawsql.insert_params(conn, rid, fresh)
            return
        new = [{"run_id": rid, "key": k, "value": val} for k, val in rows.items() if k not in existing]
        if new:
            conn.execute(db.params.insert(), new)

    def _upsert_tags(self, conn: Connection, rid: int, rows: dict[str, str]) -> None:
        if rawsql.enabled(conn):
            name = rows.get(RUN_NAME_TAG)
            rawsql.upsert_tags(conn, rid, rows, None if name is None else name[:250])
            return
        upsert(
            conn,
            db.tags,
            [{"run_id": rid, "key": k, "value": val} for k, val in rows.items()],
            keys=("run_id", "key"),
            update=("value",),
        )
        if RUN_NAME_TAG in rows:
            conn.execute(update(db.runs).where(db.runs.c.id == rid).values(name=rows[RUN_NAME_TAG][:250]))

    def _insert_metrics(self, conn: Connection, rid: int, rows: list[dict]) -> None:
        keys = sorted({r["key"] for r in rows})
        raw = rawsql.enabled(conn)
        if raw:
            stored = rawsql.latest_points(conn, rid, keys)
        else:
            lm = db.latest_metrics.c
            stored = {
                row.key: row._mapping
                for row in conn.execute(
                    select(lm.key, lm.value, lm.timestamp, lm.step, lm.is_nan).where(
                        lm.run_id == rid, lm.key.in_(keys) if len(keys) > 1 else lm.key == keys[0]
                    )
                )
            }
        # The latest point holds the key's largest step: a batch whose steps all lie beyond it
        # (the usual case) cannot repeat a stored point, so the repeat check is skipped.
        if any(r["key"] in stored and r["step"] <= stored[r["key"]]["step"] for r in rows):
            rows = self._without_stored_points(conn, rid, rows)
        else:
            rows = self._without_repeats_in_batch(rid, rows)
        if not rows:
            return
        newest: dict[str, dict] = {}
        for r in rows:
            cur = newest.get(r["key"])
            if cur is None or _metric_order(r) > _metric_order(cur):
                newest[r["key"]] = r
        changed = [
            r for k, r in newest.items() if k not in stored or _metric_order(r) > _metric_order(stored[k])
        ]
        if raw:
            rawsql.insert_points(conn, rid, rows, changed)
            return
        conn.execute(db.metrics.insert(), rows)
        upsert(
            conn,
            db.latest_metrics,
            changed,
            keys=("run_id", "key"),
            update=("value", "timestamp", "step", "is_nan"),
        )

    @staticmethod
    def _without_repeats_in_batch(rid: int | None, rows: list[dict]) -> list[dict]:
        seen: set[tuple] = set()
        fresh = []
        for r in rows:
            identity = (r["key"], r["step"], r["timestamp"], r["value"], r["is_nan"])
            if identity not in seen:
                seen.add(identity)
                r["run_id"] = rid
                fresh.append(r)
        return fresh

    def _without_stored_points(self, conn: Connection, rid: int, rows: list[dict]) -> list[dict]:
        """The batch less exact repeats of points already stored (or repeated within it), as
        MLflow keeps one copy: retried requests and log_model's re-logging add nothing.
        One indexed range query per batch, on (run_id, key, step)."""
        point = ("key", "step", "timestamp", "value", "is_nan")
        keys = sorted({r["key"] for r in rows})
        steps = [r["step"] for r in rows]
        m = db.metrics.c
        # A range on the index, not a list of pairs: new steps (the usual case) find nothing at
        # once, and the cost never grows with the run's history (MLflow's #24577).
        if rawsql.enabled(conn):
            found = rawsql.stored_points(conn, rid, keys, min(steps), max(steps))
        else:
            found = hydrate.raw_rows(
                conn,
                select(m.key, m.step, m.timestamp, m.value, m.is_nan).where(
                    m.run_id == rid,
                    m.key.in_(keys) if len(keys) > 1 else m.key == keys[0],
                    m.step.between(min(steps), max(steps)),
                ),
            )
        stored = {(k, st, ts, val, bool(nan)) for k, st, ts, val, nan in found}
        fresh = []
        for r in rows:
            identity = tuple(r[c] for c in point)
            if identity not in stored:
                stored.add(identity)
                r["run_id"] = rid
                fresh.append(r)
        return fresh

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            rid = self._active_run_row(conn, run_id).id
            deleted = conn.execute(
                delete(db.tags).where(db.tags.c.run_id == rid, db.tags.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExist(f"No tag with name: {key} in run with id {run_id}")

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        if len(datasets) > v.MAX_DATASETS_PER_CALL:
            raise InvalidParameterValue(
                f"At most {v.MAX_DATASETS_PER_CALL} datasets can be logged at once; got {len(datasets)}."
            )
        for d in datasets:
            ds = d.dataset
            v.validate_dataset(ds.name, ds.digest, ds.source, ds.schema, ds.profile)
            for t in d.tags:
                v.validate_input_tag(t.key, t.value)
        with self._write() as conn:
            row = self._active_run_row(conn, run_id)
            exp_id = conn.execute(select(db.runs.c.experiment_id).where(db.runs.c.id == row.id)).scalar_one()
            for d in datasets:
                self._log_input(conn, row.id, exp_id, d)

    def _log_input(self, conn: Connection, rid: int, exp_id: int, d: DatasetInput) -> None:
        ds = d.dataset
        ds_where = and_(
            db.datasets.c.experiment_id == exp_id,
            db.datasets.c.name == ds.name,
            db.datasets.c.digest == ds.digest,
        )
        ds_id = conn.execute(select(db.datasets.c.id).where(ds_where)).scalar()
        if ds_id is None:
            ds_id = conn.execute(
                db.datasets.insert().values(
                    experiment_id=exp_id,
                    name=ds.name,
                    digest=ds.digest,
                    source_type=ds.source_type,
                    source=ds.source,
                    schema=ds.schema,
                    profile=ds.profile,
                )
            ).inserted_primary_key[0]
        input_id = conn.execute(
            select(db.run_inputs.c.id).where(
                db.run_inputs.c.run_id == rid, db.run_inputs.c.dataset_id == ds_id
            )
        ).scalar()
        if input_id is None:
            input_id = conn.execute(
                db.run_inputs.insert().values(run_id=rid, dataset_id=ds_id)
            ).inserted_primary_key[0]
        if d.tags:
            upsert(
                conn,
                db.input_tags,
                [{"input_id": input_id, "key": t.key, "value": t.value} for t in d.tags],
                keys=("input_id", "key"),
                update=("value",),
            )

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        rows, token = self._history_rows(run_id, metric_key, max_results, page_token)
        return PagedList(hydrate.metrics_from_rows(rows, metric_key, run_id), token)

    def get_metric_history_columns(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> HistoryColumns:
        rows, token = self._history_rows(run_id, metric_key, max_results, page_token)
        return hydrate.history_columns_from_rows(rows, token)

    def get_metric_history_dicts(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[dict]:
        rows, token = self._history_rows(run_id, metric_key, max_results, page_token)
        return PagedList(hydrate.metric_dicts_from_rows(rows, metric_key, run_id), token)

    def _history_rows(
        self, run_id: str, metric_key: str, max_results: int | None, page_token: str | None
    ) -> tuple[list[tuple], str | None]:
        """(value, timestamp, step, is_nan) rows of one page of a metric's history, and the next token."""
        from modelyard.search.paging import offset_token, page_offset

        query = ("metric_history", run_id, metric_key)
        offset = page_offset(page_token, query=query)
        if max_results is not None:
            max_results = v.validate_max_results(max_results, 10**9)
        with self._read() as conn:
            rid = self._run_row(conn, run_id).id
            stmt = (
                select(db.metrics.c.value, db.metrics.c.timestamp, db.metrics.c.step, db.metrics.c.is_nan)
                .where(db.metrics.c.run_id == rid, db.metrics.c.key == metric_key)
                # value and is_nan break ties, so offset pages are stable (points equal in all four are
                # interchangeable); without them PostgreSQL may order ties differently per LIMIT.
                .order_by(db.metrics.c.step, db.metrics.c.timestamp, db.metrics.c.value, db.metrics.c.is_nan)
            )
            if max_results is not None:
                stmt = stmt.limit(max_results + 1).offset(offset)
            elif offset:
                stmt = stmt.offset(offset)
            rows = hydrate.raw_rows(conn, stmt)
        token = None
        if max_results is not None and len(rows) > max_results:
            rows = rows[:max_results]
            token = offset_token(offset + max_results, query=query)
        return rows, token

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        max_results: int = base.METRIC_INTERVAL_MAX_RESULTS,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[Metric]:
        from modelyard.store.tracking.sql import history

        with self._read() as conn:
            return history.bulk_interval(conn, run_ids, metric_key, max_results, start_step, end_step)

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], metric_key: str, max_results: int = base.METRIC_HISTORY_PAGE
    ) -> list[Metric]:
        from modelyard.store.tracking.sql import history

        with self._read() as conn:
            return history.bulk(conn, run_ids, metric_key, max_results)

    def count_runs(
        self, experiment_ids: Sequence[str], run_view_type: ViewType = ViewType.ACTIVE_ONLY
    ) -> int:
        stages = ViewType.parse(run_view_type).stages()
        with self._read() as conn:
            return conn.execute(
                select(func.count())
                .select_from(db.runs)
                .where(
                    db.runs.c.experiment_id.in_([experiment_int(e) for e in experiment_ids]),
                    db.runs.c.lifecycle_stage.in_(stages),
                )
            ).scalar_one()


_RUN_INSERT_COLUMNS = (
    "run_uuid",
    "experiment_id",
    "name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "lifecycle_stage",
    "artifact_uri",
)
_RUN_INFO_FIELD = {"name": "run_name"}  # runs column -> RunInfo field, where they differ


def _run_info_fields(info: RunInfo) -> dict:
    return {f: getattr(info, f) for f in RunInfo.__dataclass_fields__}


class _RunRow(NamedTuple):
    id: int
    lifecycle_stage: str


def _metric_order(r) -> tuple:
    """MLflow's "latest": the largest (step, timestamp, value); NaN counts as the smallest value."""
    return (r["step"], r["timestamp"], float("-inf") if r["is_nan"] else r["value"])
