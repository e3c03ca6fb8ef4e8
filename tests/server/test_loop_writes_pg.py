"""PostgreSQL's hot writes awaited on the event loop (psycopg's async driver, ``LoopWrites``) against
the same requests handed to a thread (the synchronous store): what is stored, the errors, and that a
row lock held elsewhere makes only the request that needs the row wait.

In-process: the app (``create_app``) on a real PostgreSQL database of this module's own, driven by
httpx's ASGI transport on one event loop, so requests that overlap are tasks of that loop. The
thread path is the same app with ``services.loop_writes`` set aside. No timed assertion: the lock
test's proof is the order of events (answers that come while the lock is still held).
"""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from modelyard.exceptions import PermissionDenied
from modelyard.server.app import create_app
from modelyard.server.services import Services
from modelyard.settings import Settings

API = "/api/2.0/mlflow"
WAIT_S = 20.0  # how long a wait for an expected state may take before the test gives up


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


class App:
    """The app, an ASGI client on it, and a count of the calls handed to the handler threads."""

    def __init__(self, uri: str, tmp: Path, authorizer=None) -> None:
        settings = Settings.defaults(
            backend_store_uri=uri, artifacts_destination=str(tmp / "artifacts"), serve_artifacts=True
        )
        self.services = Services.from_settings(settings)
        self.writes = self.services.loop_writes
        assert self.writes is not None  # PostgreSQL through psycopg: the loop path is on
        self.offloaded: list[str] = []
        real = self.services.offload.run

        async def counted(fn, *args):
            self.offloaded.append(getattr(fn, "__name__", repr(fn)))
            return await real(fn, *args)

        self.services.offload.run = counted  # before the app's routes take it
        self.app = create_app(settings, self.services, authorizer=authorizer)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://localhost", timeout=WAIT_S
        )

    def thread_path(self, on: bool) -> None:
        self.services.loop_writes = None if on else self.writes

    async def post(self, path: str, body: dict) -> httpx.Response:
        return await self.client.post(API + path, json=body)

    async def ok(self, path: str, body: dict) -> dict:
        answer = await self.post(path, body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def close(self) -> None:
        await self.client.aclose()
        await self.services.close_loop_writes()
        self.services.close()


def _run_app(uri: str, tmp: Path, work, authorizer=None) -> None:
    async def main() -> None:
        app = App(uri, tmp, authorizer)
        try:
            await work(app)
        finally:
            await app.close()

    asyncio.run(main())


async def _new_run(app: App, name: str, experiment_id: str = "0") -> str:
    body = {
        "experiment_id": experiment_id,
        "start_time": 5,
        "run_name": name,
        "tags": [{"key": "t0", "value": "v"}],
    }
    return (await app.ok("/runs/create", body))["run"]["info"]["run_id"]


async def _state(app: App, run_id: str) -> dict:
    """What a client reads back of a run: info (without its id, uri), data, and every point."""
    got = await app.client.get(API + "/runs/get", params={"run_id": run_id})
    assert got.status_code == 200, got.text
    run = got.json()["run"]
    info = {k: v for k, v in run["info"].items() if k not in ("run_id", "run_uuid", "artifact_uri")}
    data = run["data"]
    history = {}
    for m in data.get("metrics", []):
        h = await app.client.get(
            API + "/metrics/get-history", params={"run_id": run_id, "metric_key": m["key"]}
        )
        assert h.status_code == 200, h.text
        history[m["key"]] = sorted(
            (p["step"], p["timestamp"], repr(p["value"])) for p in h.json().get("metrics", [])
        )
    return {"info": info, "data": data, "history": history}


async def _write_everything(app: App, name: str) -> str:
    run_id = await _new_run(app, name)
    for step, ts, value in [
        (0, 10, 1.0),
        (1, 5, 2.0),
        (0, 99, 9.0),
        (1, 6, "NaN"),
        (1, 6, "NaN"),
        (2, 7, "Infinity"),
    ]:
        await app.ok(
            "/runs/log-metric", {"run_id": run_id, "key": "m", "value": value, "timestamp": ts, "step": step}
        )
    await app.ok("/runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    await app.ok(
        "/runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}
    )  # the same value: fine
    await app.ok("/runs/set-tag", {"run_id": run_id, "key": "note", "value": 'a "quoted", {braced} text'})
    await app.ok("/runs/set-tag", {"run_id": run_id, "key": "note", "value": "second"})
    batch = {
        "run_id": run_id,
        "metrics": [{"key": f"k{i % 3}", "value": i / 7, "timestamp": 100 + i, "step": i} for i in range(30)],
        "params": [{"key": "depth", "value": "3"}, {"key": "ü key", "value": ""}],
        "tags": [{"key": "mlflow.runName", "value": name + "-renamed"}, {"key": "t1", "value": "x"}],
    }
    await app.ok("/runs/log-batch", batch)
    await app.ok("/runs/log-batch", {"run_id": run_id, "metrics": batch["metrics"][:5]})  # repeats: kept once
    await app.ok("/runs/update", {"run_id": run_id, "run_name": name + "-final"})
    info = (await app.ok("/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1234}))[
        "run_info"
    ]
    assert info["status"] == "FINISHED" and info["end_time"] == 1234 and info["run_name"] == name + "-final"
    return run_id


def test_the_loop_path_stores_what_the_thread_path_stores(module_postgres_uri: str, tmp_path: Path) -> None:
    async def work(app: App) -> None:
        await _new_run(app, "warm-up")  # the first run of an experiment reads its location on a thread
        app.offloaded.clear()
        on_loop = await _write_everything(app, "same")
        assert app.offloaded == []  # every write above was awaited on the loop
        app.thread_path(True)
        on_thread = await _write_everything(app, "same")
        assert len(app.offloaded) == 15  # and here each went to a thread
        app.thread_path(False)
        loop_state, thread_state = await _state(app, on_loop), await _state(app, on_thread)
        assert loop_state == thread_state
        assert loop_state["history"]["m"] == [
            (0, 10, "1.0"), (0, 99, "9.0"), (1, 5, "2.0"), (1, 6, "'NaN'"), (2, 7, "'Infinity'")
        ]  # fmt: skip
        assert {p["key"]: p["value"] for p in loop_state["data"]["params"]} == {
            "lr": "0.1",
            "depth": "3",
            "ü key": "",
        }
        assert len(loop_state["history"]["k0"]) == 10 and math.isclose(
            next(m["value"] for m in loop_state["data"]["metrics"] if m["key"] == "k2"), 29 / 7
        )

    _run_app(module_postgres_uri, tmp_path, work)


async def _errors(app: App, live: str, deleted: str, deleted_exp: str) -> list:
    """(status, error_code, message) of each refused request."""
    missing = "f" * 32
    requests = [
        ("/runs/log-metric", {"run_id": missing, "key": "m", "value": 1, "timestamp": 1, "step": 0}),
        ("/runs/log-metric", {"run_id": deleted, "key": "m", "value": 1, "timestamp": 1, "step": 0}),
        ("/runs/log-parameter", {"run_id": missing, "key": "p", "value": "1"}),
        ("/runs/set-tag", {"run_id": deleted, "key": "t", "value": "1"}),
        (
            "/runs/log-batch",
            {
                "run_id": live,
                "params": [{"key": "lr", "value": "0.2"}, {"key": "new", "value": "1"}],
                "metrics": [{"key": "x", "value": 1, "timestamp": 1, "step": 0}],
            },
        ),  # fmt: skip
        (
            "/runs/log-batch",
            {"run_id": missing, "metrics": [{"key": "x", "value": 1, "timestamp": 1, "step": 0}]},
        ),
        ("/runs/log-batch", {"run_id": deleted}),  # nothing to write: the run is still checked
        ("/runs/log-metric", {"run_id": live, "key": "bad/../key", "value": 1, "timestamp": 1, "step": 0}),
        ("/runs/update", {"run_id": missing, "status": "FINISHED"}),
        ("/runs/update", {"run_id": deleted, "status": "FINISHED", "end_time": 9}),
        ("/runs/update", {"run_id": live, "status": "NOT_A_STATUS"}),
        ("/runs/create", {"experiment_id": deleted_exp, "start_time": 1}),
        ("/runs/create", {"experiment_id": "987654", "start_time": 1}),
        # a point that names a logged model: the handler's (declined on the loop)
        (
            "/runs/log-metric",
            {"run_id": live, "key": "m", "value": 1, "timestamp": 1, "step": 0, "model_id": "m-none"},
        ),
        (
            "/runs/log-batch",
            {"run_id": live, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "model_id": "m-none"}]},
        ),
    ]
    out = []
    for path, body in requests:
        answer = await app.post(path, body)
        out.append((path, answer.status_code, answer.json().get("error_code"), answer.json().get("message")))
    return out


