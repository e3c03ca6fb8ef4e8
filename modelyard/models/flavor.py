"""The Flavor protocol, and how a model folder finds the flavor that loads it.

A flavor is an object with a ``name`` (its key under ``flavors:`` in MLmodel), the MLflow
``loader_module`` it writes into the python_function flavor (so MLflow loads the folder too), the
distributions whose versions matter at load, and two loaders. ``models`` never imports a module
path written in a model file: the name is looked up in ``modelyard.plugins.FLAVORS`` (built-ins,
keyed by flavor name and by MLflow loader_module) and the ``modelyard.flavor`` entry points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelyard.models.mlmodel import PYFUNC, Model


@runtime_checkable
class Predictor(Protocol):
    """What a flavor's pyfunc loader returns: something that predicts."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


@runtime_checkable
class Flavor(Protocol):
    name: str
    loader_module: str
    key_packages: tuple[str, ...]

    def load(self, model_dir: Path, model: Model) -> Any:
        """The native object (an estimator, a booster, a PythonModel)."""

    def load_pyfunc(self, model_dir: Path, model: Model) -> Predictor:
        """An object whose ``predict(data, params)`` runs the model (no schema enforcement)."""


def get_flavor(name: str) -> Flavor:
    """The implementation registered for a flavor name or an MLflow loader_module."""
    from modelyard.plugins import FLAVORS, lookup

    return lookup(FLAVORS, "modelyard.flavor", name, "model flavor")


def pyfunc_flavor(model: Model) -> Flavor:
    """The flavor that implements the model's python_function loader_module."""
    conf = model.flavor(PYFUNC)
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader:
        from modelyard.exceptions import InvalidParameterValue

        raise InvalidParameterValue("The model's python_function flavor names no loader_module")
    return get_flavor(loader)
