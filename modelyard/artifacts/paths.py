"""Artifact paths: canonicalise once, refuse anything that could leave the artifact root.

An artifact path is a relative POSIX path below a repository's root ("" is the root).
:func:`validate_artifact_path` is the single gate every repository method passes its
path arguments through; :func:`join_under_root` is the second, filesystem-level check
for local storage (it follows symlinks, which no string check can see).

What is refused, and why (see ``/work/shared/reference/security.md``, requirement 1):

* ``..`` segments anywhere, even when they would normalise back inside the root;
  segments made only of dots and spaces (Windows strips trailing dots and spaces,
  so ``".. "`` is ``..`` there).
* Absolute paths: ``/x``, ``//server/share``, drive letters (``C:``, ``C:\\x``) in any
  segment, UNC paths (``\\\\server``).
* URIs: a first segment that is a scheme (``file:``, ``s3:``, ``mlflow-artifacts:`` -- so
  ``file:///etc``, ``s3://bucket/x``, ``mlflow-artifacts:/1/x``), or ``://`` anywhere; a client
  names a place inside the root, never another store. (A file name with a colon, such as
  ``epoch:3.ckpt``, is still a plain name.)
* Backslashes, control characters (NUL, newlines, C1 controls), ``?`` and ``#``
  (a path that later becomes part of a URL must not grow a query or fragment).
* Percent-encoded forms of all of the above, at any depth of encoding: each segment
  is decoded repeatedly until it is stable and every decoded form is checked again.
  Encoded separators (``%2f``, ``%5c``) and encoded dot segments (``%2e``,
  ``%2e%2e``) are refused outright, because a layer that decodes once more would see
  a different path than the one validated (CVE-2024-1560). The NFKC form is checked
  too, so fullwidth ``．．`` or ``／`` cannot turn into traversal after normalisation.

The returned path keeps each segment exactly as given (nothing is decoded); only
empty and ``.`` segments are dropped, so ``"a//b"`` and ``"./a/"`` become ``"a/b"``
and ``"a"``.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelyard.exceptions import InvalidParameterValue

MAX_ARTIFACT_PATH_LENGTH = 4096
"""Longest accepted artifact path, in characters (bounds work and recursion depth)."""

_MAX_DECODE_ROUNDS = 4
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # a whole first segment: "file:", "s3:"
_FORBIDDEN_CHARS = frozenset("\\?#")


def _shown(path: str) -> str:
    """The path as quoted in error messages (repr, so control characters are visible)."""
    return repr(path if len(path) <= 200 else path[:200] + "...")


def _refuse(path: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid artifact path {_shown(path)}: {reason}")


def _has_control_char(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


class _Refused(Exception):
    """A segment's reason for refusal, before the path it belongs to is named."""


def _decoded_forms(segment: str) -> list[str]:
    """The segment, then each successive percent-decoding of it, then NFKC forms."""
    forms = [segment]
    current = segment
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    else:
        if unquote(current) != current:
            raise _Refused("too many levels of percent-encoding")
    forms.extend(
        nfkc for nfkc in (unicodedata.normalize("NFKC", f) for f in list(forms)) if nfkc not in forms
    )
    return forms


def _check_segment(segment: str, first: bool) -> None:
    """Raise _Refused unless the segment, and every decoding of it, is a plain file or folder name
    (``first``: the path's first segment, which may not be a URI scheme either)."""
    forms = _decoded_forms(segment)
    for index, form in enumerate(forms):
        encoded = index > 0
        if _has_control_char(form):
            raise _Refused("control characters are not allowed")
        if "/" in form:  # only reachable through decoding: raw segments come from split("/")
            raise _Refused("encoded '/' separators are not allowed")
        if "\\" in form:
            raise _Refused("backslashes are not allowed; use '/' as the separator")
        if form and not form.rstrip(". "):
            if form == "." and not encoded:
                continue
            raise _Refused("'..' segments (or names made only of dots and spaces) are not allowed")
        if _FORBIDDEN_CHARS.intersection(form):
            raise _Refused("'?' and '#' are not allowed in artifact paths")
        if _DRIVE_RE.match(form):
            raise _Refused("drive letters (absolute Windows paths) are not allowed")
    if first and any(_SCHEME_RE.fullmatch(form) for form in forms):
        raise _Refused("URIs are not allowed: give a path relative to the artifact root")


