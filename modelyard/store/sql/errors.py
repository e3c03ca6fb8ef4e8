"""Driver and database errors -> the modelyard error tree (the one place it happens).

``Database.read()`` and ``Database.write()`` raise ``translate(exc) from exc`` for every
``DBAPIError``: a unique key becomes ``ResourceAlreadyExists``, another constraint
``InvalidParameterValue``, anything else a generic ``ModelyardError`` whose text never carries the
driver's message (that goes to the server log).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, IntegrityError

from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceAlreadyExists

logger = logging.getLogger(__name__)


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
