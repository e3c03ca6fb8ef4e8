"""The client context: what the fluent API, clients and model helpers talk to, held explicitly.

A ``ClientContext`` holds a client's ``Settings``, the tracking URI given to ``set_tracking_uri``
(else the settings' one, else the embedded default), the active experiment, and the
``TrackingClient`` built over them; through it come the tracking and registry stores, the
artifact repositories and the credentials (``settings.client``). Stores, HTTP clients and
repositories are cached process-wide by ``settings.connection_key``: the URI, the credentials
(token, user name, a hash of the password) and the artifact root, so contexts with other
credentials never share a connection.

Which context is current: inside ``with use(context):`` that one (a ContextVar, so per thread
and per asyncio task); elsewhere the process context. The process context is the one place a
client reads the environment (``Settings.from_env()``): it is built on first use and rebuilt
when a ``MODELYARD_*`` / ``MLFLOW_*`` variable changes, keeping ``set_tracking_uri()`` and the
active experiment, which are process-wide as in MLflow.

Exit: every context is closed at interpreter exit (its client flushes asynchronous logging and
stops that worker); ``close()`` does it earlier.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from modelyard import artifacts
from modelyard.settings import Settings, environment_snapshot

if TYPE_CHECKING:
    from modelyard.entities import Experiment
    from modelyard.tracking.client import TrackingClient

logger = logging.getLogger(__name__)


class ClientContext:
    """Settings, tracking URI, active experiment and the client over them (see the module docstring)."""

    def __init__(self, settings: Settings, tracking_uri: str | os.PathLike | None = None) -> None:
        self.settings = settings
        self._explicit_uri: str | None = os.fspath(tracking_uri) if tracking_uri else None
        self._experiment_id: str | None = None
        self._client: TrackingClient | None = None
        self._lock = threading.RLock()
        _open.add(self)

    # -- where it tracks -------------------------------------------------------------
    @property
    def explicit_tracking_uri(self) -> str | None:
        """The URI given to ``set_tracking_uri`` (or the constructor), if any."""
        return self._explicit_uri

    @property
    def tracking_uri(self) -> str:
        """The resolved tracking URI (explicit > settings > the embedded SQLite default)."""
        from modelyard.tracking.stores import resolve_tracking_uri

        return resolve_tracking_uri(self._explicit_uri, self.settings)

    @property
    def proxy_tracking_uri(self) -> str | None:
        """The server ``mlflow-artifacts:/`` URIs resolve against: the explicit URI, else the settings'."""
        return self._explicit_uri or self.settings.client.tracking_uri

    def set_tracking_uri(self, uri: str | os.PathLike | None) -> None:
        """Track elsewhere from now on: forgets the client and the active experiment."""
        with self._lock:
            self._explicit_uri = os.fspath(uri) if uri else None
            self._close_client()
            self._experiment_id = None

    # -- what it talks through -------------------------------------------------------
    def client(self) -> TrackingClient:
        """The context's client (built once; its store comes from the process-wide cache)."""
        client = self._client  # the hot path (every fluent call) takes no lock
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                from modelyard.tracking.client import TrackingClient

                self._client = TrackingClient(self.tracking_uri, self.settings)
            return self._client

    def store(self) -> Any:
        """The tracking store (with the model registry beside it) of this context."""
        return self.client().store

    def artifact_repository(self, uri: str, tracking_uri: str | None = None) -> Any:
        """The repository of an artifact URI, with this context's settings and credentials."""
        from modelyard.artifacts import get_artifact_repository

        return get_artifact_repository(uri, tracking_uri or self.proxy_tracking_uri, settings=self.settings)

    # -- the active experiment ---------------------------------------------------------
    def set_experiment(self, experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
        """Make an experiment active, creating it by name if it does not exist."""
        from modelyard.exceptions import InvalidParameterValue

        if (experiment_name is None) == (experiment_id is None):
            raise InvalidParameterValue("Must specify exactly one of: `experiment_id` or `experiment_name`.")
        client = self.client()
        if experiment_id is not None:
            experiment = client.get_experiment(str(experiment_id))
        else:
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                try:
                    client.create_experiment(experiment_name)
                except Exception:
                    if client.get_experiment_by_name(experiment_name) is None:  # lost a creation race?
                        raise
                experiment = client.get_experiment_by_name(experiment_name)
        if experiment.lifecycle_stage != "active":
            raise InvalidParameterValue(
                f"Cannot set a deleted experiment '{experiment.name}' as the active experiment. "
                "You can restore the experiment, or permanently delete the experiment to create a new one."
            )
        with self._lock:
            self._experiment_id = experiment.experiment_id
        return experiment

    def experiment_id(self, explicit: str | None = None) -> str:
        """The experiment new runs and models go to: ``explicit`` > ``set_experiment`` > the settings'
        experiment id, then name > the default experiment ``"0"``."""
        if explicit is not None:
            return str(explicit)
        if self._experiment_id is not None:
            return self._experiment_id
        if self.settings.client.experiment_id:
            return self.settings.client.experiment_id
        if self.settings.client.experiment_name:
            return self.set_experiment(self.settings.client.experiment_name).experiment_id
        return "0"

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Flush and stop the client's background work (asynchronous logging)."""
        with self._lock:
            self._close_client()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _successor(self, settings: Settings) -> ClientContext:
        """The process context after the environment changed: same URI and active experiment."""
        nxt = ClientContext(settings, self._explicit_uri)
        nxt._experiment_id = self._experiment_id
        return nxt


_scoped: contextvars.ContextVar[ClientContext | None] = contextvars.ContextVar("modelyard_context", default=None)
_process_lock = threading.Lock()
_process: tuple[tuple[str | None, ...], ClientContext] | None = None
_open: weakref.WeakSet[ClientContext] = weakref.WeakSet()


def current() -> ClientContext:
    """The current context: the one of the enclosing ``use()`` block, else the process context."""
    scoped = _scoped.get()
    return scoped if scoped is not None else process_context()


def process_context() -> ClientContext:
    """The process context, from the environment (rebuilt when a variable it reads changes)."""
    global _process
    snapshot = environment_snapshot()
    found = _process
    if found is not None and found[0] == snapshot:
        return found[1]
    with _process_lock:
        if _process is None or _process[0] != snapshot:
            settings = Settings.from_env()
            ctx = _process[1]._successor(settings) if _process is not None else ClientContext(settings)
            _process = (snapshot, ctx)
        return _process[1]


@contextlib.contextmanager
def use(context: ClientContext) -> Iterator[ClientContext]:
    """Make ``context`` current for the block (this thread or task, and tasks started from it)."""
    token = _scoped.set(context)
    try:
        yield context
    finally:
        _scoped.reset(token)


@atexit.register
def close_all() -> None:
    """Close every context (interpreter exit): queued asynchronous logging is flushed."""
    for ctx in list(_open):
        try:
            ctx.close()
        except Exception as exc:  # reported, never raised at exit
            logger.error("closing a client context failed: %s", getattr(exc, "message", exc))


# Repositories built without explicit settings (``get_artifact_repository(uri)``) use the current
# client context's: registered here so that the artifacts package never imports this layer.
artifacts.provide_client_defaults(current)
