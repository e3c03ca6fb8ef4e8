"""The scikit-learn flavor: MLflow's ``sklearn`` layout, loadable by ``mlflow.sklearn`` as well.

MLmodel: ``sklearn: {pickled_model, serialization_format, sklearn_version, skops_trusted_types,
code}`` and ``python_function: {loader_module: mlflow.sklearn, model_path, predict_fn, ...}``.
The estimator is stored with skops (``model.skops``, the default when skops is installed) or, when
asked with ``serialization_format=``, cloudpickle / pickle (``model.pkl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.flavors import _serialize
from modelyard.models.log import flavor_log_model
from modelyard.models.mlmodel import PYFUNC, Model, model_file
from modelyard.models.signature import ModelSignature

FLAVOR_NAME = "sklearn"
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMAT_SKOPS = _serialize.SKOPS
SERIALIZATION_FORMAT_CLOUDPICKLE = _serialize.CLOUDPICKLE
SERIALIZATION_FORMAT_PICKLE = _serialize.PICKLE
SUPPORTED_SERIALIZATION_FORMATS = list(_serialize.FORMATS)
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


def save_model(
    sk_model: Any,
    path: str | Path,
    *,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    code_paths: Sequence[str | Path] | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save an estimator (or pipeline) as a model folder at ``path``."""
    import sklearn

    from modelyard.models.save import save_model_folder

    fmt = _serialize.check_format(serialization_format)
    if pyfunc_predict_fn not in PREDICT_FNS:
        raise InvalidParameterValue(f"pyfunc_predict_fn must be one of {', '.join(PREDICT_FNS)}")
    file_name = _serialize.FILE_NAMES[fmt]
    has_predict = callable(getattr(sk_model, pyfunc_predict_fn, None))

    def write(model_dir: Path) -> tuple[dict, dict | None]:
        trusted = _serialize.dump(sk_model, model_dir / file_name, fmt, skops_trusted_types)
        conf = {
            "pickled_model": file_name,
            "serialization_format": fmt,
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": trusted,
        }
        pyfunc = {"model_path": file_name, "predict_fn": pyfunc_predict_fn} if has_predict else None
        return conf, pyfunc

    return save_model_folder(
        path,
        flavor_name=FLAVOR_NAME,
        loader_module=LOADER_MODULE,
        write=write,
        predict=SklearnPredictor(sk_model, pyfunc_predict_fn).predict if has_predict else None,
        packages=["scikit-learn", "numpy", "scipy", "pandas", *_serialize.PACKAGES[fmt]],
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


log_model = flavor_log_model(save_model, "an estimator")


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> Any:
    """The estimator of the model at ``model_uri``."""
    from modelyard.models.load import load_native

    return load_native(model_uri, FLAVOR_NAME, dst_path)


class SklearnPredictor:
    def __init__(self, estimator: Any, predict_fn: str = "predict") -> None:
        from modelyard.flavors._sklearn_arrays import ArrayPath

        self.raw_model = estimator
        self._predict = getattr(estimator, predict_fn)
        self._arrays = ArrayPath(estimator, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._arrays.applies(data):  # same columns as fitted, numeric: skip the per-call name check
            return self._arrays.call(data)
        return self._predict(data)


class SklearnFlavor:
    name = FLAVOR_NAME
    loader_module = LOADER_MODULE
    key_packages = ("scikit-learn", "skops", "cloudpickle")

    def load(self, model_dir: Path, model: Model) -> Any:
        conf = model.flavors.get(FLAVOR_NAME)
        if conf is None:  # an old model with only python_function: MLflow assumes pickle
            conf = {"pickled_model": model.flavor(PYFUNC).get("model_path"), "serialization_format": "pickle"}
        path = model_file(model_dir, conf.get("pickled_model"))
        return _serialize.load(
            path, conf.get("serialization_format") or "pickle", conf.get("skops_trusted_types")
        )

    def load_pyfunc(self, model_dir: Path, model: Model) -> SklearnPredictor:
        predict_fn = model.flavor(PYFUNC).get("predict_fn") or "predict"
        if predict_fn not in PREDICT_FNS:
            raise InvalidParameterValue(f"Unsupported predict_fn {predict_fn!r} in the MLmodel file")
        return SklearnPredictor(self.load(model_dir, model), predict_fn)


FLAVOR = SklearnFlavor()
