"""Post-import hooks: run a callback once a module has been imported, or now if it already is.

``register_post_import_hook(callback, "xgboost")`` either calls ``callback(module)`` right
away (the module is in ``sys.modules``) or installs a finder at the front of
``sys.meta_path``. The finder does not import anything itself: it asks the finders behind it
for the spec, and wraps the spec's loader so that the callbacks run right after the module's
code has executed. Before that code runs, the module's ``__loader__`` and
``__spec__.loader`` are set back to the real loader, so the module never sees the wrapper
(``importlib.resources``, ``pkgutil`` and friends keep working). Nothing polls.

A callback that raises is logged and forgotten: a hook must never break the user's import.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType

logger = logging.getLogger(__name__)

Hook = Callable[[ModuleType], None]

_lock = threading.RLock()
_pending: dict[str, list[Hook]] = {}


def register_post_import_hook(hook: Hook, module_name: str) -> None:
    """Call ``hook(module)`` once ``module_name`` is imported (at once if it already is)."""
    with _lock:
        module = sys.modules.get(module_name)
        if module is None:
            _pending.setdefault(module_name, []).append(hook)
            _install_finder()
            return
    _call(hook, module)


def pending_hooks(module_name: str) -> list[Hook]:
    """The hooks still waiting for ``module_name`` (a copy)."""
    with _lock:
        return list(_pending.get(module_name, ()))


def discard_hooks(module_name: str, hook: Hook | None = None) -> None:
    """Forget the hooks waiting for ``module_name`` (only ``hook``, when given)."""
    with _lock:
        if hook is None:
            _pending.pop(module_name, None)
            return
        remaining = [h for h in _pending.get(module_name, ()) if h != hook]
        if remaining:
            _pending[module_name] = remaining
        else:
            _pending.pop(module_name, None)


def _call(hook: Hook, module: ModuleType) -> None:
    try:
        hook(module)
    except Exception:  # a hook never breaks the import that triggered it
        logger.warning("Post-import hook %r for %s failed", hook, module.__name__, exc_info=True)


def _fire(module: ModuleType) -> None:
    with _lock:
        hooks = _pending.pop(module.__name__, [])
    for hook in hooks:
        _call(hook, module)


class _HookingLoader(importlib.abc.Loader):
    """Delegates to the real loader; runs the pending hooks once the module has executed."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _fire(module)

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class PostImportFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``; only acts on modules that have pending hooks."""

    def find_spec(self, fullname: str, path=None, target=None):
        with _lock:
            if fullname not in _pending:
                return None
        for finder in list(sys.meta_path):
            if finder is self or isinstance(finder, PostImportFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec  # namespace package or legacy loader: leave it alone
        spec.loader = _HookingLoader(loader)
        return spec


_finder: PostImportFinder | None = None


def _install_finder() -> None:
    global _finder
    if _finder is None:
        _finder = PostImportFinder()
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
