"""``PyFuncModel``: the one generic predictor every loaded model is wrapped in.

``predict(data, params=None)`` enforces the signature (see ``enforce.py``) and calls the flavor's
predictor; without a signature data and params pass unchanged. ``metadata`` is the MLmodel
(``Model``); ``unwrap_python_model()`` gives the ``PythonModel`` of a custom model;
``get_raw_model()`` the native object (estimator, booster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.models.enforce import enforce_input, enforce_params
from modelyard.models.flavor import Predictor
from modelyard.models.mlmodel import PYFUNC, Model


class PyFuncModel:
    def __init__(self, model: Model, impl: Predictor, model_dir: Path | None = None) -> None:
        self._model = model
        self._impl = impl
        self.model_dir = model_dir
        sig = model.signature
        self._signed = sig is not None
        self._inputs = sig.inputs if sig is not None else None
        self._params = sig.params if sig is not None else None

    @property
    def metadata(self) -> Model:
        return self._model

    @property
    def loader_module(self) -> str | None:
        return self._model.flavors.get(PYFUNC, {}).get("loader_module")

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for ``data``; InvalidParameterValue when it does not fit the signature."""
        if self._signed:
            data = enforce_input(data, self._inputs)
            params = enforce_params(params, self._params)
        return self._impl.predict(data, params)

    def unwrap_python_model(self) -> Any:
        """The ``PythonModel`` instance of a custom model."""
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise InvalidParameterValue(
                f"unwrap_python_model() needs a custom python model; this one is loaded by {self.loader_module}"
            )
        return python_model

    def get_raw_model(self) -> Any:
        """The native model object (estimator, booster, PythonModel)."""
        raw = getattr(self._impl, "raw_model", None)
        return raw if raw is not None else self.unwrap_python_model()

    def __repr__(self) -> str:
        flavors = ", ".join(sorted(f for f in self._model.flavors if f != PYFUNC))
        where = f" from {self.model_dir}" if self.model_dir else ""
        return f"<PyFuncModel {flavors or self.loader_module}{where}>"
