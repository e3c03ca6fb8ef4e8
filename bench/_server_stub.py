"""The ceiling server of bench/tracking_server.py: what the mlflow client costs on its own.

    python bench/_server_stub.py --port P [--upstream http://127.0.0.1:Q] [--pg-floor DSN] [--disk-floor DIR]

A raw ASGI app (no framework, no database), run by uvicorn in one process with httptools
and uvloop, answering every request the benchmark's client makes with a minimal valid
answer at once. Whatever time the client needs against it is the client's own work
(building the request, HTTP, parsing the answer into protobuf and entities), so
``mlflow_time / stub_time`` is the best ratio any server could reach through this client:
the figure's ``ceiling``.

What it keeps is only what the client reads back, in memory: experiments by name, runs
(their info, so runs/get and runs/update answer), the points of ``runs/log-metric`` (the
concurrent writers' check reads every history back) and artifact files (bytes, so that
downloads are byte-identical and listings real). ``log-batch``, params and tags are parsed
and dropped.

The read figures need the populated store's answers (10,000 runs, 100,000 points), which
must be real so that the client parses the same amount: with ``--upstream`` (modelyard's
server, holding exactly the same data), ``runs/search`` and ``metrics/get-history`` of a
run the stub does not know are forwarded once and their answer bytes cached by request;
the workload's untimed first call fills the cache and the timed calls are served from it.

With ``--pg-floor DSN`` (PostgreSQL only; bench/tracking_server.py's tool ``stub_pg``), each write
request (log-metric, log-batch, log-parameter, set-tag, runs/create, runs/update, set-terminated)
also makes ONE minimal durable write in that database before it answers: a single INSERT of the
request's rows (its points, params and tags, or the run's row) into an unindexed scratch table,
on a connection in autocommit mode, through psycopg 3's async driver (a pool of ``--pg-connections``
connections, so concurrent writers wait on PostgreSQL, not on each other). That is one round trip
plus one commit (the WAL flush), which no server keeping the write durably can avoid: the figure
against it, ``ceiling_pg``, is the best any PostgreSQL-backed server could show through this client.

With ``--disk-floor DIR`` (bench/tracking_server.py's tool ``stub_disk``), artifact files are kept
on disk under DIR instead of in memory: an upload creates the file's folder (``os.makedirs``) and
writes the body to a temporary file beside it, renamed over the name (``os.replace``: never a
half-written file under the name, and no fsync, exactly as modelyard's local artifact store does);
a download opens the file, reads it whole and answers it in one send, as the in-memory stub does.
Still no framework and no thread: the file calls run on the event loop. That is the least a server
that keeps artifacts in a folder does; the figure against it, ``ceiling_disk``, is the best any such
server could show through this client (the artifact figures only).

With ``--sqlite-floor PATH`` (SQLite only; tool ``stub_sqlite``), each of those write requests
instead commits ONE transaction of its rows in that SQLite file (WAL, ``synchronous=NORMAL``, as
modelyard's SQLite store opens its database), on the event loop: ``ceiling_sqlite``, the best any
SQLite-backed server could show through this client.

Standard library plus uvicorn only (psycopg too with ``--pg-floor``); it never imports modelyard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, unquote

API = "/api/2.0/mlflow/"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
JSON_HEADERS = [(b"content-type", b"application/json")]
CACHED_READS = ("runs/search", "metrics/get-history")
# the write requests that make one durable INSERT under --pg-floor
FLOOR_WRITES = frozenset(
    ("runs/log-metric", "runs/log-batch", "runs/log-parameter", "runs/set-tag", "runs/create", "runs/update",
     "runs/set-terminated")
)  # fmt: skip
FLOOR_TABLE = "stub_floor_rows"
# one statement whatever the request's size: its rows travel as arrays (server-side parameters)
FLOOR_INSERT = (
    f"INSERT INTO {FLOOR_TABLE} (run_id, key, text_value, value, ts, step)"
    " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::float8[], %s::int8[], %s::int8[])"
)


class PgFloor:
    """A pool of async psycopg connections in autocommit mode; ``write`` is one INSERT (one round
    trip and one commit) of a request's rows."""

    def __init__(self, dsn: str, connections: int) -> None:
        self.dsn, self.size = dsn, connections
        self.idle: asyncio.Queue | None = None

    async def start(self) -> None:
        import psycopg

        self.idle = asyncio.Queue()
        for i in range(self.size):
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            if i == 0:
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (run_id text, key text, text_value text,"
                    " value float8, ts int8, step int8)"
                )
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        while self.idle is not None and not self.idle.empty():
            await self.idle.get_nowait().close()

    async def write(self, endpoint: str, b: dict) -> None:
        run_id, keys, texts, values, stamps, steps = floor_rows(endpoint, b)
        row = (run_id, _texts(keys), _texts(texts), _numbers(values), _numbers(stamps), _numbers(steps))
        conn = await self.idle.get()
        try:
            await conn.execute(FLOOR_INSERT, row)
        finally:
            self.idle.put_nowait(conn)


