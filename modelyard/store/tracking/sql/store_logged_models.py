"""The SQL store's logged-model methods (a mixin of SqlTrackingStore); the queries live in logged_models.py."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.entities import LoggedModel, LoggedModelMetric, LoggedModelOutput, LoggedModelStatus, PagedList
from modelyard.store.tracking.base import OutputModel, output_model_links
from modelyard.store.tracking.sql import logged_model_search
from modelyard.store.tracking.sql import logged_models as lm


class LoggedModelMethods:
    """MLflow 3's logged models. Needs ``_read``/``_write``."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        with self._write() as conn:
            return lm.create(conn, experiment_id, name, model_type, source_run_id, tags, params)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self._read() as conn:
            return lm.get(conn, model_id, allow_deleted)

    def finalize_logged_model(
        self, model_id: str, status: LoggedModelStatus | str, status_message: str | None = None
    ) -> LoggedModel:
        with self._write() as conn:
            return lm.finalize(conn, model_id, status, status_message)

    def delete_logged_model(self, model_id: str) -> None:
        with self._write() as conn:
            lm.delete_model(conn, model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[dict] | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        with self._read() as conn:
            return logged_model_search.search(conn, experiment_ids, filter_string, datasets, max_results, order_by, page_token)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        with self._write() as conn:
            lm.set_tags(conn, model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._write() as conn:
            lm.delete_tag(conn, model_id, key)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        with self._write() as conn:
            lm.log_params(conn, model_id, params)

    def log_logged_model_metrics(self, run_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        with self._write() as conn:
            lm.log_metrics(conn, run_id, metrics)

    def create_output_models(self, models: Sequence[OutputModel]) -> list[LoggedModel]:
        """Each model created (PENDING), recorded as its run's output, its metrics linked: one transaction."""
        created = []
        with self._write() as conn:
            for m in models:
                logged = lm.create(conn, m.experiment_id, m.name, None, m.run_id, m.tags, m.params)
                lm.log_outputs(conn, m.run_id, [LoggedModelOutput(logged.model_id, m.step)])
                if m.metrics:
                    lm.log_metrics(conn, m.run_id, output_model_links(m, logged.model_id))
                created.append(logged)
        return created

    def finalize_logged_models(self, statuses: Sequence[tuple[str, LoggedModelStatus | str]]) -> None:
        with self._write() as conn:
            for model_id, status in statuses:
                lm.finalize(conn, model_id, status)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput | tuple[str, int]]) -> None:
        with self._write() as conn:
            lm.log_outputs(conn, run_id, models)

    def log_model_inputs(self, run_id: str, model_ids: Sequence[str]) -> None:
        with self._write() as conn:
            lm.log_model_inputs(conn, run_id, model_ids)
