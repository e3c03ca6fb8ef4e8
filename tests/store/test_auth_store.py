"""The identity store on SQLite, PostgreSQL and MariaDB: users, tokens, grants and the audit log
(through the AuthService, as the server uses it)."""

from __future__ import annotations

import uuid

import pytest

from modelyard.auth.context import Principal, RequestContext
from modelyard.auth.runtime import open_service
from modelyard.entities.auth import AuditEntry
from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist

PASSWORD = "a-long-user-password-9"


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def auth_service(request, tmp_path):
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'auth.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri" if request.param == "postgresql" else "mysql_uri")
    service, close = open_service(uri)
    yield service
    close()


ADMIN = RequestContext(Principal("root", authenticated=True, admin=True, method="test"), request_id="r1")


def test_users_tokens_grants_and_audit_round_trip(auth_service) -> None:
    name = f"u-{uuid.uuid4().hex[:8]}"
    user = auth_service.create_user(ADMIN, name, PASSWORD)
    with pytest.raises(ResourceAlreadyExists):
        auth_service.create_user(ADMIN, name, PASSWORD)
    assert auth_service.authenticate_password(name, PASSWORD, "10.0.0.1") == user
    assert auth_service.authenticate_password(name, "wrong-password-123", "10.0.0.1") is None
    secret, token = auth_service.create_token(ADMIN, "ci", "models:read", "1d", name)
    found, owner = auth_service.authenticate_token(secret)
    assert (found.id, owner.username, found.scopes) == (token.id, name, "models:read")
    auth_service.grant(ADMIN, "experiment", "7", name, "EDIT")
    auth_service.grant(ADMIN, "registered_model", "churn", name, "READ")
    assert auth_service.grants_of(user.id) == {("experiment", "7"): 3, ("registered_model", "churn"): 1}
    auth_service.move_grants("registered_model", "churn", "churn-v2")
    assert auth_service.grants_on(ADMIN, "registered_model", "churn-v2") == [(name, "READ")]
    auth_service.revoke_token(ADMIN, token.id)
    assert auth_service.authenticate_token(secret) is None
    auth_service.record(AuditEntry(1, name, "password", "POST /x", 200, "experiment", "7", "10.0.0.1", "r2"))
    mine = auth_service.list_audit(ADMIN, username=name)
    assert {e.action for e in mine} >= {"POST /x", "sign-in"}
    assert [e.request_id for e in auth_service.list_audit(ADMIN, resource="experiment:7", username=name)] == [
        "r2"
    ]
    auth_service.delete_user(ADMIN, name)
    with pytest.raises(ResourceDoesNotExist):
        auth_service.get_user(ADMIN, name)


def test_two_services_on_one_database_share_the_limit_and_the_generation(auth_service) -> None:
    """As two workers: the failures one counts lock the user out in the other; a revocation by one
    is seen by the other's next check, its cache notwithstanding."""
    from modelyard.auth.config import AuthConfig

    other, close = open_service(auth_service.store.db.uri, AuthConfig(max_failed_signins=2, cache_ttl=600))
    try:
        name = f"u-{uuid.uuid4().hex[:8]}"
        auth_service.create_user(ADMIN, name, PASSWORD)
        address = f"10.9.{uuid.uuid4().int % 250}.1"
        secret, token = auth_service.create_token(ADMIN, "ci", "read", None, name)
        assert other.authenticate_token(secret) is not None  # cached in the other now
        assert auth_service.authenticate_password(name, "wrong-password-123", address) is None
        assert auth_service.authenticate_password(name, "wrong-password-456", address) is None
        assert other.authenticate_password(name, PASSWORD, address) is None  # two failures: locked out
        before = other.store.generation()
        auth_service.revoke_token(ADMIN, token.id)
        assert other.store.generation() > before
        assert other.authenticate_token(secret) is None
    finally:
        close()
