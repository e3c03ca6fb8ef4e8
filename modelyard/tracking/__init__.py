"""The explicit client (``MlflowClient``) and the fluent layer."""

from modelyard.tracking.client import MlflowClient, TrackingClient

__all__ = ["MlflowClient", "TrackingClient"]
