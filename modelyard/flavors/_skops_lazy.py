"""Import skops without importing all of scikit-learn; trust the same estimators it would.

Used to save skops files and to load those ``_skops_reader`` leaves to skops (trees, other
libraries' types, types the MLmodel lists as trusted); the plain ones never import skops at all.

``import skops.io`` builds its default list of trusted types by calling scikit-learn's
``all_estimators()``, which imports *every* scikit-learn module (tests and pytest included): most
of a first model load's time. :func:`skops_io` imports skops with that list left empty and puts an
:class:`_EstimatorNames` in its place, which fills itself with the full list the first time anyone
else reads it (so code that calls ``skops.io`` directly in this process sees exactly skops' own
defaults). :func:`load` instead checks only the types the file names: a type is trusted when it is
one ``all_estimators()`` would list — a non-abstract ``BaseEstimator`` subclass exposed under its
own public name by a public scikit-learn module — and otherwise the full list decides, as in skops.
The set of trusted types is never larger than skops' default; only the work to find it is smaller.

The empty list is installed while ``skops.io`` is first imported (under a lock, once per process):
a thread that calls ``sklearn.utils.all_estimators`` during that import would see an empty list.
If skops' internals are not where this module expects them, skops is imported plainly.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

_lock = threading.RLock()
_local = threading.local()  # .partial: True while modelyard's own loader reads the list
_IGNORED_PARTS = frozenset({"tests", "externals", "setup", "conftest", "experimental", "estimator_checks"})
_names: _EstimatorNames | None = None


class _EstimatorNames(list):
    """skops' default trusted scikit-learn estimator names, computed on first outside use."""

    complete = False

    def fill(self) -> None:
        if self.complete or getattr(_local, "partial", False):
            return
        with _lock:
            if not self.complete:
                from sklearn.utils import all_estimators
                from skops.io._utils import get_type_name

                full = [
                    get_type_name(c) for _, c in all_estimators() if get_type_name(c).startswith("sklearn.")
                ]
                list.extend(self, sorted(set(full) - set(list.__iter__(self))))
                self.complete = True

    def __add__(self, other: Any) -> list:
        self.fill()
        return list.__add__(self, other)

    def __iter__(self) -> Any:
        self.fill()
        return list.__iter__(self)

    def __contains__(self, item: object) -> bool:
        self.fill()
        return list.__contains__(self, item)

    def __len__(self) -> int:
        self.fill()
        return list.__len__(self)


def skops_io() -> Any:
    """``skops.io``, imported without walking scikit-learn the first time."""
    global _names
    with _lock:
        import sys

        if _names is not None or "skops.io" in sys.modules:
            import skops.io

            return skops.io
        import sklearn.utils

        original = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = lambda type_filter=None: []
        try:
            import skops.io
            import skops.io._general as general
            import skops.io._trusted_types as trusted_types
        finally:
            sklearn.utils.all_estimators = original
        names = _EstimatorNames()
        if not isinstance(getattr(general, "SKLEARN_ESTIMATOR_TYPE_NAMES", None), list):
            names.fill()  # unexpected layout: behave exactly like skops
        general.SKLEARN_ESTIMATOR_TYPE_NAMES = names
        trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES = names
        _names = names
        return skops.io


def _listed_estimator(type_name: str) -> bool:
    """Would ``all_estimators()`` list the class named ``type_name``? (imports only its modules)"""
    module_name, _, cls_name = type_name.rpartition(".")
    parts = module_name.split(".")
    if parts[0] != "sklearn" or len(parts) < 2 or cls_name.startswith("_") or cls_name == "BaseEstimator":
        return False
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    if len(public) < 2 or any(part in _IGNORED_PARTS for part in public):
        return False
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
        exposed = getattr(importlib.import_module(".".join(public)), cls_name, None)
    except (ImportError, AttributeError):
        return False
    from sklearn.base import BaseEstimator

    return (
        isinstance(cls, type)
        and exposed is cls
        and issubclass(cls, BaseEstimator)
        and not getattr(cls, "__abstractmethods__", None)
    )


def _settle(sio: Any, path: Path, trusted: list[str] | None) -> None:
    """Add the file's scikit-learn estimators to the names; anything else: complete the list."""
    names = _names
    if names is None or names.complete:
        return
    _local.partial = True
    try:
        missing = set(sio.get_untrusted_types(file=path)) - set(trusted or ())
    finally:
        _local.partial = False
    listed = {name for name in missing if _listed_estimator(name)}
    with _lock:
        list.extend(names, sorted(listed - set(list.__iter__(names))))
    if missing - listed:
        names.fill()  # something else: let skops' full list decide, as it would


def _partial_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    _local.partial = True
    try:
        return fn(*args, **kwargs)
    finally:
        _local.partial = False


def load(path: Path, trusted: list[str] | None) -> Any:
    """``skops.io.load(path, trusted=trusted)`` with skops' default trust, found type by type."""
    sio = skops_io()
    _settle(sio, path, trusted)
    return _partial_call(sio.load, path, trusted=trusted)


def untrusted_types(path: Path) -> list[str]:
    """``skops.io.get_untrusted_types(file=path)`` against skops' default trust."""
    sio = skops_io()
    _settle(sio, path, None)
    return _partial_call(sio.get_untrusted_types, file=path)
