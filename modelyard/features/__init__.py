"""Feature tables and batch inference: ``FeatureClient``, ``FeatureLookup``, training sets,
``score_batch`` (pandas/Arrow and Spark) and online lookup. Needs the ``features`` extra
(``deltalake``, ``duckdb``, ``redis``).

The names are imported on first use: a Spark Python worker that unpickles a UDF of
``modelyard.features.spark`` then imports only what the UDF needs, not the whole client
(the tracking client and its stores: about a second per worker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.features.client import FeatureClient
    from modelyard.features.lookup import FeatureLookup
    from modelyard.features.spec import FeatureSpec
    from modelyard.features.training_set import TrainingSet

_LAZY = {
    "FeatureClient": "modelyard.features.client",
    "FeatureLookup": "modelyard.features.lookup",
    "FeatureSpec": "modelyard.features.spec",
    "TrainingSet": "modelyard.features.training_set",
}

__all__ = ["FeatureClient", "FeatureLookup", "FeatureSpec", "TrainingSet"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
