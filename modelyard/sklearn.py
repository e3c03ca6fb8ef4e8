"""scikit-learn models: ``save_model``, ``log_model``, ``load_model`` (see ``modelyard.flavors.sklearn``)."""

from modelyard.autologging.sklearn import autolog as autolog  # re-exported: sklearn autologging
from modelyard.flavors.sklearn import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "load_model",
    "log_model",
    "save_model",
]
