"""``AsyncPool``: a worker's few psycopg async connections to PostgreSQL, for the calls the server
awaits on its event loop.

A store's hottest writes on PostgreSQL are one query each (``pgbatch.Call``: statements prepared
once per connection, then one query of ``EXECUTE`` s, bound on the client, on a connection in
autocommit mode). Run on a handler thread, each costs the thread hand-off (two wake-ups and about
45 µs of CPU, ``modelyard.web.offload``); awaited here, the event loop sends the query and serves
other requests while PostgreSQL works (a row lock held elsewhere makes only that request wait).

- Connections are opened when first needed, in the process and on the loop that use them (after
  the server forked its workers), up to ``size``; a caller finding them all busy waits its turn.
  ``close()`` (the app's lifespan, at shutdown) closes them.
- A call runs exactly as ``pgbatch.execute`` runs it: what it needs is prepared once per
  connection; a transient failure (deadlock, serialization) is tried again as often as the call
  says; driver errors become the modelyard error tree (``errors.translate``) at this one boundary.
- A connection that broke, or whose call was cancelled midway, is closed and not used again. One
  that sat idle for ``PING_AFTER_IDLE_S`` is pinged first, as the engine's pool does.

The call is any object with the fields of ``pgbatch.Call`` (``prepares``, ``query``, ``values``,
``answer``, ``attempts``): the kernel does not import the stores built on it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from sqlalchemy.exc import DBAPIError

from modelyard.store.sql.database import Database
from modelyard.store.sql.engine import PING_AFTER_IDLE_S
from modelyard.store.sql.errors import is_transient, retry_delay, translate

logger = logging.getLogger(__name__)


class _Conn:
    __slots__ = ("conn", "prepared", "idle_since")

    def __init__(self, conn) -> None:
        self.conn = conn
        self.prepared: set[str] = set()  # names of the statements prepared on it
        self.idle_since = time.monotonic()


class AsyncPool:
    def __init__(self, connect_kwargs: dict[str, Any], size: int, dialect) -> None:
        self.size = max(1, int(size))
        self._kwargs = connect_kwargs
        self._dialect = dialect  # the engine's, for the errors' translation
        self._idle: list[_Conn] = []
        self._open = 0  # connections opened (or being opened) and not closed
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_database(cls, db: Database, size: int) -> AsyncPool | None:
        """A pool to ``db`` when it is PostgreSQL through psycopg 3 (with its async driver); None
        otherwise. Its connections take the engine's connection arguments (host, database, user,
        password, options of the URI)."""
        engine = db.engine
        if db.dialect != "postgresql" or engine.dialect.driver != "psycopg":
            return None
        try:
            from psycopg import AsyncClientCursor, AsyncConnection  # noqa: F401
        except ImportError:  # pragma: no cover -- psycopg 3 always has them
            return None
        _args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs.pop("context", None)  # SQLAlchemy's adapters: our calls bind plain texts and numbers
        # never psycopg's own prepared statements (see engine.py): only the calls' named ones
        kwargs.update(autocommit=True, prepare_threshold=None)
        return cls(kwargs, size, engine.dialect)

    async def run(self, call) -> Any:
        """``call.answer`` of the call's result sets; the store's errors."""
        import psycopg

        for attempt in range(1, call.attempts + 1):
            try:
                sets = await self._send(call)
                break
            except psycopg.Error as exc:
                wrapped = DBAPIError.instance(None, None, exc, psycopg.Error, dialect=self._dialect)
                if attempt < call.attempts and is_transient(wrapped):
                    await asyncio.sleep(retry_delay(attempt))
                    continue
                raise translate(wrapped) from wrapped
        return call.answer(sets)

    async def _send(self, call) -> list[list[tuple]]:
        import psycopg

        c = await self._acquire()
        keep = False
        try:
            async with psycopg.AsyncClientCursor(c.conn) as cur:
                for attempt in (1, 2):
                    for name, prepare in call.prepares:
                        if name not in c.prepared:
                            await cur.execute(prepare)
                            c.prepared.add(name)
                    try:
                        await cur.execute(call.query, call.values)
                    except psycopg.errors.InvalidSqlStatementName:
                        # something deallocated them (nothing ran: one transaction): start afresh
                        if attempt == 2:
                            raise
                        await cur.execute("DEALLOCATE ALL")
                        c.prepared.clear()
                        continue
                    sets = [await cur.fetchall()]
                    while cur.nextset():
                        sets.append(await cur.fetchall())
                    keep = True
                    return sets
            raise AssertionError("unreachable")
        except psycopg.Error:
            keep = not (c.conn.broken or c.conn.closed)  # an error of the call: the connection is fine
            raise
        finally:
            self._release(c, keep)

    async def _acquire(self) -> _Conn:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or another loop (an app served again): start afresh
            self._forget()
            self._loop = loop
        while True:
            if self._idle:
                c = self._idle.pop()
                if time.monotonic() - c.idle_since < PING_AFTER_IDLE_S or await self._alive(c):
                    return c
                self._discard(c)
                continue
            if self._open < self.size:
                return await self._connect()
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # woken, then cancelled: wake another
                    self._wake()
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self) -> _Conn:
        import psycopg

        self._open += 1
        try:
            conn = await psycopg.AsyncConnection.connect(**self._kwargs)
        except BaseException as exc:
            self._open -= 1
            self._wake()
            if isinstance(exc, psycopg.Error):
                wrapped = DBAPIError.instance(None, None, exc, psycopg.Error, dialect=self._dialect)
                raise translate(wrapped) from wrapped
            raise
        return _Conn(conn)

    @staticmethod
    async def _alive(c: _Conn) -> bool:
        try:
            await c.conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 -- a dead connection: replaced
            return False

    def _release(self, c: _Conn, keep: bool) -> None:
        if keep and c.conn.pgconn.transaction_status == 0:  # IDLE: no transaction left open
            c.idle_since = time.monotonic()
            self._idle.append(c)
        else:
            self._discard(c)
        self._wake()

    def _discard(self, c: _Conn) -> None:
        self._open -= 1
        try:
            c.conn.pgconn.finish()  # closes the socket at once (nothing to await)
        except Exception:  # noqa: BLE001
            pass

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _forget(self) -> None:
        """Drop the idle connections (opened on another loop)."""
        for c in self._idle:
            self._discard(c)
        self._idle.clear()

    async def close(self) -> None:
        """Close the idle connections; one in use is closed when its call ends."""
        idle, self._idle = self._idle, []
        for c in idle:
            self._open -= 1
            try:
                await c.conn.close()
            except Exception:  # noqa: BLE001
                logger.debug("closing a connection failed", exc_info=True)
        self._loop = None
