"""The artifact proxy (/api/2.0/mlflow-artifacts): round trips, headers, ranges, disabled mode,
and a 100 MB transfer through a real uvicorn process whose memory must stay flat."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.artifacts import get_artifact_repository
from modelyard.artifacts.base import TEMP_PREFIX
from modelyard.server.app import create_app
from modelyard.server.routes.proxy import DISABLED_TEXT
from modelyard.settings import Settings
from modelyard.web.downloads import RangeNotSatisfiable, content_disposition, parse_range

API = "/api/2.0/mlflow-artifacts"
FILES = f"{API}/artifacts"
DATA = bytes(range(256)) * 4  # 1 KiB, every byte value


def destination(api) -> Path:
    return Path(api.app.state.services.artifacts.destination)


def put(api, path: str, content: bytes = DATA, **kwargs) -> httpx.Response:
    return api.request("PUT", f"{FILES}/{path}", content=content, **kwargs)


def listing(api, path: str | None = None, prefix: str = API) -> list[dict]:
    params = {"path": path} if path is not None else {}
    response = api.get(f"{prefix}/artifacts", params=params)
    assert response.status_code == 200, response.text
    return response.json()["files"]


# -- round trips ------------------------------------------------------------------------------


def test_upload_list_download_delete_round_trip(api) -> None:
    assert put(api, "1/run/artifacts/model/weights.bin").json() == {}
    assert put(api, "1/run/artifacts/notes.txt", b"hello").status_code == 200
    assert put(api, "1/run/artifacts/empty.txt", b"").status_code == 200

    assert listing(api, "1/run/artifacts") == [
        {"path": "empty.txt", "is_dir": False, "file_size": 0},
        {"path": "model", "is_dir": True},
        {"path": "notes.txt", "is_dir": False, "file_size": 5},
    ]
    assert listing(api, "1/run/artifacts/model") == [
        {"path": "weights.bin", "is_dir": False, "file_size": 1024}
    ]
    assert listing(api) == [{"path": "1", "is_dir": True}]
    assert listing(api, "no/such/folder") == []
    assert listing(api, "1/run/artifacts/notes.txt") == []  # a file lists as empty, as in MLflow

    got = api.get(f"{FILES}/1/run/artifacts/model/weights.bin")
    assert (got.status_code, got.content) == (200, DATA)
    assert api.get(f"{FILES}/1/run/artifacts/empty.txt").content == b""
    assert (destination(api) / "1/run/artifacts/notes.txt").read_bytes() == b"hello"

    assert api.request("DELETE", f"{FILES}/1/run/artifacts/notes.txt").json() == {}
    missing = api.get(f"{FILES}/1/run/artifacts/notes.txt")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert api.request("DELETE", f"{FILES}/1/run/artifacts/model").status_code == 200  # a folder, recursively
    assert listing(api, "1/run/artifacts") == [{"path": "empty.txt", "is_dir": False, "file_size": 0}]
    again = api.request("DELETE", f"{FILES}/1/run/artifacts/model")
    assert (again.status_code, again.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_ajax_api_prefix_serves_the_same_store(api) -> None:
    ajax = "/ajax-api/2.0/mlflow-artifacts"
    assert api.request("PUT", f"{ajax}/artifacts/x/a.txt", content=b"via ajax").status_code == 200
    assert api.get(f"{FILES}/x/a.txt").content == b"via ajax"
    assert listing(api, "x", prefix=ajax) == [{"path": "a.txt", "is_dir": False, "file_size": 8}]


def test_put_replaces_atomically_and_leaves_no_temporary_files(api) -> None:
    put(api, "r/a.bin", b"old content")
    put(api, "r/a.bin", b"new")
    assert api.get(f"{FILES}/r/a.bin").content == b"new"
    leftovers = [p for p in destination(api).rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert leftovers == []


def test_chunked_upload_streams_to_disk(api) -> None:
    async def chunks():
        for i in range(50):
            yield bytes([i]) * 10_000

    response = api.request("PUT", f"{FILES}/r/chunked.bin", content=chunks())
    assert response.status_code == 200
    expected = b"".join(bytes([i]) * 10_000 for i in range(50))
    assert (destination(api) / "r/chunked.bin").read_bytes() == expected


def test_an_upload_cut_off_by_the_client_stores_nothing(api) -> None:
    put(api, "r/kept.bin", b"old")
    messages = [
        {"type": "http.request", "body": b"first part ", "more_body": True},
        {"type": "http.request", "body": b"second part", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    for path in ("r/kept.bin", "r/new.bin"):
        messages[:] = messages or [
            {"type": "http.request", "body": b"partial", "more_body": True},
            {"type": "http.disconnect"},
        ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
            "path": f"{FILES}/{path}", "raw_path": f"{FILES}/{path}".encode(), "query_string": b"",
            "root_path": "", "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1), "server": ("localhost", 80),
        }  # fmt: skip
        asyncio.run(api.app(scope, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400, 400]
    assert api.get(f"{FILES}/r/kept.bin").content == b"old"
    assert api.get(f"{FILES}/r/new.bin").status_code == 404
    assert [p.name for p in (destination(api) / "r").iterdir()] == ["kept.bin"]


def test_unicode_and_space_names_round_trip(api) -> None:
    name = "r/données é/ça va.txt"
    assert put(api, name, b"unicode").status_code == 200
    assert api.get(f"{FILES}/{name}").content == b"unicode"
    assert listing(api, "r/données é") == [{"path": "ça va.txt", "is_dir": False, "file_size": 7}]


def test_errors_are_mlflow_json(api) -> None:
    put(api, "r/folder/inner.txt")
    for method, path, status, code in [
        ("GET", "r/missing.txt", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "r/folder", 400, "INVALID_PARAMETER_VALUE"),  # a folder is not downloadable
        ("PUT", "r/folder", 400, "INVALID_PARAMETER_VALUE"),  # a folder is in the way
        ("PUT", "", 400, "INVALID_PARAMETER_VALUE"),  # no file name
        ("DELETE", "", 400, "INVALID_PARAMETER_VALUE"),  # never "delete everything"
        ("PUT", f"r/{TEMP_PREFIX}0123", 400, "INVALID_PARAMETER_VALUE"),
    ]:
        response = api.request(method, f"{FILES}/{path}", content=b"x" if method == "PUT" else None)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error_code"] == code
    assert (destination(api) / "r/folder/inner.txt").read_bytes() == DATA


def test_multipart_and_presigned_endpoints_answer_not_implemented(api) -> None:
    for action in ("create", "complete", "abort"):
        response = api.post(f"{API}/mpu/{action}/1/run/artifacts/big.bin", json={"path": "x", "num_parts": 2})
        assert response.status_code == 501
        assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    response = api.get(f"{API}/presigned/1/run/artifacts/big.bin")
    assert (response.status_code, response.json()["error_code"]) == (501, "NOT_IMPLEMENTED")


# -- download headers -------------------------------------------------------------------------


def test_download_headers_make_every_file_an_inert_attachment(api) -> None:
    put(api, "r/page.html", b"<script>alert(1)</script>")
    response = api.get(f"{FILES}/r/page.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"  # never text/html
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"page.html\"; filename*=UTF-8''page.html"
    )
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == "25"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("notes.txt", b"hello", "text/plain; charset=utf-8"),
        ("metrics.json", b'{"a": 1}', "application/json"),
        ("plot.png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("logo.svg", b"<svg><script>alert(1)</script></svg>", "image/svg+xml"),
        ("app.js", b"alert(1)", "text/plain; charset=utf-8"),
        ("weights.bin", b"\x00\x01", "application/octet-stream"),
    ],
)
def test_downloads_send_the_real_type_of_safe_files(api, name, body, expected) -> None:
    put(api, f"r/{name}", body)
    response = api.get(f"{FILES}/r/{name}")
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-type"] == expected
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def test_content_disposition_cannot_be_broken_out_of() -> None:
    header = content_disposition('evil"; filename="x.html;\\%.txt')
    assert header.startswith('attachment; filename="evil__ filename=_x.html___.txt";')
    assert header.endswith("filename*=UTF-8''evil%22%3B%20filename%3D%22x.html%3B%5C%25.txt")
    assert content_disposition("ça.txt") == "attachment; filename=\"_a.txt\"; filename*=UTF-8''%C3%A7a.txt"


def test_head_and_conditional_get(api) -> None:
    put(api, "r/a.bin")
    head = api.request("HEAD", f"{FILES}/r/a.bin")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1024")
    etag = head.headers["etag"]
    cached = api.get(f"{FILES}/r/a.bin", headers={"If-None-Match": etag})
    assert (cached.status_code, cached.content) == (304, b"")
    put(api, "r/a.bin", b"changed")
    assert api.get(f"{FILES}/r/a.bin", headers={"If-None-Match": etag}).content == b"changed"


# -- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1000-999999", 1000, 1023),  # the end is clamped
        ("bytes=-5000", 0, 1023),  # a suffix longer than the file is the file
        ("Bytes = 5 - 5", 5, 5),
    ],
)
def test_range_requests_answer_206(api, header: str, first: int, last: int) -> None:
    put(api, "r/a.bin")
    response = api.get(f"{FILES}/r/a.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/1024"
    assert response.headers["content-length"] == str(last - first + 1)


@pytest.mark.parametrize(
    "header",
    ["bytes=1024-", "bytes=5000-6000", "bytes=9-2", "bytes=abc", "bytes=-", "bytes=-0", "bytes=" + "9" * 40],
)
def test_bad_ranges_answer_416(api, header: str) -> None:
    put(api, "r/a.bin")
    response = api.get(f"{FILES}/r/a.bin", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */1024"
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("header", ["items=0-5", "bytes=0-1,5-6"])
def test_ranges_the_server_may_ignore_give_the_whole_file(api, header: str) -> None:
    put(api, "r/a.bin")
    response = api.get(f"{FILES}/r/a.bin", headers={"Range": header})
    assert (response.status_code, response.content) == (200, DATA)


def test_if_range_with_a_stale_validator_sends_the_whole_file(api) -> None:
    put(api, "r/a.bin")
    etag = api.request("HEAD", f"{FILES}/r/a.bin").headers["etag"]
    fresh = api.get(f"{FILES}/r/a.bin", headers={"Range": "bytes=0-1", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, DATA[:2])
    stale = api.get(f"{FILES}/r/a.bin", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert (stale.status_code, stale.content) == (200, DATA)


def test_parse_range_on_an_empty_file() -> None:
    assert parse_range(None, 0) is None
    for header in ("bytes=0-", "bytes=-1"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 0)


# -- containment (links) ----------------------------------------------------------------------


def test_links_out_of_the_destination_are_refused(api, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    dest = destination(api)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "escape").symlink_to(outside, target_is_directory=True)
    (dest / "leak.txt").symlink_to(outside / "secret.txt")
    for method, path in [("GET", "escape/secret.txt"), ("GET", "leak.txt"), ("PUT", "escape/new.txt"),
                         ("DELETE", "escape/secret.txt"), ("PUT", "leak.txt")]:  # fmt: skip
        response = api.request(method, f"{FILES}/{path}", content=b"pwned" if method == "PUT" else None)
        assert response.status_code == 400, (method, path)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.get(f"{API}/artifacts", params={"path": "escape"}).status_code == 400
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


# -- disabled ----------------------------------------------------------------------------------


def test_every_endpoint_answers_503_when_artifacts_are_not_served(tmp_path: Path) -> None:
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        serve_artifacts=False,
    )
    app = create_app(settings)

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return [
                await client.get(f"{API}/artifacts", params={"path": "x"}),
                await client.get(f"{FILES}/x/a.txt"),
                await client.put(f"{FILES}/x/a.txt", content=b"data"),
                await client.delete(f"{FILES}/x/a.txt"),
                await client.post(f"{API}/mpu/create/x/a.txt", json={}),
                await client.put("/ajax-api/2.0/mlflow-artifacts/artifacts/x/a.txt", content=b"data"),
            ]

    try:
        for response in asyncio.run(calls()):
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("text/plain")
            assert response.text == DISABLED_TEXT
    finally:
        app.state.services.close()
    assert not (tmp_path / "artifacts").exists()


# -- the streaming write of the repository protocol ----------------------------------------------


def test_repository_write_stream_is_atomic(tmp_path: Path) -> None:
    repo = get_artifact_repository(str(tmp_path / "store"))
    repo.write_stream("a/b.bin", (bytes([i]) * 1000 for i in range(10)))
    assert repo.read_bytes("a/b.bin") == b"".join(bytes([i]) * 1000 for i in range(10))

    def failing():
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        repo.write_stream("a/b.bin", failing())
    assert repo.read_bytes("a/b.bin")[:1000] == b"\0" * 1000  # the old file is intact
    assert sorted(p.name for p in (tmp_path / "store" / "a").iterdir()) == ["b.bin"]


# -- 100 MB through a real server, memory flat --------------------------------------------------

SERVER_SCRIPT = """
import socket, sys, uvicorn
from modelyard.server.app import create_app
from modelyard.settings import Settings
settings = Settings.defaults(backend_store_uri=sys.argv[1], artifacts_destination=sys.argv[2])
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(create_app(settings), log_level="warning", ws="none", lifespan="on")
uvicorn.Server(config).run(sockets=[sock])
"""

MB = 1024 * 1024


def _memory_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[str, int]]:
    if not Path("/proc/self/status").exists():
        pytest.skip("reading a process's memory needs /proc (Linux)")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER_SCRIPT,
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_100_mb_upload_and_download_keep_server_memory_flat(server_process, tmp_path: Path) -> None:
    url, pid = server_process
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(MB)
    with open(source, "wb") as f:
        for i in range(100):
            chunk = i.to_bytes(4, "big") + block[4:]
            digest.update(chunk)
            f.write(chunk)

    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_memory_kb(pid)["VmRSS"])
            done.wait(0.02)

    with httpx.Client(base_url=url, timeout=120) as client:
        client.put(f"{FILES}/warm/up.bin", content=b"x" * MB).raise_for_status()  # lazy imports, pools
        client.get(f"{FILES}/warm/up.bin").raise_for_status()
        before = _memory_kb(pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with open(source, "rb") as f:
                client.put(f"{FILES}/1/run/artifacts/big.bin", content=f).raise_for_status()
            target = tmp_path / "downloaded.bin"
            got = hashlib.sha256()
            with (
                client.stream("GET", f"{FILES}/1/run/artifacts/big.bin") as response,
                open(target, "wb") as out,
            ):
                assert response.status_code == 200
                assert response.headers["content-length"] == str(100 * MB)
                for chunk in response.iter_bytes():
                    got.update(chunk)
                    out.write(chunk)
        finally:
            done.set()
            sampler.join()
        after = _memory_kb(pid)

    assert got.hexdigest() == digest.hexdigest()
    assert target.stat().st_size == 100 * MB
    sampled_growth_mb = (max(after["VmRSS"], *samples) - before["VmRSS"]) / 1024
    peak_rise_mb = (after["VmHWM"] - before["VmHWM"]) / 1024  # catches a spike between samples
    # The file is 100 MB; holding it (or a copy of it) would show here. Buffers stay near a few MB.
    growth = max(sampled_growth_mb, peak_rise_mb)
    assert growth < 30, (
        f"server RSS grew by {sampled_growth_mb:.1f} MB (sampled) / its peak rose {peak_rise_mb:.1f} MB "
        f"from {before['VmRSS'] / 1024:.1f} MB during a 100 MB upload and download"
    )
