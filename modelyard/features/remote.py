"""Feature-table data through a tracking server: rows are sent and read as Arrow IPC streams
(``/api/2.0/modelyard/feature-tables/data``), read batch by batch, for a client that cannot reach
the server's table storage. Same operations and errors as ``FeatureTableService``."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from modelyard.entities.feature_table import FeatureTable
from modelyard.exceptions import InvalidParameterValue
from modelyard.features.service import names

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PATH = "/api/2.0/modelyard/feature-tables/data"


class RemoteTables:
    def __init__(self, http: Any) -> None:
        if not hasattr(http, "_client"):
            raise InvalidParameterValue("data_via_server needs an http:// tracking URI")
        self._http = http

    def _raise(self, response) -> None:
        if response.status_code >= 400:
            from modelyard.exceptions import ModelyardError, error_for_code

            try:
                body = response.json()
            except ValueError:
                raise ModelyardError(f"HTTP {response.status_code} from {PATH}") from None
            raise error_for_code(body.get("error_code", "INTERNAL_ERROR"), body.get("message", ""))

    def _post(self, params: dict, data: pa.Table) -> FeatureTable:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        response = self._http._client.post(PATH, params=params, content=sink.getvalue(),
                                           headers={"Content-Type": ARROW_STREAM})
        self._raise(response)
        return FeatureTable.from_dict(response.json()["feature_table"])

    def create(self, name, primary_keys, data, *, timestamp_keys=None, schema=None, description=None,
               tags=None) -> FeatureTable:
        if data is None:
            if schema is None:
                raise InvalidParameterValue("create_table needs df (the first rows) or schema")
            data = pa.schema(schema).empty_table()
        params = {"name": name, "mode": "create", "primary_keys": ",".join(names(primary_keys)),
                  "timestamp_keys": ",".join(names(timestamp_keys))}
        if description is not None:
            params["description"] = description
        table = self._post(params, data)
        for key, value in (tags or {}).items():
            self._http._call("POST", "feature-tables/set-tag", {"name": name, "key": key, "value": str(value)},
                             api="/api/2.0/modelyard")
        return table if not tags else FeatureTable.from_dict(
            self._http._call("GET", "feature-tables/get", None, {"name": name}, api="/api/2.0/modelyard")["feature_table"]
        )

    def write(self, name: str, data: pa.Table, mode: str = "merge") -> FeatureTable:
        return self._post({"name": name, "mode": mode}, data)

    def batches(self, name, *, as_of_version=None, as_of_timestamp=None, columns: Sequence[str] | None = None,
                batch_rows: int = 65_536) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        params: dict = {"name": name}
        if as_of_version is not None:
            params["version"] = as_of_version
        if as_of_timestamp is not None:
            params["timestamp"] = str(as_of_timestamp)
        if columns:
            params["columns"] = ",".join(columns)
        stream = self._http._client.stream("GET", PATH, params=params)
        response = stream.__enter__()
        try:
            if response.status_code >= 400:
                response.read()
                self._raise(response)
            reader = pa.ipc.open_stream(io.BufferedReader(_Chunks(response.iter_bytes()), 1 << 20))
        except BaseException:
            stream.__exit__(None, None, None)
            raise

        def read() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            finally:
                stream.__exit__(None, None, None)

        return reader.schema, read()

    def history(self, name: str, limit: int | None = None) -> list[dict]:
        params = {"name": name} | ({"limit": limit} if limit else {})
        return self._http._call("GET", "feature-tables/history", None, params, api="/api/2.0/modelyard")["history"]

    def drop(self, name: str) -> None:
        self._http._call("DELETE", "feature-tables/drop", {"name": name}, api="/api/2.0/modelyard")


class _Chunks(io.RawIOBase):
    """A file over an iterator of byte chunks (the response body as it arrives)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
