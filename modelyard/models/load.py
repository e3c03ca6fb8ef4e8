"""Loading a model folder: as the generic predictor (python_function) or as a flavor's native object.

Loading a model runs code it carries: a pickle-based model (cloudpickle, pickle, a custom
PythonModel) executes whatever its files say when deserialised, and a model's ``code/`` folder is
put on ``sys.path``. Load only models you trust. The loaders log which file they unpickle.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from modelyard.models.environment import check_environment
from modelyard.models.flavor import get_flavor, pyfunc_flavor
from modelyard.models.mlmodel import PYFUNC, Model, model_file
from modelyard.models.pyfunc import PyFuncModel
from modelyard.models.uri import download_model


def load_pyfunc(model_uri: str | Path, dst_path: str | Path | None = None, tracking_uri: str | None = None) -> PyFuncModel:
    """The model at ``model_uri`` (any URI ``models.uri`` resolves) as a ``PyFuncModel``."""
    local = download_model(str(model_uri), dst_path, tracking_uri)
    model = Model.load(local)
    flavor = pyfunc_flavor(model)
    conf = model.flavor(PYFUNC)
    check_environment(local, flavor.key_packages, conf.get("python_version"))
    add_code_path(local, conf.get("code"))
    return PyFuncModel(model, flavor.load_pyfunc(local, model), local)


def load_native(
    model_uri: str | Path, flavor_name: str, dst_path: str | Path | None = None, tracking_uri: str | None = None
) -> Any:
    """The native object of flavor ``flavor_name`` (an estimator, a booster, a PythonModel)."""
    local = download_model(str(model_uri), dst_path, tracking_uri)
    model = Model.load(local)
    flavor = get_flavor(flavor_name)
    conf = model.flavor(flavor.name)
    check_environment(local, flavor.key_packages, model.flavors.get(PYFUNC, {}).get("python_version"))
    add_code_path(local, conf.get("code") or model.flavors.get(PYFUNC, {}).get("code"))
    return flavor.load(local, model)


def add_code_path(model_dir: Path, code: str | None) -> None:
    """Put the model's ``code/`` folder (its ``code_paths``) first on ``sys.path``."""
    if not code:
        return
    folder = str(model_file(model_dir, code))
    if folder not in sys.path:
        sys.path.insert(0, folder)
