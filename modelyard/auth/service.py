"""``AuthService``: users, tokens, grants and the audit log, with the rules around them (password
policy, no self-deletion, creators own what they create, token secrets shown once).

Who may call what is decided by the authorizer before a route's handler runs (routes declare
``needs(USER, ...)``, ``needs(AUDIT, ...)``); the service checks only what depends on the data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from modelyard.auth import passwords
from modelyard.auth import tokens as token_secrets
from modelyard.auth.config import AuthConfig
from modelyard.auth.context import RequestContext
from modelyard.auth.levels import GRANT_KINDS, KIND_ALIASES, Level, format_scopes, parse_scopes
from modelyard.auth.ratelimit import SigninLimiter
from modelyard.entities.auth import AuditEntry, Token, User
from modelyard.exceptions import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from modelyard.store.auth.sql import SqlAuthStore, now_ms

logger = logging.getLogger(__name__)

MAX_USERNAME = 256


def grant_kind(value: str) -> str:
    kind = KIND_ALIASES.get(str(value or "").strip().lower())
    if kind is None:
        raise InvalidParameterValue(
            f"Invalid resource_type {value!r}: expected one of {', '.join(GRANT_KINDS)}"
        )
    return kind


def check_username(name: str | None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue("Invalid username: it cannot be empty")
    if len(name) > MAX_USERNAME or any(not c.isprintable() or c in ":/\\" for c in name):
        raise InvalidParameterValue(
            f"Invalid username {name[:50]!r}: at most {MAX_USERNAME} printable characters, no ':', '/' or '\\\\'"
        )
    return name


class _TtlCache:
    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._items: dict = {}

    def get(self, key):
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key, value) -> None:
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)

    def drop(self, predicate=None) -> None:
        if predicate is None:
            self._items.clear()
        else:
            for key in [k for k in self._items if predicate(k)]:
                self._items.pop(key, None)


class AuthService:
    def __init__(self, store: SqlAuthStore, config: AuthConfig) -> None:
        self.store = store
        self.config = config
        self.limiter = SigninLimiter(store, config.max_failed_signins, config.signin_window)
        self._credentials = _TtlCache(config.cache_ttl)  # (username, password digest) -> User
        self._tokens = _TtlCache(config.cache_ttl)  # token digest -> (Token, User)
        self._grants = _TtlCache(config.cache_ttl)  # user id -> {(kind, id): Level}
        # (username, password digest) -> the stored hash it was verified against: once the cache
        # entry expires, an unchanged hash is re-checked with one query instead of argon2 again
        self._verified: dict[tuple[str, str], str | None] = {}
        self._audit: list[AuditEntry] = []
        self._used_tokens: dict[int, int] = {}
        self._lock = threading.Lock()
        self._generation: int | None = None  # the store's credentials generation the caches hold

    # -- what every worker shares ------------------------------------------------------------
    def _fresh(self) -> None:
        """Drop the cached credentials and grants when any worker changed users, tokens or grants
        since (one primary-key read per request: a revocation takes effect on the next request)."""
        generation = self.store.generation()
        if generation != self._generation:
            for cache in (self._credentials, self._tokens, self._grants):
                cache.drop()
            self._generation = generation

    def _bump(self) -> None:
        """Users, tokens or grants changed: every worker's caches are stale from now on."""
        self.store.bump_generation()
        self._generation = None

    # -- start -------------------------------------------------------------------------------
    def bootstrap(self) -> User:
        """Make sure the admin account exists (created with the configured password)."""
        self.config.check()
        name = check_username(self.config.admin_username)
        user = self.store.find_user(name)
        if user is None:
            try:
                user = self.store.create_user(name, passwords.hash_password(self.config.admin_password), True)
                logger.info("created the admin account %r", name)
            except ResourceAlreadyExists:  # another worker of the same server made it first
                user = self.store.get_user(name)
        elif not user.is_admin:
            self.store.update_user(name, is_admin=True)
        return user

    # -- sign-in -----------------------------------------------------------------------------
    def authenticate_password(self, username: str, password: str, address: str = "") -> User | None:
        self._fresh()
        key = (username, token_secrets.digest(password))
        cached = self._credentials.get(key)
        if cached is not None:
            return cached
        verified_hash = self._verified.get(key)
        if verified_hash is not None:  # checked before: argon2 again only if the password changed
            user = self.store.find_user(username)
            if user is not None and user.password_hash == verified_hash:
                self._credentials.put(key, user)
                return user
        if self.limiter.blocked(username, address):
            self.record(
                AuditEntry(
                    now_ms(),
                    username,
                    "password",
                    "sign-in",
                    429,
                    address=address,
                    detail="refused: too many failed sign-ins",
                )
            )
            return None
        user = self.store.find_user(username)
        if user is None or not passwords.verify_password(user.password_hash, password):
            self.limiter.failed(username, address)
            self.record(
                AuditEntry(
                    now_ms(),
                    username,
                    "password",
                    "sign-in",
                    401,
                    address=address,
                    detail="wrong user name or password",
                )
            )
            return None
        self.limiter.succeeded(username)
        self._credentials.put(key, user)
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[key] = user.password_hash
        self.record(AuditEntry(now_ms(), username, "password", "sign-in", 200, address=address))
        return user

    def authenticate_token(self, secret: str) -> tuple[Token, User] | None:
        self._fresh()
        key = token_secrets.digest(secret)
        found = self._tokens.get(key)
        if found is None:
            found = self.store.token_by_hash(key)
            if found is None:
                return None
            self._tokens.put(key, found)
        token, user = found
        now = now_ms()
        if not token.active(now):
            return None
        with self._lock:
            self._used_tokens[token.id] = now
        return token, user

    def current_user(self, username: str) -> User | None:
        """The account (cached for ``cache_ttl``), for sessions that carry only its name."""
        self._fresh()
        key = ("user", username)
        user = self._credentials.get(key)
        if user is None:
            user = self.store.find_user(username)
            if user is not None:
                self._credentials.put(key, user)
        return user

    # -- users -------------------------------------------------------------------------------
    def create_user(self, ctx: RequestContext, username: str, password: str, is_admin: bool = False) -> User:
        check_username(username)
        passwords.check_policy(password, username, self.config.min_password_length)
        user = self.store.create_user(username, passwords.hash_password(password), bool(is_admin))
        self._changed(ctx, "create user", username)
        return user

    def get_user(self, ctx: RequestContext, username: str) -> User:
        return self.store.get_user(username)

    def list_users(self, ctx: RequestContext) -> list[User]:
        return self.store.list_users()

    def update_password(
        self, ctx: RequestContext, username: str, password: str, current_password: str | None = None
    ) -> None:
        user = self.store.get_user(username)
        if ctx.principal.name == username and not ctx.principal.admin:
            if not current_password:
                raise InvalidParameterValue("Current password is required when changing your own password.")
            if not passwords.verify_password(user.password_hash, current_password):
                raise InvalidParameterValue("Current password does not match.")
        passwords.check_policy(password, username, self.config.min_password_length)
        self.store.update_user(username, password_hash=passwords.hash_password(password))
        self._bump()
        self._changed(ctx, "update password", username)

    def update_admin(self, ctx: RequestContext, username: str, is_admin: bool) -> None:
        if isinstance(is_admin, str):
            is_admin = is_admin.strip().lower() == "true"
        self.store.update_user(username, is_admin=bool(is_admin))
        self._bump()
        self._changed(ctx, "update admin", username, f"is_admin={bool(is_admin)}")

    def delete_user(self, ctx: RequestContext, username: str) -> None:
        if username == ctx.principal.name:
            raise InvalidParameterValue(
                "Users cannot delete their own account. Ask another admin to delete this user instead."
            )
        self.store.delete_user(username)
        self._bump()
        self._changed(ctx, "delete user", username)

    def upsert_external_user(self, username: str, is_admin: bool) -> User:
        """An account signed in by an identity provider (OIDC): created on first sign-in, its admin
        flag following the provider's groups."""
        check_username(username)
        user = self.store.find_user(username)
        if user is None:
            return self.store.create_user(username, None, is_admin, source="oidc")
        if user.is_admin != is_admin:
            self.store.update_user(username, is_admin=is_admin)
            self._bump()
            user = self.store.get_user(username)
        return user

    # -- tokens ------------------------------------------------------------------------------
    def create_token(
        self,
        ctx: RequestContext,
        name: str,
        scopes: str | None = None,
        expires_in: str | int | None = None,
        username: str | None = None,
    ) -> tuple[str, Token]:
        """A new token of ``username`` (the caller by default); its secret is returned only here."""
        owner = self._owner(ctx, username)
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise InvalidParameterValue("Invalid token name: 1 to 256 characters")
        scope_text = format_scopes(parse_scopes(scopes))
        seconds = token_secrets.parse_duration(
            expires_in if not isinstance(expires_in, int) else f"{expires_in}s"
        )
        secret = token_secrets.new_secret()
        token = self.store.create_token(
            owner,
            name.strip(),
            token_secrets.digest(secret),
            secret[:8],
            scope_text,
            now_ms() + seconds * 1000 if seconds else None,
        )
        self._changed(ctx, "create token", owner.username, f"{token.name} ({scope_text})")
        return secret, token

    def list_tokens(
        self, ctx: RequestContext, username: str | None = None, all_users: bool = False
    ) -> list[Token]:
        self.flush()  # the pending last-used times
        if all_users:
            self._require_admin(ctx)
            return self.store.list_tokens()
        return self.store.list_tokens(self._owner(ctx, username).username)

    def revoke_token(self, ctx: RequestContext, token_id: int | str) -> None:
        try:
            token = self.store.get_token(int(token_id))
        except ValueError:
            raise InvalidParameterValue(f"Invalid token id {token_id!r}") from None
        if token.username != ctx.principal.name:
            self._require_admin(ctx, ResourceDoesNotExist(f"Token {token_id} not found"))
        self.store.revoke_token(token.id)
        self._bump()
        self._changed(ctx, "revoke token", token.username, token.name)

    def _owner(self, ctx: RequestContext, username: str | None) -> User:
        if not username or username == ctx.principal.name:
            if ctx.principal.name is None:
                raise PermissionDenied("Sign in to manage tokens")
            return self.store.get_user(ctx.principal.name)
        self._require_admin(ctx)
        return self.store.get_user(username)

    @staticmethod
    def _require_admin(ctx: RequestContext, error: Exception | None = None) -> None:
        if not ctx.principal.admin:
            raise error or PermissionDenied(f"{ctx.principal.name} is not an admin")

    # -- grants ------------------------------------------------------------------------------
    def grant(
        self,
        ctx: RequestContext,
        kind: str,
        resource_id: str,
        username: str,
        permission: str,
        *,
        create: bool = False,
    ) -> None:
        level = Level.parse(permission)
        user = self.store.get_user(username)
        self.store.set_grant(user, grant_kind(kind), str(resource_id), level.name, create=create)
        self._bump()
        self._changed(ctx, "grant", username, f"{kind} {resource_id}: {level.name}", kind, resource_id)

    def get_grant(self, ctx: RequestContext, kind: str, resource_id: str, username: str) -> str:
        user = self.store.get_user(username)
        found = self.store.get_grant(user, grant_kind(kind), str(resource_id))
        if found is None:
            raise ResourceDoesNotExist(
                f"{kind} permission with {kind}_id={resource_id} and username={username} not found"
            )
        return found

    def revoke(
        self, ctx: RequestContext, kind: str, resource_id: str, username: str, *, missing_ok: bool = True
    ) -> None:
        user = self.store.get_user(username)
        deleted = self.store.delete_grant(user, grant_kind(kind), str(resource_id))
        if not deleted and not missing_ok:
            raise ResourceDoesNotExist(
                f"{kind} permission with {kind}_id={resource_id} and username={username} not found"
            )
        self._bump()
        self._changed(ctx, "revoke", username, f"{kind} {resource_id}", kind, resource_id)

    def grants_on(self, ctx: RequestContext, kind: str, resource_id: str) -> list[tuple[str, str]]:
        return self.store.grants_on(grant_kind(kind), str(resource_id))

    def grants_of(self, user_id: int) -> dict[tuple[str, str], Level]:
        cached = self._grants.get(user_id)
        if cached is None:
            cached = {key: Level.parse(value) for key, value in self.store.grants_of(user_id).items()}
            self._grants.put(user_id, cached)
        return cached

    def creator_owns(self, principal, kind: str, resource_id: str) -> None:
        """The creator of a resource gets MANAGE on it."""
        if principal.user_id is None or principal.name is None:
            return
        user = User(principal.user_id, principal.name)
        self.store.set_grant(user, kind, str(resource_id), Level.MANAGE.name)
        self._bump()

    def move_grants(self, kind: str, old: str, new: str | None) -> None:
        """The grants on a renamed resource follow it (``new`` None: it is gone, and so are they)."""
        self.store.move_grants(kind, old, new)
        self._bump()

    # -- audit -------------------------------------------------------------------------------
    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self._audit.append(entry)
            pending = len(self._audit)
        if pending >= 200:
            self.flush()

    def record_many(self, entries: Iterable[AuditEntry]) -> None:
        for entry in entries:
            self.record(entry)

    def flush(self) -> None:
        """Write the pending audit entries and token last-used times."""
        with self._lock:
            entries, self._audit = self._audit, []
            used, self._used_tokens = self._used_tokens, {}
        try:
            self.store.append_audit(entries)
            self.store.touch_tokens(used)
        except Exception:
            logger.exception("could not write %d audit entries", len(entries))
            with self._lock:
                self._audit[:0] = entries

    def list_audit(self, ctx: RequestContext, **filters) -> list[AuditEntry]:
        self.flush()
        return list(self.store.list_audit(**filters))

    def _changed(
        self,
        ctx: RequestContext,
        action: str,
        username: str,
        detail: str = "",
        kind: str = "user",
        resource_id: str | None = None,
    ) -> None:
        self.record(
            AuditEntry(
                now_ms(),
                ctx.principal.name,
                ctx.principal.method,
                action,
                200,
                kind,
                resource_id if resource_id is not None else username,
                getattr(ctx.access, "address", None),
                ctx.request_id,
                detail or None,
            )
        )
