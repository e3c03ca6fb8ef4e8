"""The tracking server: ``create_app(settings)`` builds the ASGI app (MLflow's REST API)."""

from modelyard.server.app import create_app

__all__ = ["create_app"]
