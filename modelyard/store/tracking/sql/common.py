"""Small pieces the SQL store modules share: times, URIs, ids, page offsets, error translation."""

from __future__ import annotations

import logging
import re
import time

from sqlalchemy.exc import DBAPIError, IntegrityError

from modelyard import validation as v
from modelyard.entities import LifecycleStage
from modelyard.exceptions import InvalidParameterValue, ModelyardError, ResourceAlreadyExists

logger = logging.getLogger("modelyard.store.tracking.sql.store")

RUN_NAME_TAG = "mlflow.runName"
ACTIVE = LifecycleStage.ACTIVE.value
DELETED = LifecycleStage.DELETED.value
_DIGITS = re.compile(r"[0-9]{1,19}")


def now_ms() -> int:
    return int(time.time() * 1000)


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def offset_from_token(token: dict | None) -> int:
    if not token:
        return 0
    offset = token.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterValue("Invalid page token: bad offset")
    return offset


def experiment_int(experiment_id: object) -> int:
    """A SQL experiment id: digits only, within BIGINT (else every backend failed differently)."""
    text = (
        str(experiment_id)
        if isinstance(experiment_id, int) and not isinstance(experiment_id, bool)
        else experiment_id
    )
    if not isinstance(text, str) or not _DIGITS.fullmatch(text) or int(text) > v.INT64_MAX:
        raise InvalidParameterValue(
            f"Invalid experiment ID: '{experiment_id}'; experiment ids are integers in a SQL store"
        )
    return int(text)


def require_active_experiment(row, action: str) -> None:
    if row.lifecycle_stage != ACTIVE:
        raise InvalidParameterValue(
            f"Cannot {action} a non-active experiment. Experiment {row.experiment_id} is {row.lifecycle_stage}."
        )


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
