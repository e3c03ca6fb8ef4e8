"""Served models: each name holds one immutable ``ServedModel`` snapshot, replaced whole on a switch.

A ``Slot`` is one served name. Serving ``models:/<name>@<alias>``, a stage (``models:/<name>/Production``)
or ``models:/<name>/latest``, the slot *follows* the registry: a background thread checks which
version the reference names every ``poll_interval`` seconds, and at once when ``trigger()`` is called
(the registry webhook). When it changed, the new version is loaded beside the old one (in that
thread), warmed with its saved input example, and only then put in the slot with one assignment.
Requests take the snapshot when they start and finish on it, so a switch fails none and none is
answered by a half-loaded model; the old version is freed when its last request ends. A version
that fails to load or warm up is not switched to (the old one keeps answering; ``/health`` says
why). Rollback is moving the alias back.

Any other URI (a path, ``runs:/``, ``models:/<name>/<version>``) is loaded once.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.exceptions import ModelyardError, TemporarilyUnavailable
from modelyard.serving.batching import Batcher
from modelyard.serving.config import ModelSpec, ServeConfig
from modelyard.serving.inputs import InputSchema
from modelyard.workers import Worker

logger = logging.getLogger(__name__)

LOADING, READY, FAILED = "loading", "ready", "failed"


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One loaded model version, as requests see it (never changed after it is built)."""

    name: str
    version: str  # the registry version; for other URIs the logged model id or the MLmodel's uuid
    uri: str  # what was asked to be served
    source: str  # where the files were loaded from
    model: Any  # PyFuncModel
    batcher: Batcher
    schema: InputSchema
    loaded_at: float

    @property
    def label(self) -> str:
        """``<name>/<version>``: the value of the X-Modelyard-Model-Version header."""
        return f"{self.name}/{self.version}"


@dataclass
class Slot:
    spec: ModelSpec
    registry_ref: tuple[str, str, str] | None  # (registered name, selector, sub-path) of a models:/ URI
    follows: bool  # an alias, stage or latest: checked for new versions
    current: ServedModel | None = None
    state: str = LOADING
    error: str | None = None
    checked_at: float | None = None
    history: list[str] = field(default_factory=list)  # versions served, oldest first
    broken: tuple[str, str] | None = None  # (version, location) that failed to load: not retried

    def snapshot(self) -> ServedModel:
        """The version answering now; TemporarilyUnavailable (503) while none is loaded."""
        current = self.current
        if current is None:
            why = f"failed to load: {self.error}" if self.state == FAILED else "is still loading"
            raise TemporarilyUnavailable(f"Model {self.spec.name!r} {why}")
        return current


def _registry_ref(uri: str) -> tuple[str, str, str] | None:
    if not uri.startswith("models:"):
        return None
    from modelyard.models.uri import LOGGED_MODEL_ID
    from modelyard.registry.uris import parse_registry_uri

    if LOGGED_MODEL_ID.fullmatch(uri[len("models:") :].lstrip("/").split("/", 1)[0]):
        return None
    return parse_registry_uri(uri)


