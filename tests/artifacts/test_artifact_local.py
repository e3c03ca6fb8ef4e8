"""LocalArtifactRepository: round trips, listings, downloads, atomic writes, and containment."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from modelyard.artifacts import get_artifact_repository, uri_scheme
from modelyard.artifacts.base import TEMP_PREFIX
from modelyard.artifacts.local import LocalArtifactRepository, local_path_from_uri
from modelyard.entities.common import FileInfo
from modelyard.exceptions import InvalidParameterValue, PayloadTooLarge, ResourceDoesNotExist

BINARY = bytes(range(256)) * 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store" / "artifacts"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(root))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the store holding a secret an attacker would like to read or clobber."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("secret")
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A local folder to upload: nested files, an empty folder, unicode names, binary data."""
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(BINARY)
    (src / "sub" / "deeper" / "c.txt").write_text("gamma")
    (src / "données é.txt").write_text("unicode", encoding="utf-8")
    return src


def snapshot(top: Path, exclude: Path) -> dict[str, bytes | None]:
    """Every path below ``top`` except ``exclude``, with file contents."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == exclude or exclude in Path(dirpath).parents:
            continue
        for name in dirnames:
            out[os.path.join(dirpath, name)] = None
        for name in filenames:
            p = os.path.join(dirpath, name)
            out[p] = Path(p).read_bytes() if not os.path.islink(p) else None
    return out


# -- writing and reading -----------------------------------------------------------


def test_write_and_read_bytes_round_trip(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("x/y/data.bin", BINARY)
    assert repo.read_bytes("x/y/data.bin") == BINARY
    assert (root / "x" / "y" / "data.bin").read_bytes() == BINARY
    repo.write_bytes("empty.bin", b"")
    assert repo.read_bytes("empty.bin") == b""
    repo.write_bytes("view.bin", memoryview(b"abc"))
    assert repo.read_bytes("view.bin") == b"abc"


def test_write_bytes_replaces_existing_content(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("f.txt", b"old and longer")
    repo.write_bytes("f.txt", b"new")
    assert repo.read_bytes("f.txt") == b"new"


def test_write_bytes_refuses_text_and_the_root(repo: LocalArtifactRepository) -> None:
    with pytest.raises(TypeError, match="bytes"):
        repo.write_bytes("t.txt", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValue, match="file name is required"):
        repo.write_bytes("", b"x")
    with pytest.raises(InvalidParameterValue, match="file name is required"):
        repo.write_bytes("./", b"x")


def test_write_onto_a_folder_or_below_a_file_is_refused(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("d/f.txt", b"x")
    with pytest.raises(InvalidParameterValue, match="folder of that name"):
        repo.write_bytes("d", b"x")
    with pytest.raises(InvalidParameterValue, match="file is in the way"):
        repo.write_bytes("d/f.txt/g.txt", b"x")
    assert repo.read_bytes("d/f.txt") == b"x"


def test_large_binary_file_streams(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    local = tmp_path / "big.bin"
    local.write_bytes(big)
    repo.log_artifact(local, "models")
    with repo.open("models/big.bin") as f:
        chunks = iter(lambda: f.read(65536), b"")
        assert b"".join(chunks) == big


def test_written_files_follow_the_umask(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("perm.txt", b"x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (root / "perm.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_log_artifact_to_root_and_folder(repo: LocalArtifactRepository, tree: Path) -> None:
    repo.log_artifact(tree / "a.txt")
    repo.log_artifact(str(tree / "a.txt"), "nested/dir")
    assert repo.read_bytes("a.txt") == b"alpha"
    assert repo.read_bytes("nested/dir/a.txt") == b"alpha"


def test_log_artifact_errors(repo: LocalArtifactRepository, tree: Path) -> None:
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        repo.log_artifact(tree / "nope.txt")
    with pytest.raises(InvalidParameterValue, match="log_artifacts"):
        repo.log_artifact(tree / "sub")
    with pytest.raises(ResourceDoesNotExist):
        repo.log_artifacts(tree / "nope")


def test_log_artifacts_copies_tree_with_empty_folders(
    repo: LocalArtifactRepository, tree: Path, root: Path
) -> None:
    repo.log_artifacts(tree)
    assert repo.read_bytes("sub/b.bin") == BINARY
    assert repo.read_bytes("sub/deeper/c.txt") == b"gamma"
    assert repo.read_bytes("données é.txt") == b"unicode"
    assert (root / "empty").is_dir()
    repo.log_artifacts(tree, "copy")
    assert repo.read_bytes("copy/sub/b.bin") == BINARY
    assert (root / "copy" / "empty").is_dir()


def test_log_artifacts_of_empty_folder_creates_destination(
    repo: LocalArtifactRepository, tmp_path: Path, root: Path
) -> None:
    (tmp_path / "nothing").mkdir()
    repo.log_artifacts(tmp_path / "nothing", "e")
    assert (root / "e").is_dir()
    assert repo.list_artifacts() == [FileInfo("e", True)]


def test_log_artifacts_follows_symlinks_without_looping(repo: LocalArtifactRepository, tree: Path) -> None:
    os.symlink(tree, tree / "sub" / "loop")
    os.symlink(tree / "a.txt", tree / "a-link.txt")
    repo.log_artifacts(tree)
    assert repo.read_bytes("a-link.txt") == b"alpha"
    assert [f.path for f in repo.list_artifacts("sub")] == ["sub/b.bin", "sub/deeper"]


def test_log_artifacts_validates_every_name_before_writing(
    repo: LocalArtifactRepository, tree: Path, root: Path
) -> None:
    (tree / "zz").mkdir()
    (tree / "zz" / "back\\slash.txt").write_text("x")
    with pytest.raises(InvalidParameterValue, match="backslash"):
        repo.log_artifacts(tree)
    assert not root.exists()


# -- listing -----------------------------------------------------------------------


def test_list_root_subdir_and_missing(repo: LocalArtifactRepository, tree: Path) -> None:
    assert repo.list_artifacts() == []  # nothing logged: the root does not exist yet
    repo.log_artifacts(tree)
    assert repo.list_artifacts() == [
        FileInfo("a.txt", False, 5),
        FileInfo("données é.txt", False, len("unicode")),
        FileInfo("empty", True),
        FileInfo("sub", True),
    ]
    assert repo.list_artifacts("sub") == [
        FileInfo("sub/b.bin", False, len(BINARY)),
        FileInfo("sub/deeper", True),
    ]
    assert repo.list_artifacts("sub/") == repo.list_artifacts("./sub")
    assert repo.list_artifacts("empty") == []
    assert repo.list_artifacts("missing") == []
    assert repo.list_artifacts("a.txt") == []
    assert repo.list_artifacts("") == repo.list_artifacts(None)


def test_listing_hides_temp_files_and_special_files(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("keep.txt", b"k")
    (root / f"{TEMP_PREFIX}abc").write_bytes(b"partial")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
    assert repo.list_artifacts() == [FileInfo("keep.txt", False, 1)]


def test_to_dict_matches_mlflow_shape(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("d/f.txt", b"12")
    assert [f.to_dict() for f in repo.list_artifacts()] == [{"path": "d", "is_dir": True}]
    assert [f.to_dict() for f in repo.list_artifacts("d")] == [
        {"path": "d/f.txt", "is_dir": False, "file_size": 2}
    ]


# -- downloading -------------------------------------------------------------------


def test_download_file_keeps_relative_path(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("sub/b.bin", BINARY)
    dst = tmp_path / "dl"
    local = repo.download_artifacts("sub/b.bin", dst)
    assert local == str(dst / "sub" / "b.bin")
    assert Path(local).read_bytes() == BINARY


def test_download_folder_recursively(repo: LocalArtifactRepository, tree: Path, tmp_path: Path) -> None:
    repo.log_artifacts(tree, "run")
    local = Path(repo.download_artifacts("run", str(tmp_path / "dl")))
    assert local == tmp_path / "dl" / "run"
    assert snapshot(local, exclude=tmp_path / "none").keys() == {
        str(local / p)
        for p in ["a.txt", "données é.txt", "empty", "sub", "sub/b.bin", "sub/deeper", "sub/deeper/c.txt"]
    }
    assert (local / "sub" / "b.bin").read_bytes() == BINARY


def test_download_root_to_new_temp_folder(repo: LocalArtifactRepository, tree: Path) -> None:
    repo.log_artifacts(tree)
    local = Path(repo.download_artifacts())
    try:
        assert local.is_dir() and (local / "sub" / "deeper" / "c.txt").read_text() == "gamma"
    finally:
        shutil.rmtree(local)


def test_download_of_empty_root_gives_empty_folder(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    local = repo.download_artifacts("", tmp_path / "dl")
    assert os.listdir(local) == []


def test_download_missing_raises_and_cleans_temp(
    repo: LocalArtifactRepository, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(ResourceDoesNotExist, match="'nope/x.txt'"):
        repo.download_artifacts("nope/x.txt")
    assert os.listdir(tmp_path / "tmp") == []


def test_download_into_a_file_is_refused(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("a.txt", b"a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidParameterValue, match="not a folder"):
        repo.download_artifacts("a.txt", tmp_path / "file")


def test_download_is_a_copy(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    repo.write_bytes("a.txt", b"original")
    local = Path(repo.download_artifacts("a.txt", tmp_path / "dl"))
    local.write_bytes(b"mutated")
    assert repo.read_bytes("a.txt") == b"original"


# -- open / read / delete ----------------------------------------------------------


def test_read_missing_folder_and_root(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("d/f.txt", b"x")
    with pytest.raises(ResourceDoesNotExist, match="'nope.txt'") as info:
        repo.read_bytes("nope.txt")
    assert repo.artifact_uri not in info.value.message  # no server paths in answers
    with pytest.raises(ResourceDoesNotExist):
        repo.read_bytes("d/f.txt/below")
    with pytest.raises(InvalidParameterValue, match="is a folder"):
        repo.read_bytes("d")
    with pytest.raises(InvalidParameterValue):
        repo.open("")


def test_delete_file_folder_and_root(repo: LocalArtifactRepository, tree: Path, root: Path) -> None:
    repo.log_artifacts(tree)
    repo.delete_artifacts("a.txt")
    repo.delete_artifacts("sub")
    assert [f.path for f in repo.list_artifacts()] == ["données é.txt", "empty"]
    with pytest.raises(ResourceDoesNotExist):
        repo.delete_artifacts("sub")
    repo.delete_artifacts()
    assert not root.exists()
    repo.delete_artifacts()  # deleting a missing root is a no-op


# -- atomic writes -----------------------------------------------------------------


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_failed_copy_keeps_old_content_and_leaves_no_temp(
    repo: LocalArtifactRepository, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write_bytes("m/model.bin", b"old model")
    (tmp_path / "model.bin").write_bytes(b"new model" * 1000)

    def broken_copy(src, dst, length=0) -> None:
        dst.write(src.read(10))
        raise OSError("disk full")

    monkeypatch.setattr("shutil.copyfileobj", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        repo.log_artifact(tmp_path / "model.bin", "m")
    assert repo.read_bytes("m/model.bin") == b"old model"
    assert _temp_files(root) == []


def test_failed_rename_keeps_old_content(
    repo: LocalArtifactRepository, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write_bytes("f.txt", b"old")

    def broken_replace(src, dst) -> None:
        raise OSError("nope")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="nope"):
        repo.write_bytes("f.txt", b"new")
    assert (root / "f.txt").read_bytes() == b"old"
    assert _temp_files(root) == []


def test_no_partial_file_is_visible_during_a_write(
    repo: LocalArtifactRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write_bytes("f.bin", b"old")
    (tmp_path / "f.bin").write_bytes(b"N" * 100_000)
    seen: dict[str, object] = {}
    real_copy = shutil.copyfileobj

    def observing_copy(src, dst, length=0) -> None:
        dst.write(src.read(50_000))
        dst.flush()
        seen["content"] = repo.read_bytes("f.bin")
        seen["listing"] = repo.list_artifacts()
        real_copy(src, dst, length)

    monkeypatch.setattr("shutil.copyfileobj", observing_copy)
    repo.log_artifact(tmp_path / "f.bin")
    assert seen == {"content": b"old", "listing": [FileInfo("f.bin", False, 3)]}
    assert repo.read_bytes("f.bin") == b"N" * 100_000


def test_open_reader_keeps_old_content_across_a_replace(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("f.bin", b"A" * 10_000)
    with repo.open("f.bin") as f:
        head = f.read(10)
        repo.write_bytes("f.bin", b"B" * 10)
        assert head + f.read() == b"A" * 10_000
    assert repo.read_bytes("f.bin") == b"B" * 10


def test_concurrent_writers_never_mix_contents(repo: LocalArtifactRepository, root: Path) -> None:
    payloads = [bytes([65 + i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=repo.write_bytes, args=("same.bin", p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert repo.read_bytes("same.bin") in payloads
    assert _temp_files(root) == []


# -- traversal and containment -----------------------------------------------------

TRAVERSALS = [
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "a/../../../outside/secret.txt",
    "/etc/passwd",
    str(Path("/tmp/outside-abs")),
    "..\\outside\\secret.txt",
    "\\..\\secret.txt",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\x",
    "%2e%2e/outside/secret.txt",
    "..%2f..%2foutside%2fsecret.txt",
    "%252e%252e%252foutside",
    "%2e%2e%5coutside",
    "x\x00.txt",
    "x/#/../../etc",
]

OPERATIONS: dict[str, Callable[[LocalArtifactRepository, str, Path], object]] = {
    "write_bytes": lambda r, p, t: r.write_bytes(p, b"pwned"),
    "log_artifact": lambda r, p, t: r.log_artifact(t / "a.txt", p),
    "log_artifacts": lambda r, p, t: r.log_artifacts(t, p),
    "list_artifacts": lambda r, p, t: r.list_artifacts(p),
    "download_artifacts": lambda r, p, t: r.download_artifacts(p, t.parent / "dl"),
    "read_bytes": lambda r, p, t: r.read_bytes(p),
    "write_files": lambda r, p, t: r.write_files([(p, b"pwned"), ("later.txt", b"x")]),
    "read_files": lambda r, p, t: r.read_files([p]),
    "open": lambda r, p, t: r.open(p),
    "delete_artifacts": lambda r, p, t: r.delete_artifacts(p),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_and_nothing_outside_changes(
    repo: LocalArtifactRepository,
    root: Path,
    tree: Path,
    outside: Path,
    tmp_path: Path,
    operation: str,
    path: str,
) -> None:
    repo.write_bytes("inside.txt", b"in")
    before = snapshot(tmp_path, exclude=root)
    with pytest.raises(InvalidParameterValue):
        OPERATIONS[operation](repo, path, tree)
    assert snapshot(tmp_path, exclude=root) == before
    assert (outside / "secret.txt").read_text() == "secret"
    assert repo.list_artifacts() == [FileInfo("inside.txt", False, 2)]


@pytest.fixture
def escaping_links(repo: LocalArtifactRepository, root: Path, outside: Path) -> None:
    repo.write_bytes("ok.txt", b"ok")
    os.symlink(outside, root / "dirlink")
    os.symlink(outside / "secret.txt", root / "filelink.txt")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", ["dirlink", "dirlink/secret.txt", "dirlink/new.txt", "filelink.txt"])
@pytest.mark.usefixtures("escaping_links")
def test_symlink_escape_is_refused(
    repo: LocalArtifactRepository, tree: Path, outside: Path, tmp_path: Path, operation: str, path: str
) -> None:
    before = snapshot(outside, exclude=tmp_path / "none")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        OPERATIONS[operation](repo, path, tree)
    assert snapshot(outside, exclude=tmp_path / "none") == before


@pytest.mark.usefixtures("escaping_links")
def test_listing_and_download_skip_escaping_links(
    repo: LocalArtifactRepository, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelyard.artifacts.local"):
        assert repo.list_artifacts() == [FileInfo("ok.txt", False, 2)]
    assert "outside the artifact root" in caplog.text
    local = Path(repo.download_artifacts("", tmp_path / "dl"))
    assert sorted(os.listdir(local)) == ["ok.txt"]


def test_symlinks_inside_the_root_work(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("real/f.txt", b"f")
    os.symlink(root / "real", root / "alias")
    assert repo.read_bytes("alias/f.txt") == b"f"
    assert FileInfo("alias", True) in repo.list_artifacts()
    repo.delete_artifacts("alias")  # removes the link, not the target
    assert repo.read_bytes("real/f.txt") == b"f"


# -- root URIs and scheme dispatch -------------------------------------------------


def test_file_uris_name_the_same_folder(root: Path) -> None:
    root.mkdir(parents=True)
    for uri in [str(root), root.as_uri(), f"file://{root}", f"file://localhost{root}", f"file:{root}"]:
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.artifact_uri == uri
        assert repo.root == root
        repo.write_bytes("probe.txt", uri.encode())
        assert (root / "probe.txt").read_bytes() == uri.encode()


def test_file_uri_is_percent_decoded_once(tmp_path: Path) -> None:
    target = tmp_path / "my dir %41"
    repo = LocalArtifactRepository((tmp_path / "my dir %41").as_uri())
    assert repo.root == target
    repo.write_bytes("x", b"1")
    assert (target / "x").read_bytes() == b"1"


def test_relative_roots_resolve_against_cwd_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalArtifactRepository("rel/arts").root == tmp_path / "rel" / "arts"
    assert LocalArtifactRepository("file:rel/arts").root == tmp_path / "rel" / "arts"
    repo = get_artifact_repository("./mlruns")
    monkeypatch.chdir(tmp_path / "..")
    repo.write_bytes("a.txt", b"a")
    assert (tmp_path / "mlruns" / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "file://",
        "file:",
        "file:///tmp?x=/../../etc",
        "file:///tmp#/../../etc",
        "file://evil.example/x",
        "a\x00b",
    ],
)
def test_bad_local_roots_are_refused(uri: str) -> None:
    with pytest.raises(InvalidParameterValue):
        local_path_from_uri(uri)


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("/abs/path", ""),
        ("rel/path", ""),
        ("C:\\models\\x", ""),
        ("c:/models", ""),
        ("file:///x", "file"),
        ("FILE:///x", "file"),
        ("s3://bucket/key", "s3"),
        ("mlflow-artifacts://host/x", "mlflow-artifacts"),
        ("http+unix://x", "http+unix"),
    ],
)
def test_uri_scheme(uri: str, scheme: str) -> None:
    assert uri_scheme(uri) == scheme


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(
        InvalidParameterValue, match="No artifact repository for URI scheme 'nosuchscheme'.*file"
    ):
        get_artifact_repository("nosuchscheme://x/y")
    with pytest.raises(InvalidParameterValue):
        get_artifact_repository("")


def test_uppercase_file_scheme_resolves(tmp_path: Path) -> None:
    repo = get_artifact_repository("FILE://" + str(tmp_path))
    assert isinstance(repo, LocalArtifactRepository) and repo.root == tmp_path


def test_package_import_is_light() -> None:
    code = (
        "import sys, modelyard.artifacts as a; "
        "heavy = [m for m in ('modelyard.artifacts.local', 'modelyard.artifacts.base', 'modelyard.artifacts.paths') "
        "if m in sys.modules]; print(heavy)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_names_on_disk_that_cannot_be_addressed_are_skipped(
    repo: LocalArtifactRepository, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo.write_bytes("fine.txt", b"1")
    (root / "what?.txt").write_bytes(b"2")
    (root / "back\\slash").write_bytes(b"3")
    with caplog.at_level(logging.WARNING, logger="modelyard.artifacts.local"):
        assert repo.list_artifacts() == [FileInfo("fine.txt", False, 1)]
    assert "what?.txt" in caplog.text


# -- the protocol's shared logic, seen through a store that lies ---------------------


class LyingRepository(LocalArtifactRepository):
    """A store whose listing answers a path outside the folder asked for (as a hostile server could)."""

    def _list(self, rel: str) -> list[FileInfo]:
        return [
            *super()._list(rel),
            FileInfo(f"{rel}/../../escape.txt" if rel else "../escape.txt", False, 1),
        ]


@pytest.mark.parametrize("folder", ["", "sub"])
def test_download_refuses_listed_paths_outside_the_folder(tmp_path: Path, folder: str) -> None:
    repo = LyingRepository(str(tmp_path / "store"))
    repo.write_bytes("sub/a.txt", b"a")
    with pytest.raises(InvalidParameterValue):
        repo.download_artifacts(folder, tmp_path / "dl" / "x")
    assert not (tmp_path / "dl" / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_write_files_and_read_files_match_one_file_at_a_time(repo: LocalArtifactRepository, root: Path) -> None:
    files = [(f"batch/sub{i % 3}/f{i}.bin", bytes([i]) * i) for i in range(20)] + [("top.txt", b"t")]
    repo.write_files(files)
    assert repo.read_files([p for p, _ in files]) == [data for _, data in files]
    assert [repo.read_bytes(p) for p, _ in files] == [data for _, data in files]
    os.symlink(root / "top.txt", root / "batch" / "inner-link")  # a link inside the root: followed
    repo.write_files([("batch/sub0/f0.bin", b"new"), ("batch/inner-link", b"through")])
    assert repo.read_files(["batch/sub0/f0.bin", "batch/inner-link"]) == [b"new", b"through"]
    with pytest.raises(InvalidParameterValue, match="folder"):
        repo.write_files([("batch/sub1", b"a folder is in the way")])
    with pytest.raises(ResourceDoesNotExist):
        repo.read_files(["batch/missing.bin"])
    with pytest.raises(PayloadTooLarge):
        repo.read_files([p for p, _ in files], limit=100)