def test_errors_are_the_thread_paths(module_postgres_uri: str, tmp_path: Path) -> None:
    async def work(app: App) -> None:
        exp = (await app.ok("/experiments/create", {"name": "errors"}))["experiment_id"]
        await _new_run(app, "warm-up", exp)  # this process knows the experiment's location
        live = await _new_run(app, "live")
        await app.ok("/runs/log-parameter", {"run_id": live, "key": "lr", "value": "0.1"})
        deleted = await _new_run(app, "deleted")
        await app.ok("/runs/delete", {"run_id": deleted})
        await app.ok("/experiments/delete", {"experiment_id": exp})
        on_loop = await _errors(app, live, deleted, exp)
        app.thread_path(True)
        on_thread = await _errors(app, live, deleted, exp)
        app.thread_path(False)
        assert on_loop == on_thread
        codes = [(status, code) for _, status, code, _ in on_loop]
        assert codes == [
            (404, "RESOURCE_DOES_NOT_EXIST"), (400, "INVALID_PARAMETER_VALUE"), (404, "RESOURCE_DOES_NOT_EXIST"),
            (400, "INVALID_PARAMETER_VALUE"), (400, "INVALID_PARAMETER_VALUE"), (404, "RESOURCE_DOES_NOT_EXIST"),
            (400, "INVALID_PARAMETER_VALUE"), (400, "INVALID_PARAMETER_VALUE"), (404, "RESOURCE_DOES_NOT_EXIST"),
            (400, "INVALID_PARAMETER_VALUE"), (400, "INVALID_PARAMETER_VALUE"), (400, "INVALID_PARAMETER_VALUE"),
            (404, "RESOURCE_DOES_NOT_EXIST"), (404, "RESOURCE_DOES_NOT_EXIST"), (404, "RESOURCE_DOES_NOT_EXIST"),
        ]  # fmt: skip
        assert "Changing param values is not allowed" in on_loop[4][3]
        state = await _state(app, live)  # the refused batch wrote nothing
        assert state["data"]["params"] == [{"key": "lr", "value": "0.1"}] and "x" not in state["history"]

    _run_app(module_postgres_uri, tmp_path, work)


