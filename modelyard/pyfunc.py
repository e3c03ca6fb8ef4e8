"""The generic model interface: ``load_model`` gives a ``PyFuncModel`` for any flavor; custom models
subclass ``PythonModel`` and are saved or logged with ``save_model`` / ``log_model``.

Loading a model runs code it carries (pickled objects, its ``code/`` folder): load only models
from sources you trust.
"""

from modelyard.flavors.pyfunc import PythonModel, PythonModelContext, log_model, save_model
from modelyard.models.load import load_pyfunc as load_model
from modelyard.models.mlmodel import PYFUNC as FLAVOR_NAME
from modelyard.models.pyfunc import PyFuncModel

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]
