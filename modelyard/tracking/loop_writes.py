"""``LoopWrites``: the tracking service's hottest writes, awaited on the server's event loop.

On PostgreSQL through psycopg 3, ``create_run``, ``update_run_info`` and ``log_batch`` (so
``log_metric``, ``log_param`` and ``set_tag``) are one query each: the store builds it, validating
exactly as its own methods do (``SqlTrackingStore.pg_*_call``), and this sends it through the
worker's pool of async connections (``modelyard.store.sql.pgasync``) instead of handing the whole
call to a thread. The store's methods stay synchronous (the embedded client, every other database).

Each method answers what ``TrackingService``'s method of the same name answers, or ``DECLINED``
when that method must run instead, on a thread, where it says why or does what one query cannot:
a batch with nothing to write, a run or experiment that is not there or not active (nothing was
written), an experiment this process has not met yet (its artifact location is read once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelyard.auth.context import RequestContext
from modelyard.entities import Metric, Param, Run, RunInfo, RunTag
from modelyard.settings import Settings

DECLINED: Any = type("Declined", (), {"__repr__": lambda self: "DECLINED"})()
"""What a ``LoopWrites`` method (and an endpoint's ``on_loop`` handler) answers when the
synchronous path must serve the request instead."""


class LoopWrites:
    def __init__(self, store, pool) -> None:
        self.store = store  # a SqlTrackingStore on PostgreSQL (psycopg)
        self.pool = pool  # its AsyncPool

    @classmethod
    def open(cls, store, settings: Settings) -> LoopWrites | None:
        """The loop writes of ``store`` when it offers them (the SQL store on PostgreSQL through
        psycopg 3); None otherwise. At most ``sql.pool_size`` connections (writes beyond wait their
        turn): they come on top of the engine's pool, which the threads' reads and writes still use,
        and four workers at the engine's limit plus this one stay under PostgreSQL's default 100."""
        db = getattr(store, "db", None)
        if db is None or not hasattr(store, "pg_log_batch_call"):
            return None
        from modelyard.store.sql.pgasync import AsyncPool

        pool = AsyncPool.for_database(db, settings.sql.pool_size)
        return None if pool is None else cls(store, pool)

    async def close(self) -> None:
        await self.pool.close()

    async def _run(self, call):
        if call is None:
            return DECLINED
        answer = await self.pool.run(call)
        return DECLINED if answer is None else answer

    async def create_run(
        self,
        ctx: RequestContext,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        user = ctx.user(user_id) or ""
        return await self._run(self.store.pg_create_run_call(experiment_id, user, start_time, tags, run_name))

    async def update_run_info(
        self,
        ctx: RequestContext,
        run_id: str,
        run_status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        return await self._run(self.store.pg_update_run_call(run_id, run_status, end_time, run_name))

    async def log_batch(
        self,
        ctx: RequestContext,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        call = self.store.pg_log_batch_call(run_id, metrics, params, tags)
        if call is None:
            return DECLINED
        await self.pool.run(call)  # answers None, or raises the store's errors
        return None
