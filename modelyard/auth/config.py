"""What the authentication subsystem is configured with (``settings.auth``), and MLflow's
``basic_auth.ini`` read as a fallback so an MLflow deployment's settings carry over."""

from __future__ import annotations

import configparser
import hashlib
import hmac
from dataclasses import dataclass, replace

from modelyard.auth.levels import Level
from modelyard.exceptions import InvalidParameterValue


@dataclass(frozen=True, slots=True)
class AuthConfig:
    enabled: bool = False
    admin_username: str = "admin"
    admin_password: str | None = None
    default_permission: str = "READ"
    secret_key: str | None = None
    min_password_length: int = 12
    session_max_age: int = 12 * 3600  # seconds a UI session lasts
    cache_ttl: float = 5.0  # seconds a worker reuses a checked credential or grants (changes drop them at once)
    max_failed_signins: int = 5  # per user and per address within signin_window
    signin_window: int = 300
    oidc_discovery_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_groups_claim: str = "groups"
    oidc_admin_groups: str = ""  # comma-separated groups whose members are admins

    @property
    def default_level(self) -> Level:
        return Level.parse(self.default_permission, "default permission")

    def session_secret(self) -> str:
        """The key session cookies are signed with: the configured one, else one derived from the
        admin password (every worker of a server gets the same one)."""
        if self.secret_key:
            return self.secret_key
        if not self.admin_password:
            raise InvalidParameterValue("No secret key to sign sessions with: set MODELYARD_AUTH_SECRET_KEY")
        return hmac.new(self.admin_password.encode(), b"modelyard-session-key", hashlib.sha256).hexdigest()

    def check(self) -> AuthConfig:
        """Raise when the server cannot start with authentication on."""
        if self.enabled and not self.admin_password:
            raise InvalidParameterValue(
                "Authentication is on but no admin password is set: set MODELYARD_ADMIN_PASSWORD "
                "(or MLFLOW_AUTH_ADMIN_PASSWORD, or admin_password in basic_auth.ini). There is no default."
            )
        self.default_level  # noqa: B018 - validates the name
        return self


def from_ini(config: AuthConfig, path: str | None) -> AuthConfig:
    """``config`` with the blanks filled from MLflow's ``basic_auth.ini`` at ``path`` (if any)."""
    if not path:
        return config
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise InvalidParameterValue(f"Cannot read the auth config file {path!r}")
    section = parser["mlflow"] if parser.has_section("mlflow") else parser[parser.default_section]
    changes = {}
    if not config.admin_password and section.get("admin_password"):
        changes["admin_password"] = section["admin_password"]
    if config.admin_username == "admin" and section.get("admin_username"):
        changes["admin_username"] = section["admin_username"]
    if config.default_permission == "READ" and section.get("default_permission"):
        changes["default_permission"] = section["default_permission"]
    return replace(config, **changes)


def auth_config(settings) -> AuthConfig:
    """The server's AuthConfig from its settings: the ``auth`` section, or the ``auth_*`` fields
    (``auth_enabled`` is ``enabled``); then MLflow's basic_auth.ini for what is still unset."""
    from dataclasses import fields

    names = [f.name for f in fields(AuthConfig)]
    section = getattr(settings, "auth", None)
    if section is not None:
        values = {name: getattr(section, name) for name in names if hasattr(section, name)}
        path = getattr(section, "config_path", None)
    else:
        values = {
            name: getattr(settings, f"auth_{name}") for name in names if hasattr(settings, f"auth_{name}")
        }
        path = getattr(settings, "auth_config_path", None)
    return from_ini(AuthConfig(**values), path)
