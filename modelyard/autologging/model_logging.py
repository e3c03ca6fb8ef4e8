"""Logging the trained model through the public flavor modules (``modelyard.sklearn`` ...).

Autologging does not know how models are saved: it calls the flavor's ``log_model`` with
the options the user chose (``log_input_examples``, ``log_model_signatures``,
``registered_model_name``), passing only the keywords that ``log_model`` accepts. When the
flavor module or its ``log_model`` is not there, the model is skipped with an INFO line.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

from modelyard.autologging.safety import Session

logger = logging.getLogger(__name__)

EXAMPLE_ROWS = 5


def flavor_log_model(flavor: str) -> Callable | None:
    try:
        module = importlib.import_module(f"modelyard.{flavor}")
    except ImportError:
        return None
    return getattr(module, "log_model", None)


def input_example(features: Any) -> Any:
    """The first rows of the training data, dense (sparse rows are densified: 5 of them)."""
    if features is None:
        return None
    head = features.head(EXAMPLE_ROWS) if hasattr(features, "head") and hasattr(features, "columns") else features[:EXAMPLE_ROWS]
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(head):
        head = head.toarray()
    return head


def infer_signature(model_input: Any, model_output: Any) -> Any:
    """The models package's signature for (input, output), or None when it has none."""
    for module_name in ("modelyard.models", "modelyard.models.signature"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        infer = getattr(module, "infer_signature", None)
        if infer is not None:
            return infer(model_input, model_output)
    return None


def _accepted(fn: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: val for k, val in kwargs.items() if k in params}


def log_model(
    session: Session,
    flavor: str,
    model: Any,
    *,
    name: str = "model",
    features: Any = None,
    predict: Callable[[Any], Any] | None = None,
    register: bool = True,
    **extra: Any,
) -> Any:
    """Log ``model`` with ``modelyard.<flavor>.log_model``; returns its ModelInfo or None."""
    log_fn = flavor_log_model(flavor)
    if log_fn is None:
        logger.info("Not logging the %s model: modelyard.%s.log_model is not available", flavor, flavor)
        return None
    cfg = session.config
    kwargs: dict[str, Any] = {"name": name, **extra}
    example = input_example(features) if (cfg.log_input_examples or cfg.log_model_signatures) else None
    if cfg.log_input_examples and example is not None:
        kwargs["input_example"] = example
    if not cfg.log_model_signatures:
        kwargs["signature"] = False  # none at all (None would let log_model infer one)
    elif example is not None and predict is not None:
        try:
            signature = infer_signature(example, predict(example))
        except Exception as exc:
            session.report("inferring the model signature", exc)
            signature = None
        if signature is not None:
            kwargs["signature"] = signature
    registered_name = cfg.registered_model_name if register else None
    if registered_name:
        kwargs["registered_model_name"] = registered_name
    accepted = _accepted(log_fn, kwargs)
    info = log_fn(model, **accepted)
    if registered_name and "registered_model_name" not in accepted and info is not None:
        import modelyard

        register_model = getattr(modelyard, "register_model", None)
        if register_model is not None:
            register_model(info.model_uri, registered_name)
    return info
