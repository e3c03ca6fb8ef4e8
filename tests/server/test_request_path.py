"""The API's request path, piece by piece: a response's head and body leave in one write
(``http_limits._OneWrite``), the JSON body is read from raw ASGI messages (``protocol.receive_body_json``),
the CORS middleware's short way for requests without an Origin answers exactly as Starlette's, and
the Host check's remembered verdicts stay bounded and right."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from modelyard.exceptions import BadRequest, InvalidParameterValue, PayloadTooLarge
from modelyard.server import security
from modelyard.server.protocol import receive_body_json
from modelyard.settings import Settings
from modelyard.web.http_limits import HOLD_MAX, JOIN_MAX, _OneWrite


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = self.eof = False

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.eof = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str):
        return ("127.0.0.1", 1) if name == "peername" else None


def run_in_loop(work) -> None:
    """``work(loop)`` inside a running loop, then one more turn of it."""

    async def main() -> None:
        work(asyncio.get_running_loop())
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())


# -- one write per small response --------------------------------------------------------------------


def test_a_head_and_its_small_body_leave_as_one_write() -> None:
    t = FakeTransport()

    def work(loop) -> None:
        w = _OneWrite(t, loop)
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert t.writes == []  # held for its body
        w.write(b"{}")

    run_in_loop(work)
    assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_large_body_follows_its_head_in_order_without_being_copied() -> None:
    t = FakeTransport()
    body = b"x" * (JOIN_MAX + 1)

    def work(loop) -> None:
        w = _OneWrite(t, loop)
        w.write(b"head")
        w.write(body)

    run_in_loop(work)
    assert t.writes == [b"head", body]


def test_a_head_nobody_follows_goes_out_at_the_end_of_the_loop_turn() -> None:
    """A streaming response's head is not held until its first chunk, only to the turn's end."""
    t = FakeTransport()
    seen: list[list[bytes]] = []

    async def main() -> None:
        w = _OneWrite(t, asyncio.get_running_loop())
        w.write(b"head")
        seen.append(list(t.writes))
        await asyncio.sleep(0)
        seen.append(list(t.writes))
        w.write(b"chunk-1")  # small: held in turn
        await asyncio.sleep(0)
        w.write(b"y" * (HOLD_MAX + 1))  # large: goes at once

    asyncio.run(main())
    assert seen == [[], [b"head"]]
    assert t.writes == [b"head", b"chunk-1", b"y" * (HOLD_MAX + 1)]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    t, u = FakeTransport(), FakeTransport()

    def work(loop) -> None:
        w = _OneWrite(t, loop)
        w.write(b"error answer")
        w.close()
        v = _OneWrite(u, loop)
        v.write(b"never sent")
        v.abort()

    run_in_loop(work)
    assert (t.writes, t.closed) == ([b"error answer"], True)
    assert (u.writes, u.aborted) == ([], True)


def test_the_rest_is_the_transports() -> None:
    t = FakeTransport()

    def work(loop) -> None:
        w = _OneWrite(t, loop)
        w.write(b"abc")
        assert w.get_write_buffer_size() == 3  # what is held counts as buffered
        assert w.get_extra_info("peername") == ("127.0.0.1", 1)
        w.writelines([b"d", b"e"])

    run_in_loop(work)
    assert t.writes == [b"abcd", b"e"]


# -- the body from raw ASGI messages -----------------------------------------------------------------


def scope(query: bytes = b"", content_type: bytes = b"application/json") -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "query_string": query,
        "headers": [(b"host", b"localhost"), (b"content-type", content_type)],
    }


def receiver(*messages: dict):
    queue = list(messages)

    async def receive() -> dict:
        return queue.pop(0)

    return receive


def read(s: dict, *messages: dict, limit: int = 1000):
    return asyncio.run(receive_body_json(s, receiver(*messages), limit))


def test_a_body_in_one_or_many_messages_is_the_same_object() -> None:
    whole = {"type": "http.request", "body": b'{"a": [1, 2], "b": "c"}', "more_body": False}
    parts = [
        {"type": "http.request", "body": b'{"a": [1', "more_body": True},
        {"type": "http.request", "body": b', 2], "b"', "more_body": True},
        {"type": "http.request", "body": b': "c"}', "more_body": False},
    ]
    assert read(scope(), whole) == read(scope(), *parts) == {"a": [1, 2], "b": "c"}
    assert read(scope(), {"type": "http.request", "body": b"", "more_body": False}) == {}
    double = {"type": "http.request", "body": b'"{\\"a\\": 1}"', "more_body": False}
    assert read(scope(), double) == {"a": 1}  # double-encoded, as some clients send


def test_the_limit_holds_for_one_message_and_across_messages() -> None:
    big = b'{"a": "' + b"x" * 2000 + b'"}'
    with pytest.raises(PayloadTooLarge):
        read(scope(), {"type": "http.request", "body": big, "more_body": False})
    chunks = [{"type": "http.request", "body": big[i : i + 100], "more_body": True} for i in range(0, 1200, 100)]
    with pytest.raises(PayloadTooLarge):
        read(scope(), *chunks)


def test_a_client_gone_mid_body_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnect):
        read(scope(), {"type": "http.request", "body": b'{"a"', "more_body": True}, {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnect):
        read(scope(), {"type": "http.disconnect"})


def test_bad_bodies_and_nul_parameters_are_refused() -> None:
    one = {"type": "http.request", "body": b'{"a": 1}', "more_body": False}
    with pytest.raises(BadRequest, match="Content-Type"):
        read(scope(content_type=b"text/plain"), one)
    with pytest.raises(BadRequest, match="Malformed JSON"):
        read(scope(), {"type": "http.request", "body": b"{nope", "more_body": False})
    with pytest.raises(BadRequest, match="JSON object"):
        read(scope(), {"type": "http.request", "body": b"[1]", "more_body": False})
    with pytest.raises(InvalidParameterValue):
        read(scope(query=b"run_id=a%00b"), one)
    with pytest.raises(InvalidParameterValue):
        read(scope(), {"type": "http.request", "body": b'{"k": "a\\u0000"}', "more_body": False})


# -- CORS: the short way answers as Starlette's ------------------------------------------------------


def _app(middleware_class) -> Starlette:
    async def plain(_request):
        return JSONResponse({"ok": True})

    async def varied(_request):
        return PlainTextResponse("v", headers={"Vary": "Accept-Encoding"})

    settings = Settings.defaults()
    return Starlette(
        routes=[Route("/plain", plain, methods=["GET", "POST"]), Route("/varied", varied)],
        middleware=[Middleware(middleware_class, **security.cors_kwargs(settings))],
    )


def _answers(middleware_class, requests: list[tuple[str, str, dict]]) -> list[tuple[int, list]]:
    async def go() -> list[tuple[int, list]]:
        transport = httpx.ASGITransport(app=_app(middleware_class))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            out = []
            for method, path, headers in requests:
                r = await client.request(method, path, headers=headers)
                out.append((r.status_code, sorted(r.headers.multi_items())))
            return out

    return asyncio.run(go())


def test_cors_answers_exactly_as_starlettes_with_and_without_an_origin() -> None:
    requests = [
        ("GET", "/plain", {}),
        ("POST", "/plain", {}),
        ("GET", "/varied", {}),
        ("GET", "/plain", {"Origin": "http://localhost:3000"}),
        ("GET", "/varied", {"Origin": "http://localhost:3000"}),
        ("GET", "/plain", {"Origin": "https://evil.example"}),
        ("OPTIONS", "/plain", {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}),
    ]
    ours, theirs = _answers(security.CorsMiddleware, requests), _answers(CORSMiddleware, requests)
    assert ours == theirs
    assert ("vary", "Origin") in ours[0][1]
    assert ("vary", "Accept-Encoding, Origin") in ours[2][1]


def test_vary_origin_joins_every_vary_header_where_the_first_one_was() -> None:
    headers = [(b"a", b"1"), (b"Vary", b"Accept"), (b"b", b"2"), (b"vary", b"Cookie")]
    assert security.with_vary_origin(headers) == [(b"a", b"1"), (b"vary", b"Accept, Cookie, Origin"), (b"b", b"2")]
    assert security.with_vary_origin([(b"a", b"1")]) == [(b"a", b"1"), (b"vary", b"Origin")]


# -- Host verdicts -------------------------------------------------------------------------------------


def test_host_verdicts_are_right_and_their_memory_bounded() -> None:
    mw = security.SecurityMiddleware(lambda *a: None, Settings.defaults(allowed_hosts="models.example.com,*.corp"))
    for _ in range(2):  # computed, then remembered
        assert mw.host_allowed(b"models.example.com:5000")
        assert mw.host_allowed(b"a.corp")
        assert not mw.host_allowed(b"evil.example")
    for i in range(500):
        assert not mw.host_allowed(b"made-up-%d.example" % i)
    assert len(mw._verdicts) <= security._HOSTS_REMEMBERED
    assert not mw.host_allowed(b"made-up-499.example")  # past the memory: still judged, never let in
    anyone = security.SecurityMiddleware(lambda *a: None, Settings.defaults(allowed_hosts="*"))
    assert anyone.host_allowed(b"whatever")


# -- routing: the literal-start pass picks what Starlette's scan picks ---------------------------------


def test_paths_with_parameters_reach_the_route_the_full_scan_would(tmp_path) -> None:
    from starlette.routing import Router

    from modelyard.server.app import ExactRouter, create_app

    def app(plain: bool):
        root = tmp_path / ("plain" if plain else "fast")
        root.mkdir()
        a = create_app(Settings.defaults(backend_store_uri=f"sqlite:///{root / 'm.db'}", artifacts_destination=str(root)))
        assert isinstance(a.router, ExactRouter)
        if plain:  # Starlette's own router over the same routes: the reference
            a.router = Router(routes=a.router.routes)
        return a

    requests = [
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.txt", b"hello"),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.txt", b""),
        ("HEAD", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.txt", b""),
        ("DELETE", "/ajax-api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.txt", b""),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.txt", b""),  # gone: 404
        ("PATCH", "/api/2.0/mlflow-artifacts/artifacts/x", b""),  # no such method: 405
        ("GET", "/api/2.0/mlflow/logged-models/m-123", b""),
        ("DELETE", "/api/2.0/mlflow/logged-models/m-123/tags/a/b", b""),
        ("GET", "/api/2.0/mlflow/webhooks/w1", b""),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=none", b""),
        ("GET", "/api/2.0/mlflow/no-such-endpoint/x", b""),
        ("GET", "/health", b""),
        ("GET", "/", b""),
    ]

    async def answers(a) -> list:
        out = []
        transport = httpx.ASGITransport(app=a)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            for method, path, body in requests:
                r = await client.request(method, path, content=body or None)
                out.append((method, path, r.status_code, r.content))
        return out

    fast, plain = asyncio.run(answers(app(False))), asyncio.run(answers(app(True)))
    assert fast == plain
    assert [s for _m, _p, s, _b in fast[:6]] == [200, 200, 200, 200, 404, 405]


def test_the_candidates_of_a_path_are_the_full_scans_in_order(tmp_path) -> None:
    """``ExactRouter.candidates`` (looked up by the path's prefixes) is exactly the scan of every
    route's literal start, for paths made from every route's pattern and for paths no route has."""
    import re

    from modelyard.server.app import create_app

    a = create_app(Settings.defaults(backend_store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifacts_destination=str(tmp_path)))
    router = a.router
    starts = [(place, getattr(r, "path", "").split("{", 1)[0], r) for place, r in enumerate(router.routes)]
    paths = {"", "/", "x", "/nothing/here", "/api/", "/api/2.0/mlflow-artifacts/artifactsX/1"}
    for r in router.routes:
        pattern = getattr(r, "path", "")
        paths.update({pattern, re.sub(r"\{[^}]*\}", "a/b", pattern), pattern + "/more", pattern[:-1]})
    assert len(paths) > 300
    for path in sorted(paths):
        assert router.candidates(path) == [e for e in starts if path.startswith(e[1])], path
    upload = router.candidates("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/f/1.bin")
    assert {m for _p, _s, r in upload for m in getattr(r, "methods", ())} >= {"GET", "PUT", "DELETE"}


# -- request ids ---------------------------------------------------------------------------------------


def test_request_ids_are_unique_hex_and_a_forked_worker_draws_its_own() -> None:
    import os

    from modelyard.web.middleware import new_request_id

    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked worker
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.close(write_end)
    assert len(child) == 32 and child[:16] != ids[0][:16] and child not in ids
