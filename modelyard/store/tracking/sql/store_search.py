"""The SQL store's run searches (a mixin of SqlTrackingStore): one way to find a page's rows
(``run_search.select_run_rows``), three ways to load them — ``Run`` entities, the JSON objects of a
``runs/search`` answer, or the columns of modelyard's own ``search-columnar`` answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from modelyard import validation as v
from modelyard.entities import PagedList, Run, ViewType
from modelyard.store.tracking import base
from modelyard.store.tracking.sql import hydrate
from modelyard.store.tracking.sql.common import experiment_int


class RunSearchMethods:
    """``search_runs`` and its two row-to-answer variants. Needs ``_read``, ``_pg_batch`` and
    ``_scope_sizes`` (None until the first search)."""

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = base.SEARCH_RUNS_DEFAULT_MAX_RESULTS,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        search = base.RunSearch(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )
        return PagedList(*self._search_runs(hydrate.load_runs, search))

    def search_run_dicts(self, search: base.RunSearch) -> PagedList[dict]:
        """``search_runs``' page as JSON objects, written straight from the rows (``hydrate.load_run_dicts``)."""
        return PagedList(*self._search_runs(hydrate.load_run_dicts, search))

    def search_run_columns(self, search: base.RunSearch) -> tuple[dict, str | None]:
        """``search_runs``' page as columns, written straight from the rows (``hydrate.load_run_columns``)."""
        return self._search_runs(hydrate.load_run_columns, search)

    def _search_runs(
        self, load: Callable[[Connection | None, Sequence], Any], search: base.RunSearch
    ) -> tuple[Any, str | None]:
        """``load(conn, rows)`` of the page's rows (``load(None, [])`` when no experiment is given), and
        the next page's token."""
        from modelyard.search import parse_filter, parse_order_by
        from modelyard.search.paging import offset_token, page_offset, runs_query
        from modelyard.store.tracking.sql.run_search import ScopeSizes, select_run_rows
        from modelyard.store.tracking.sql.search_tables import runs_where

        experiment_ids, filter_string, order_by = search.experiment_ids, search.filter_string, search.order_by
        max_results = v.validate_max_results(search.max_results, base.SEARCH_MAX_RESULTS)
        stages = ViewType.parse(search.run_view_type).stages()
        expr = parse_filter(filter_string, "runs")
        ordering = parse_order_by(order_by, "runs")
        query = runs_query(experiment_ids, stages, filter_string, order_by)
        offset = page_offset(search.page_token, query=query)
        ids = [experiment_int(e) for e in experiment_ids]
        if not ids:
            return load(None, []), None
        filters = [runs_where(expr)] if expr is not None else []
        with self._read() as conn:
            if self._pg_batch:
                # each statement on its own (READ COMMITTED gives every statement its own snapshot
                # in a transaction too): no BEGIN and ROLLBACK round trips around the page's reads
                conn.execution_options(isolation_level="AUTOCOMMIT")
            if self._scope_sizes is None:
                self._scope_sizes = ScopeSizes()
            rows = select_run_rows(
                conn, ids, stages, filters, ordering, offset, max_results + 1, expr, self._scope_sizes
            )
            token = offset_token(offset + max_results, query=query) if len(rows) > max_results else None
            return load(conn, rows[:max_results]), token
