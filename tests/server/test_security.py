"""The attack catalogue of /work/shared/reference/security.md, replayed against our server.

- Path traversal in every form (``../``, ``..%2f``, ``%2e%2e%2f``, ``%252e%252e%252f``,
  backslashes, absolute paths, ``//proc/self/root``, NUL, drive letters, fullwidth dots) on the
  artifact proxy's GET/PUT/DELETE/list and on runs' artifacts/list (CVE-2023-6015, -6018,
  -2780, -6977, CVE-2024-1560 ...): always 400 INVALID_PARAMETER_VALUE, nothing read or written.
- artifact_location tricks on experiments/create (CVE-2023-6909, CVE-2024-1483, -1593, -1594,
  -2928, -3848): 400 and no experiment created.
- DNS rebinding (CVE-2025-14279): a foreign Host header is refused with 403.
- CSRF (CVE-2023-43472): text/plain and form POSTs are refused and change nothing; a foreign
  Origin on a state change is refused with 403.
- Errors never carry a stack trace, SQL or the database URI (requirement 9), whatever we throw.

Requests with a literal ``..`` are sent as raw ASGI calls (httpx would normalise them away, as
browsers do; uvicorn does not), and once more over a real socket to a live uvicorn server.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import importlib.util
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import orjson
import pytest

API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"

# Each reaches the canary "<tmp>/outside/secret.txt" (or a system file) if decoded and joined naively.
TRAVERSALS = [
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "../../../../../../etc/passwd",
    "..%2foutside%2fsecret.txt",
    "..%2Foutside/secret.txt",
    "%2e%2e%2foutside%2fsecret.txt",
    "%2e%2e/outside/secret.txt",
    ".%2e/outside/secret.txt",
    "%252e%252e%252foutside%252fsecret.txt",  # double-encoded (CVE-2024-1560)
    "%25252e%25252e%25252foutside",  # triple-encoded
    "..%5coutside%5csecret.txt",
    "..%255coutside",
    "..\\outside\\secret.txt",
    "\\..\\outside\\secret.txt",  # CVE-2023-6831
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//proc/self/root/etc/passwd",  # CVE-2023-6977
    "C:/Windows/win.ini",
    "C:%5cWindows%5cwin.ini",
    "secret.txt%00.png",
    "a/%00/b",
    "\uff0e\uff0e/outside/secret.txt",  # fullwidth dots become ".." under NFKC
    "a/..",
    "..",
    "a/b?/../../x",
    "a/%23/../../x",
]


def _quote_for_url(vector: str) -> str:
    """Percent-encode only what cannot appear raw in a request target (the vectors' own escapes stay)."""
    return "".join(
        c if 0x20 < ord(c) < 0x7F and c not in "?#" else "".join(f"%{b:02X}" for b in c.encode())
        for c in vector
    )


def raw_asgi(
    app, method: str, raw_path: str, query: str = "", body: bytes = b"", headers=()
) -> tuple[int, dict, bytes]:
    """One request straight into the ASGI app, with the path exactly as uvicorn would pass it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost"), *((k.encode(), v.encode()) for k, v in headers)],
        "client": ("127.0.0.1", 5555),
        "server": ("localhost", 80),
    }
    events = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def _tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (except the server's database) with a digest of its content."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("server.db"):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[str(path.relative_to(root)) + "/"] = ""
    return out


@pytest.fixture
def canary(api, tmp_path: Path) -> Path:
    """A secret next to the artifacts destination, and one legitimate artifact inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    assert api.request("PUT", f"{PROXY}/a/b/legit.txt", content=b"legit").status_code == 200
    return outside / "secret.txt"


def assert_refused(status: int, headers: dict, body: bytes, what: str) -> None:
    assert status == 400, f"{what}: {status} {body[:200]!r}"
    assert headers["content-type"] == "application/json", what
    assert orjson.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE", what
    assert b"secret" not in body.replace(b"secret.txt", b"") and b"root:" not in body, what


# -- path traversal on the proxy -----------------------------------------------------------------


@pytest.mark.parametrize("vector", TRAVERSALS)
def test_proxy_refuses_traversal_on_every_method(api, canary: Path, tmp_path: Path, vector: str) -> None:
    before = _tree(tmp_path)
    target = _quote_for_url(vector)
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        body = b"pwned" if method == "PUT" else b""
        status, headers, answer = raw_asgi(api.app, method, f"{PROXY}/{target}", body=body)
        if method == "HEAD":
            assert status == 400, vector
            continue
        assert_refused(status, headers, answer, f"{method} {vector!r}")
    for prefix in ("", "a/") if not vector.startswith("/") else ("",):  # "a//etc" is just "a/etc"
        query = "path=" + quote(prefix + vector, safe="")  # the server's query parsing undoes this layer
        status, headers, answer = raw_asgi(api.app, "GET", PROXY, query=query)
        assert_refused(status, headers, answer, f"list {vector!r}")
    assert _tree(tmp_path) == before
    assert canary.read_text() == "secret"


@pytest.mark.parametrize(
    "vector", ["../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
               "%252e%252e%252f%252e%252e%252fetc%252fpasswd", "..\\..\\etc\\passwd", "/etc/passwd"]
)  # fmt: skip
def test_traversal_over_a_real_socket(live_server, vector: str) -> None:
    """The same through uvicorn's own HTTP parser (http.client sends the target untouched)."""
    parts = urlsplit(live_server.url)
    for method in ("GET", "PUT", "DELETE"):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request(method, f"{PROXY}/{vector}", body=b"pwned" if method == "PUT" else None)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 400, (method, vector, body[:200])
        assert b"root:" not in body
        assert orjson.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


# -- path traversal on runs' artifacts/list -------------------------------------------------------


def _run_artifact_routes_present() -> bool:
    return all(
        importlib.util.find_spec(f"modelyard.server.routes.{name}") is not None
        for name in ("runs", "artifacts")
    )


@pytest.mark.skipif(
    not _run_artifact_routes_present(),
    reason="modelyard/server/routes/runs.py or artifacts.py (runs/create, artifacts/list) is not written yet",
)
@pytest.mark.parametrize("vector", TRAVERSALS)
def test_run_artifacts_list_refuses_traversal(api, canary: Path, vector: str) -> None:
    created = api.post(f"{API}/runs/create", json={"experiment_id": "0"})
    assert created.status_code == 200, created.text
    run_id = created.json()["run"]["info"]["run_id"]
    query = f"run_id={run_id}&path=" + quote(vector, safe="")
    status, headers, body = raw_asgi(api.app, "GET", f"{API}/artifacts/list", query=query)
    assert_refused(status, headers, body, f"artifacts/list {vector!r}")


# -- artifact_location tricks ---------------------------------------------------------------------

LOCATIONS = [
    "file:///etc/",
    "file:/tmp/x",
    "file://localhost/etc",
    "FILE:///etc",
    "/etc",
    "relative/dir",
    "../../outside",
    "C:\\Windows",
    "//proc/self/root",
    "http:///#/../../../../etc/",  # CVE-2024-1483
    "http://169.254.169.254/latest/meta-data",
    "ftp://example.com/x",
    "mlflow-artifacts:/x?x=/../../../etc",  # CVE-2023-6909
    "s3://bucket/x?x=/../",
    "s3://bucket/x;params/../../etc",  # CVE-2024-1593
    "s3://bucket/x;a=b",
    "s3://bucket/x#/../../etc",  # CVE-2024-2928
    "mlflow-artifacts:/a#frag",  # CVE-2024-1594
    "mlflow-artifacts:/a/../../etc",
    "mlflow-artifacts:/a/%2e%2e/%2e%2e/etc",
    "mlflow-artifacts:/a/%252e%252e/%252e%252e/etc",
    "mlflow-artifacts:/a/..%2f..%2fetc",
    "mlflow-artifacts:/a/%2E%2e%2F..%252fetc",  # mixed encodings
    "mlflow-artifacts:/a\\..\\..\\etc",
    "mlflow-artifacts:/a\x00b",
    "s3:///no-bucket",
    "mlflow-artifacts:/" + "a" * 5000,
    "mlflow-artifacts://evil.example:80/1",  # would send clients' artifacts to another host
    "mlflow-artifacts://127.0.0.1:6000/x",
]


def _experiment_count(api) -> int:
    answer = api.post(f"{API}/experiments/search", json={"max_results": 1000, "view_type": "ALL"})
    return len(answer.json().get("experiments", []))


@pytest.mark.parametrize("location", LOCATIONS)
def test_experiment_artifact_location_tricks_are_refused(api, location: str) -> None:
    count = _experiment_count(api)
    answer = api.post(f"{API}/experiments/create", json={"name": "pwned", "artifact_location": location})
    assert answer.status_code == 400, (location, answer.text)
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "pwned"}).status_code == 404
    assert _experiment_count(api) == count


