"""``modelyard.register_model``: MLflow's fluent ``mlflow.register_model``."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from modelyard.entities import ModelVersion
from modelyard.exceptions import ModelyardError, ResourceAlreadyExists

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

logger = logging.getLogger(__name__)

_LOGGED_MODEL_URI = re.compile(r"models:/(m-[0-9a-f]{32})/?$")
_RUNS_URI = re.compile(r"runs:/([^/]+)(?:/.*)?$")


def register_with(
    client: TrackingClient,
    model_uri: str,
    name: str,
    *,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Register ``model_uri`` as the next version of ``name`` through ``client`` (creating the
    model if missing), and record the registration on the logged model it comes from."""
    try:
        client.create_registered_model(name)
    except ResourceAlreadyExists:
        pass
    runs = _RUNS_URI.match(model_uri)
    logged = _LOGGED_MODEL_URI.match(model_uri)
    version = client.create_model_version(
        name,
        model_uri,
        run_id=runs.group(1) if runs else None,
        tags=tags,
        description=description,
        model_id=logged.group(1) if logged else None,
    )
    if version.model_id:
        try:
            client.registry_service.link_logged_model(client.context, version.model_id, name, version.version)
        except ModelyardError as exc:  # the version exists; the back link is a convenience
            logger.warning(
                "Could not record version %s of %s on logged model %s: %s",
                version.version,
                name,
                version.model_id,
                exc,
            )
    logger.info("Created version '%s' of model '%s'.", version.version, name)
    return version


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name`` (created if missing).

    ``model_uri`` is what ``log_model`` returned (``models:/m-<id>``), ``runs:/<run_id>/<path>``, or
    another version (``models:/<name>/<version>``, ``models:/<name>@<alias>``). The registration is
    recorded on the logged model too (its ``mlflow.modelVersions`` tag), as MLflow's client does.
    Versions are ready at once (``await_registration_for`` is accepted for MLflow's sake).
    """
    from modelyard.tracking import context

    return register_with(context.current().client(), model_uri, name, tags=tags)
