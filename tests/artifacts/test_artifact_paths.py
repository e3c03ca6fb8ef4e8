"""validate_artifact_path and join_under_root: every traversal form is refused."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.artifacts.paths import MAX_ARTIFACT_PATH_LENGTH, join_under_root, validate_artifact_path
from modelyard.exceptions import InvalidParameterValue

ACCEPTED = [
    (None, ""),
    ("", ""),
    (".", ""),
    ("./", ""),
    ("a", "a"),
    ("a/b.txt", "a/b.txt"),
    ("a//b", "a/b"),
    ("./a", "a"),
    ("a/./b/", "a/b"),
    ("a/b/", "a/b"),
    (".hidden/.env", ".hidden/.env"),
    ("a..b/c..", "a..b/c.."),
    ("model.pkl", "model.pkl"),
    ("50%25 done.txt", "50%25 done.txt"),  # kept as given: nothing is decoded
    ("%zz/%", "%zz/%"),
    ("ünïcödé/日本語.txt", "ünïcödé/日本語.txt"),
    ("2024-01-01T10:00:00.json", "2024-01-01T10:00:00.json"),
    ("with space/and-dash_underscore", "with space/and-dash_underscore"),
    (PurePosixPath("a/b"), "a/b"),
]

REFUSED = [
    # .. segments, anywhere
    "..",
    "../x",
    "a/..",
    "a/../b",
    "a/b/../../..",
    "../../../../etc/passwd",
    "...",
    ".. ",
    ". .",
    # absolute paths
    "/x",
    "/etc/passwd",
    "//server/share",
    "C:",
    "C:x",
    "c:/windows",
    "C:\\x",
    "a/C:evil",
    # backslashes / UNC
    "\\\\server\\share",
    "a\\b",
    "..\\x",
    "\\..\\filename",
    # control characters
    "a\x00b",
    "a\x00",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x7fb",
    "a\x85b",
    # query / fragment
    "a?b",
    "a#b",
    "x/#/../../etc",
    # percent-encoded forms
    "%2e%2e",
    "%2E%2E",
    "%2e%2e/x",
    "a/%2e%2e/b",
    ".%2e",
    "%2e.",
    "%2e",
    "a%2fb",
    "%2fetc%2fpasswd",
    "%2F",
    "%5c",
    "a%5cb",
    "..%2f..%2fetc",
    "%00",
    "a%0a",
    "%3f",
    "%23",
    "C%3a",
    "C%3a%5cx",
    # double and deeper encodings
    "%252e%252e",
    "%252e%252e%252f",
    "%25252e%25252e",
    "%2525252e%2525252e",
    "a%252fb",
    "%255c",
    "%2500",
    "%252525252e",  # too many levels
    # fullwidth forms that NFKC-normalise into traversal
    "．．",
    "a／b",
    "a＼b",
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_paths_are_normalised(raw: str | None, expected: str) -> None:
    assert validate_artifact_path(raw) == expected


@pytest.mark.parametrize("raw", REFUSED)
def test_refused_paths_name_the_path(raw: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        validate_artifact_path(raw)
    assert repr(raw) in info.value.message
    assert info.value.http_status == 400


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="expected a string"):
        validate_artifact_path(b"a/b")  # type: ignore[arg-type]


def test_overlong_path_is_refused_and_message_is_truncated() -> None:
    raw = "a/" * MAX_ARTIFACT_PATH_LENGTH
    with pytest.raises(InvalidParameterValue, match="longer than") as info:
        validate_artifact_path(raw)
    assert len(info.value.message) < 400


def test_validation_is_idempotent_on_accepted_paths() -> None:
    for raw, expected in ACCEPTED:
        assert validate_artifact_path(expected) == expected, raw


_DANGEROUS = st.text(alphabet="./\\%2e5cf0aC:?#\x00 ．", max_size=24)


def _check_safe(raw: str) -> None:
    try:
        out = validate_artifact_path(raw)
    except InvalidParameterValue:
        return
    assert validate_artifact_path(out) == out
    assert not out.startswith("/") and "\\" not in out and "\x00" not in out
    assert ".." not in out.split("/")
    assert posixpath.normpath(posixpath.join("/root", out)).startswith("/root")


@given(_DANGEROUS)
def test_property_dangerous_alphabet_never_escapes(raw: str) -> None:
    _check_safe(raw)


@given(st.text(max_size=40))
def test_property_any_text_raises_only_invalid_parameter(raw: str) -> None:
    _check_safe(raw)


# -- join_under_root ---------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return r


def test_join_plain_paths(root: Path) -> None:
    assert join_under_root(root, "") == root.resolve()
    assert join_under_root(root, "a/b.txt") == root.resolve() / "a" / "b.txt"
    assert join_under_root(str(root), "a//b") == root.resolve() / "a" / "b"


def test_join_revalidates_the_relative_path(root: Path) -> None:
    with pytest.raises(InvalidParameterValue):
        join_under_root(root, "../outside/secret.txt")


def test_join_refuses_symlinked_folder_leading_out(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside", root / "link")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        join_under_root(root, "link/secret.txt")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        join_under_root(root, "link/not-yet-created.txt")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        join_under_root(root, "link")


def test_join_refuses_symlinked_file_leading_out(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside" / "secret.txt", root / "innocent.txt")
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        join_under_root(root, "innocent.txt")


def test_join_refuses_relative_symlink_climbing_out(root: Path) -> None:
    (root / "sub").mkdir()
    os.symlink("../../outside", root / "sub" / "up")
    with pytest.raises(InvalidParameterValue):
        join_under_root(root, "sub/up/secret.txt")


def test_join_allows_symlinks_that_stay_inside(root: Path) -> None:
    (root / "real").mkdir()
    os.symlink(root / "real", root / "alias")
    path = join_under_root(root, "alias/x.txt")
    assert path == root.resolve() / "alias" / "x.txt"  # the link itself, not its target


def test_join_refuses_symlink_loops(root: Path) -> None:
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    with pytest.raises(InvalidParameterValue):
        join_under_root(root, "loop_a/x")


def test_join_accepts_a_root_that_is_itself_a_symlink(tmp_path: Path, root: Path) -> None:
    os.symlink(root, tmp_path / "root-link")
    assert join_under_root(tmp_path / "root-link", "a") == root.resolve() / "a"


def test_join_root_need_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "there"
    assert join_under_root(missing, "a/b") == missing.resolve() / "a" / "b"


@pytest.mark.parametrize("name", ["x", "y" * 300])  # short names are remembered, long ones checked anew
def test_a_remembered_check_answers_as_the_first(name: str) -> None:
    for _ in range(2):
        assert validate_artifact_path(f"{name}/ok.txt") == f"{name}/ok.txt"
        with pytest.raises(InvalidParameterValue, match="encoded '/' separators"):
            validate_artifact_path(f"{name}%2fz/ok.txt")
        with pytest.raises(InvalidParameterValue, match="URIs are not allowed"):
            validate_artifact_path("file:/" + name)
        assert validate_artifact_path("a/file:") == "a/file:"  # a colon name is only refused first
