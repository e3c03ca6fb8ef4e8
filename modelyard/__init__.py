"""modelyard: track experiments, package and register models, serve them — MLflow-compatible.

The fluent API lives here, so ``import modelyard as mlflow`` runs a typical MLflow tracking
script unchanged. Importing is cheap: stores, SQLAlchemy and pandas load on first use.
"""

from modelyard.exceptions import ModelyardError

__version__ = "0.1.0"

MlflowException = ModelyardError

# Names loaded on first access (PEP 562), so that ``import modelyard`` costs only what is used:
# a scoring server or a tracking server never pays for the fluent API or autologging.
_LAZY_ATTRIBUTES = {
    "autolog": "modelyard.autologging",
    "ViewType": "modelyard.entities",
    "register_model": "modelyard.tracking.registry_fluent",
    "MlflowClient": "modelyard.tracking.client",
    "TrackingClient": "modelyard.tracking.client",
    "ActiveRun": "modelyard.tracking.fluent",
    "active_run": "modelyard.tracking.fluent",
    "create_experiment": "modelyard.tracking.fluent",
    "delete_experiment": "modelyard.tracking.fluent",
    "delete_run": "modelyard.tracking.fluent",
    "delete_tag": "modelyard.tracking.fluent",
    "download_artifacts": "modelyard.tracking.fluent",
    "end_run": "modelyard.tracking.fluent",
    "flush_async_logging": "modelyard.tracking.fluent",
    "get_artifact_uri": "modelyard.tracking.fluent",
    "get_experiment": "modelyard.tracking.fluent",
    "get_experiment_by_name": "modelyard.tracking.fluent",
    "get_metric_history": "modelyard.tracking.fluent",
    "get_parent_run": "modelyard.tracking.fluent",
    "get_run": "modelyard.tracking.fluent",
    "get_tracking_uri": "modelyard.tracking.fluent",
    "last_active_run": "modelyard.tracking.fluent",
    "list_artifacts": "modelyard.tracking.fluent",
    "log_artifact": "modelyard.tracking.fluent",
    "log_artifacts": "modelyard.tracking.fluent",
    "log_dict": "modelyard.tracking.fluent",
    "log_figure": "modelyard.tracking.fluent",
    "log_input": "modelyard.tracking.fluent",
    "log_metric": "modelyard.tracking.fluent",
    "log_metrics": "modelyard.tracking.fluent",
    "log_param": "modelyard.tracking.fluent",
    "log_params": "modelyard.tracking.fluent",
    "log_text": "modelyard.tracking.fluent",
    "search_experiments": "modelyard.tracking.fluent",
    "search_runs": "modelyard.tracking.fluent",
    "set_experiment": "modelyard.tracking.fluent",
    "set_experiment_tag": "modelyard.tracking.fluent",
    "set_tag": "modelyard.tracking.fluent",
    "set_tags": "modelyard.tracking.fluent",
    "set_tracking_uri": "modelyard.tracking.fluent",
    "start_run": "modelyard.tracking.fluent",
    "evaluate": "modelyard.evaluation",
    "validate_evaluation_results": "modelyard.evaluation",
}
# Submodules loaded on first attribute access (``modelyard.sklearn.log_model(...)``): they import
# numpy, pandas, scikit-learn, ... when used.
_LAZY_SUBMODULES = frozenset({"sklearn", "xgboost", "lightgbm", "pyfunc", "models", "automl", "retrain"})


def __getattr__(name: str):
    import importlib

    if name in _LAZY_ATTRIBUTES:
        value = getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value  # later lookups are plain module attributes
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"modelyard.{name}")
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES) | _LAZY_SUBMODULES)


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
    "evaluate",
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
    "validate_evaluation_results",
]