class SqliteFloor:
    """One SQLite file in WAL mode with ``synchronous=NORMAL`` (as modelyard's SQLite store opens it);
    ``write`` is one transaction (``BEGIN IMMEDIATE``, the request's rows in one ``executemany``,
    ``COMMIT``) run on the event loop, as modelyard's inline writes are. The minimum a server keeping
    each write in SQLite pays: no indexes, no checks, no run lookup, no latest-value upsert."""

    def __init__(self, path: str) -> None:
        import sqlite3

        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (run_id text, key text, text_value text,"
            " value real, ts integer, step integer)"
        )

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self.conn.close()

    async def write(self, endpoint: str, b: dict) -> None:
        run_id, keys, texts, values, stamps, steps = floor_rows(endpoint, b)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(
                f"INSERT INTO {FLOOR_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *r) for r in zip(keys, texts, values, stamps, steps, strict=True)],
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


def floor_rows(endpoint: str, b: dict) -> tuple[str, list, list, list, list, list]:
    """A write request's rows for a floor: (run id, keys, text values, numbers, timestamps, steps)."""
    run_id = str(b.get("run_id") or b.get("run_uuid") or "")
    keys, texts, values, stamps, steps = [], [], [], [], []
    if endpoint in ("runs/log-metric", "runs/log-batch"):
        for m in [b] if endpoint == "runs/log-metric" else b.get("metrics", []):
            keys.append(m.get("key"))
            texts.append(None)
            values.append(_number(m.get("value")))
            stamps.append(int(m.get("timestamp") or 0))
            steps.append(int(m.get("step") or 0))
    for kv in (
        [b]
        if endpoint in ("runs/log-parameter", "runs/set-tag")
        else [*b.get("params", []), *b.get("tags", [])]
    ):
        keys.append(kv.get("key"))
        texts.append(kv.get("value"))
        values.append(None)
        stamps.append(None)
        steps.append(None)
    if endpoint in ("runs/create", "runs/update", "runs/set-terminated") or not keys:
        keys.append(endpoint)  # the run's row: its status and times
        texts.append(b.get("status") or b.get("run_name") or b.get("experiment_id"))
        values.append(None)
        stamps.append(b.get("start_time") or b.get("end_time"))
        steps.append(None)
    return run_id, keys, texts, values, stamps, steps


def _texts(items: list) -> str:
    """A text[] literal (built here: psycopg adapting 1,000 Python values one by one costs more
    than the INSERT)."""
    return (
        "{"
        + ",".join(
            "NULL" if x is None else '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for x in items
        )
        + "}"
    )


def _numbers(items: list) -> str:
    return "{" + ",".join("NULL" if x is None else repr(x) for x in items) + "}"


def _number(value) -> float:
    return float(value) if not isinstance(value, str) else float(value.replace("Infinity", "inf"))


class Stub:
    def __init__(self, upstream: str | None, floor: PgFloor | None = None, disk: str | None = None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.floor = floor
        self.disk = os.path.realpath(disk) if disk else None  # --disk-floor: files live here
        self.experiments: dict[str, dict] = {}  # id -> experiment
        self.by_name: dict[str, str] = {}
        self.runs: dict[str, dict] = {}  # run_id -> run info
        self.points: dict[tuple[str, str], list[dict]] = {}  # (run_id, key) -> metrics
        self.files: dict[str, bytes] = {}  # artifact path -> content (in memory, without --disk-floor)
        self.sizes: dict[str, int] = {}  # artifact path -> size (the listings)
        self.cache: dict[tuple[str, str, bytes], tuple[int, bytes]] = {}

    # -- ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                if self.floor is not None:
                    await self.floor.start()
                await send({"type": "lifespan.startup.complete"})
            if self.floor is not None:
                await self.floor.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path, method = scope["path"], scope["method"]
        query = scope["query_string"].decode()
        if method == "PUT" and path.startswith(ARTIFACTS + "/"):
            chunks = []
            more = True
            while more:
                msg = await receive()
                chunks.append(msg.get("body", b""))
                more = msg.get("more_body", False)
            name = unquote(path[len(ARTIFACTS) + 1 :])
            data = b"".join(chunks)
            if self.disk is None:
                self.files[name] = data
            else:
                self._write_file(name, data)
            self.sizes[name] = len(data)
            return await self._answer(send, 200, b"{}")
        body = b""
        if method in ("POST", "PATCH", "DELETE"):
            more = True
            while more:
                msg = await receive()
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
        if path == "/health":
            return await self._answer(send, 200, b"OK", [(b"content-type", b"text/plain")])
        if path == ARTIFACTS:
            return await self._answer(send, 200, self._list(parse_qs(query).get("path", [""])[0]))
        if method == "GET" and path.startswith(ARTIFACTS + "/"):
            name = unquote(path[len(ARTIFACTS) + 1 :])
            data = self.files.get(name) if self.disk is None else self._read_file(name)
            if data is None:
                return await self._answer(send, 404, _error("RESOURCE_DOES_NOT_EXIST", "no such file"))
            return await self._answer(send, 200, data, [(b"content-type", b"application/octet-stream")])
        if path == "/api/3.0/mlflow/server-info":
            return await self._answer(send, 200, b'{"store_type": "SqlStore"}')
        if not path.startswith(API):
            return await self._answer(send, 404, _error("ENDPOINT_NOT_FOUND", path))
        endpoint = path[len(API) :]
        if endpoint in CACHED_READS and self.upstream:
            params = parse_qs(query)
            run_id = params.get("run_id", [""])[0]
            key = params.get("metric_key", [""])[0]
            if endpoint == "runs/search" or (run_id, key) not in self.points:
                status, data = self._cached(method, path, query, body)
                return await self._answer(send, status, data)
        data = json.loads(body) if body else {}
        if self.floor is not None and endpoint in FLOOR_WRITES:
            await self.floor.write(endpoint, data)  # durable before the answer, as a real server's write
        status, payload = self.handle(endpoint, parse_qs(query), data)
        await self._answer(send, status, json.dumps(payload).encode())

    @staticmethod
    async def _answer(send, status: int, data: bytes, headers=JSON_HEADERS) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})

    # -- the canned tracking API ---------------------------------------------------------
    def handle(self, endpoint: str, q: dict, b: dict) -> tuple[int, dict]:
        def arg(name: str) -> str:
            return b.get(name) or q.get(name, [""])[0]

        if endpoint == "experiments/get-by-name":
            exp_id = self.by_name.get(arg("experiment_name"))
            if exp_id is None:
                return 404, _error_dict("RESOURCE_DOES_NOT_EXIST", "no such experiment")
            return 200, {"experiment": self.experiments[exp_id]}
        if endpoint == "experiments/create":
            exp_id = str(len(self.experiments) + 1)
            self.experiments[exp_id] = {
                "experiment_id": exp_id,
                "name": b["name"],
                "artifact_location": f"mlflow-artifacts:/{exp_id}",
                "lifecycle_stage": "active",
                "creation_time": int(time.time() * 1000),
                "last_update_time": int(time.time() * 1000),
            }
            self.by_name[b["name"]] = exp_id
            return 200, {"experiment_id": exp_id}
        if endpoint == "experiments/get":
            exp = self.experiments.get(arg("experiment_id"))
            if exp is None:
                return 404, _error_dict("RESOURCE_DOES_NOT_EXIST", "no such experiment")
            return 200, {"experiment": exp}
        if endpoint == "runs/create":
            run_id = uuid.uuid4().hex
            exp_id = str(b.get("experiment_id") or "0")
            tags = b.get("tags", [])
            name = b.get("run_name") or next(
                (t["value"] for t in tags if t.get("key") == "mlflow.runName"), run_id[:8]
            )
            info = {
                "run_id": run_id,
                "run_uuid": run_id,
                "run_name": name,
                "experiment_id": exp_id,
                "user_id": b.get("user_id", ""),
                "status": "RUNNING",
                "start_time": b.get("start_time", int(time.time() * 1000)),
                "artifact_uri": f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts",
                "lifecycle_stage": "active",
            }
            self.runs[run_id] = info
            return 200, {"run": {"info": info, "data": {"tags": tags}, "inputs": {}}}
        if endpoint == "runs/get":
            info = self.runs.get(arg("run_id") or arg("run_uuid"))
            if info is None:
                return 404, _error_dict("RESOURCE_DOES_NOT_EXIST", "no such run")
            return 200, {"run": {"info": info, "data": {}, "inputs": {}}}
        if endpoint == "runs/update":
            info = self.runs.get(arg("run_id") or arg("run_uuid"))
            if info is None:
                return 404, _error_dict("RESOURCE_DOES_NOT_EXIST", "no such run")
            for field in ("status", "end_time", "run_name"):
                if b.get(field) is not None:
                    info[field] = b[field]
            return 200, {"run_info": info}
        if endpoint == "runs/log-metric":
            run_id = arg("run_id") or arg("run_uuid")
            self.points.setdefault((run_id, b["key"]), []).append(
                {"key": b["key"], "value": b["value"], "timestamp": b["timestamp"], "step": b.get("step", 0)}
            )
            return 200, {}
        if endpoint in ("runs/log-batch", "runs/log-parameter", "runs/set-tag", "runs/set-terminated"):
            return 200, {}
        if endpoint == "metrics/get-history":
            return 200, {
                "metrics": self.points.get((arg("run_id") or arg("run_uuid"), arg("metric_key")), [])
            }
        return 404, _error_dict("ENDPOINT_NOT_FOUND", f"the stub does not serve {endpoint}")

    # -- --disk-floor: artifact files in a folder --------------------------------------------
    def _disk_path(self, name: str) -> str:
        path = os.path.normpath(os.path.join(self.disk, name))  # a string check only: no "..", no syscall
        if not path.startswith(self.disk + os.sep):
            raise ValueError(f"artifact path outside the floor's folder: {name!r}")
        return path

    def _write_file(self, name: str, data: bytes) -> None:
        """The file's folder created, the bytes written to a temporary file beside it, renamed in
        place (as modelyard's local store: atomic, not fsync'ed)."""
        path = self._disk_path(name)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".stub-tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def _read_file(self, name: str) -> bytes | None:
        try:
            with open(self._disk_path(name), "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError):
            return None

    def _list(self, folder: str) -> bytes:
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries: dict[str, dict] = {}
        for name, size in self.sizes.items():
            if not name.startswith(prefix):
                continue
            head, sep, _ = name[len(prefix) :].partition("/")
            entries[head] = (
                {"path": head, "is_dir": True} if sep else {"path": head, "is_dir": False, "file_size": size}
            )
        return json.dumps({"files": list(entries.values())} if entries else {}).encode()

    def _cached(self, method: str, path: str, query: str, body: bytes) -> tuple[int, bytes]:
        key = (path, query, body)
        hit = self.cache.get(key)
        if hit is None:
            url = self.upstream + path + (f"?{query}" if query else "")
            req = urllib.request.Request(url, data=body or None, method=method)
            if body:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=600) as resp:
                    hit = (resp.status, resp.read())
            except urllib.error.HTTPError as exc:
                hit = (exc.code, exc.read())
            self.cache[key] = hit
        return hit


