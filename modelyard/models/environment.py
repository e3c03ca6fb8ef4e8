"""The Python environment a model was saved in: requirements.txt, python_env.yaml, conda.yaml.

``requirements.txt`` pins what is installed at save time: first ``modelyard==<version>`` (MLflow
writes ``mlflow==<version>`` there), then the flavor's packages. MLflow's loaders do not need
modelyard for the sklearn, XGBoost and LightGBM flavors (they only compare requirements.txt with
the running environment and log mismatches); a custom ``PythonModel`` does need it, its class
derives from ``modelyard.pyfunc.PythonModel``. ``python_env.yaml`` and ``conda.yaml`` have MLflow's
layout, so ``mlflow models serve`` can rebuild the environment (add ``--install-mlflow``).

At load, :func:`check_environment` logs one warning when the running versions of the flavor's key
packages (or Python's minor version) differ from the saved ones.
"""

from __future__ import annotations

import functools
import logging
import platform
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
ENV_CONF = {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}
# Distributions that install the same import package under another name.
ALTERNATIVES = {"xgboost-cpu": ("xgboost",), "xgboost": ("xgboost-cpu",)}
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def python_version() -> str:
    return platform.python_version()


def pinned(packages: Iterable[str | Sequence[str]]) -> list[str]:
    """``name==version`` for each installed package; a tuple names alternatives (first installed wins)."""
    out = []
    for item in packages:
        choices = (item,) if isinstance(item, str) else tuple(item)
        for dist in choices:
            ver = installed_version(dist)
            if ver is not None:
                out.append(f"{dist}=={ver}")
                break
    return out


def requirements(
    packages: Iterable[str | Sequence[str]],
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
) -> list[str]:
    """What requirements.txt lists: given ``pip_requirements`` replace the inferred ones."""
    from modelyard import __version__

    if pip_requirements is not None:
        reqs = [str(r) for r in pip_requirements]
    else:
        reqs = [f"modelyard=={__version__}", *pinned(packages)]
    reqs += [str(r) for r in extra_pip_requirements or ()]
    return list(dict.fromkeys(reqs))


def write_environment(model_dir: Path, reqs: Sequence[str]) -> dict[str, str]:
    """Write the three environment files; returns the ``env`` entry of the python_function flavor."""
    model_dir = Path(model_dir)
    (model_dir / REQUIREMENTS_FILE).write_text("\n".join(reqs))
    py = python_version()
    pip = installed_version("pip")
    build = [f"pip=={pip}" if pip else "pip"]
    setuptools = installed_version("setuptools")
    build += [f"setuptools=={setuptools}" if setuptools else "setuptools", "wheel"]
    python_env = {"python": py, "build_dependencies": build, "dependencies": [f"-r {REQUIREMENTS_FILE}"]}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    (model_dir / PYTHON_ENV_FILE).write_text(yaml.dump(python_env, Dumper=dumper, sort_keys=False))
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={py}", f"pip<={pip}" if pip else "pip", {"pip": list(reqs)}],
        "name": "modelyard-env",
    }
    (model_dir / CONDA_ENV_FILE).write_text(yaml.dump(conda, Dumper=dumper, sort_keys=False))
    return dict(ENV_CONF)


def read_pins(model_dir: Path) -> dict[str, str]:
    """``{normalized name: version}`` of the ``name==version`` lines of requirements.txt."""
    path = Path(model_dir) / REQUIREMENTS_FILE
    if not path.is_file():
        return {}
    pins = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def check_environment(model_dir: Path, key_packages: Iterable[str], saved_python: str | None = None) -> list[str]:
    """Log one warning listing the key packages whose running version differs from the saved one."""
    pins = read_pins(model_dir)
    problems = []
    for dist in key_packages:
        for name in (dist, *ALTERNATIVES.get(dist, ())):
            saved = pins.get(_normalize(name))
            if saved is None:
                continue
            running = installed_version(name) or next(
                (v for alt in ALTERNATIVES.get(name, ()) if (v := installed_version(alt))), None
            )
            if running != saved:
                problems.append(f"{name} (saved with {saved}, running {running or 'not installed'})")
            break
    if saved_python and saved_python.split(".")[:2] != python_version().split(".")[:2]:
        problems.append(f"Python (saved with {saved_python}, running {python_version()})")
    if problems:
        logger.warning(
            "The model at %s was saved in a different environment; predictions may differ or fail: %s",
            model_dir,
            "; ".join(problems),
        )
    return problems
