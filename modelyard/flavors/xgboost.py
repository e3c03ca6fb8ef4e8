"""The XGBoost flavor: the model in XGBoost's own format (``model.ubj`` or ``model.json``).

MLmodel: ``xgboost: {data, model_class, model_format, xgb_version, code}`` and
``python_function: {loader_module: mlflow.xgboost, data}`` (MLflow's layout). ``model_class`` is
read through a fixed table of XGBoost classes, never imported from the file. Install the CPU
build: ``pip install 'modelyard[xgboost]'`` (``xgboost-cpu``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.models.log import flavor_log_model
from modelyard.models.mlmodel import Model, model_file
from modelyard.models.signature import ModelSignature

FLAVOR_NAME = "xgboost"
LOADER_MODULE = "mlflow.xgboost"
FORMATS = ("ubj", "json")
# model_class written in MLmodel -> attribute of the xgboost package
MODEL_CLASSES = {
    "xgboost.core.Booster": "Booster",
    "xgboost.sklearn.XGBClassifier": "XGBClassifier",
    "xgboost.sklearn.XGBRegressor": "XGBRegressor",
    "xgboost.sklearn.XGBRanker": "XGBRanker",
    "xgboost.sklearn.XGBRFClassifier": "XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor": "XGBRFRegressor",
}


def _model_class(model: Any) -> str:
    import xgboost

    # most derived first, so an XGBRFClassifier is not recorded as an XGBClassifier
    for name in sorted(MODEL_CLASSES, key=lambda n: -len(getattr(xgboost, MODEL_CLASSES[n]).__mro__)):
        if isinstance(model, getattr(xgboost, MODEL_CLASSES[name])):
            return name
    raise InvalidParameterValue(f"Not an XGBoost model: {type(model).__name__}")


def save_model(
    xgb_model: Any,
    path: str | Path,
    *,
    model_format: str = "ubj",
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    code_paths: Sequence[str | Path] | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a Booster or an XGBoost scikit-learn estimator as a model folder at ``path``."""
    import xgboost

    from modelyard.models.save import save_model_folder

    if model_format not in FORMATS:
        raise InvalidParameterValue(f"model_format must be one of {', '.join(FORMATS)}")
    model_class = _model_class(xgb_model)
    file_name = f"model.{model_format}"
    predictor = XGBoostPredictor(xgb_model)

    def write(model_dir: Path) -> tuple[dict, dict]:
        xgb_model.save_model(str(model_dir / file_name))
        conf = {
            "data": file_name,
            "model_class": model_class,
            "model_format": model_format,
            "xgb_version": xgboost.__version__,
        }
        return conf, {"data": file_name}

    return save_model_folder(
        path,
        flavor_name=FLAVOR_NAME,
        loader_module=LOADER_MODULE,
        write=write,
        predict=predictor.predict,
        packages=[("xgboost-cpu", "xgboost"), "numpy", "scipy", "pandas", "scikit-learn"],
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


log_model = flavor_log_model(save_model, "an XGBoost model")


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> Any:
    """The Booster or estimator of the model at ``model_uri``."""
    from modelyard.models.load import load_native

    return load_native(model_uri, FLAVOR_NAME, dst_path)


class XGBoostPredictor:
    def __init__(self, model: Any) -> None:
        import xgboost

        self.raw_model = model
        self._booster = isinstance(model, xgboost.Booster)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._booster:
            import xgboost

            return self.raw_model.predict(xgboost.DMatrix(data))
        return self.raw_model.predict(data)


class XGBoostFlavor:
    name = FLAVOR_NAME
    loader_module = LOADER_MODULE
    key_packages = ("xgboost-cpu",)

    def load(self, model_dir: Path, model: Model) -> Any:
        import xgboost

        conf = model.flavor(FLAVOR_NAME)
        class_name = conf.get("model_class", "xgboost.core.Booster")
        attr = MODEL_CLASSES.get(class_name)
        if attr is None:
            raise InvalidParameterValue(
                f"Unsupported XGBoost model_class {class_name!r}; known: {', '.join(MODEL_CLASSES)}"
            )
        obj = getattr(xgboost, attr)()
        obj.load_model(str(model_file(model_dir, conf.get("data"))))
        return obj

    def load_pyfunc(self, model_dir: Path, model: Model) -> XGBoostPredictor:
        return XGBoostPredictor(self.load(model_dir, model))


FLAVOR = XGBoostFlavor()
