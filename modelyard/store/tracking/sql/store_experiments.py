"""The SQL store's experiment methods (a mixin of SqlTrackingStore)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select, update

from modelyard import validation as v
from modelyard.entities import DatasetSummary, Experiment, PagedList, ViewType
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.search.evaluate import DATASET_CONTEXT_TAG
from modelyard.store.sql.common import join_uri, now_ms
from modelyard.store.sql.dml import upsert
from modelyard.store.tracking import base
from modelyard.store.tracking import tables as db
from modelyard.store.tracking.sql import hydrate
from modelyard.store.tracking.sql.common import (
    ACTIVE,
    DELETED,
    experiment_int,
    require_active_experiment,
)


class ExperimentMethods:
    """Experiments: create, read, search, lifecycle, rename, tags. Needs ``_read``/``_write``."""

    default_artifact_root: str

    def _ensure_default_experiment(self) -> None:
        with self._read() as conn:
            if conn.execute(
                select(db.experiments.c.experiment_id).where(db.experiments.c.experiment_id == 0)
            ).first():
                return
        try:
            with self._write() as conn:
                t = now_ms()
                values = dict(
                    name=base.DEFAULT_EXPERIMENT_NAME,
                    artifact_location=join_uri(self.default_artifact_root, "0"),
                    lifecycle_stage=ACTIVE,
                    creation_time=t,
                    last_update_time=t,
                )
                if conn.dialect.name == "mysql":  # MySQL treats an explicit 0 as "next id"
                    new_id = conn.execute(db.experiments.insert().values(**values)).inserted_primary_key[0]
                    conn.execute(
                        update(db.experiments)
                        .where(db.experiments.c.experiment_id == new_id)
                        .values(experiment_id=0)
                    )
                    conn.exec_driver_sql("ALTER TABLE experiments AUTO_INCREMENT = 1")
                else:
                    conn.execute(db.experiments.insert().values(experiment_id=0, **values))
        except ResourceAlreadyExists:
            pass  # another process created it first

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        v.validate_experiment_name(name)
        tag_rows = [(k, v.validate_experiment_tag(k, val)) for k, val in (tags or {}).items()]
        t = now_ms()
        try:
            with self._write() as conn:
                exp_id = conn.execute(
                    db.experiments.insert().values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage=ACTIVE,
                        creation_time=t,
                        last_update_time=t,
                    )
                ).inserted_primary_key[0]
                if not artifact_location:
                    conn.execute(
                        update(db.experiments)
                        .where(db.experiments.c.experiment_id == exp_id)
                        .values(artifact_location=join_uri(self.default_artifact_root, str(exp_id)))
                    )
                if tag_rows:
                    conn.execute(
                        db.experiment_tags.insert(),
                        [{"experiment_id": exp_id, "key": k, "value": val} for k, val in tag_rows],
                    )
        except ResourceAlreadyExists:
            raise ResourceAlreadyExists(f"Experiment '{name}' already exists.") from None
        return str(exp_id)

    def _experiment_row(self, conn: Connection, experiment_id: str):
        eid = experiment_int(experiment_id)
        row = conn.execute(select(db.experiments).where(db.experiments.c.experiment_id == eid)).first()
        if row is None:
            raise ResourceDoesNotExist(f"No Experiment with id={experiment_id} exists")
        return row

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            return hydrate.load_experiments(conn, [self._experiment_row(conn, experiment_id)])[0]

    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        base.check_dataset_search(experiment_ids)
        ids = []
        for given in experiment_ids:
            try:
                ids.append(experiment_int(given))
            except InvalidParameterValue:  # no such experiment in a SQL store: it adds nothing
                continue
        d, ri, it = db.datasets, db.run_inputs, db.input_tags
        context = it.c.value.label("context")
        query = (
            select(d.c.experiment_id, d.c.name, d.c.digest, context)
            .select_from(d)
            .join(ri, ri.c.dataset_id == d.c.id)
            .outerjoin(it, (it.c.input_id == ri.c.id) & (it.c.key == DATASET_CONTEXT_TAG))
            .where(d.c.experiment_id.in_(ids))
            .distinct()
            .order_by(d.c.experiment_id, d.c.name, d.c.digest, context)
            .limit(base.DATASET_SEARCH_MAX_RESULTS)
        )
        with self._read() as conn:
            return [DatasetSummary(str(r.experiment_id), r.name, r.digest, r.context) for r in conn.execute(query)]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(select(db.experiments).where(db.experiments.c.name == name)).first()
            return hydrate.load_experiments(conn, [row])[0] if row else None

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = base.SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        from modelyard.search import parse_filter, parse_order_by
        from modelyard.search.paging import offset_token, page_offset
        from modelyard.store.tracking.sql.search_tables import apply_experiments_order, experiments_where

        max_results = v.validate_max_results(max_results, base.SEARCH_MAX_RESULTS)
        stages = ViewType.parse(view_type).stages()
        expr = parse_filter(filter_string, "experiments")
        query = ("experiments", list(stages), filter_string, list(order_by or ()))
        offset = page_offset(page_token, query=query)
        stmt = select(db.experiments).where(db.experiments.c.lifecycle_stage.in_(stages))
        if expr is not None:
            stmt = stmt.where(experiments_where(expr))
        stmt = apply_experiments_order(stmt, parse_order_by(order_by, "experiments"))
        stmt = stmt.limit(max_results + 1).offset(offset)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
            token = offset_token(offset + max_results, query=query) if len(rows) > max_results else None
            return PagedList(hydrate.load_experiments(conn, rows[:max_results]), token)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        t = now_ms()
        with self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            conn.execute(
                update(db.experiments)
                .where(db.experiments.c.experiment_id == row.experiment_id)
                .values(lifecycle_stage=stage, last_update_time=t)
            )
            other = ACTIVE if stage == DELETED else DELETED
            conn.execute(
                update(db.runs)
                .where(db.runs.c.experiment_id == row.experiment_id, db.runs.c.lifecycle_stage == other)
                .values(lifecycle_stage=stage, deleted_time=t if stage == DELETED else None)
            )

    def delete_experiment(self, experiment_id: str) -> None:
        if experiment_int(experiment_id) == int(base.DEFAULT_EXPERIMENT_ID):  # also "00"
            raise InvalidParameterValue("Cannot delete the default experiment '0'.")
        self._set_experiment_stage(experiment_id, DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.validate_experiment_name(new_name)
        try:
            with self._write() as conn:
                row = self._experiment_row(conn, experiment_id)
                require_active_experiment(row, "rename")
                conn.execute(
                    update(db.experiments)
                    .where(db.experiments.c.experiment_id == row.experiment_id)
                    .values(name=new_name, last_update_time=now_ms())
                )
        except ResourceAlreadyExists:
            raise ResourceAlreadyExists(f"Experiment '{new_name}' already exists.") from None

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        value = v.validate_experiment_tag(key, value)
        with self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            require_active_experiment(row, "set a tag on")
            upsert(
                conn,
                db.experiment_tags,
                [{"experiment_id": row.experiment_id, "key": key, "value": value}],
                keys=("experiment_id", "key"),
                update=("value",),
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            require_active_experiment(row, "delete a tag of")
            deleted = conn.execute(
                delete(db.experiment_tags).where(
                    db.experiment_tags.c.experiment_id == row.experiment_id, db.experiment_tags.c.key == key
                )
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExist(f"No tag with name: {key} in experiment with id {experiment_id}")
