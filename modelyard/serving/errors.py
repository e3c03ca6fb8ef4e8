"""Errors of the scoring server that the shared tree has no status for, and the model-error wrapper.

``UnsupportedMediaType`` (415) joins ``PayloadTooLarge`` (413), ``DeadlineExceeded`` (504),
``InvalidParameterValue`` / ``BadRequest`` (400) and ``TemporarilyUnavailable`` (503) from
``modelyard.exceptions``. ``model_error`` turns whatever a model raised into the 400 MLflow's scoring
server answers, without the stack trace.
"""

from __future__ import annotations

from modelyard.exceptions import BadRequest, InvalidParameterValue, ModelyardError


class UnsupportedMediaType(BadRequest):
    """A body whose Content-Type the scoring server does not read (HTTP 415)."""

    http_status = 415


def model_error(exc: BaseException) -> ModelyardError:
    """The client-facing error for an exception raised while predicting."""
    if isinstance(exc, InvalidParameterValue):  # the signature check: names the column
        return InvalidParameterValue(f"Failed to predict data: {exc.message}")
    if isinstance(exc, ModelyardError):
        return exc
    return BadRequest(
        "Encountered an unexpected error while evaluating the model. Verify that the input is compatible "
        f"with the model for inference. Error: {type(exc).__name__}: {str(exc)[:500]}"
    )
