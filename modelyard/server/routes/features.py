"""Feature tables' catalog (modelyard's API, ``/api/2.0/modelyard/feature-tables/...``): create,
get, search, update, tags, delete, and the record of online publishes. The data stays in the
Delta table at the entry's location; clients read and write it there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from modelyard.auth import visibility
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import CREATE, DELETE, FEATURE_TABLE, READ, UPDATE, needs
from modelyard.entities.feature_table import FeatureColumn
from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.server.protocol import KeyValue, Message, RouteTable
from modelyard.server.routes.runs import Int64
from modelyard.server.services import Services
from modelyard.store.features.base import MAX_RESULTS_DEFAULT
from modelyard.web.errors import json_error
from modelyard.web.middleware import context_of
from modelyard.web.routing import authorized, route

if TYPE_CHECKING:
    import pyarrow as pa

table = RouteTable()
BASE = "/modelyard/feature-tables"


def service(svc: Services, ctx: RequestContext):
    """The feature-table service of this request, over the SQL catalog in the server's database
    (``modelyard.features.catalog``): every handler calls one of its methods."""
    return svc.feature_tables(ctx)


class ColumnSpec(Message):
    name: str
    dtype: str
    nullable: bool = True


class TableName(Message):
    name: str


class TableChange(Message):
    """What made a new version (its ``feature_table.updated`` event): the operation and row counts."""

    operation: str | None = None
    rows_written: Int64 | None = None
    rows_inserted: Int64 | None = None
    rows_updated: Int64 | None = None


def _change(m: TableChange | None) -> dict | None:
    return None if m is None else {k: getattr(m, k) for k in ("operation", "rows_written", "rows_inserted", "rows_updated")}


class CreateTable(TableName):
    primary_keys: list[str] = []
    timestamp_keys: list[str] = []
    columns: list[ColumnSpec] = []
    location: str
    version: Int64 = 0
    description: str | None = None
    tags: list[KeyValue] = []
    creator: str | None = None
    change: TableChange | None = None


class SearchTables(Message):
    name_like: str | None = None
    max_results: Int64 = MAX_RESULTS_DEFAULT


class UpdateTable(TableName):
    columns: list[ColumnSpec] | None = None
    version: Int64 | None = None
    description: str | None = None
    change: TableChange | None = None


class TableTag(TableName):
    key: str
    value: str = ""


class TableTagRef(TableName):
    key: str


class RecordPublish(TableName):
    online_store: str
    version: Int64


def _columns(items: list[ColumnSpec] | None) -> list[FeatureColumn] | None:
    return None if items is None else [FeatureColumn(c.name, c.dtype, c.nullable) for c in items]


def _table(t) -> dict:
    return {"feature_table": t.to_dict()}


@table.post(f"{BASE}/create", CreateTable, needs=needs(FEATURE_TABLE, CREATE))
def create_feature_table(svc: Services, m: CreateTable, ctx: RequestContext) -> dict:
    """Create a feature table's catalog entry (its Delta data is already at ``location``)."""
    tags = {t.key: t.value or "" for t in m.tags}
    made = service(svc, ctx).register(
        m.name, m.primary_keys, m.timestamp_keys, _columns(m.columns), m.location, m.version,
        description=m.description, tags=tags, creator=m.creator, change=_change(m.change),
    )
    visibility.created(ctx, FEATURE_TABLE, made.name)  # the creator gets MANAGE on it
    return _table(made)


@table.get(f"{BASE}/get", TableName, needs=needs(FEATURE_TABLE, READ, "name"))
def get_feature_table(svc: Services, m: TableName, ctx: RequestContext) -> dict:
    """Get a feature table's catalog entry."""
    return _table(service(svc, ctx).get(m.name))


@table.get(f"{BASE}/default-location", TableName, needs=needs(FEATURE_TABLE, READ, "name"))
def default_location(svc: Services, m: TableName, ctx: RequestContext) -> dict:
    """Where the server would put a new table's Delta data."""
    return {"location": service(svc, ctx).default_location(m.name)}


@table.get(f"{BASE}/search", SearchTables, needs=needs(FEATURE_TABLE, READ))
def search_feature_tables(svc: Services, m: SearchTables, ctx: RequestContext) -> dict:
    """List feature tables, by name (SQL LIKE pattern)."""
    found = service(svc, ctx).search(m.name_like, m.max_results)
    found = visibility.readable(ctx, FEATURE_TABLE, found, lambda t: t.name)  # no enumeration
    return {"feature_tables": [t.to_dict() for t in found]}


@table.post(f"{BASE}/update", UpdateTable, needs=needs(FEATURE_TABLE, UPDATE, "name"))
def update_feature_table(svc: Services, m: UpdateTable, ctx: RequestContext) -> dict:
    """Record a new version / schema / description."""
    return _table(service(svc, ctx).update(
        m.name, columns=_columns(m.columns), version=m.version, description=m.description, change=_change(m.change),
    ))


@table.post(f"{BASE}/set-tag", TableTag, needs=needs(FEATURE_TABLE, UPDATE, "name"))
def set_feature_table_tag(svc: Services, m: TableTag, ctx: RequestContext) -> dict:
    """Set a tag on a feature table."""
    service(svc, ctx).set_tag(m.name, m.key, m.value)
    return {}


