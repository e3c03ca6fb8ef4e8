"""End URIs: ``scheme://[user:pass@]host:port/path?option=value&...`` -> a Source or a Sink.

The scheme picks the implementation from ``plugins.STREAM_SOURCES`` / ``STREAM_SINKS``; the query
options are the end's settings. Credentials stay in the URI (or the client's environment variables)
and are never logged: ``redact`` is what log lines and metrics show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from modelyard.exceptions import InvalidParameterValue


@dataclass(frozen=True, slots=True)
class EndUri:
    uri: str  # as given
    scheme: str
    base: str  # the URI without its query (what the client library connects to)
    netloc: str
    path: str
    options: dict[str, str] = field(default_factory=dict)

    def option(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.options.get(name, default)
        if required and not value:
            raise InvalidParameterValue(f"{redact(self.uri)}: the URI needs the option '?{name}=...'")
        return value

    def int_option(self, name: str, default: int) -> int:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameterValue(f"{redact(self.uri)}: option {name!r} must be an integer, got {raw!r}") from None

    def float_option(self, name: str, default: float) -> float:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise InvalidParameterValue(f"{redact(self.uri)}: option {name!r} must be a number, got {raw!r}") from None


def parse(uri: str) -> EndUri:
    parts = urlsplit(uri)
    if not parts.scheme:
        raise InvalidParameterValue(f"{uri!r} is not a URI (expected scheme://...)")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    base = uri.split("?", 1)[0].split("#", 1)[0]  # (urlunsplit would drop the // of sqlite:////abs/path)
    return EndUri(uri, parts.scheme.lower(), base, parts.netloc, parts.path, options)


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_source(uri: str, **options: Any) -> Any:
    from modelyard.plugins import STREAM_SOURCES, resolve

    end = parse(uri)
    return resolve(STREAM_SOURCES, "modelyard.stream_source", end.scheme, "stream source")(end, **options)


def open_sink(uri: str, **options: Any) -> Any:
    from modelyard.plugins import STREAM_SINKS, resolve

    end = parse(uri)
    return resolve(STREAM_SINKS, "modelyard.stream_sink", end.scheme, "stream sink")(end, **options)