def _error_dict(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}


def _error(code: str, message: str) -> bytes:
    return json.dumps(_error_dict(code, message)).encode()


def one_write_protocol():
    """uvicorn's HTTP protocol, writing a response's head together with its body, as ``modelyard
    server`` does (modelyard.web.http_limits): the stub must not pay a write and a wake-up more per
    answer than the server it bounds. Written here, not imported, so that the stub runs no modelyard code."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Held:
        def __init__(self, transport, loop) -> None:
            self.transport, self.loop, self.held, self.pending = transport, loop, None, False

        def write(self, data) -> None:
            if self.held is not None:
                held, self.held = self.held, None
                self.transport.write(held + bytes(data))
            elif len(data) <= 16384:
                self.held = bytes(data)
                if not self.pending:
                    self.pending = True
                    self.loop.call_soon(self.flush)
            else:
                self.transport.write(data)

        def flush(self) -> None:
            self.pending = False
            held, self.held = self.held, None
            if held is not None and not self.transport.is_closing():
                self.transport.write(held)

        def close(self) -> None:
            self.flush()
            self.transport.close()

        def __getattr__(self, name):
            return getattr(self.transport, name)

    class OneWrite(HttpToolsProtocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.transport = Held(transport, self.loop)

    return OneWrite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", help="server whose runs/search and get-history answers are cached")
    ap.add_argument(
        "--pg-floor", metavar="DSN", help="one durable INSERT in this PostgreSQL per write request"
    )
    ap.add_argument("--pg-connections", type=int, default=8, help="connections of the --pg-floor pool")
    ap.add_argument(
        "--sqlite-floor", metavar="PATH", help="one durable transaction in this SQLite file per write request"
    )
    ap.add_argument(
        "--disk-floor", metavar="DIR", help="keep artifact files on disk under DIR (temp file + rename)"
    )
    args = ap.parse_args()
    import uvicorn

    floor = PgFloor(args.pg_floor, args.pg_connections) if args.pg_floor else None
    if args.sqlite_floor:
        floor = SqliteFloor(args.sqlite_floor)
    uvicorn.run(
        Stub(args.upstream, floor, args.disk_floor),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_keep_alive=30,
        http=one_write_protocol(),
    )


if __name__ == "__main__":
    main()
