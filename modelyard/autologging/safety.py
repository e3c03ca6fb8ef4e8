"""Patching that never breaks the user's code.

Three promises, kept here and nowhere else:

1. **The user's call behaves as without autologging.** The original function runs exactly
   once, with the user's arguments (or, when a handler injects something such as a
   training callback, a copy of them); its result is returned and its exception propagates
   unchanged.
2. **Autologging failures are warnings.** Whatever goes wrong before or after the original
   call (building params, computing metrics, talking to the store) becomes an
   ``AutologgingWarning`` (or a debug log line with ``silent=True``) and the user's result is
   returned all the same. Even with warnings turned into errors, the fit is not broken: the
   message then goes to the ``logging`` module instead.
3. **Disabling restores the originals.** Every replacement is recorded with the attribute it
   replaced; ``revert(integration)`` puts back the very same object (or removes the
   attribute from a subclass that had inherited it).

A *session* is one autologged outer call. It lives in a ContextVar, so threads and asyncio
tasks never share one, and patched calls made while a session is active (a pipeline fitting
its steps, ``XGBClassifier.fit`` calling ``xgboost.train``, our own ``predict`` for training
metrics) run the original only: one outer call logs once. A session starts a run when none
is active (tagged ``mlflow.autologging=<integration>`` plus ``extra_tags``) and ends it
FINISHED, FAILED or KILLED; it logs into the user's active run otherwise (unless
``exclusive=True``, which then skips autologging).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard.autologging import config
from modelyard.autologging.batch import RunBatch

logger = logging.getLogger(__name__)


class AutologgingWarning(UserWarning):
    """Autologging could not log something; the user's call was not affected."""


class AutologgingError(Exception):
    """Raised instead of warning in strict mode (the test suite's)."""


_strict = False


def set_strict(strict: bool) -> bool:
    """Raise autologging failures instead of warning (for tests); returns the previous mode."""
    global _strict
    previous, _strict = _strict, strict
    return previous


def report(integration: str, what: str, exc: BaseException | None = None) -> None:
    """An autologging failure: an AutologgingWarning, or a debug line when ``silent``."""
    detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
    message = f"{integration} autologging failed while {what}{detail}. The training itself was not affected."
    if _strict:
        raise AutologgingError(message) from exc
    cfg = config.get(integration)
    if cfg is not None and cfg.silent:
        logger.debug(message, exc_info=exc)
        return
    try:
        warnings.warn(message, AutologgingWarning, stacklevel=3)
    except Exception:  # warnings are errors here: still never break the user's call
        logger.warning(message)


