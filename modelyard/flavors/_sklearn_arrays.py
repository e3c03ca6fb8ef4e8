"""A cheaper predict for scikit-learn estimators: a numeric DataFrame goes in as a numpy array.

Handing scikit-learn a DataFrame makes every call check the frame's feature names and dtypes
(``validate_data``): a fixed cost of a few milliseconds per call whatever the row count. When the
frame's columns are exactly the names the estimator was fitted with, in the same order, and every
column has a plain numeric numpy dtype, the array carries the same information, so
:class:`ArrayPath` passes ``frame.to_numpy()`` instead.

Passing an array to an estimator fitted with feature names makes scikit-learn warn ("X does not
have valid feature names"). Rather than muting warnings (a process-global filter, not
thread-safe before Python 3.14), the array goes to a *shallow twin* of the estimator built once
at load: the same fitted attributes (shared, not copied) without ``feature_names_in_``, so
scikit-learn has no names to compare. The loaded estimator itself is never modified.

Only estimators whose input checking is exactly that are eligible: scikit-learn's own classes,
alone or as the steps of a ``Pipeline`` (recursively). Anything that may read columns by name or
dtype keeps getting the DataFrame: ``ColumnTransformer``, ``FunctionTransformer``,
``FeatureUnion``, meta-estimators wrapping another estimator, third-party classes, steps told to
output pandas (``set_output``), and categorical, string, boolean, datetime or extension-typed
columns (HistGradientBoosting reads categories from the dtype).
"""

from __future__ import annotations

from typing import Any

# attributes that mark an estimator which consumes columns by name or hands X on to other estimators
_COMPOSITE_ATTRS = ("transformers", "transformer_list", "estimator", "estimators", "base_estimator", "func")
# ensembles that check X themselves and hand their members arrays (members fitted without names)
_ARRAY_ENSEMBLES = (
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._iforest",
    "sklearn.ensemble._bagging",
)


def _members_take_arrays(est: Any) -> bool:
    if type(est).__module__ not in _ARRAY_ENSEMBLES:
        return False
    members = getattr(est, "estimators_", None)
    if members is None:
        return False
    flat = members.ravel() if hasattr(members, "ravel") else members
    return all(getattr(m, "feature_names_in_", None) is None for m in flat)


_NUMERIC_KINDS = frozenset("fiu")


def _is_plain(est: Any) -> bool:
    if est is None or est == "passthrough":
        return True
    module = type(est).__module__
    if not module.startswith("sklearn.") or module.startswith("sklearn.compose"):
        return False
    if any(hasattr(est, attr) for attr in _COMPOSITE_ATTRS) and not _members_take_arrays(est):
        return False
    config = getattr(est, "_sklearn_output_config", None) or {}
    return config.get("transform") in (None, "default")


def _without_names(est: Any) -> Any:
    """A shallow twin of ``est`` (fitted arrays shared) that has no ``feature_names_in_``."""
    if est is None or isinstance(est, str):
        return est
    twin = object.__new__(type(est))
    twin.__dict__.update(est.__dict__)
    twin.__dict__.pop("feature_names_in_", None)
    steps = twin.__dict__.get("steps")
    if steps is not None:
        twin.__dict__["steps"] = [(name, _without_names(step)) for name, step in steps]
    return twin


def _plan(estimator: Any) -> tuple[Any, bool] | None:
    """(twin, is_multistep_pipeline) when ``estimator`` can take arrays; None otherwise."""
    steps = getattr(estimator, "steps", None)
    if steps is not None:
        if type(estimator).__module__ != "sklearn.pipeline" or not isinstance(steps, list):
            return None
        if not all(_plan(step) is not None for _, step in steps if step not in (None, "passthrough")):
            return None
        return _without_names(estimator), len(steps) > 1
    if not _is_plain(estimator):
        return None
    return _without_names(estimator), False


def _dtypes(frame: Any) -> Any:
    """The dtypes of a frame's storage blocks (one per dtype; ``frame.dtypes`` builds a Series)."""
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
    return [block.dtype for block in blocks] if blocks is not None else frame.dtypes


class ArrayPath:
    """``call(data)`` -> the result, or ``None`` when ``data`` must go to the estimator unchanged."""

    def __init__(self, estimator: Any, predict_fn: str) -> None:
        self.names: tuple[str, ...] | None = None
        names = getattr(estimator, "feature_names_in_", None)
        plan = _plan(estimator) if names is not None and predict_fn != "score" else None
        if plan is None:
            return
        import numpy

        twin, self._multistep = plan
        self.names = tuple(str(n) for n in names)
        self._columns: Any = None  # a pandas Index, built at the first DataFrame (pandas is loaded then)
        self._np_dtype = numpy.dtype
        self._predict = getattr(twin, predict_fn)

    def applies(self, data: Any) -> bool:
        if self.names is None or type(data).__name__ != "DataFrame":
            return False
        if self._columns is None:
            import pandas

            self._columns = pandas.Index(list(self.names), dtype=object)
        if not data.columns.equals(self._columns):  # vectorised: iterating Arrow-backed names is slow
            return False
        if not all(isinstance(dt, self._np_dtype) and dt.kind in _NUMERIC_KINDS for dt in _dtypes(data)):
            return False
        if self._multistep:
            from sklearn import get_config  # thread-local: a pandas transform output needs the names

            if get_config().get("transform_output", "default") != "default":
                return False
        return True

    def call(self, data: Any) -> Any:
        return self._predict(data.to_numpy())
