"""Autologging options: one frozen ``AutologConfig`` per integration, in a small registry.

A leaf module (standard library and ``modelyard.exceptions`` only). Patched functions read
their integration's config at call time, so calling ``autolog(...)`` again with other
options takes effect on the next fit without re-patching anything.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from modelyard.exceptions import InvalidParameterValue

AUTOLOGGING_TAG = "mlflow.autologging"
INTEGRATIONS = ("sklearn", "xgboost", "lightgbm")


@dataclass(frozen=True, slots=True)
class AutologConfig:
    """What one integration logs; the fields and defaults are MLflow's ``autolog`` options."""

    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = True
    log_datasets: bool = True
    disable: bool = False
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # scikit-learn
    max_tuning_runs: int | None = 5
    log_post_training_metrics: bool = True
    serialization_format: str = "cloudpickle"
    pos_label: Any = None
    # xgboost
    importance_types: tuple[str, ...] = ("weight",)
    model_format: str | None = None  # None: the xgboost flavor's default format

    def __post_init__(self) -> None:
        if self.max_tuning_runs is not None and (
            isinstance(self.max_tuning_runs, bool) or not isinstance(self.max_tuning_runs, int) or self.max_tuning_runs < 0
        ):
            raise InvalidParameterValue(
                f"max_tuning_runs must be None or a non-negative integer, got {self.max_tuning_runs!r}"
            )
        if self.registered_model_name is not None and not isinstance(self.registered_model_name, str):
            raise InvalidParameterValue("registered_model_name must be a string")
        object.__setattr__(self, "extra_tags", MappingProxyType(_check_tags(self.extra_tags)))
        object.__setattr__(self, "importance_types", _check_importance_types(self.importance_types))


def _check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameterValue(f"extra_tags must be a dict, got {type(tags).__name__}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str):
            raise InvalidParameterValue(f"extra_tags keys must be strings, got {key!r}")
        if key == AUTOLOGGING_TAG:
            continue  # reserved: autologging sets it itself
        out[key] = value if isinstance(value, str) else str(value)
    return out


def _check_importance_types(types: Any) -> tuple[str, ...]:
    if types is None:
        return ("weight",)
    if isinstance(types, str):
        return (types,)
    return tuple(str(t) for t in types)


_lock = threading.Lock()
_configs: dict[str, AutologConfig] = {}


def get(integration: str) -> AutologConfig | None:
    """The integration's current options, or None if its autolog() was never called."""
    return _configs.get(integration)


def put(integration: str, config: AutologConfig) -> None:
    with _lock:
        _configs[integration] = config


def is_enabled(integration: str) -> bool:
    cfg = _configs.get(integration)
    return cfg is not None and not cfg.disable


def clear() -> None:
    """Forget every integration's options (tests; autolog(disable=True) is the public way)."""
    with _lock:
        _configs.clear()


# Versions the integrations are tested with: [lowest, below) by leading numeric parts.
SUPPORTED_VERSIONS = {"sklearn": ((1, 0), (1, 10)), "xgboost": ((2, 0), (4, 0)), "lightgbm": ((4, 0), (5, 0))}


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() < len(piece):  # "0rc1": a pre-release of the number before it
            break
    return tuple(parts)


def is_supported_version(integration: str, version: str) -> bool:
    low, high = SUPPORTED_VERSIONS[integration]
    return low <= version_tuple(version) < high


def make(**options: Any) -> AutologConfig:
    """An AutologConfig from keyword options, rejecting unknown names with a clear message."""
    known = set(AutologConfig.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"autolog() got unexpected keyword argument(s): {', '.join(unknown)}")
    return AutologConfig(**options)
