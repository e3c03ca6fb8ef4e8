"""Authentication switched on for one server app: the identity store on the server's database,
the authenticators, the authorizer, sessions and the audit flusher, built once per app."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from modelyard.auth.authenticators import Authenticator, authenticators_for
from modelyard.auth.authorizer import Access, PermissionAuthorizer
from modelyard.auth.config import AuthConfig
from modelyard.auth.service import AuthService
from modelyard.auth.sessions import SessionCodec
from modelyard.store.auth.sql import SqlAuthStore
from modelyard.workers import Worker

logger = logging.getLogger(__name__)


@dataclass
class AuthRuntime:
    config: AuthConfig
    auth: AuthService
    authorizer: PermissionAuthorizer
    authenticators: list[tuple[str, Authenticator]]
    sessions: SessionCodec
    flusher: Worker  # writes the pending audit entries and token last-used times every second

    def access(self, principal, address: str) -> Access:
        return Access(self.authorizer, principal, address)

    def start(self) -> None:
        self.flusher.start()

    def close(self) -> None:
        self.flusher.stop()
        self.auth.flush()


def database_of(services):
    """The server's database (the kernel's ``Database`` the tracking store writes through)."""
    db = getattr(services.tracking.store, "db", None)
    if db is None:
        raise ValueError("Authentication needs the server to keep its runs in a SQL database")
    return db


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
        Worker("modelyard-audit", auth.flush, interval=1.0, on_stop=auth.flush),
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