class ModelSlots:
    """The served names, the thread that loads and follows them, and the switch."""

    def __init__(
        self,
        config: ServeConfig,
        executor: Executor,
        *,
        on_batch: Callable[[str, int, int], None] | None = None,
        on_switch: Callable[[str, str | None, str], None] | None = None,
        on_load_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._executor = executor
        self._on_batch = on_batch
        self._on_switch = on_switch
        self._on_load_failure = on_load_failure
        self.slots: dict[str, Slot] = {}
        for spec in config.models:
            ref = _registry_ref(spec.uri)
            follows = ref is not None and not ref[1].isdigit()
            self.slots[spec.name] = Slot(spec, ref, follows)
        self.first_load_done = threading.Event()  # every model tried once (loaded or failed)
        self._first_round = True
        self.worker = Worker("modelyard-serve-models", self._round, interval=None)
        self._client: Any = None
        self._workdir = Path(tempfile.mkdtemp(prefix="modelyard-serve-"))
        self._owner = os.getpid()  # forked workers load into it too and leave it to this process
        self._loads = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Load every model, then follow the registry, on a background ``Worker`` (the scoring
        app's lifespan starts and stops it)."""
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(timeout=30)
        if os.getpid() == self._owner:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def release_registry(self) -> None:
        """Close the registry connections (before forking workers: each opens its own when it
        checks the followed references)."""
        from modelyard.tracking.stores import clear_store_cache

        self._client = None
        clear_store_cache()

    def trigger(self) -> None:
        """Check the followed references now (a registry webhook arrived)."""
        self.worker.wake()

    def get(self, name: str | None) -> Slot:
        slot = self.slots.get(name or self.config.default_model)
        if slot is None:
            from modelyard.exceptions import ResourceDoesNotExist

            raise ResourceDoesNotExist(f"No served model named {name!r}; served: {', '.join(self.slots)}")
        return slot

    @property
    def ready(self) -> bool:
        return all(s.current is not None for s in self.slots.values())

    def load_now(self) -> dict[str, str]:
        """Load every model once, in this thread, before serving; the reason of each that failed, by name.

        ``modelyard models serve`` calls this before it announces anything, and stops when a model
        cannot be resolved or loaded; ``start()`` then only follows the registry.
        """
        for slot in self.slots.values():
            if slot.current is None:
                self.refresh(slot)
        return {name: slot.error or "not loaded" for name, slot in self.slots.items() if slot.current is None}

    def _round(self) -> float | None:
        """One round of the worker: the first loads every model not loaded yet (by ``load_now``);
        later ones check the followed references (and retry failed loads). Returns the wait."""
        if self._first_round:
            self._first_round = False
            try:
                for slot in self.slots.values():
                    if slot.current is None:  # not already loaded by load_now()
                        self.refresh(slot)
            finally:
                self.first_load_done.set()
        else:
            for slot in self.slots.values():
                if slot.follows or slot.current is None:
                    self.refresh(slot)
        interval = self.config.poll_interval
        retry = any(s.current is None for s in self.slots.values())
        return interval if interval > 0 else (5.0 if retry else None)

    def refresh(self, slot: Slot) -> bool:
        """Resolve the slot's reference; load and switch when it names another version. True on a switch."""
        try:
            version, location = self._resolve(slot)
        except Exception as exc:  # the registry is down, the alias was deleted, ...
            self._failed(slot, f"cannot resolve {slot.spec.uri}: {_why(exc)}", count=False)
            return False
        slot.checked_at = time.time()
        current = slot.current
        if current is not None and version is not None and current.version == version:
            return False
        if current is not None and version is not None and slot.broken == (version, location):
            return False  # that version failed to load: the old one keeps answering until the alias moves
        try:
            served = self._load(slot, version, location)
        except Exception as exc:
            what = f"version {version} failed to load from {location}" if version else f"{location} failed to load"
            if version is not None:
                slot.broken = (version, location)
            self._failed(slot, f"{what}: {_why(exc)}", count=True)
            return False
        old = slot.current
        slot.current = served  # the switch: one reference assignment
        slot.state, slot.error, slot.broken = READY, None, None
        slot.history.append(served.version)
        if old is None:
            logger.info("Serving %s (version %s) from %s", slot.spec.name, served.version, location)
        else:
            logger.info("Switched %s from version %s to %s", slot.spec.name, old.version, served.version)
        if self._on_switch is not None:
            self._on_switch(slot.spec.name, old.version if old else None, served.version)
        return True

    def _failed(self, slot: Slot, reason: str, count: bool) -> None:
        if self.worker.is_alive() and reason != slot.error:  # said once, not at every check;
            logger.warning("Model %s: %s", slot.spec.name, reason)  # before start() load_now() returns it
        if count and self._on_load_failure is not None:  # counted before /health shows the reason
            self._on_load_failure(slot.spec.name)
        slot.error = reason
        if slot.current is None:
            slot.state = FAILED

    def _resolve(self, slot: Slot) -> tuple[str | None, str]:
        """(registry version or None, location of the files)."""
        if slot.registry_ref is None:
            return None, slot.spec.uri
        name, selector, path = slot.registry_ref
        version, location = self._registry().resolve_model_version(name, selector)
        return version, location.rstrip("/") + ("/" + path if path else "")

    def _registry(self) -> Any:
        """The client whose registry service resolves references (``RegistryService.resolve_version``)."""
        if self._client is None:
            from modelyard.tracking.client import TrackingClient

            self._client = TrackingClient(self.config.tracking_uri)
        return self._client

    def _load(self, slot: Slot, version: str | None, location: str) -> ServedModel:
        from modelyard.models.load import load_pyfunc

        self._loads += 1
        dst = self._workdir / f"{slot.spec.name}-{version or 'model'}-{os.getpid()}-{self._loads}"
        tracking_uri = self._client.tracking_uri if self._client is not None else self.config.tracking_uri
        model = load_pyfunc(location, dst_path=dst, tracking_uri=tracking_uri)
        meta = model.metadata
        if version is None:
            version = meta.model_id or meta.model_uuid[:12]
        if self.config.warmup:
            _warm(model)
        name = slot.spec.name
        hook = self._on_batch
        batcher = Batcher(
            model.predict,  # the signature check included (models/enforce.py, ~60 us at 20 columns)
            self._executor,
            enabled=self.config.batching,
            max_batch_rows=self.config.max_batch_rows,
            max_wait_s=self.config.max_wait_ms / 1000.0,
            on_batch=(lambda rows, n: hook(name, rows, n)) if hook is not None else None,
        )
        return ServedModel(
            name,
            str(version),
            slot.spec.uri,
            location,
            model,
            batcher,
            InputSchema.of(meta.signature),
            time.time(),
        )


def _warm(model: Any) -> None:
    """One predict of the saved input example (first calls are slower; a broken version fails here)."""
    if model.model_dir is None or not model.metadata.saved_input_example_info:
        return
    example = model.metadata.load_input_example(model.model_dir)
    if example is not None:
        model.predict(example)


def _why(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, ModelyardError) else str(exc)
    return f"{type(exc).__name__}: {message}"[:1000]
