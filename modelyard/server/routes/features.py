"""Feature tables' catalog (modelyard's API, ``/api/2.0/modelyard/feature-tables/...``): create,
get, search, update, tags, delete, and the record of online publishes. The data stays in the
Delta table at the entry's location; clients read and write it there.
"""

from __future__ import annotations

import weakref

import orjson
import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from modelyard.entities.feature_table import FeatureColumn
from modelyard.exceptions import InvalidParameterValue, ModelyardError
from modelyard.server import identity
from modelyard.server.identity import request_user
from modelyard.server.protocol import KeyValue, Message, RouteTable, error_payload
from modelyard.server.routes.runs import Int64
from modelyard.server.services import Services
from modelyard.store.features.base import MAX_RESULTS_DEFAULT

table = RouteTable()
BASE = "/modelyard/feature-tables"
_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def catalog(svc: Services):
    """The SQL catalog in the server's database; new tables go under the artifact root (or, when the
    server proxies artifacts, under its artifacts destination: Delta needs a real location)."""
    found = _stores.get(svc.tracking)
    if found is None:
        from modelyard.store.features.sql import SqlFeatureStore

        root = svc.tracking.default_artifact_root
        if not root or root.startswith("mlflow-artifacts:"):
            root = svc.artifacts_destination or root
        found = _stores[svc.tracking] = SqlFeatureStore(svc.tracking, artifact_root=root)
    return found


class ColumnSpec(Message):
    name: str
    dtype: str
    nullable: bool = True


class TableName(Message):
    name: str


class CreateTable(TableName):
    primary_keys: list[str] = []
    timestamp_keys: list[str] = []
    columns: list[ColumnSpec] = []
    location: str
    version: Int64 = 0
    description: str | None = None
    tags: list[KeyValue] = []
    creator: str | None = None


class SearchTables(Message):
    name_like: str | None = None
    max_results: Int64 = MAX_RESULTS_DEFAULT


class UpdateTable(TableName):
    columns: list[ColumnSpec] | None = None
    version: Int64 | None = None
    description: str | None = None


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


@table.post(f"{BASE}/create", CreateTable)
def create_feature_table(svc: Services, m: CreateTable) -> dict:
    """Create a feature table's catalog entry (its Delta data is already at ``location``)."""
    tags = {t.key: t.value or "" for t in m.tags}
    return _table(catalog(svc).create_feature_table(
        m.name, m.primary_keys, m.timestamp_keys, _columns(m.columns), m.location, m.version,
        description=m.description, tags=tags, creator=request_user(m.creator),
    ))


@table.get(f"{BASE}/get", TableName)
def get_feature_table(svc: Services, m: TableName) -> dict:
    """Get a feature table's catalog entry."""
    return _table(catalog(svc).get_feature_table(m.name))


@table.get(f"{BASE}/default-location", TableName)
def default_location(svc: Services, m: TableName) -> dict:
    """Where the server would put a new table's Delta data."""
    from modelyard.store.features.base import validate_table_name

    return {"location": catalog(svc).default_location(validate_table_name(m.name))}


@table.get(f"{BASE}/search", SearchTables)
def search_feature_tables(svc: Services, m: SearchTables) -> dict:
    """List feature tables, by name (SQL LIKE pattern)."""
    found = catalog(svc).search_feature_tables(m.name_like, m.max_results)
    return {"feature_tables": [t.to_dict() for t in found]}


@table.post(f"{BASE}/update", UpdateTable)
def update_feature_table(svc: Services, m: UpdateTable) -> dict:
    """Record a new version / schema / description."""
    return _table(catalog(svc).update_feature_table(
        m.name, columns=_columns(m.columns), version=m.version, description=m.description
    ))


@table.post(f"{BASE}/set-tag", TableTag)
def set_feature_table_tag(svc: Services, m: TableTag) -> dict:
    """Set a tag on a feature table."""
    catalog(svc).set_feature_table_tag(m.name, m.key, m.value)
    return {}