def test_allowed_artifact_locations_still_work(api) -> None:
    for i, location in enumerate(["mlflow-artifacts:/team/a", "s3://bucket/some/prefix"]):
        answer = api.post(f"{API}/experiments/create", json={"name": f"ok{i}", "artifact_location": location})
        assert answer.status_code == 200, answer.text


# -- DNS rebinding, CSRF, Origin -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:5000", "localhost.evil.com", "127.0.0.1.nip.io"]
)
def test_foreign_host_header_is_refused(api, host: str) -> None:
    for method, path, kwargs in [
        ("GET", f"{API}/experiments/get", {"params": {"experiment_id": "0"}}),
        ("POST", f"{API}/experiments/create", {"json": {"name": "rebound"}}),
        ("PUT", f"{PROXY}/x/a.txt", {"content": b"data"}),
        ("GET", f"{PROXY}/a/b/legit.txt", {}),
    ]:
        answer = api.request(method, path, headers={"Host": host}, **kwargs)
        assert answer.status_code == 403, (host, method, path)
        assert answer.headers["content-type"].startswith("text/plain")
    assert api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "rebound"}).status_code == 404
    assert api.get(f"{PROXY}/x/a.txt").status_code == 404
    assert (
        api.get(
            f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Host": "127.0.0.1:5000"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "csrf"}'),
        ("text/plain;charset=UTF-8", b'{"name": "csrf"}'),
        ("application/x-www-form-urlencoded", b"name=csrf"),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="name"\r\n\r\ncsrf\r\n--xx--',
        ),
        ("", b'{"name": "csrf"}'),
    ],
)
def test_simple_cross_site_posts_are_refused(api, content_type: str, body: bytes) -> None:
    """CVE-2023-43472: a page posts text/plain (no CORS preflight) to rename "Default"."""
    headers = {"Content-Type": content_type} if content_type else {}
    created = api.request("POST", f"{API}/experiments/create", content=body, headers=headers)
    assert created.status_code in (400, 415), created.text
    renamed = api.request(
        "POST",
        f"{API}/experiments/update",
        content=b'{"experiment_id": "0", "new_name": "csrf"}',
        headers=headers,
    )
    assert renamed.status_code in (400, 415)
    assert (
        api.get(f"{API}/experiments/get", params={"experiment_id": "0"}).json()["experiment"]["name"]
        == "Default"
    )
    assert api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "csrf"}).status_code == 404


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://localhost.evil.example", "null", "http://127.0.0.1.evil.io:5000"],
)
def test_state_changes_from_a_foreign_origin_are_refused(api, canary: Path, origin: str) -> None:
    headers = {"Origin": origin}
    answer = api.post(f"{API}/experiments/create", json={"name": "cross"}, headers=headers)
    assert answer.status_code == 403
    assert api.request("PUT", f"{PROXY}/x/evil.txt", content=b"data", headers=headers).status_code == 403
    assert api.request("DELETE", f"{PROXY}/a/b/legit.txt", headers=headers).status_code == 403
    assert api.get(f"{API}/experiments/get-by-name", params={"experiment_name": "cross"}).status_code == 404
    assert api.get(f"{PROXY}/x/evil.txt").status_code == 404
    assert api.get(f"{PROXY}/a/b/legit.txt").content == b"legit"
    preflight = api.request(
        "OPTIONS", f"{PROXY}/x/evil.txt", headers={**headers, "Access-Control-Request-Method": "PUT"}
    )
    assert preflight.headers.get("access-control-allow-origin") not in (origin, "*")


