"""Checks on URIs that clients send: an experiment's artifact_location.

A client may never point an artifact location at the server's own disk (no plain paths, no
``file:``) nor smuggle traversal through encodings, queries, fragments or ``;params``
(MLflow's CVE-2023-6909, CVE-2024-1483, -1593, -1594, -2928, -3848 family).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from modelyard.exceptions import InvalidParameterValue

ALLOWED_SCHEMES = ("mlflow-artifacts", "s3")
MAX_LOCATION_LENGTH = 2000


def _fully_decoded(text: str) -> str:
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    raise InvalidParameterValue("artifact_location is encoded too many times")


def validate_artifact_location(location: str) -> str:
    if len(location) > MAX_LOCATION_LENGTH:
        raise InvalidParameterValue(f"artifact_location is longer than {MAX_LOCATION_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in location) or "\\" in location:
        raise InvalidParameterValue("artifact_location contains control characters or backslashes")
    parts = urlsplit(location)
    if parts.scheme not in ALLOWED_SCHEMES:
        raise InvalidParameterValue(
            f"artifact_location must use one of the schemes {', '.join(s + ':' for s in ALLOWED_SCHEMES)}; "
            "local paths and file: URIs are not accepted from clients"
        )
    if parts.query or parts.fragment or ";" in parts.path or "?" in location or "#" in location:
        raise InvalidParameterValue("artifact_location may not carry a query, fragment or ;params")
    decoded = _fully_decoded(location)
    segments = urlsplit(decoded).path.split("/")
    if any(s in ("..", ".") for s in segments) or "\\" in decoded:
        raise InvalidParameterValue("artifact_location may not contain '..' or '.' segments")
    if parts.scheme == "mlflow-artifacts" and parts.netloc:
        raise InvalidParameterValue(
            "An mlflow-artifacts: artifact_location may not name a host (it would send artifacts elsewhere)"
        )
    if parts.scheme == "s3" and not parts.netloc:
        raise InvalidParameterValue("An s3:// artifact_location needs a bucket name")
    return location
