"""The MLflow Model format: MLmodel spec, signatures, input examples, environments, save/load.

Layout: ``mlmodel.py`` (the MLmodel file, ModelInfo), ``schema.py`` + ``signature.py`` (schemas,
inference), ``enforce.py`` (schema enforcement on predict), ``examples.py`` (input examples),
``environment.py`` (requirements, python_env.yaml, conda.yaml), ``uri.py`` (model URIs to a local
folder), ``flavor.py`` (the Flavor protocol and dispatch), ``save.py`` / ``log.py`` / ``load.py``
(the shared save, log and load flows), ``pyfunc.py`` (the generic predictor). Flavors live in
``modelyard.flavors`` and import this package, never the reverse.

Importing this package does not import numpy or pandas.
"""

from modelyard.models.mlmodel import Model, ModelInfo
from modelyard.models.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from modelyard.models.signature import ModelSignature, infer_signature
from modelyard.models.thresholds import MetricThreshold

__all__ = [
    "ColSpec",
    "DataType",
    "MetricThreshold",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "get_model_info",
    "infer_signature",
    "load_model",
]



def load_model(model_uri: str, dst_path: str | None = None):
    """The model at ``model_uri`` as the generic predictor (same as ``modelyard.pyfunc.load_model``)."""
    from modelyard.models.load import load_pyfunc

    return load_pyfunc(model_uri, dst_path)


def get_model_info(model_uri: str) -> Model:
    """The MLmodel of the model at ``model_uri`` (downloaded if remote)."""
    from modelyard.models.uri import download_model

    return Model.load(download_model(model_uri))