def test_same_site_origin_is_allowed(api) -> None:
    answer = api.post(
        f"{API}/experiments/create", json={"name": "local-ui"}, headers={"Origin": "http://localhost:5000"}
    )
    assert answer.status_code == 200


# -- errors leak nothing ----------------------------------------------------------------------------

LEAKS = ("Traceback", 'File "', "sqlalchemy", "sqlite3", "SELECT ", "INSERT ", "UPDATE ", "psycopg", "pymysql",
         "server.db", "sqlite:///", "/tmp/", "site-packages")  # fmt: skip


def _assert_clean(answer, what: str) -> None:
    assert answer.status_code < 500 or answer.json()["message"] == "Internal server error", what
    text = answer.text
    for leak in LEAKS:
        assert leak not in text, f"{what}: the answer contains {leak!r}: {text[:300]}"
    if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        assert set(answer.json()) >= {"error_code", "message"}, what


def _json_body(raw: bytes) -> dict:
    return {"content": raw, "headers": {"Content-Type": "application/json"}}


PROVOCATIONS = [
    ("malformed JSON", "POST", f"{API}/experiments/create", _json_body(b'{"name": ')),
    ("not an object", "POST", f"{API}/experiments/create", _json_body(b"[1, 2, 3]")),
    ("invalid UTF-8", "POST", f"{API}/experiments/create", _json_body(b'\xff\xfe{"name": "x"}')),
    ("huge integer", "POST", f"{API}/experiments/search", _json_body(b'{"max_results": 99999999999999999999999999}')),
    ("int64 overflow", "POST", f"{API}/experiments/search", _json_body(b'{"max_results": 9223372036854775808}')),
    ("float overflow", "POST", f"{API}/experiments/search", _json_body(b'{"max_results": 1e400}')),
    ("huge id", "GET", f"{API}/experiments/get?experiment_id=" + "9" * 400, {}),
    ("negative id", "GET", f"{API}/experiments/get?experiment_id=-1", {}),
    ("deep nesting", "POST", f"{API}/experiments/create", _json_body(b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")),
    ("deep objects", "POST", f"{API}/experiments/create", _json_body(b'{"a":' * 10_000 + b"1" + b"}" * 10_000)),
    ("long name", "POST", f"{API}/experiments/create", {"json": {"name": "n" * 1_000_000}}),
    ("long tag", "POST", f"{API}/experiments/create", {"json": {"name": "t", "tags": [{"key": "k" * 100_000, "value": "v"}]}}),
    ("long filter", "POST", f"{API}/experiments/search", {"json": {"filter": "name = '" + "x" * 1_000_000 + "'"}}),
    ("SQL in filter", "POST", f"{API}/experiments/search", {"json": {"filter": "name = 'a' OR 1=1; DROP TABLE experiments --"}}),
    ("SQL in order_by", "POST", f"{API}/experiments/search", {"json": {"order_by": ["name; DROP TABLE x"]}}),
    ("bad page token", "POST", f"{API}/experiments/search", {"json": {"page_token": "!!!notbase64"}}),
    ("wrong type", "POST", f"{API}/experiments/create", {"json": {"name": {"nested": ["object"]}}}),
    ("missing field", "POST", f"{API}/experiments/create", {"json": {}}),
    ("missing experiment", "GET", f"{API}/experiments/get?experiment_id=424242", {}),
    ("script content type", "POST", f"{API}/experiments/create", {"content": b'{"name":"x"}', "headers": {"Content-Type": "<script>alert(1)</script>"}}),
    ("unknown endpoint", "GET", f"{API}/nope", {}),
    ("wrong method", "DELETE", f"{API}/experiments/create", {}),
    ("huge range", "GET", f"{PROXY}/a/b/legit.txt", {"headers": {"Range": "bytes=" + "9" * 5000 + "-"}}),
    ("long artifact path", "GET", f"{PROXY}/" + "a/" * 3000 + "x", {}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "method", "path", "kwargs"), PROVOCATIONS, ids=[p[0] for p in PROVOCATIONS])
def test_errors_carry_no_stack_trace_sql_or_database_uri(api, canary, what, method, path, kwargs) -> None:
    answer = api.request(method, path, **kwargs)
    assert answer.status_code < 500, what
    assert answer.status_code >= 400 or what == "long filter", what  # a long literal is no error
    _assert_clean(answer, what)
    if what.startswith("script"):
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_20_mb_json_body_answers_413_without_leaking(api) -> None:
    body = b'{"name": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    answer = api.request("POST", f"{API}/experiments/create", **_json_body(body))
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    _assert_clean(answer, "20 MB body")
    assert _experiment_count(api) == 1  # only "Default"


@pytest.mark.parametrize(
    ("allowed", "host", "answered"),
    [
        ("*.example.com", "a.example.com:8080", True),
        ("*.example.com", "example.org", False),
        ("models.internal,*.example.com", "models.internal", True),
        ("models.internal", "models.internalx", False),
        ("h?st", "host:80", True),
    ],
)
def test_host_patterns_are_globs(allowed: str, host: str, answered: bool) -> None:
    import asyncio

    from modelyard.server.security import SecurityMiddleware
    from modelyard.settings import Settings

    reached, sent = [], []

    async def app(scope, receive, send) -> None:
        reached.append(scope["path"])

    async def send(message) -> None:
        sent.append(message)

    middleware = SecurityMiddleware(app, Settings.from_env({"MODELYARD_ALLOWED_HOSTS": allowed}))
    scope = {"type": "http", "method": "GET", "path": "/health", "headers": [(b"host", host.encode())]}
    asyncio.run(middleware(scope, None, send))
    if answered:
        assert reached == ["/health"] and sent == []
    else:
        assert reached == [] and sent[0]["status"] == 403
