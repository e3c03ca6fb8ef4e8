"""Serialising Python model objects: skops (the safe default), cloudpickle, pickle.

skops stores a model as data and, on load, refuses types not known to be safe unless they are
listed as trusted; pickle and cloudpickle run whatever code the file says while loading. The
format is the writer's choice (``serialization_format=``); the default is skops when the
``skops`` package is installed (it comes with the ``sklearn`` extra), else cloudpickle. Loading a
pickle logs one warning per process; a skops model loads without one. A skops file made only of
what skops trusts by default is read by ``_skops_reader`` without importing skops (its import
costs more than scikit-learn's); any other goes to skops itself.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue

logger = logging.getLogger(__name__)

SKOPS, CLOUDPICKLE, PICKLE = "skops", "cloudpickle", "pickle"
FORMATS = (SKOPS, CLOUDPICKLE, PICKLE)
FILE_NAMES = {SKOPS: "model.skops", CLOUDPICKLE: "model.pkl", PICKLE: "model.pkl"}
PACKAGES = {SKOPS: ("skops",), CLOUDPICKLE: ("cloudpickle",), PICKLE: ()}


def default_format() -> str:
    return SKOPS if importlib.util.find_spec("skops") is not None else CLOUDPICKLE


def check_format(fmt: str | None) -> str:
    fmt = fmt or default_format()
    if fmt not in FORMATS:
        raise InvalidParameterValue(
            f"Unrecognized serialization format {fmt!r}: use one of {', '.join(FORMATS)}"
        )
    return fmt


def dump(obj: Any, path: Path, fmt: str, trusted_types: list[str] | None = None) -> list[str] | None:
    """Write ``obj`` to ``path``; for skops, check it loads back and return the trusted types used."""
    if fmt == SKOPS:
        from modelyard.flavors import _skops_lazy

        skops_io = _skops_lazy.skops_io()
        try:
            skops_io.dump(obj, path)
        except Exception as exc:
            raise InvalidParameterValue(
                f"The model cannot be saved in the skops format ({type(exc).__name__}: {exc}); skops does not "
                "support classes or functions that are not defined at module level. Use "
                "serialization_format='cloudpickle' if you trust everyone who will load it."
            ) from exc
        untrusted = sorted(set(_skops_lazy.untrusted_types(path)) - set(trusted_types or ()))
        if untrusted:
            path.unlink(missing_ok=True)
            raise InvalidParameterValue(
                f"The model references types skops does not trust: {untrusted}. If loading them is safe, "
                "pass them as skops_trusted_types=[...]."
            )
        return list(trusted_types) if trusted_types else None
    with open(path, "wb") as out:
        if fmt == CLOUDPICKLE:
            import cloudpickle

            cloudpickle.dump(obj, out)
        else:
            import pickle

            pickle.dump(obj, out)
    return None


_warned = threading.Event()


def _warn_code_runs(path: Path, fmt: str) -> None:
    """Once per process: loading a pickle runs the file's code (skops models never warn)."""
    if _warned.is_set():
        logger.debug("Unpickling %s (%s)", path, fmt)
        return
    _warned.set()
    logger.warning(
        "Unpickling %s (%s): this runs code from the file; load only models from sources you trust "
        "(models saved with skops, the default when scikit-learn comes from 'modelyard[sklearn]', load as data). "
        "Not repeated for other pickled models in this process.",
        path,
        fmt,
    )


def load(path: Path, fmt: str, trusted_types: list[str] | None = None) -> Any:
    """Read a model object; pickle formats log which file they unpickle (it runs the file's code)."""
    fmt = fmt or PICKLE
    if fmt == SKOPS:
        from modelyard.flavors import _skops_lazy, _skops_reader

        try:  # plain scikit-learn estimators of numbers and arrays: read without importing skops
            return _skops_reader.load(path)
        except _skops_reader.Unsupported as why:
            logger.debug("skops reads %s (%s)", path, why)
        if trusted_types:
            logger.debug(
                "Loading %s with the types its MLmodel file marks as trusted: %s", path, trusted_types
            )
        skops_io = _skops_lazy.skops_io()
        try:
            return _skops_lazy.load(path, list(trusted_types) if trusted_types else None)
        except skops_io.exceptions.UntrustedTypesFoundException as exc:
            raise InvalidParameterValue(f"Refusing to load {path}: {exc}") from None
    if fmt not in FORMATS:
        raise InvalidParameterValue(f"Unrecognized serialization format {fmt!r} in the MLmodel file")
    _warn_code_runs(path, fmt)
    with open(path, "rb") as src:
        if fmt == CLOUDPICKLE:
            import cloudpickle

            return cloudpickle.load(src)
        import pickle

        return pickle.load(src)