# -- sessions ----------------------------------------------------------------------------
@dataclass
class Session:
    """One autologged outer call and the run it logs to."""

    integration: str
    config: config.AutologConfig
    client: Any
    run_id: str
    experiment_id: str
    created_run: bool
    batch: RunBatch

    def report(self, what: str, exc: BaseException | None = None) -> None:
        report(self.integration, what, exc)

    def attempt(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or None after reporting its failure: one step of logging
        that fails does not keep the others from running."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.report(what, exc)
            return None


_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar("modelyard_autologging_session", default=None)
_observing: contextvars.ContextVar[bool] = contextvars.ContextVar("modelyard_autologging_observing", default=False)


def current_session() -> Session | None:
    """The autologged call this context is inside, if any."""
    return _session.get()


def _open_session(integration: str, cfg: config.AutologConfig) -> Session | None:
    from modelyard.tracking import fluent

    active = fluent.active_run()
    created = False
    if active is None:
        active = fluent.start_run(tags={config.AUTOLOGGING_TAG: integration, **cfg.extra_tags})
        created = True
    elif cfg.exclusive:
        return None
    from modelyard.tracking import context

    client = context.current().client()
    run_id = active.info.run_id
    return Session(integration, cfg, client, run_id, active.info.experiment_id, created, RunBatch(client, run_id))


def _close_session(session: Session, status: str) -> None:
    try:
        session.batch.flush()
    except Exception as exc:
        session.report("logging to the tracking store", exc)
    if session.created_run:
        try:
            _end_run(session, status)
        except Exception as exc:
            session.report("ending the run", exc)


def _end_run(session: Session, status: str) -> None:
    from modelyard.tracking import fluent

    active = fluent.active_run()
    if active is not None and active.info.run_id == session.run_id:
        fluent.end_run(status)
        return
    # The user's code changed the run stack during the call: end ours where it is.
    stack = fluent._active_runs.get()
    fluent._active_runs.set(tuple(r for r in stack if r.info.run_id != session.run_id))
    session.client.set_terminated(session.run_id, status)


class Handler(Protocol):
    """Logs around one autologged call; created per call with the session."""

    def before(self, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        """Log what is known before training; may return replacement (args, kwargs)."""

    def after(self, args: tuple, kwargs: dict, result: Any) -> None:
        """Log what training produced."""


HandlerFactory = Callable[[Callable, Session], Handler]


# Code objects of functions inside which nothing is autologged (sklearn's cross_val_score &
# co.: a run per fold is noise). Found on the call stack, so they count however they were
# imported (``from sklearn.model_selection import cross_val_score`` before autolog() too).
_suppressing_codes: set[Any] = set()


def suppress_inside(functions: Iterable[Callable]) -> None:
    """Autologged calls made (in the same thread) from inside ``functions`` log nothing."""
    _suppressing_codes.update(inspect.unwrap(fn).__code__ for fn in functions)


def _inside_suppressing_call() -> bool:
    if not _suppressing_codes:
        return False
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code in _suppressing_codes:
            return True
        frame = frame.f_back
    return False


def _autologged_call(integration: str, original: Callable, make_handler: HandlerFactory, args: tuple, kwargs: dict):
    cfg = config.get(integration)
    if _inside_suppressing_call():
        return original(*args, **kwargs)
    session = None
    try:
        session = _open_session(integration, cfg)
    except Exception as exc:
        report(integration, "starting a run", exc)
    if session is None:
        return original(*args, **kwargs)
    token = _session.set(session)
    try:
        handler = None
        call_args, call_kwargs = args, kwargs
        try:
            handler = make_handler(original, session)
            replaced = handler.before(args, kwargs)
            if replaced is not None:
                call_args, call_kwargs = replaced
        except Exception as exc:
            call_args, call_kwargs = args, kwargs
            session.report("preparing to log", exc)
        try:
            result = original(*call_args, **call_kwargs)
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            try:
                _close_session(session, status)
            except Exception:  # strict mode: the user's exception matters more here
                logger.debug("closing the autologging session failed", exc_info=True)
            raise
        try:
            if handler is not None:
                handler.after(call_args, call_kwargs, result)
        except Exception as exc:
            session.report("logging the results", exc)
        _close_session(session, "FINISHED")
        return result
    finally:
        _session.reset(token)


# -- patches -----------------------------------------------------------------------------
_ABSENT = object()


@dataclass(frozen=True)
class _Patch:
    owner: Any
    name: str
    original: Any  # what was in owner.__dict__, or _ABSENT when the attribute was inherited
    replacement: Any


_patch_lock = threading.RLock()
_patches: dict[str, list[_Patch]] = {}


def _is_available_if(raw: Any) -> bool:
    """scikit-learn's ``available_if`` descriptor (``Pipeline.fit_transform`` and others)."""
    return hasattr(raw, "fn") and hasattr(raw, "check") and hasattr(raw, "__get__")


def patch(integration: str, owner: Any, name: str, make_wrapper: Callable[[Callable], Callable]) -> bool:
    """Replace ``owner.name`` by ``make_wrapper(original)``; False when it is not a function."""
    raw = inspect.getattr_static(owner, name, _ABSENT)
    if raw is _ABSENT or is_patched(raw):
        return False
    if isinstance(raw, staticmethod):
        replacement: Any = staticmethod(_mark(make_wrapper(raw.__func__), integration))
    elif inspect.isfunction(raw):
        replacement = _mark(make_wrapper(raw), integration)
    elif _is_available_if(raw) and inspect.isfunction(raw.fn):
        replacement = copy.copy(raw)
        replacement.fn = _mark(make_wrapper(raw.fn), integration)
    else:
        return False
    own = vars(owner).get(name, _ABSENT)
    with _patch_lock:
        setattr(owner, name, replacement)
        _patches.setdefault(integration, []).append(_Patch(owner, name, own, replacement))
    return True


def is_patched(raw: Any) -> bool:
    """Whether a class or module attribute (as stored) is an autologging replacement."""
    inner = raw.__func__ if isinstance(raw, staticmethod) else getattr(raw, "fn", raw) if _is_available_if(raw) else raw
    return getattr(inner, "__modelyard_autolog__", None) is not None


def revert(integration: str) -> None:
    """Put back every original that ``integration`` replaced (the identical objects)."""
    with _patch_lock:
        patches = _patches.pop(integration, [])
        for p in reversed(patches):
            if vars(p.owner).get(p.name, _ABSENT) is not p.replacement:
                logger.debug("%s.%s was replaced by someone else since; left alone", p.owner, p.name)
                continue
            if p.original is _ABSENT:
                delattr(p.owner, p.name)
            else:
                setattr(p.owner, p.name, p.original)


def patched_count(integration: str) -> int:
    with _patch_lock:
        return len(_patches.get(integration, ()))


def _mark(wrapper: Callable, integration: str) -> Callable:
    wrapper.__modelyard_autolog__ = integration  # type: ignore[attr-defined]
    return wrapper


def training(integration: str, make_handler: HandlerFactory) -> Callable[[Callable], Callable]:
    """A wrapper factory for training functions: a session (and run) per outer call."""

    def make_wrapper(original: Callable) -> Callable:
        @functools.wraps(original)
        def autologged(*args, **kwargs):
            if _session.get() is not None or not config.is_enabled(integration):
                return original(*args, **kwargs)
            return _autologged_call(integration, original, make_handler, args, kwargs)

        return _mark(autologged, integration)

    return make_wrapper


class Observer(Protocol):
    def before(self, original: Callable, args: tuple, kwargs: dict) -> Any: ...

    def after(self, context: Any, args: tuple, kwargs: dict, result: Any) -> None: ...


_NOTHING = object()


def observing(integration: str, observer: Observer) -> Callable[[Callable], Callable]:
    """A wrapper factory for calls watched outside training (predict, metric functions):
    only the outermost such call is observed, and never inside an autologged call."""

    def make_wrapper(original: Callable) -> Callable:
        @functools.wraps(original)
        def observed(*args, **kwargs):
            if _session.get() is not None or _observing.get() or not config.is_enabled(integration):
                return original(*args, **kwargs)
            token = _observing.set(True)
            try:
                try:
                    context = observer.before(original, args, kwargs)
                except Exception as exc:
                    context = _NOTHING
                    report(integration, "watching a call", exc)
                result = original(*args, **kwargs)
                if context is not None and context is not _NOTHING:
                    try:
                        observer.after(context, args, kwargs, result)
                    except Exception as exc:
                        report(integration, "logging a post-training metric", exc)
                return result
            finally:
                _observing.reset(token)

        return _mark(observed, integration)

    return make_wrapper
