"""Model-version sources: parse once into a canonical form, decide, and use only that form.

MLflow's registry let clients register any string as a version's ``source`` and later served
files from it (CVE-2023-1177, -1176, -6977, -6909, 2024-1483, -1558, -1593, -2928, -3573, 2026-2614):
each fix validated the string one way and used a differently parsed version of it. Here a source is
refused outright when it carries anything that parses two ways -- percent-encoding, backslashes,
control characters, a query, a fragment, ``;params``, ``.``/``..``/empty path segments -- and what
remains is one of:

- ``runs:/<run_id>/<path>``                            -> kind ``run``
- ``models:/m-<id>``                                   -> kind ``logged_model``
- ``models:/<name>/<version|stage|latest>``, ``models:/<name>@<alias>`` -> kind ``registry``
- a local path or ``file:`` URI                        -> kind ``local``
- any other URI (``mlflow-artifacts:/...``, ``s3://...``) -> kind ``uri``

The SQL store then accepts ``local`` and ``uri`` sources only inside the artifact location of the
run / logged model given as ``run_id`` / ``model_id`` (see ``within``); no tag or flag changes that.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelyard.exceptions import InvalidParameterValue
from modelyard.store.registry.checks import MAX_SOURCE_LENGTH

_RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")
_LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*")


@dataclass(frozen=True, slots=True)
class Source:
    kind: str  # run | logged_model | registry | local | uri
    text: str  # the source as given (already checked)
    run_id: str | None = None  # kind run
    path: str = ""  # kind run: the path below the run's artifacts; registry: unused
    model_id: str | None = None  # kind logged_model
    name: str | None = None  # kind registry
    selector: str | None = None  # kind registry: a version number, a stage, "latest", or "@alias"


def _refuse(source: str, why: str) -> InvalidParameterValue:
    shown = source if len(source) <= 200 else source[:200] + "..."
    return InvalidParameterValue(
        f"Invalid model version source '{shown}': {why}. A source must be a runs:/ or models:/ URI, "
        "or a location inside the artifacts of the run_id / model_id given with it."
    )


def _segments(source: str, path: str, *, leading_slash_ok: bool = True) -> list[str]:
    body = path[1:] if leading_slash_ok and path.startswith("/") else path
    parts = body.split("/") if body else []
    if body.endswith("/"):
        parts = parts[:-1]
    if any(p in ("", ".", "..") for p in parts):
        raise _refuse(source, "'.', '..' and empty path segments are not allowed")
    return parts


def parse(source: object) -> Source:
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameterValue("Missing value for required parameter 'source'.")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _refuse(source[:200], f"longer than {MAX_SOURCE_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in source) or "\\" in source:
        raise _refuse(source, "control characters and backslashes are not allowed")
    if "%" in source:
        raise _refuse(source, "percent-encoded characters are not allowed")
    if any(c in source for c in "?#;"):
        raise _refuse(source, "a query, fragment or ;params is not allowed")
    scheme = source.split(":", 1)[0] if ":" in source else ""
    if not _SCHEME.fullmatch(scheme) or len(scheme) == 1:  # no scheme, or a Windows drive letter
        return _local(source, source)
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _refuse(source, "file: URIs must not name a host")
        return _local(source, parts.path)
    if scheme == "runs":
        return _runs(source, parts.netloc, parts.path)
    if scheme == "models":
        return _models(source, parts.netloc, parts.path)
    if parts.netloc.count("@"):
        raise _refuse(source, "credentials in URIs are not allowed")
    _segments(source, parts.path)
    return Source("uri", source)


def _local(source: str, path: str) -> Source:
    if path.startswith("//"):
        raise _refuse(source, "paths starting with '//' are not allowed")
    _segments(source, path)
    return Source("local", source, path=path)


def _runs(source: str, netloc: str, path: str) -> Source:
    if netloc:
        raise _refuse(source, "runs:/ URIs are runs:/<run_id>/<path> (no host)")
    parts = _segments(source, path)
    if not parts or not _RUN_ID.fullmatch(parts[0]):
        raise _refuse(source, "runs:/ URIs start with a run id")
    return Source("run", source, run_id=parts[0], path="/".join(parts[1:]))


def _models(source: str, netloc: str, path: str) -> Source:
    if netloc:
        raise _refuse(source, "models:/ URIs name no host")
    parts = _segments(source, path)
    if len(parts) == 1 and _LOGGED_MODEL_ID.fullmatch(parts[0]):
        return Source("logged_model", source, model_id=parts[0])
    if len(parts) == 1 and "@" in parts[0]:
        name, alias = parts[0].rsplit("@", 1)
        if name and alias:
            return Source("registry", source, name=name, selector="@" + alias)
    if len(parts) == 2:
        return Source("registry", source, name=parts[0], selector=parts[1])
    raise _refuse(source, "models:/ URIs are models:/m-<id>, models:/<name>/<version> or models:/<name>@<alias>")


def within(source: Source, root: str) -> bool:
    """Whether ``source`` (kind local or uri) lies inside the artifact location ``root``.

    Local paths compare after resolving symlinks; URIs compare scheme, host and whole path
    segments (``s3://b/run1`` does not contain ``s3://b/run10``).
    """
    if not root:
        return False
    root_parts = urlsplit(root)
    root_scheme = root_parts.scheme.lower() if len(root_parts.scheme) > 1 else ""
    if source.kind == "local":
        if root_scheme not in ("", "file"):
            return False
        root_path = root_parts.path if root_scheme == "file" else root
        real_root = os.path.realpath(root_path)
        real = os.path.realpath(source.path)
        try:
            return os.path.commonpath([real_root, real]) == real_root
        except ValueError:  # different drives
            return False
    if source.kind != "uri":
        return False
    parts = urlsplit(source.text)
    if (parts.scheme.lower(), parts.netloc) != (root_scheme, root_parts.netloc):
        return False
    base = [p for p in root_parts.path.split("/") if p]
    mine = [p for p in parts.path.split("/") if p]
    return mine[: len(base)] == base
