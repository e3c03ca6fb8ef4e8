"""modelyard: track experiments, package and register models, serve them — MLflow-compatible.

The fluent API lives here, so ``import modelyard as mlflow`` runs a typical MLflow tracking
script unchanged. Importing is cheap: stores, SQLAlchemy and pandas load on first use.
"""

from modelyard.autologging import autolog
from modelyard.entities import ViewType
from modelyard.exceptions import ModelyardError
from modelyard.registry.fluent import register_model
from modelyard.tracking.client import MlflowClient, TrackingClient
from modelyard.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    download_artifacts,
    end_run,
    flush_async_logging,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_metric_history,
    get_parent_run,
    get_run,
    get_tracking_uri,
    last_active_run,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_experiments,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

__version__ = "0.1.0"

MlflowException = ModelyardError

# Submodules loaded on first attribute access (``modelyard.sklearn.log_model(...)``), so that
# ``import modelyard`` stays light: they import numpy, pandas, scikit-learn, ... when used.
_LAZY_SUBMODULES = frozenset({"sklearn", "xgboost", "lightgbm", "pyfunc", "models"})


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"modelyard.{name}")
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")

__all__ = [
    "ActiveRun",
    "MlflowClient",
    "MlflowException",
    "ModelyardError",
    "TrackingClient",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_metric_history",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