def _segment_problem(segment: str, first: bool) -> str | None:
    """Why ``segment`` is refused, or None."""
    try:
        _check_segment(segment, first)
    except _Refused as exc:
        return str(exc)
    return None


# A pure function, so remembered: the folders of a path (experiment, run, ``artifacts``, ...) recur in
# every path below them, and one request validates the same path several times on its way to the
# disk. Only names up to MAX_CACHED_SEGMENT characters are kept (at most about 2 MB remembered).
MAX_CACHED_SEGMENT = 255
_cached_segment_problem = functools.lru_cache(maxsize=8192)(_segment_problem)


def validate_artifact_path(path: str | os.PathLike[str] | None) -> str:
    """Return ``path`` as a normalised relative POSIX path ("" for the root).

    Raises InvalidParameterValue (naming the path) for anything that could address a
    location outside the root; see the module docstring for the full list.
    """
    if path is None:
        return ""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise InvalidParameterValue(
            f"Invalid artifact path {path!r}: expected a string, got {type(path).__name__}"
        )
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise _refuse(path, f"longer than {MAX_ARTIFACT_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise _refuse(path, "absolute paths are not allowed")
    segments: list[str] = []
    for index, segment in enumerate(path.split("/")):
        check = _cached_segment_problem if len(segment) <= MAX_CACHED_SEGMENT else _segment_problem
        problem = check(segment, index == 0)
        if problem is not None:
            raise _refuse(path, problem)
        if segment not in ("", "."):
            segments.append(segment)
    if "://" in path:
        raise _refuse(path, "URIs are not allowed: give a path relative to the artifact root")
    return "/".join(segments)


def join_under_root(root: str | os.PathLike[str], rel: str) -> Path:
    """Join a validated artifact path to ``root`` and prove the result stays inside it.

    The root is resolved (symlinks and all); the joined path is resolved as far as it
    exists, so a symlink inside the root that points elsewhere is caught. Returns the
    joined path below the *resolved* root without resolving its own symlinks, so that
    deleting or replacing a symlink acts on the link, not on its target.
    """
    rel = validate_artifact_path(rel)
    try:
        real_root = Path(root).resolve()
        candidate = real_root.joinpath(*rel.split("/")) if rel else real_root
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops: RuntimeError up to 3.12
        raise _refuse(rel, f"cannot be resolved ({exc.__class__.__name__})") from exc
    if resolved != real_root and not resolved.is_relative_to(real_root):
        raise _refuse(rel, "resolves outside the artifact root")
    return candidate


_FILE_SCHEME_RE = re.compile(r"^file:", re.IGNORECASE)
_WINDOWS_DRIVE_PATH_RE = re.compile(r"^/[A-Za-z]:")


def local_path_from_uri(uri: str) -> Path:
    """The folder a local artifact URI names, made absolute against the current directory.

    Accepts plain paths (``/abs``, ``rel/dir``, ``C:\\x``) and ``file:`` URIs:
    ``file:///abs``, ``file://localhost/abs``, ``file:/abs`` and ``file:rel``. A
    ``file:`` URI is percent-decoded once (``file:///my%20dir`` is ``/my dir``); one
    with a query, a fragment or a host other than ``localhost`` is refused.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid local artifact location {uri!r}: a path is required")
    if "\x00" in uri:
        raise InvalidParameterValue(
            f"Invalid local artifact location {uri!r}: NUL characters are not allowed"
        )
    if not _FILE_SCHEME_RE.match(uri):
        return Path(uri).absolute()
    parts = urlsplit(uri)
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise InvalidParameterValue(
            f"Invalid local artifact location {uri!r}: file URIs may not have a query or a fragment"
        )
    if parts.netloc not in ("", "localhost"):
        raise InvalidParameterValue(
            f"Invalid local artifact location {uri!r}: file URIs on another host are not supported"
        )
    path = unquote(parts.path)
    if not path or "\x00" in path:
        raise InvalidParameterValue(f"Invalid local artifact location {uri!r}: the URI names no path")
    if _WINDOWS_DRIVE_PATH_RE.match(path) and os.name == "nt":
        path = path[1:]  # file:///C:/x -> C:/x
    return Path(path).absolute()
