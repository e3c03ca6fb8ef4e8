"""Artifact repositories: protocol (base.py) and implementations, resolved by URI scheme (plugins.py).

Importing this package is cheap: the implementation for a scheme is imported only
when :func:`get_artifact_repository` is first asked for it.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelyard.exceptions import InvalidParameterValue

if TYPE_CHECKING:
    from modelyard.artifacts.base import ArtifactRepository
    from modelyard.settings import Settings

__all__ = ["client_defaults", "get_artifact_repository", "provide_client_defaults", "uri_scheme"]

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def uri_scheme(uri: str) -> str:
    """The lower-cased scheme of ``uri``; "" for a plain path, including ``C:\\x`` and ``C:/x``."""
    match = _SCHEME_RE.match(uri)
    if match is None or len(match.group(1)) == 1:  # one letter: a Windows drive, not a scheme
        return ""
    return match.group(1).lower()


def get_artifact_repository(
    uri: str, tracking_uri: str | None = None, settings: Settings | None = None
) -> ArtifactRepository:
    """The repository for an artifact root URI, chosen by its scheme.

    Built-in schemes are listed in ``modelyard.plugins.ARTIFACT_REPOSITORIES``; others
    come from the ``modelyard.artifact_repository`` entry-point group. An unknown
    scheme raises InvalidParameterValue listing the known ones. ``tracking_uri`` names the
    server that ``mlflow-artifacts:/`` URIs resolve against, ``settings`` the credentials and
    endpoints the built-in remote repositories use (both default to the current client context's,
    ``modelyard.tracking.context``).
    """
    from modelyard.plugins import ARTIFACT_REPOSITORIES, resolve

    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid artifact URI {uri!r}: a URI or path is required")
    scheme = uri_scheme(uri)
    cls = resolve(ARTIFACT_REPOSITORIES, "modelyard.artifact_repository", scheme, "artifact repository")
    kwargs: dict = {}
    if settings is not None and _takes_settings(cls):
        kwargs["settings"] = settings
    if scheme == "mlflow-artifacts" and tracking_uri:
        # proxied artifacts live on the tracking server the caller talks to
        kwargs["tracking_uri"] = tracking_uri
    return cls(uri, **kwargs)


@functools.cache
def _takes_settings(cls: type) -> bool:
    """Built-in remote repositories take ``settings=``; a third party's may take only the URI."""
    return "settings" in inspect.signature(cls).parameters


# What a repository built without explicit settings or tracking URI uses. The client context
# (``modelyard.tracking.context``) provides its own when it is imported, so this package never imports
# the layer above it; without one, the environment's settings and tracking URI.
_provider: Callable[[], Any] | None = None


def provide_client_defaults(provider: Callable[[], Any]) -> None:
    """Register ``provider()``: an object with ``settings`` and ``proxy_tracking_uri`` (the current
    client context)."""
    global _provider
    _provider = provider


def client_defaults() -> tuple[Settings, str | None]:
    """(settings, tracking URI of ``mlflow-artifacts:/``) for a repository given neither."""
    if _provider is not None:
        ctx = _provider()
        return ctx.settings, ctx.proxy_tracking_uri
    from modelyard.settings import Settings

    settings = Settings.from_env()
    return settings, settings.client.tracking_uri
