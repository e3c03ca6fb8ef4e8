"""Artifact downloads streamed chunk by chunk: every size around the chunk boundaries comes back
byte-identical with the right Content-Length, whole, as a HEAD, and as ranges that cross a chunk."""

from __future__ import annotations

import hashlib

import pytest

from modelyard.web import downloads

FILES = "/api/2.0/mlflow-artifacts/artifacts"
CHUNK = 1000  # the read size under test (the server's is megabytes; the boundaries are the same)
SMALL = 100  # files up to this size are answered from one read, larger ones streamed
INLINE = 50  # ... and up to this size read on the event loop, larger ones on a thread


@pytest.fixture
def small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(downloads, "READ_CHUNK", CHUNK)
    monkeypatch.setattr(downloads, "SMALL_DOWNLOAD", SMALL)
    monkeypatch.setattr(downloads, "INLINE_READ", INLINE)


def content(size: int) -> bytes:
    """``size`` bytes that differ at every offset (a chunk sent twice or out of order shows)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


SIZES = [
    0,
    1,
    INLINE,
    INLINE + 1,
    SMALL,
    SMALL + 1,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    3 * CHUNK,
    3 * CHUNK + 1,
    3 * CHUNK - 1,
]


@pytest.mark.parametrize("size", SIZES)
def test_every_size_round_trips_byte_identical(api, small_chunks, size: int) -> None:
    data = content(size)
    assert api.request("PUT", f"{FILES}/c/f{size}.bin", content=data).status_code == 200
    got = api.get(f"{FILES}/c/f{size}.bin")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-length"] == str(size)
    head = api.request("HEAD", f"{FILES}/c/f{size}.bin")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        (f"bytes={CHUNK - 1}-{2 * CHUNK}", CHUNK - 1, 2 * CHUNK),  # crosses two boundaries
        (f"bytes={CHUNK}-", CHUNK, 3 * CHUNK),  # starts exactly on one, to the end
        (f"bytes=-{CHUNK + 1}", 2 * CHUNK, 3 * CHUNK),  # the last chunk and one byte
        (f"bytes={3 * CHUNK}-{3 * CHUNK}", 3 * CHUNK, 3 * CHUNK),  # the very last byte
        ("bytes=0-0", 0, 0),
    ],
)
def test_ranges_across_chunks(api, small_chunks, header: str, first: int, last: int) -> None:
    data = content(3 * CHUNK + 1)
    api.request("PUT", f"{FILES}/c/r.bin", content=data)
    got = api.get(f"{FILES}/c/r.bin", headers={"Range": header})
    assert got.status_code == 206
    assert got.content == data[first : last + 1]
    assert got.headers["content-length"] == str(last - first + 1)
    assert got.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"


def test_a_large_file_streams_in_several_reads(api, small_chunks, monkeypatch) -> None:
    reads: list[int] = []
    real = downloads._stream

    async def counting(*args):
        async for chunk in real(*args):
            reads.append(len(chunk))
            yield chunk

    monkeypatch.setattr(downloads, "_stream", counting)
    data = content(5 * CHUNK + 7)
    api.request("PUT", f"{FILES}/c/big.bin", content=data)
    assert api.get(f"{FILES}/c/big.bin").content == data
    assert reads == [CHUNK] * 5 + [7]


def test_small_files_are_read_on_the_event_loop_and_larger_ones_on_a_thread(
    api, small_chunks, monkeypatch
) -> None:
    handed: list[str] = []
    real = downloads._runner

    def spying(request):
        run = real(request)

        async def recording(fn, *args):
            handed.append(fn.__name__)
            return await run(fn, *args)

        return recording

    monkeypatch.setattr(downloads, "_runner", spying)
    for size in (INLINE, SMALL, SMALL + 1):
        api.request("PUT", f"{FILES}/t/f{size}.bin", content=content(size))
    assert api.get(f"{FILES}/t/f{INLINE}.bin").content == content(INLINE)
    assert handed == []
    assert api.get(f"{FILES}/t/f{SMALL}.bin").content == content(SMALL)
    assert handed == ["_read_whole"]
    handed.clear()
    assert api.get(f"{FILES}/t/f{SMALL + 1}.bin").content == content(SMALL + 1)
    assert handed == ["read"]  # streamed: its one read on a thread


def test_a_missing_file_is_a_json_404_and_a_folder_a_400(api) -> None:
    api.request("PUT", f"{FILES}/m/sub/a.txt", content=b"a")
    missing = api.get(f"{FILES}/m/nothing.txt")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    folder = api.get(f"{FILES}/m/sub")
    assert folder.status_code == 400
    assert folder.json()["error_code"] == "INVALID_PARAMETER_VALUE"
