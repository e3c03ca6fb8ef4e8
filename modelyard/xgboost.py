"""XGBoost models: ``save_model``, ``log_model``, ``load_model`` (see ``modelyard.flavors.xgboost``)."""

from modelyard.autologging.xgboost import autolog as autolog  # re-exported: xgboost autologging
from modelyard.flavors.xgboost import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
