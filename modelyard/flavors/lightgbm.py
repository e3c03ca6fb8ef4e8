"""The LightGBM flavor, in MLflow's layout (``loader_module: mlflow.lightgbm``).

- A ``Booster`` is saved in LightGBM's own text format (``model.txt``, ``model_class:
  lightgbm.basic.Booster``).
- A scikit-learn estimator (``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``) keeps its
  fitted wrapper (classes, label encoding), which LightGBM's text format cannot hold: like MLflow,
  it is serialised as a scikit-learn object, with skops by default (the LightGBM types it needs
  are listed as trusted) or cloudpickle / pickle on request.

``model_class`` is read through a fixed table, never imported from the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.flavors import _serialize
from modelyard.models.log import flavor_log_model
from modelyard.models.mlmodel import Model, model_file
from modelyard.models.signature import ModelSignature

FLAVOR_NAME = "lightgbm"
LOADER_MODULE = "mlflow.lightgbm"
BOOSTER = "lightgbm.basic.Booster"
ESTIMATORS = (
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
)
# Types a LightGBM estimator's skops file holds that skops does not trust by itself.
SKOPS_TYPES = [*ESTIMATORS, BOOSTER, "collections.OrderedDict"]


def _model_class(model: Any) -> str:
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return BOOSTER
    for name in ESTIMATORS:
        if type(model) is getattr(lightgbm, name.rsplit(".", 1)[1]):
            return name
    if isinstance(model, lightgbm.LGBMModel):
        return f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidParameterValue(f"Not a LightGBM model: {type(model).__name__}")


def save_model(
    lgb_model: Any,
    path: str | Path,
    *,
    serialization_format: str | None = None,
    skops_trusted_types: list[str] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    code_paths: Sequence[str | Path] | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a Booster or a LightGBM scikit-learn estimator as a model folder at ``path``."""
    import lightgbm

    from modelyard.models.save import save_model_folder

    model_class = _model_class(lgb_model)
    native = model_class == BOOSTER
    fmt = None if native else _serialize.check_format(serialization_format)
    file_name = "model.txt" if native else _serialize.FILE_NAMES[fmt]

    def write(model_dir: Path) -> tuple[dict, dict]:
        conf: dict[str, Any] = {
            "data": file_name,
            "lgb_version": lightgbm.__version__,
            "model_class": model_class,
        }
        if native:
            lgb_model.save_model(str(model_dir / file_name))
        else:
            trusted = SKOPS_TYPES + list(skops_trusted_types or ()) if fmt == _serialize.SKOPS else None
            conf["serialization_format"] = fmt
            conf["skops_trusted_types"] = _serialize.dump(lgb_model, model_dir / file_name, fmt, trusted)
        return conf, {"data": file_name}

    return save_model_folder(
        path,
        flavor_name=FLAVOR_NAME,
        loader_module=LOADER_MODULE,
        write=write,
        predict=LightGBMPredictor(lgb_model).predict,
        packages=[
            "lightgbm",
            "numpy",
            "scipy",
            "pandas",
            "scikit-learn",
            *(_serialize.PACKAGES[fmt] if fmt else ()),
        ],
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


log_model = flavor_log_model(save_model, "a LightGBM model")


def load_model(model_uri: str | Path, dst_path: str | Path | None = None) -> Any:
    """The Booster or estimator of the model at ``model_uri``."""
    from modelyard.models.load import load_native

    return load_native(model_uri, FLAVOR_NAME, dst_path)


class LightGBMPredictor:
    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.raw_model.predict(data)


class LightGBMFlavor:
    name = FLAVOR_NAME
    loader_module = LOADER_MODULE
    key_packages = ("lightgbm", "skops", "cloudpickle")

    def load(self, model_dir: Path, model: Model) -> Any:
        conf = model.flavor(FLAVOR_NAME)
        class_name = conf.get("model_class", BOOSTER)
        path = model_file(model_dir, conf.get("data"))
        if class_name == BOOSTER:
            import lightgbm

            return lightgbm.Booster(model_file=str(path))
        fmt = conf.get("serialization_format") or _serialize.CLOUDPICKLE
        trusted = conf.get("skops_trusted_types")
        if fmt == _serialize.SKOPS:
            unexpected = sorted(set(trusted or ()) - set(SKOPS_TYPES))
            if unexpected:
                raise InvalidParameterValue(
                    f"Refusing to load {path}: its MLmodel file trusts types a LightGBM model does not need: "
                    f"{unexpected}"
                )
            return _load_skops_lightgbm(path)
        return _serialize.load(path, fmt, trusted)

    def load_pyfunc(self, model_dir: Path, model: Model) -> LightGBMPredictor:
        return LightGBMPredictor(self.load(model_dir, model))


def _load_skops_lightgbm(path: Path) -> Any:
    import skops.io

    try:
        return skops.io.load(path, trusted=SKOPS_TYPES)
    except skops.io.exceptions.UntrustedTypesFoundException as exc:
        raise InvalidParameterValue(f"Refusing to load {path}: {exc}") from None


FLAVOR = LightGBMFlavor()