def test_concurrent_writes_to_one_run_are_serialised(module_postgres_uri: str, tmp_path: Path) -> None:
    """Many writes to one run at once, all on the loop (several connections of the pool): the same
    param from each is stored once without a duplicate-key error, and the latest point is the
    largest step whatever order the statements committed in."""

    async def work(app: App) -> None:
        run_id = await _new_run(app, "busy")
        app.offloaded.clear()

        async def one(i: int) -> None:
            await app.ok(
                "/runs/log-batch",
                {
                    "run_id": run_id,
                    "params": [{"key": "shared", "value": "same"}],
                    "metrics": [{"key": "m", "value": float(i), "timestamp": 1000 - i, "step": i}],
                },
            )
            await app.ok(
                "/runs/log-metric", {"run_id": run_id, "key": "n", "value": i, "timestamp": i, "step": i}
            )

        await asyncio.gather(*(one(i) for i in range(24)))
        assert app.offloaded == []
        state = await _state(app, run_id)
        assert state["data"]["params"] == [{"key": "shared", "value": "same"}]
        latest = {m["key"]: (m["step"], m["value"]) for m in state["data"]["metrics"]}
        assert latest == {"m": (23, 23.0), "n": (23, 23.0)}
        assert len(state["history"]["m"]) == 24 and len(state["history"]["n"]) == 24
        assert app.writes.pool._open > 1  # they overlapped on several connections

    _run_app(module_postgres_uri, tmp_path, work)


