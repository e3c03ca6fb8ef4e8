"""Custom Python models: subclass ``PythonModel``, save or log an instance with its artifacts.

The instance is stored with cloudpickle (``python_model.pkl``) under MLflow's layout
(``python_function: {loader_module: mlflow.pyfunc.model, python_model, cloudpickle_version,
artifacts, streamable}``), so ``mlflow.pyfunc.load_model`` loads it too (with modelyard installed,
where the base class lives). Loading it runs the pickled code: load only models you trust.

``predict`` may take ``(context, model_input, params=None)`` or ``(model_input, params=None)``;
a plain function ``f(model_input)`` is accepted as ``python_model`` too.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from modelyard.exceptions import InvalidParameterValue, NotImplementedFeature
from modelyard.flavors import _serialize
from modelyard.models.mlmodel import PYFUNC, Model, ModelInfo, model_file
from modelyard.models.signature import ModelSignature

LOADER_MODULE = "mlflow.pyfunc.model"
PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What ``load_context`` and ``predict`` get: local paths of the model's artifacts, its config."""

    def __init__(self, artifacts: dict[str, str] | None = None, model_config: dict | None = None) -> None:
        self._artifacts = dict(artifacts or {})
        self._model_config = dict(model_config or {})

    @property
    def artifacts(self) -> dict[str, str]:
        return self._artifacts

    @property
    def model_config(self) -> dict:
        return self._model_config


class TypeHints(NamedTuple):
    input: Any = None
    output: Any = None


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` to read artifacts)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded, before any predict."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError("A PythonModel must implement predict(context, model_input, params=None)")

    @property
    def predict_type_hints(self) -> TypeHints:
        """No type-hint conversion (read by MLflow's loader when MLflow loads this model)."""
        return TypeHints()


class _FunctionModel(PythonModel):
    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return self.func(model_input)


def save_model(
    path: str | Path,
    python_model: PythonModel | Callable[[Any], Any] | None = None,
    *,
    artifacts: dict[str, str] | None = None,
    code_paths: Sequence[str | Path] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    model_config: dict | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a custom model (a ``PythonModel`` or a function) with its artifacts at ``path``."""
    import cloudpickle

    from modelyard.models.save import save_model_folder

    if python_model is None:
        raise InvalidParameterValue("python_model is required: a PythonModel instance or a function")
    if not isinstance(python_model, PythonModel):
        if not callable(python_model):
            raise InvalidParameterValue(
                f"python_model must be a PythonModel or a function, not {type(python_model).__name__}"
            )
        python_model = _FunctionModel(python_model)
    state: dict[str, Any] = {}

    def write(model_dir: Path) -> tuple[dict, None]:
        saved = _copy_artifacts(artifacts or {}, model_dir)
        with open(model_dir / PYTHON_MODEL_FILE, "wb") as out:
            cloudpickle.dump(python_model, out)
        conf: dict[str, Any] = {
            "cloudpickle_version": cloudpickle.__version__,
            "python_model": PYTHON_MODEL_FILE,
            "streamable": False,
        }
        if saved:
            conf["artifacts"] = saved
        if model_config:
            conf["model_config"] = model_config
        context = PythonModelContext({k: str(model_dir / v["path"]) for k, v in saved.items()}, model_config)
        state["predictor"] = PythonModelPredictor(python_model, context, load=True)
        return conf, None

    return save_model_folder(
        path,
        flavor_name=PYFUNC,
        loader_module=LOADER_MODULE,
        write=write,
        predict=lambda example, params: state["predictor"].predict(example, params),
        packages=["cloudpickle", "numpy", "pandas"],
        signature=signature,
        input_example=input_example,
        code_paths=code_paths,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        mlflow_model=mlflow_model,
    )


def log_model(
    name: str | None = None,
    python_model: PythonModel | Callable[[Any], Any] | None = None,
    *,
    artifact_path: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    registered_model_name: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Log a custom model as a logged model of the active run; see ``save_model`` for the options."""
    from modelyard.models.log import log_model as log

    return log(
        lambda folder, template: save_model(folder, python_model, mlflow_model=template, **save_kwargs),
        name=name,
        artifact_path=artifact_path,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        registered_model_name=registered_model_name,
    )


def _copy_artifacts(artifacts: dict[str, str], model_dir: Path) -> dict[str, dict[str, str]]:
    """Copy (or download) each artifact into ``artifacts/``; MLmodel's ``{name: {path, uri}}``."""
    from modelyard.artifacts import get_artifact_repository, uri_scheme
    from modelyard.artifacts.paths import local_path_from_uri

    saved = {}
    target_root = model_dir / ARTIFACTS_DIR
    for key, uri in artifacts.items():
        uri = str(uri)
        target_root.mkdir(exist_ok=True)
        if uri_scheme(uri) in ("", "file"):
            src = local_path_from_uri(uri)
            dest = target_root / src.name
            if src.is_dir():
                shutil.copytree(src, dest)
            elif src.is_file():
                shutil.copy2(src, dest)
            else:
                raise InvalidParameterValue(f"Artifact {key!r}: {uri} does not exist")
        else:
            parent, _, leaf = uri.rstrip("/").rpartition("/")
            dest = Path(get_artifact_repository(parent).download_artifacts(leaf, target_root))
        saved[key] = {"path": f"{ARTIFACTS_DIR}/{dest.name}", "uri": uri}
    return saved


class PythonModelPredictor:
    """Calls ``predict`` with or without the context, with params when it takes them."""

    def __init__(self, python_model: Any, context: PythonModelContext, load: bool = True) -> None:
        self.python_model = python_model
        self.context = context
        if load:
            python_model.load_context(context)
        parameters = inspect.signature(python_model.predict).parameters
        names = [p for p in parameters if p not in ("self", "params")]
        self._with_context = "context" in parameters or len(names) == 2
        self._with_params = "params" in parameters

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        kwargs = {"params": params} if self._with_params else {}
        if self._with_context:
            return self.python_model.predict(self.context, data, **kwargs)
        return self.python_model.predict(data, **kwargs)


class PythonModelFlavor:
    name = "python_model"
    loader_module = LOADER_MODULE
    key_packages = ("cloudpickle",)

    def load(self, model_dir: Path, model: Model) -> Any:
        return self.load_pyfunc(model_dir, model).python_model

    def load_pyfunc(self, model_dir: Path, model: Model) -> PythonModelPredictor:
        conf = model.flavor(PYFUNC)
        if conf.get("model_code_path"):
            raise NotImplementedFeature("Models from code (model_code_path) are not supported yet")
        if conf.get("compression"):
            raise NotImplementedFeature(
                f"Compressed python models ({conf['compression']}) are not supported yet"
            )
        python_model = _serialize.load(
            model_file(model_dir, conf.get("python_model")), _serialize.CLOUDPICKLE
        )
        artifacts = {
            key: str(model_file(model_dir, info["path"]))
            for key, info in (conf.get("artifacts") or {}).items()
        }
        return PythonModelPredictor(python_model, PythonModelContext(artifacts, conf.get("model_config")))


FLAVOR = PythonModelFlavor()
