"""The tracking server: ``create_app(settings)`` builds the ASGI app (MLflow's REST API).

``create_app`` is imported when first asked for: ``modelyard server`` imports ``prefork`` and the
store modules from here before the app (its schema check starts meanwhile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from modelyard.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