def test_a_row_lock_held_elsewhere_makes_only_that_request_wait(
    module_postgres_uri: str, tmp_path: Path
) -> None:
    """While another connection holds the run's row (``SELECT ... FOR UPDATE`` in an open
    transaction), a log-metric to it waits on PostgreSQL; on the same event loop, ``/health`` and a
    log-metric to another run answer before the lock is let go, then the first lands once."""

    async def work(app: App) -> None:
        locked, other = await _new_run(app, "locked"), await _new_run(app, "other")
        app.offloaded.clear()  # the first run of the experiment read its location on a thread
        holder = await psycopg.AsyncConnection.connect(_libpq(module_postgres_uri))
        probe = await psycopg.AsyncConnection.connect(_libpq(module_postgres_uri), autocommit=True)
        try:
            await holder.execute("SELECT 1 FROM runs WHERE run_uuid = %s FOR UPDATE", (locked,))
            point = {"run_id": locked, "key": "m", "value": 0.5, "timestamp": 7, "step": 3}
            pending = asyncio.create_task(app.post("/runs/log-metric", point))

            async def lock_waits() -> bool:
                cur = await probe.execute(  # a row lock's wait is on the holder's transaction id
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
                return (await cur.fetchone())[0] > 0

            async with asyncio.timeout(WAIT_S):
                while not await lock_waits():
                    assert not pending.done(), pending.result().text
                    await asyncio.sleep(0.01)
            assert (await app.client.get("/health")).status_code == 200
            await app.ok("/runs/log-metric", {**point, "run_id": other})
            assert not pending.done()  # still waiting for the row: the others came first
        finally:
            await holder.rollback()  # lets the row go
            await holder.close()
            await probe.close()
        answer = await asyncio.wait_for(pending, WAIT_S)
        assert answer.status_code == 200, answer.text
        assert app.offloaded == []
        for run_id in (locked, other):
            assert (await _state(app, run_id))["history"] == {"m": [(3, 7, "0.5")]}

    _run_app(module_postgres_uri, tmp_path, work)


class _OnlyTheChosen:
    """An authorizer that may read the database (as the permission authorizer does): it refuses
    writes to one run, and says on which thread it was asked."""

    def __init__(self) -> None:
        self.refused: str | None = None
        self.threads: set[str] = set()

    def authorize(self, ctx, permission, resource_id) -> None:
        self.threads.add(threading.current_thread().name)
        if resource_id == self.refused:
            raise PermissionDenied(f"not {resource_id}")


def test_an_authorizer_that_is_not_allow_all_keeps_the_thread_path(
    module_postgres_uri: str, tmp_path: Path
) -> None:
    authorizer = _OnlyTheChosen()

    async def work(app: App) -> None:
        run_id, refused = await _new_run(app, "allowed"), await _new_run(app, "refused")
        authorizer.refused = refused
        app.offloaded.clear()
        await app.ok(
            "/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": 0}
        )
        answer = await app.post(
            "/runs/log-metric", {"run_id": refused, "key": "m", "value": 1, "timestamp": 1, "step": 0}
        )
        assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED"
        assert app.offloaded == ["_checked", "_checked"]  # check and write on a handler thread
        assert threading.current_thread().name not in authorizer.threads
        authorizer.refused = None
        assert "m" not in (await _state(app, refused))["history"]

    _run_app(module_postgres_uri, tmp_path, work, authorizer)
