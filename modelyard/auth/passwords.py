"""Passwords: argon2id hashes (argon2-cffi) and the policy a new password must meet."""

from __future__ import annotations

import functools
import re
from importlib import resources

from modelyard.exceptions import InvalidParameterValue

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 hashes anything, but nobody needs a megabyte of password


@functools.cache
def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # pragma: no cover - the extra is part of every test install
        raise InvalidParameterValue(
            "Authentication needs the 'auth' extra: pip install 'modelyard[auth]'"
        ) from exc
    # OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane): memory-hard, and a sign-in costs
    # one core for tens of milliseconds instead of four cores for the library default's 64 MiB.
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("modelyard.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_policy(password: str | None, username: str | None = None, min_length: int = MIN_LENGTH) -> str:
    """Return ``password`` if it may be used, else raise InvalidParameterValue naming the rule."""
    if not isinstance(password, str) or not password:
        raise InvalidParameterValue("Invalid password: it cannot be empty")
    if len(password) < min_length:
        raise InvalidParameterValue(f"Invalid password: it must be at least {min_length} characters long")
    if len(password) > MAX_LENGTH:
        raise InvalidParameterValue(f"Invalid password: it must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    stem = re.sub(r"[0-9!.]+$", "", lowered)
    if lowered in common_passwords() or stem in common_passwords() or len(set(lowered)) < 4:
        raise InvalidParameterValue("Invalid password: it is one of the most commonly used passwords")
    if username and username.lower() in lowered:
        raise InvalidParameterValue("Invalid password: it must not contain the user name")
    return password


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (False for any malformed hash)."""
    if not stored_hash:
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)
