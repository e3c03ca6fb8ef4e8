"""LocalArtifactRepository remembers the folders it has proved inside the root (one ``lstat`` per
write instead of resolving every component): what it remembers must never let a write escape."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelyard.artifacts import local as local_module
from modelyard.artifacts.base import TEMP_PREFIX
from modelyard.artifacts.local import LocalArtifactRepository
from modelyard.exceptions import InvalidParameterValue


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(str(root))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    return out


def test_files_of_one_folder_prove_it_once(repo: LocalArtifactRepository, root: Path, monkeypatch) -> None:
    resolved: list[str] = []
    real = local_module.join_under_root

    def counting(base, rel):
        resolved.append(rel)
        return real(base, rel)

    monkeypatch.setattr(local_module, "join_under_root", counting)
    repo.write_bytes("1/run/artifacts/small/f0.bin", bytes([0]) * 10)
    first = len(resolved)  # created, then resolved again now that it exists
    assert set(resolved) == {"1/run/artifacts/small"}
    for i in range(1, 50):
        repo.write_bytes(f"1/run/artifacts/small/f{i}.bin", bytes([i]) * 10)
    assert len(resolved) == first
    assert sorted(p.name for p in (root / "1/run/artifacts/small").iterdir()) == sorted(
        f"f{i}.bin" for i in range(50)
    )
    assert (root / "1/run/artifacts/small/f7.bin").read_bytes() == bytes([7]) * 10


def test_a_folder_swapped_for_a_link_out_of_the_root_is_refused(
    repo: LocalArtifactRepository, root: Path, outside: Path
) -> None:
    repo.write_bytes("a/b/one.txt", b"1")
    shutil.rmtree(root / "a" / "b")
    (root / "a" / "b").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        repo.write_bytes("a/b/two.txt", b"2")
    assert list(outside.iterdir()) == []


def test_a_parent_swapped_for_a_link_out_of_the_root_is_refused(
    repo: LocalArtifactRepository, root: Path, outside: Path
) -> None:
    repo.write_bytes("a/b/one.txt", b"1")
    (outside / "b").mkdir()
    shutil.rmtree(root / "a")
    (root / "a").symlink_to(outside, target_is_directory=True)  # a/b now names outside/b
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        repo.write_bytes("a/b/two.txt", b"2")
    assert list((outside / "b").iterdir()) == []


def test_a_deleted_or_recreated_folder_is_written_again(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("a/b/one.txt", b"1")
    repo.delete_artifacts("a")
    repo.write_bytes("a/b/two.txt", b"2")
    assert (root / "a/b/two.txt").read_bytes() == b"2"
    shutil.rmtree(root / "a" / "b")
    (root / "a" / "b").mkdir()  # another directory under the same name
    repo.write_bytes("a/b/three.txt", b"3")
    assert sorted(p.name for p in (root / "a/b").iterdir()) == ["three.txt"]


def test_a_folder_swapped_for_a_file_is_refused(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("a/b/one.txt", b"1")
    shutil.rmtree(root / "a" / "b")
    (root / "a" / "b").write_bytes(b"a file now")
    with pytest.raises(InvalidParameterValue, match="a file is in the way"):
        repo.write_bytes("a/b/two.txt", b"2")
    assert (root / "a" / "b").read_bytes() == b"a file now"


def test_a_name_that_became_a_folder_or_a_link_out_is_refused(
    repo: LocalArtifactRepository, root: Path, outside: Path
) -> None:
    repo.write_bytes("a/x.txt", b"1")
    (root / "a" / "dir").mkdir()
    with pytest.raises(InvalidParameterValue, match="a folder of that name exists"):
        repo.write_bytes("a/dir", b"2")
    (outside / "target.txt").write_bytes(b"secret")
    (root / "a" / "link.txt").symlink_to(outside / "target.txt")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        repo.write_bytes("a/link.txt", b"clobber")
    assert (outside / "target.txt").read_bytes() == b"secret"
    assert not [p for p in (root / "a").iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_link_to_a_folder_inside_the_root_still_works(repo: LocalArtifactRepository, root: Path) -> None:
    repo.write_bytes("real/one.txt", b"1")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    for i in range(3):
        repo.write_bytes(f"alias/n{i}.txt", b"x")
    assert sorted(p.name for p in (root / "real").iterdir()) == ["n0.txt", "n1.txt", "n2.txt", "one.txt"]


def test_bytes_of_every_buffer_kind_are_written_whole(repo: LocalArtifactRepository, root: Path) -> None:
    import array

    numbers = array.array("i", range(1000))  # a memoryview whose items are 4 bytes
    repo.write_bytes("b/view.bin", memoryview(numbers))
    repo.write_bytes("b/array.bin", bytearray(b"xyz" * 1000))
    repo.write_bytes("b/empty.bin", b"")
    assert (root / "b/view.bin").read_bytes() == numbers.tobytes()
    assert (root / "b/array.bin").read_bytes() == b"xyz" * 1000
    assert (root / "b/empty.bin").read_bytes() == b""
