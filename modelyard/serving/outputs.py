"""Predictions to JSON, and one merged prediction split back into each caller's rows.

``{"predictions": ...}`` as MLflow answers: a DataFrame as records, a Series or an array as a list,
anything else as it is. numpy arrays are written by orjson directly (no ``tolist``); values orjson
cannot write natively (object arrays, timestamps, numpy scalars, NA) go through ``_default``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def jsonable(pred: Any) -> Any:
    """The value put under ``predictions`` (still holding numpy arrays, which orjson writes)."""
    kind = type(pred).__name__
    if kind == "DataFrame":
        cols = [str(c) for c in pred.columns]
        return [dict(zip(cols, row, strict=True)) for row in pred.itertuples(index=False, name=None)]
    if kind == "Series":
        return pred.to_numpy()
    return pred


def encode_predictions(pred: Any) -> bytes:
    return dumps({"predictions": jsonable(pred)})


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_default, option=OPTIONS)


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # ndarray orjson does not take (object, non-contiguous), numpy scalars
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    kind = type(value).__name__
    if kind in ("NAType", "NaTType"):
        return None
    if hasattr(value, "to_dict"):
        return jsonable(value)
    raise TypeError(f"Cannot write a {kind} prediction as JSON")


def split_rows(pred: Any, bounds: list[int]) -> list[Any] | None:
    """``pred`` cut at ``bounds`` (row offsets, first 0, last the total); None when it has no rows to cut."""
    total = bounds[-1]
    pairs = list(zip(bounds, bounds[1:], strict=False))
    kind = type(pred).__name__
    if kind in ("DataFrame", "Series"):
        if len(pred) != total:
            return None
        return [pred.iloc[a:b].reset_index(drop=True) for a, b in pairs]
    if kind == "ndarray":
        if pred.ndim == 0 or len(pred) != total:
            return None
        return [pred[a:b] for a, b in pairs]
    if isinstance(pred, list) and len(pred) == total:
        return [pred[a:b] for a, b in pairs]
    return None
