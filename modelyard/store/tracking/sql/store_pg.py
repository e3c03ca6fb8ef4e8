"""PostgreSQL's hot writes of the SQL tracking store, one call each (``pgbatch.Call``): a mixin of
SqlTrackingStore.

``create_run``, ``update_run_info`` and ``log_batch`` (so ``log_metric``, ``log_param``, ``set_tag``)
run them on a pooled connection of the store's engine (``pgbatch.execute``); the server awaits the
same calls on its event loop through psycopg's async driver (``modelyard.store.sql.pgasync``). The
``pg_*_call`` methods validate exactly as the store's methods do (raising the same errors), then
build the call; its answer is what the method returns, or None where the method's general path
must run instead (it says why: no such run, a deleted run or experiment).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from modelyard import validation as v
from modelyard.entities import Metric, Param, Run, RunData, RunInfo, RunStatus, RunTag
from modelyard.store.sql.common import join_uri, now_ms
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql import hydrate, pgbatch
from modelyard.store.tracking.sql.common import ACTIVE, experiment_int


class PgCallMethods:
    """Needs ``db``, ``_read``, ``_run_tags``, ``_batch_rows``, ``_without_repeats_in_batch`` and
    ``_artifact_locations`` (experiment id -> artifact location, filled as experiments are met)."""

    def _pg_create_run(
        self, experiment_id: str, user_id: str, start_time: int | None, tag_map: dict[str, str], name: str
    ) -> Run | None:
        """create_run on PostgreSQL in one statement (pgbatch.create_run_call); the experiment's
        artifact location (never changed once set) is read once per experiment and process. None when
        the experiment is not active (or not there): the general path then says why."""
        eid = experiment_int(experiment_id)
        location = self._artifact_locations.get(eid)
        if location is None:
            with self._read() as conn:
                location = conn.execute(
                    select(db.experiments.c.artifact_location).where(db.experiments.c.experiment_id == eid)
                ).scalar()
            if not location:
                return None
            self._artifact_locations[eid] = location
        return pgbatch.execute(
            self.db, self._create_run_call(eid, location, user_id, start_time, tag_map, name)
        )

    def _create_run_call(
        self,
        eid: int,
        location: str,
        user_id: str,
        start_time: int | None,
        tag_map: dict[str, str],
        name: str,
    ) -> pgbatch.Call:
        start_time = now_ms() if start_time is None else int(start_time)
        run_uuid = uuid.uuid4().hex
        artifact_uri = join_uri(location, run_uuid, "artifacts")
        status = RunStatus.RUNNING.value
        call = pgbatch.create_run_call(
            run_uuid, eid, name, user_id or "", status, start_time, artifact_uri, tag_map
        )

        def answer(sets) -> Run | None:
            if not call.answer(sets):
                return None
            return new_run(run_uuid, eid, name, user_id, status, start_time, None, artifact_uri, tag_map)

        return call._replace(answer=answer)

    # -- PostgreSQL's hot writes as one call each (pgbatch.Call), for a caller that runs them itself
    # (the server awaits them on its event loop: modelyard.store.sql.pgasync). The validation is the
    # methods' own; a call's answer is what the method returns, or None where the method's general
    # path must run instead (it says why, or does what the call could not).
    def pg_create_run_call(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> pgbatch.Call | None:
        """``create_run``'s call, answering the Run; None (before any call) while the experiment's
        artifact location is not known yet in this process."""
        tag_map, name = self._run_tags(tags, run_name)
        eid = experiment_int(experiment_id)
        location = self._artifact_locations.get(eid)
        if location is None:
            return None
        return self._create_run_call(eid, location, user_id, start_time, tag_map, name)

    def pg_update_run_call(
        self,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> pgbatch.Call:
        """``update_run_info``'s call, answering the RunInfo (None: no active run of that id)."""
        values = run_info_values(run_status, end_time, run_name)
        call = pgbatch.update_run_call(
            run_id, values.get("status"), values.get("end_time"), values.get("name")
        )
        return call._replace(answer=lambda sets: _run_info_or_none(call.answer(sets)))

    def pg_log_batch_call(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> pgbatch.Call | None:
        """``log_batch``'s call (answering None or raising its errors); None (no call) for a batch
        with nothing to write."""
        v.validate_batch_sizes(len(metrics), len(params), len(tags))
        param_rows, tag_rows, metric_rows = self._batch_rows(metrics, params, tags)
        if not (metric_rows or param_rows or tag_rows):
            return None
        return self._pg_batch_call(run_id, param_rows, tag_rows, metric_rows)

    def _pg_batch_call(
        self, run_id: str, param_rows: dict[str, str], tag_rows: dict[str, str], metric_rows: list[dict]
    ) -> pgbatch.Call:
        points = self._without_repeats_in_batch(None, metric_rows) if metric_rows else metric_rows
        return pgbatch.log_batch_call(run_id, param_rows, tag_rows, points)


def run_info_values(run_status: str | None, end_time: int | None, run_name: str | None) -> dict:
    """``update_run_info``'s arguments checked, as the runs table's columns (only those given)."""
    values: dict = {}
    if run_status is not None:
        values["status"] = RunStatus.parse(run_status).value
    if end_time is not None:
        values["end_time"] = int(end_time)
    if run_name:
        values["name"] = v.validate_run_name(run_name)
    return values


def _run_info_or_none(row) -> RunInfo | None:
    return None if row is None else hydrate.run_info_from_values(*row)


def new_run(run_uuid, exp_id, name, user_id, status, start_time, end_time, artifact_uri, tag_map) -> Run:
    """The Run just inserted, built from what was written (no read back)."""
    info = RunInfo(
        run_id=run_uuid,
        experiment_id=str(exp_id),
        run_name=name,
        user_id=user_id or "",
        status=status,
        start_time=start_time,
        end_time=end_time,
        artifact_uri=artifact_uri,
        lifecycle_stage=ACTIVE,
    )
    return Run(info=info, data=RunData(tags=dict(sorted(tag_map.items()))))
