"""Writing a model folder: the steps every flavor's ``save_model`` shares.

1. the folder must be new (or empty); ``code_paths`` are copied to ``code/``;
2. the input example is written (``input_example.json``, ``serving_input_example.json``);
3. the flavor writes its model file(s) and says what goes into MLmodel;
4. without an explicit signature, one is inferred from the example (inputs, the model's
   predictions on it, and the example's params); ``signature=False`` writes none;
5. ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``; then ``MLmodel`` last, so a folder
   with an MLmodel file is complete.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists
from modelyard.models import environment
from modelyard.models.examples import save_example
from modelyard.models.mlmodel import MLMODEL_FILE, PYFUNC, Model, folder_size
from modelyard.models.signature import ModelSignature, infer_param_schema, infer_signature

logger = logging.getLogger(__name__)

CODE_DIR = "code"
# write(model_dir) -> (flavor fields, extra python_function fields or None for no pyfunc flavor)
Writer = Callable[[Path], tuple[dict[str, Any], dict[str, Any] | None]]


def save_model_folder(
    path: str | Path,
    *,
    flavor_name: str,
    loader_module: str,
    write: Writer,
    predict: Callable[[Any, dict | None], Any] | None,
    packages: Sequence[str | Sequence[str]],
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    code_paths: Sequence[str | Path] | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Write a complete model folder at ``path`` and return its MLmodel."""
    model_dir = Path(path)
    if model_dir.exists() and (not model_dir.is_dir() or any(model_dir.iterdir())):
        raise ResourceAlreadyExists(f"Path '{model_dir}' already exists and is not empty")
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        model = mlflow_model or Model()
        code = _copy_code(code_paths, model_dir)
        example = params = None
        if input_example is not None:
            model.saved_input_example_info, example, params = save_example(input_example, model_dir)
        flavor_conf, pyfunc_conf = write(model_dir)
        if signature is None and example is not None:
            signature = _infer(example, params, predict)
        if isinstance(signature, ModelSignature):
            model.signature = signature
        elif signature not in (None, False):
            raise InvalidParameterValue(f"signature must be a ModelSignature, None or False, not {type(signature).__name__}")
        if metadata is not None:
            model.metadata = metadata
        reqs = environment.requirements(packages, pip_requirements, extra_pip_requirements)
        base = {"loader_module": loader_module, "python_version": environment.python_version()}
        env = dict(environment.ENV_CONF)
        if flavor_name == PYFUNC:  # a custom model: python_function is its only flavor
            model.add_flavor(PYFUNC, **base, **flavor_conf, code=code, env=env)
        else:
            if pyfunc_conf is not None:
                model.add_flavor(PYFUNC, **base, **pyfunc_conf, **({"code": code} if code else {}), env=env)
            model.add_flavor(flavor_name, **flavor_conf, code=code)
        model.model_size_bytes = folder_size(model_dir)
        environment.write_environment(model_dir, reqs)
        model.save(model_dir / MLMODEL_FILE)
    except BaseException:
        shutil.rmtree(model_dir, ignore_errors=True)
        raise
    return model


def _infer(example: Any, params: dict | None, predict: Callable[[Any, dict | None], Any] | None) -> ModelSignature | None:
    try:
        base = infer_signature(example)
    except InvalidParameterValue as exc:
        logger.warning("No signature inferred from the input example: %s", exc)
        return None
    outputs = None
    if predict is not None:
        try:
            outputs = infer_signature(example, predict(example, params)).outputs
        except Exception as exc:  # a model that cannot predict its own example: inputs only
            logger.warning("Could not infer the output schema (predict on the input example failed: %s)", exc)
    return ModelSignature(base.inputs, outputs, infer_param_schema(params) if params else None)


def _copy_code(code_paths: Sequence[str | Path] | None, model_dir: Path) -> str | None:
    if not code_paths:
        return None
    target = model_dir / CODE_DIR
    target.mkdir()
    for item in code_paths:
        src = Path(item)
        if src.is_dir():
            shutil.copytree(src, target / src.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, target / src.name)
        else:
            raise InvalidParameterValue(f"code_paths entry {str(item)!r} does not exist")
    return CODE_DIR
