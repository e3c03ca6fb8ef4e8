"""Driver and database errors -> the modelyard error tree (the one place it happens).

``Database.read()`` and ``Database.write()`` raise ``translate(exc) from exc`` for every
``DBAPIError``: a unique key becomes ``ResourceAlreadyExists``, another constraint
``InvalidParameterValue``, anything else a generic ``ModelyardError`` whose text never carries the
driver's message (that goes to the server log).
"""

from __future__ import annotations

import logging
import random

from sqlalchemy.exc import DBAPIError, IntegrityError

from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceAlreadyExists

logger = logging.getLogger(__name__)

# Errors after which the whole transaction may simply run again: PostgreSQL's serialization
# failure and deadlock (SQLSTATE), MySQL/MariaDB's deadlock and lock wait timeout (error codes).
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
_TRANSIENT_MYSQL_CODES = frozenset({1213, 1205})


def translate(exc: DBAPIError) -> ModelyardError:
    if isinstance(exc, IntegrityError):
        text = str(getattr(exc, "orig", exc)).lower()
        if any(s in text for s in ("unique", "duplicate")):
            return ResourceAlreadyExists("A record with the same key already exists")
        return InvalidParameterValue("The request conflicts with stored data (a constraint was violated)")
    logger.error("database error: %s", first_line(exc))
    return ModelyardError("Database error; the details are in the server log")


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (a DBAPIError, or an error raised from one) is a deadlock or serialization
    failure: the transaction was rolled back and running it again may succeed."""
    if not isinstance(exc, DBAPIError):
        exc = exc.__cause__  # type: ignore[assignment]
        if not isinstance(exc, DBAPIError):
            return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in _TRANSIENT_MYSQL_CODES


def retry_delay(attempt: int) -> float:
    """Seconds to wait before running a transaction again after its ``attempt``-th transient failure
    (``is_transient``): a little more each time, spread so that two that clashed do not clash again."""
    return random.uniform(0.005, 0.05) * attempt
