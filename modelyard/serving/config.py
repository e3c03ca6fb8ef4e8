"""``ServeConfig``: what one scoring server serves and how, built from flags or ``Settings``.

A served model is a name and a model URI (``-m name=URI``; without a name a registry URI
``models:/churn@champion`` is served as ``churn``, anything else as ``model``). The first model is the
default one, answering ``/invocations``.

Worker processes (``--workers N``) rebuild the same config from ``MODELYARD_SERVE_*`` variables,
which the command line sets; ``encode_models`` / ``parse_models`` are the two ends of that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from modelyard.exceptions import InvalidParameterValue

DEFAULT_NAME = "model"
_NAMED = re.compile(r"^([A-Za-z0-9_.\-]+)=(.+)$")
_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    uri: str


@dataclass(frozen=True, slots=True)
class ServeConfig:
    models: tuple[ModelSpec, ...]
    tracking_uri: str | None = None
    timeout: float = 60.0
    poll_interval: float = 2.0
    batching: bool = True
    max_batch_rows: int = 1024
    max_wait_ms: float = 2.0
    max_body_bytes: int = 64 * 1024 * 1024
    webhook_secret: str | None = None
    warmup: bool = True
    inference_log: str | None = None
    inference_log_queue: int = 10_000
    inference_log_flush_s: float = 1.0
    predict_threads: int = 4
    # Bearer tokens any of which a caller must send (every route but liveness/readiness); empty: open.
    auth_tokens: tuple[str, ...] = ()
    # A tracking database URI whose API tokens are accepted too (modelyard.serving.auth.StoreTokens),
    # with the permission its server gives a user on what nobody granted them anything on.
    auth_store: str | None = None
    auth_default_permission: str = "READ"

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidParameterValue("Nothing to serve: give at least one model (-m URI)")
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidParameterValue(
                f"Two served models share the name {dupes[0]!r}: name them with -m NAME=URI"
            )
        if self.timeout <= 0:
            raise InvalidParameterValue(f"The request timeout must be positive, got {self.timeout}")
        if self.max_batch_rows < 1:
            raise InvalidParameterValue(f"max_batch_rows must be at least 1, got {self.max_batch_rows}")

    @property
    def default_model(self) -> str:
        return self.models[0].name

    @classmethod
    def from_settings(
        cls, settings: Any, models: Iterable[str] | None = None, **overrides: Any
    ) -> ServeConfig:
        """The config of ``settings``' ``serve_*`` fields; ``models`` (``[NAME=]URI`` strings) win over
        ``serve_models``, keyword arguments over both."""
        specs = parse_models(list(models) if models is not None else split_models(settings.serving.models))
        tokens_file = overrides.pop("auth_tokens_file", None) or settings.serving.auth_tokens_file
        values = dict(
            models=specs,
            tracking_uri=settings.client.tracking_uri,
            timeout=settings.serving.timeout,
            poll_interval=settings.serving.poll_interval,
            batching=settings.serving.batching,
            max_batch_rows=settings.serving.max_batch_rows,
            max_wait_ms=settings.serving.max_wait_ms,
            max_body_bytes=settings.serving.max_body_bytes,
            webhook_secret=settings.serving.webhook_secret,
            warmup=settings.serving.warmup,
            inference_log=settings.serving.inference_log,
            inference_log_queue=settings.serving.inference_log_queue,
            inference_log_flush_s=settings.serving.inference_log_flush_s,
            auth_tokens=read_tokens(tokens_file),
            auth_store=settings.serving.auth_store,
            auth_default_permission=settings.auth.default_permission,
        )
        values.update(overrides)
        return cls(**values)


def read_tokens(path: str | None) -> tuple[str, ...]:
    """The bearer tokens in ``path``, one a line (blank lines and ``#`` comments skipped)."""
    if not path:
        return ()
    try:
        with open(path, encoding="utf-8") as f:
            tokens = tuple(t for t in (line.strip() for line in f) if t and not t.startswith("#"))
    except OSError as exc:
        raise InvalidParameterValue(f"Cannot read the auth tokens file {path!r}: {exc.strerror}") from None
    if not tokens:
        raise InvalidParameterValue(f"The auth tokens file {path!r} holds no token")
    return tokens


def registry_name(uri: str) -> str | None:
    """``churn`` for ``models:/churn@champion`` or ``models:/churn/3``; None for anything else (a
    path, a run's model, a logged model ``models:/m-...``)."""
    if uri.startswith("models:"):
        ref = uri[len("models:") :].lstrip("/")
        head = ref.split("/", 1)[0].rpartition("@")[0] or ref.split("/", 1)[0]
        if head and not head.startswith("m-"):
            return head
    return None


def default_name(uri: str) -> str:
    """``churn`` for ``models:/churn@champion`` or ``models:/churn/3``; ``model`` for anything else."""
    head = registry_name(uri)
    return head if head and _NAME_OK.match(head) else DEFAULT_NAME


def parse_models(items: Iterable[str]) -> tuple[ModelSpec, ...]:
    """``[NAME=]URI`` strings as specs (``NAME`` is letters, digits, ``_ . -``)."""
    specs = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        named = _NAMED.match(item)
        if named and ":" not in named.group(1):
            specs.append(ModelSpec(named.group(1), named.group(2)))
        else:
            specs.append(ModelSpec(default_name(item), item))
    return tuple(specs)


def split_models(text: str | None) -> list[str]:
    """``MODELYARD_SERVE_MODELS``: a JSON object ``{name: uri}`` or ``[NAME=]URI`` items split on spaces."""
    if not text or not text.strip():
        return []
    text = text.strip()
    if text.startswith("{"):
        try:
            mapping = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidParameterValue(f"MODELYARD_SERVE_MODELS is not valid JSON: {exc}") from None
        return [f"{name}={uri}" for name, uri in mapping.items()]
    return text.split()


def encode_models(specs: Iterable[ModelSpec]) -> str:
    """The ``MODELYARD_SERVE_MODELS`` value that ``split_models`` reads back exactly."""
    return orjson.dumps({s.name: s.uri for s in specs}).decode()
