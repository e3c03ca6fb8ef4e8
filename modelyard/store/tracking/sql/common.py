"""Small pieces the SQL tracking modules share: run/experiment states and ids."""

from __future__ import annotations

import re

from modelyard import validation as v
from modelyard.entities import LifecycleStage
from modelyard.exceptions import InvalidParameterValue

RUN_NAME_TAG = "mlflow.runName"
ACTIVE = LifecycleStage.ACTIVE.value
DELETED = LifecycleStage.DELETED.value
_DIGITS = re.compile(r"[0-9]{1,19}")


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
