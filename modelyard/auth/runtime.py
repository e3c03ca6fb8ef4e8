"""Authentication switched on for one server app: the identity store on the server's database,
the authenticators, the authorizer, sessions and the audit flusher, built once per app."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from modelyard.auth.authenticators import Authenticator, authenticators_for
from modelyard.auth.authorizer import Access, PermissionAuthorizer
from modelyard.auth.config import AuthConfig
from modelyard.auth.service import AuthService
from modelyard.auth.sessions import SessionCodec
from modelyard.store.auth.sql import SqlAuthStore

logger = logging.getLogger(__name__)


@dataclass
class AuthRuntime:
    config: AuthConfig
    auth: AuthService
    authorizer: PermissionAuthorizer
    authenticators: list[tuple[str, Authenticator]]
    sessions: SessionCodec
    flusher: AuditFlusher

    def access(self, principal, address: str) -> Access:
        return Access(self.authorizer, principal, address)

    def close(self) -> None:
        self.flusher.stop()
        self.auth.flush()


class AuditFlusher:
    """Writes the pending audit entries (and token last-used times) every ``interval`` seconds."""

    def __init__(self, auth: AuthService, interval: float = 1.0) -> None:
        self.auth, self.interval = auth, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelyard-audit", daemon=True)
        self._pid = 0

    def start(self) -> AuditFlusher:
        self._pid = os.getpid()
        self._thread.start()
        return self

    def ensure(self) -> None:
        """Start a flusher in this process if it has none (a worker forked from the parent that
        built the app inherits the object, not the thread)."""
        if self._pid != os.getpid() and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="modelyard-audit", daemon=True)
            self.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.auth.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _EngineDatabase:
    """read()/write() over an SQLAlchemy engine, for a store that has no kernel ``Database``."""

    def __init__(self, engine) -> None:
        self.engine = engine
        try:
            from modelyard.store.tracking.sql.engine import writer

            self._writer = writer(engine)
        except ImportError:  # pragma: no cover
            self._writer = engine

    @contextmanager
    def read(self):
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self):
        with self._writer.begin() as conn:
            yield conn


def database_of(services):
    store = services.tracking.store
    db = getattr(store, "db", None)
    if db is not None and hasattr(db, "write"):
        return db
    engine = getattr(store, "engine", None)
    if engine is None:
        raise ValueError("Authentication needs the server to keep its runs in a SQL database")
    from modelyard.store.auth.tables import metadata

    metadata.create_all(engine)
    return _EngineDatabase(engine)


def build(config: AuthConfig, services) -> AuthRuntime:
    config.check()
    auth = AuthService(SqlAuthStore(database_of(services)), config)
    auth.bootstrap()
    sessions = SessionCodec(config.session_secret(), config.session_max_age)
    runtime = AuthRuntime(
        config,
        auth,
        PermissionAuthorizer(auth, services),
        authenticators_for(auth, sessions),
        sessions,
        AuditFlusher(auth).start(),
    )
    services.auth = runtime
    return runtime


def open_service(uri: str, config: AuthConfig | None = None):
    """The identity store of the tracking database at ``uri`` for the CLI: (AuthService, close)."""
    from modelyard.store.tracking.sql.store import SqlTrackingStore

    store = SqlTrackingStore.from_uri(uri, default_artifact_root="")

    class _Holder:
        class tracking:  # noqa: N801 - the shape database_of reads
            pass

    _Holder.tracking.store = store
    service = AuthService(SqlAuthStore(database_of(_Holder)), config or AuthConfig())

    def close() -> None:
        service.flush()
        store.close()

    return service, close
