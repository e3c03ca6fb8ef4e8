"""LightGBM models: ``save_model``, ``log_model``, ``load_model`` (see ``modelyard.flavors.lightgbm``)."""

from modelyard.autologging.lightgbm import autolog as autolog  # re-exported: lightgbm autologging
from modelyard.flavors.lightgbm import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
