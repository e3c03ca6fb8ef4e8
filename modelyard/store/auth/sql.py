"""``SqlAuthStore``: users, tokens, grants and the audit log on a ``Database`` (read()/write())."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.entities.auth import AuditEntry, Token, User
from modelyard.exceptions import ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.store.auth.tables import audit, grants, signin_failures, state, tokens, users

AUDIT_PAGE_MAX = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def _user(row) -> User:
    return User(row.id, row.username, bool(row.is_admin), row.password_hash, row.source, row.created_at)


def _token(row) -> Token:
    return Token(
        row.id,
        row.user_id,
        row.username,
        row.name,
        row.prefix,
        row.scopes,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )


_TOKEN_COLUMNS = (*tokens.c, users.c.username)


class SqlAuthStore:
    def __init__(self, db) -> None:
        self.db = db

    # -- users -------------------------------------------------------------------------------
    def create_user(
        self, username: str, password_hash: str | None, is_admin: bool = False, source: str = "password"
    ) -> User:
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(users).values(
                        username=username,
                        password_hash=password_hash,
                        is_admin=is_admin,
                        source=source,
                        created_at=now_ms(),
                    )
                )
        except (IntegrityError, ResourceAlreadyExists):
            raise ResourceAlreadyExists(f"User with username={username} already exists") from None
        return self.get_user(username)

    def find_user(self, username: str) -> User | None:
        with self.db.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        return _user(row) if row else None

    def get_user(self, username: str) -> User:
        user = self.find_user(username)
        if user is None:
            raise ResourceDoesNotExist(f"User with username={username} not found")
        return user

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]

    def update_user(
        self, username: str, *, password_hash: str | None = None, is_admin: bool | None = None
    ) -> None:
        values = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if is_admin is not None:
            values["is_admin"] = bool(is_admin)
        with self.db.write() as conn:
            result = conn.execute(update(users).where(users.c.username == username).values(**values))
        if result.rowcount == 0:
            raise ResourceDoesNotExist(f"User with username={username} not found")

    def delete_user(self, username: str) -> None:
        user = self.get_user(username)
        with self.db.write() as conn:
            conn.execute(delete(grants).where(grants.c.user_id == user.id))
            conn.execute(delete(tokens).where(tokens.c.user_id == user.id))
            conn.execute(delete(users).where(users.c.id == user.id))

    # -- tokens ------------------------------------------------------------------------------
    def create_token(
        self, user: User, name: str, token_hash: str, prefix: str, scopes: str, expires_at: int | None
    ) -> Token:
        try:
            with self.db.write() as conn:
                token_id = conn.execute(
                    insert(tokens).values(
                        user_id=user.id,
                        name=name,
                        token_hash=token_hash,
                        prefix=prefix,
                        scopes=scopes,
                        created_at=now_ms(),
                        expires_at=expires_at,
                    )
                ).inserted_primary_key[0]
        except (IntegrityError, ResourceAlreadyExists):
            raise ResourceAlreadyExists(f"{user.username} already has a token named {name!r}") from None
        return self.get_token(token_id)

    def _tokens(self):
        return select(*_TOKEN_COLUMNS).join(users, users.c.id == tokens.c.user_id)

    def get_token(self, token_id: int) -> Token:
        with self.db.read() as conn:
            row = conn.execute(self._tokens().where(tokens.c.id == token_id)).first()
        if row is None:
            raise ResourceDoesNotExist(f"Token {token_id} not found")
        return _token(row)

    def token_by_hash(self, token_hash: str) -> tuple[Token, User] | None:
        with self.db.read() as conn:
            row = conn.execute(self._tokens().where(tokens.c.token_hash == token_hash)).first()
            if row is None:
                return None
            user = conn.execute(select(users).where(users.c.id == row.user_id)).first()
        return _token(row), _user(user)

    def list_tokens(self, username: str | None = None) -> list[Token]:
        query = self._tokens().order_by(users.c.username, tokens.c.name)
        if username is not None:
            query = query.where(users.c.username == username)
        with self.db.read() as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke_token(self, token_id: int) -> None:
        with self.db.write() as conn:
            result = conn.execute(
                update(tokens)
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now_ms())
            )
        if result.rowcount == 0:
            self.get_token(token_id)  # raises when absent; an already revoked token stays revoked

    def touch_tokens(self, used: dict[int, int]) -> None:
        """Record the last-used time of tokens (``{token id: ms}``)."""
        if not used:
            return
        with self.db.write() as conn:
            for token_id, when in used.items():
                conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=when))

    # -- grants ------------------------------------------------------------------------------
    def set_grant(
        self, user: User, kind: str, resource_id: str, permission: str, *, create: bool = False
    ) -> None:
        """Create (``create=True``: fails when one exists) or replace the grant."""
        key = and_(grants.c.user_id == user.id, grants.c.kind == kind, grants.c.resource_id == resource_id)
        with self.db.write() as conn:
            exists = conn.execute(select(grants.c.permission).where(key)).first()
            if exists is not None and create:
                raise ResourceAlreadyExists(
                    f"{kind} permission ({resource_id}, {user.username}) already exists"
                )
            if exists is None:
                conn.execute(
                    insert(grants).values(
                        user_id=user.id, kind=kind, resource_id=resource_id, permission=permission
                    )
                )
            else:
                conn.execute(update(grants).where(key).values(permission=permission))

    def get_grant(self, user: User, kind: str, resource_id: str) -> str | None:
        key = and_(grants.c.user_id == user.id, grants.c.kind == kind, grants.c.resource_id == resource_id)
        with self.db.read() as conn:
            row = conn.execute(select(grants.c.permission).where(key)).first()
        return row.permission if row else None

    def delete_grant(self, user: User, kind: str, resource_id: str) -> bool:
        key = and_(grants.c.user_id == user.id, grants.c.kind == kind, grants.c.resource_id == resource_id)
        with self.db.write() as conn:
            return conn.execute(delete(grants).where(key)).rowcount > 0

    def grants_of(self, user_id: int) -> dict[tuple[str, str], str]:
        with self.db.read() as conn:
            rows = conn.execute(select(grants).where(grants.c.user_id == user_id))
            return {(r.kind, r.resource_id): r.permission for r in rows}

    def move_grants(self, kind: str, old: str, new: str | None) -> None:
        where = and_(grants.c.kind == kind, grants.c.resource_id == old)
        with self.db.write() as conn:
            if new is None:
                conn.execute(delete(grants).where(where))
            else:
                conn.execute(update(grants).where(where).values(resource_id=new))

    def grants_on(self, kind: str, resource_id: str) -> list[tuple[str, str]]:
        query = (
            select(users.c.username, grants.c.permission)
            .join(users, users.c.id == grants.c.user_id)
            .where(grants.c.kind == kind, grants.c.resource_id == resource_id)
            .order_by(users.c.username)
        )
        with self.db.read() as conn:
            return [(r.username, r.permission) for r in conn.execute(query)]

    # -- audit -------------------------------------------------------------------------------
    def append_audit(self, entries: Iterable[AuditEntry]) -> None:
        rows = [
            {
                "timestamp": e.timestamp,
                "username": e.username,
                "method": e.method[:32],
                "action": e.action[:512],
                "resource_kind": e.resource_kind,
                "resource_id": (e.resource_id or None) and str(e.resource_id)[:512],
                "status": e.status,
                "address": e.address,
                "request_id": e.request_id,
                "detail": e.detail,
            }
            for e in entries
        ]
        if rows:
            with self.db.write() as conn:
                conn.execute(insert(audit), rows)

    def list_audit(
        self,
        username: str | None = None,
        resource: str | None = None,
        since: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> Sequence[AuditEntry]:
        query = select(audit).order_by(audit.c.id.desc()).limit(max(1, min(limit, AUDIT_PAGE_MAX)))
        if username is not None:
            query = query.where(audit.c.username == username)
        if resource:
            kind, _, rid = resource.partition(":")
            query = (
                query.where(audit.c.resource_kind == kind)
                if not rid
                else query.where(audit.c.resource_kind == kind, audit.c.resource_id == rid)
            )
        if since is not None:
            query = query.where(audit.c.timestamp >= since)
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
        with self.db.read() as conn:
            return [
                AuditEntry(
                    r.timestamp,
                    r.username,
                    r.method,
                    r.action,
                    r.status,
                    r.resource_kind,
                    r.resource_id,
                    r.address,
                    r.request_id,
                    r.detail,
                    r.id,
                )
                for r in conn.execute(query)
            ]

    def count_users(self) -> int:
        with self.db.read() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    # -- state every worker shares -----------------------------------------------------------
    def generation(self) -> int:
        """The credentials generation: it moves whenever users, tokens or grants change."""
        # the one read every authenticated request makes: through the kernel's cheapest path
        return int(self.db.read_scalar("SELECT value FROM auth_state WHERE name = 'generation'") or 0)

    def bump_generation(self) -> None:
        with self.db.write() as conn:
            bumped = conn.execute(
                update(state).where(state.c.name == "generation").values(value=state.c.value + 1)
            ).rowcount
            if not bumped:  # a schema made without the migration's first row
                conn.execute(insert(state).values(name="generation", value=1))

    def count_failures(self, keys: Sequence[str], since: int) -> int:
        """The most failed sign-ins recorded under any one of ``keys`` after ``since`` (ms)."""
        query = (
            select(func.count())
            .select_from(signin_failures)
            .where(signin_failures.c.key.in_(list(keys)), signin_failures.c.at > since)
            .group_by(signin_failures.c.key)
        )
        with self.db.read() as conn:
            return max(conn.execute(query).scalars(), default=0)

    def add_failure(self, keys: Sequence[str], at: int, forget_before: int) -> None:
        with self.db.write() as conn:
            conn.execute(insert(signin_failures), [{"key": key, "at": at} for key in keys])
            conn.execute(delete(signin_failures).where(signin_failures.c.at <= forget_before))

    def clear_failures(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(signin_failures).where(signin_failures.c.key == key))