@table.delete(f"{BASE}/delete-tag", TableTagRef, needs=needs(FEATURE_TABLE, UPDATE, "name"))
def delete_feature_table_tag(svc: Services, m: TableTagRef, ctx: RequestContext) -> dict:
    """Delete a tag of a feature table."""
    service(svc, ctx).delete_tag(m.name, m.key)
    return {}


@table.delete(f"{BASE}/delete", TableName, needs=needs(FEATURE_TABLE, DELETE, "name"))
def delete_feature_table(svc: Services, m: TableName, ctx: RequestContext) -> dict:
    """Delete a feature table's catalog entry (the client removes its files)."""
    service(svc, ctx).unregister(m.name)
    visibility.deleted(ctx, FEATURE_TABLE, m.name)
    return {}


@table.post(f"{BASE}/record-publish", RecordPublish, needs=needs(FEATURE_TABLE, UPDATE, "name"))
def record_publish(svc: Services, m: RecordPublish, ctx: RequestContext) -> dict:
    """Record that version ``version`` was published to ``online_store``."""
    service(svc, ctx).record_publish(m.name, m.online_store, m.version)
    return {}


class History(TableName):
    limit: Int64 | None = None


@table.get(f"{BASE}/history", History, needs=needs(FEATURE_TABLE, READ, "name"))
def feature_table_history(svc: Services, m: History, ctx: RequestContext) -> dict:
    """The table's Delta versions, newest first."""
    return {"history": service(svc, ctx).history(m.name, m.limit)}


@table.delete(f"{BASE}/drop", TableName, needs=needs(FEATURE_TABLE, DELETE, "name"))
def drop_feature_table(svc: Services, m: TableName, ctx: RequestContext) -> dict:
    """Delete a feature table's catalog entry and its files."""
    service(svc, ctx).drop(m.name)
    visibility.deleted(ctx, FEATURE_TABLE, m.name)
    return {}


# -- table data as Arrow IPC streams ---------------------------------------------------------------
ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_WRITE_BYTES = 2 * 1024**3


def _int(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterValue(f"{what} must be an integer, got {value!r}") from None


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def extra_routes(svc: Services) -> list[Route]:
    read = needs(FEATURE_TABLE, READ, "name")
    write = needs(FEATURE_TABLE, UPDATE, "name")  # creating one through mode=create too

    async def read_data(request: Request) -> Response:
        """Stream a table version as Arrow IPC record batches (never the whole table in memory)."""
        q = request.query_params
        try:
            await authorized(request, read)
            ctx = context_of(request)
            schema, batches = await run_in_threadpool(
                service(svc, ctx).batches, q.get("name", ""), as_of_version=_int(q.get("version"), "version"),
                as_of_timestamp=q.get("timestamp") or None, columns=_list(q.get("columns")) or None,
            )
        except ModelyardError as exc:
            return json_error(exc)

        return StreamingResponse(_ipc(schema, batches), media_type=ARROW_STREAM)

    async def write_data(request: Request) -> Response:
        """Create (``mode=create``), merge or overwrite a table from an Arrow IPC stream body."""
        q = request.query_params
        try:
            await authorized(request, write)
            ctx = context_of(request)
            if (request.headers.get("content-type") or "").split(";")[0].strip() != ARROW_STREAM:
                raise InvalidParameterValue(f"The body must be an Arrow IPC stream ({ARROW_STREAM})")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_WRITE_BYTES:
                    raise InvalidParameterValue("The body exceeds 2 GiB; write the table in several batches")
            data = await run_in_threadpool(_read_ipc, bytes(body))  # pyarrow is imported there
            tables = service(svc, ctx)
            mode = q.get("mode", "merge")
            if mode == "create":
                made = await run_in_threadpool(
                    tables.create, q.get("name", ""), _list(q.get("primary_keys")), data,
                    timestamp_keys=_list(q.get("timestamp_keys")), description=q.get("description"),
                )
                visibility.created(ctx, FEATURE_TABLE, made.name)
            else:
                made = await run_in_threadpool(tables.write, q.get("name", ""), data, mode)
        except ModelyardError as exc:
            return json_error(exc)
        return Response(orjson.dumps({"feature_table": made.to_dict()}), media_type="application/json")

    return [
        route(f"/api/2.0{BASE}/data", read_data, methods=["GET"], needs=read),
        route(f"/api/2.0{BASE}/data", write_data, methods=["POST"], needs=write),
    ]


def _read_ipc(body: bytes) -> pa.Table:
    """The table in an Arrow IPC stream (pyarrow is imported on first use: a server whose feature
    tables are never read or written does not load it)."""
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(body).read_all()
    except pa.ArrowInvalid as exc:
        raise InvalidParameterValue(f"The body is not an Arrow IPC stream: {exc}") from None


def _ipc(schema: pa.Schema, batches):
    """The IPC stream of ``batches``, one chunk per record batch."""
    import pyarrow as pa

    sink = _Sink()
    with pa.ipc.new_stream(sink, schema) as writer:
        yield sink.take()
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


class _Sink:
    """A write-only file whose bytes are taken out as they are written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out