@table.delete(f"{BASE}/delete-tag", TableTagRef)
def delete_feature_table_tag(svc: Services, m: TableTagRef) -> dict:
    """Delete a tag of a feature table."""
    catalog(svc).delete_feature_table_tag(m.name, m.key)
    return {}


@table.delete(f"{BASE}/delete", TableName)
def delete_feature_table(svc: Services, m: TableName) -> dict:
    """Delete a feature table's catalog entry (the client removes its files)."""
    catalog(svc).delete_feature_table(m.name)
    return {}


@table.post(f"{BASE}/record-publish", RecordPublish)
def record_publish(svc: Services, m: RecordPublish) -> dict:
    """Record that version ``version`` was published to ``online_store``."""
    catalog(svc).record_publish(m.name, m.online_store, m.version)
    return {}


class History(TableName):
    limit: Int64 | None = None


def service(svc: Services):
    from modelyard.features.service import FeatureTableService

    return FeatureTableService(catalog(svc), request_user(None))


@table.get(f"{BASE}/history", History)
def feature_table_history(svc: Services, m: History) -> dict:
    """The table's Delta versions, newest first."""
    return {"history": service(svc).history(m.name, m.limit)}


@table.delete(f"{BASE}/drop", TableName)
def drop_feature_table(svc: Services, m: TableName) -> dict:
    """Delete a feature table's catalog entry and its files."""
    service(svc).drop(m.name)
    return {}


# -- table data as Arrow IPC streams ---------------------------------------------------------------
ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_WRITE_BYTES = 2 * 1024**3


def _error(exc: ModelyardError) -> Response:
    return Response(orjson.dumps(error_payload(exc)), exc.http_status, media_type="application/json")


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
    async def read_data(request: Request) -> Response:
        """Stream a table version as Arrow IPC record batches (never the whole table in memory)."""
        q = request.query_params
        try:
            identity.bind(request)
            schema, batches = await run_in_threadpool(
                service(svc).batches, q.get("name", ""), as_of_version=_int(q.get("version"), "version"),
                as_of_timestamp=q.get("timestamp") or None, columns=_list(q.get("columns")) or None,
            )
        except ModelyardError as exc:
            return _error(exc)

        return StreamingResponse(_ipc(schema, batches), media_type=ARROW_STREAM)

    async def write_data(request: Request) -> Response:
        """Create (``mode=create``), merge or overwrite a table from an Arrow IPC stream body."""
        q = request.query_params
        try:
            identity.bind(request)
            if (request.headers.get("content-type") or "").split(";")[0].strip() != ARROW_STREAM:
                raise InvalidParameterValue(f"The body must be an Arrow IPC stream ({ARROW_STREAM})")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_WRITE_BYTES:
                    raise InvalidParameterValue("The body exceeds 2 GiB; write the table in several batches")
            try:
                data = pa.ipc.open_stream(bytes(body)).read_all()
            except pa.ArrowInvalid as exc:
                raise InvalidParameterValue(f"The body is not an Arrow IPC stream: {exc}") from None
            tables = service(svc)
            mode = q.get("mode", "merge")
            if mode == "create":
                made = await run_in_threadpool(
                    tables.create, q.get("name", ""), _list(q.get("primary_keys")), data,
                    timestamp_keys=_list(q.get("timestamp_keys")), description=q.get("description"),
                )
            else:
                made = await run_in_threadpool(tables.write, q.get("name", ""), data, mode)
        except ModelyardError as exc:
            return _error(exc)
        return Response(orjson.dumps({"feature_table": made.to_dict()}), media_type="application/json")

    return [
        Route(f"/api/2.0{BASE}/data", read_data, methods=["GET"]),
        Route(f"/api/2.0{BASE}/data", write_data, methods=["POST"]),
    ]


def _ipc(schema: pa.Schema, batches):
    """The IPC stream of ``batches``, one chunk per record batch."""
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
