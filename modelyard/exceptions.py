"""The modelyard error tree.

Every error carries an MLflow-compatible ``error_code`` and the HTTP status a
server answers with, so the same ``except ResourceDoesNotExist`` works whether
the client talks to a database or to a server::

    ModelyardError                      INTERNAL_ERROR            500
    ├── InvalidParameterValue           INVALID_PARAMETER_VALUE   400
    │   └── BadRequest                  BAD_REQUEST               400
    ├── ResourceDoesNotExist            RESOURCE_DOES_NOT_EXIST   404
    │   └── EndpointNotFound            ENDPOINT_NOT_FOUND        404
    ├── ResourceAlreadyExists           RESOURCE_ALREADY_EXISTS   400 (as MLflow)
    ├── ResourceConflict                RESOURCE_CONFLICT         409
    ├── PermissionDenied                PERMISSION_DENIED         403
    ├── Unauthenticated                 UNAUTHENTICATED           401
    ├── RequestLimitExceeded            REQUEST_LIMIT_EXCEEDED    429
    │   └── PayloadTooLarge             REQUEST_LIMIT_EXCEEDED    413
    ├── InvalidState                    INVALID_STATE             500
    ├── ModelValidationFailed           INTERNAL_ERROR            500 (evaluate's thresholds; as MLflow)
    ├── NotImplementedFeature           NOT_IMPLEMENTED           501
    ├── TemporarilyUnavailable          TEMPORARILY_UNAVAILABLE   503
    └── DeadlineExceeded                DEADLINE_EXCEEDED         504

This is a leaf module: it imports nothing from modelyard.
"""

from __future__ import annotations


class ModelyardError(Exception):
    """Base of every modelyard error."""

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"


class InvalidParameterValue(ModelyardError):
    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class BadRequest(InvalidParameterValue):
    error_code = "BAD_REQUEST"


class ResourceDoesNotExist(ModelyardError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class EndpointNotFound(ResourceDoesNotExist):
    error_code = "ENDPOINT_NOT_FOUND"


class ResourceAlreadyExists(ModelyardError):
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class ResourceConflict(ModelyardError):
    error_code = "RESOURCE_CONFLICT"
    http_status = 409


class PermissionDenied(ModelyardError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class Unauthenticated(ModelyardError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class RequestLimitExceeded(ModelyardError):
    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429


class PayloadTooLarge(RequestLimitExceeded):
    """A request body over the server's limit (HTTP 413)."""

    http_status = 413


class InvalidState(ModelyardError):
    error_code = "INVALID_STATE"
    http_status = 500


class ModelValidationFailed(ModelyardError):
    """A model did not meet its validation thresholds (``modelyard.evaluate``); ``failures`` lists
    each unmet one. MLflow's ``ModelValidationFailedException``."""

    def __init__(self, message: str, failures: list | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


ModelValidationFailedException = ModelValidationFailed


class NotImplementedFeature(ModelyardError):
    error_code = "NOT_IMPLEMENTED"
    http_status = 501


class TemporarilyUnavailable(ModelyardError):
    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class DeadlineExceeded(ModelyardError):
    error_code = "DEADLINE_EXCEEDED"
    http_status = 504


_BY_CODE: dict[str, type[ModelyardError]] = {
    cls.error_code: cls
    for cls in (
        ModelyardError,
        InvalidParameterValue,
        BadRequest,
        ResourceDoesNotExist,
        EndpointNotFound,
        ResourceAlreadyExists,
        ResourceConflict,
        PermissionDenied,
        Unauthenticated,
        RequestLimitExceeded,
        InvalidState,
        NotImplementedFeature,
        TemporarilyUnavailable,
        DeadlineExceeded,
    )
}
# Codes MLflow uses that share a class with one above.
_BY_CODE.update(
    {
        "NOT_FOUND": ResourceDoesNotExist,
        "ALREADY_EXISTS": ResourceConflict,
        "ABORTED": ResourceConflict,
        "RESOURCE_EXHAUSTED": RequestLimitExceeded,
        "CUSTOMER_UNAUTHORIZED": Unauthenticated,
        "DATA_LOSS": ModelyardError,
    }
)


def error_for_code(error_code: str, message: str) -> ModelyardError:
    """Build the error class that matches an MLflow ``error_code`` (used by REST clients)."""
    cls = _BY_CODE.get(error_code, ModelyardError)
    return cls(message, error_code=error_code)
