"""Autologging: one call logs params, metrics, model, signature and dataset of training runs.

``modelyard.autolog()`` turns on every supported library: at once for those already
imported, through a post-import hook for the others (so ``import xgboost`` after
``autolog()`` is autologged too, and a library that is never imported costs nothing).
``modelyard.sklearn.autolog(...)``, ``modelyard.xgboost.autolog(...)`` and
``modelyard.lightgbm.autolog(...)`` turn on one library with its own options.

Importing this package is cheap: the integrations (and the libraries they patch) load only
when a library is there to be autologged.

Layout: ``config`` (options), ``hooks`` (post-import hooks), ``safety`` (patching, sessions,
never-break guarantees), ``batch`` (batched logging), ``datasets``, ``model_logging``,
``figures``, ``estimators`` + ``search`` + ``post_training`` + ``sklearn``, ``boosting`` +
``xgboost`` + ``lightgbm``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from modelyard.autologging import hooks
from modelyard.autologging.config import INTEGRATIONS

# library module name -> the integration module that autologs it
LIBRARY_TO_INTEGRATION = {
    "sklearn": "modelyard.autologging.sklearn",
    "xgboost": "modelyard.autologging.xgboost",
    "lightgbm": "modelyard.autologging.lightgbm",
}

_lock = threading.Lock()
_requested: dict[str, dict[str, Any]] = {}  # library -> the options of the latest autolog()

__all__ = ["INTEGRATIONS", "autolog"]


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, Any] | None = None,
    exclude_flavors: Iterable[str] | None = None,
    log_traces: bool = True,
) -> None:
    """Autolog scikit-learn, XGBoost and LightGBM, now or as soon as they are imported.

    The options (MLflow's ``mlflow.autolog``) apply to every library; ``exclude_flavors``
    leaves some alone (e.g. ``["sklearn"]``). Call a library's own ``autolog`` for its
    specific options (``max_tuning_runs``, ``importance_types``, ...). ``log_traces`` is
    accepted for MLflow scripts and ignored: no GenAI library is autologged.
    """
    shared = {
        "log_input_examples": log_input_examples,
        "log_model_signatures": log_model_signatures,
        "log_models": log_models,
        "log_datasets": log_datasets,
        "disable": disable,
        "exclusive": exclusive,
        "disable_for_unsupported_versions": disable_for_unsupported_versions,
        "silent": silent,
        "extra_tags": extra_tags,
    }
    excluded = set(exclude_flavors or ())
    for library in LIBRARY_TO_INTEGRATION:
        if library in excluded:
            continue
        with _lock:
            waiting = library in _requested
            _requested[library] = shared
        if not waiting:
            hooks.register_post_import_hook(_enable, library)


def _enable(module: ModuleType) -> None:
    """Post-import hook: run the library's autolog with the latest options asked for."""
    library = module.__name__
    with _lock:
        options = _requested.pop(library, None)
    if options is None:
        return
    try:
        importlib.import_module(LIBRARY_TO_INTEGRATION[library]).autolog(**options)
    except Exception as exc:
        from modelyard.autologging import safety

        safety.report(library, "turning autologging on", exc)
