"""Training data as a dataset input of the run, in MLflow's formats.

``dataset_input(X, y, context="train")`` describes the data without copying it:

- ``digest``: 8 hex characters of a SHA-256 over the shape, the dtypes and the content of the
  first ``DIGEST_ROWS`` rows (features and targets) — stable across processes and runs.
- ``schema``: ``{"mlflow_colspec": [...]}`` for a DataFrame (column names and MLflow types),
  ``{"mlflow_tensorspec": {"features": ..., "targets": ...}}`` for arrays, as MLflow writes.
- ``profile``: ``num_rows`` always, plus MLflow's fields (``num_elements`` for a DataFrame;
  ``features_shape``/``features_size``/``features_nbytes`` and the targets' for arrays).
- ``source``: a code source (``source_type`` "code") naming the script, like MLflow's.

Sparse matrices are hashed and described as they are, never densified.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

from modelyard.entities import Dataset, DatasetInput, InputTag

DIGEST_ROWS = 10_000
CONTEXT_TAG = "mlflow.data.context"


def dataset_input(features: Any, targets: Any = None, *, context: str = "train", name: str | None = None) -> DatasetInput | None:
    """The DatasetInput for ``features`` (and ``targets``), or None for an unsupported type."""
    dataset = describe(features, targets, name=name)
    if dataset is None:
        return None
    return DatasetInput(dataset, (InputTag(CONTEXT_TAG, context),))


def describe(features: Any, targets: Any = None, *, name: str | None = None) -> Dataset | None:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(features, pd.DataFrame):
        schema, profile, digest = _frame(features, targets, pd)
    else:
        arr = _array(features)
        if arr is None:
            return None
        target_arr = _array(targets) if targets is not None else None
        schema, profile, digest = _tensors(arr, target_arr)
    return Dataset(
        name=name or "dataset",
        digest=digest,
        source_type="code",
        source=json.dumps({"tags": _source_tags()}),
        schema=json.dumps(schema),
        profile=json.dumps(profile),
    )


def _source_tags() -> dict[str, str]:
    source = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "<console>"
    return {"mlflow.source.name": source, "mlflow.source.type": "LOCAL"}


# -- DataFrames ----------------------------------------------------------------------------
def colspec_type(dtype: Any) -> str:
    """MLflow's column type for a pandas/numpy dtype."""
    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer" if getattr(dtype, "itemsize", 8) <= 4 and kind == "i" else "long"
    if kind == "f":
        return "float" if getattr(dtype, "itemsize", 8) == 4 else "double"
    if kind == "M":
        return "datetime"
    if kind == "S":
        return "binary"
    return "string"


def frame_colspec(frame: Any) -> list[dict]:
    return [{"type": colspec_type(dtype), "name": str(col), "required": True} for col, dtype in frame.dtypes.items()]


def _frame(frame: Any, targets: Any, pd: Any) -> tuple[dict, dict, str]:
    h = hashlib.sha256()
    h.update(repr((frame.shape, [str(c) for c in frame.columns], [str(t) for t in frame.dtypes])).encode())
    h.update(pd.util.hash_pandas_object(frame.head(DIGEST_ROWS), index=False).to_numpy().tobytes())
    if targets is not None:
        _hash_any(h, targets)
    profile = {"num_rows": int(frame.shape[0]), "num_elements": int(frame.size)}
    return {"mlflow_colspec": frame_colspec(frame)}, profile, h.hexdigest()[:8]


# -- arrays -------------------------------------------------------------------------------------
def _array(data: Any) -> Any:
    """A numpy array or scipy sparse matrix for ``data``, or None."""
    if data is None:
        return None
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(data):
        return data
    import numpy as np

    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "to_numpy"):  # pandas Series, polars frames
        try:
            return data.to_numpy()
        except Exception:
            return None
    if isinstance(data, list | tuple):
        try:
            return np.asarray(data)
        except Exception:
            return None
    return None


def _is_sparse(arr: Any) -> bool:
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(arr)


def _hash_any(h: Any, data: Any) -> None:
    arr = _array(data)
    if arr is None:
        h.update(repr(type(data)).encode())
        return
    h.update(repr((arr.shape, str(arr.dtype))).encode())
    head = arr[:DIGEST_ROWS]
    if _is_sparse(arr):
        head = head.tocsr()
        for part in (head.data, head.indices, head.indptr):
            h.update(part.tobytes())
    elif arr.dtype.kind == "O":
        h.update("\x1f".join(map(str, head.ravel().tolist())).encode())
    else:
        import numpy as np

        h.update(np.ascontiguousarray(head).tobytes())


def _tensorspec(arr: Any) -> str:
    dtype = "object" if arr.dtype.kind == "O" else str(arr.dtype)
    shape = [-1, *[int(d) for d in arr.shape[1:]]]
    return json.dumps([{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}])


def _nbytes(arr: Any) -> int:
    if _is_sparse(arr):
        return int(arr.data.nbytes)
    return int(arr.nbytes)


def _size(arr: Any) -> int:
    return int(arr.shape[0] * (arr.shape[1] if len(arr.shape) > 1 else 1)) if _is_sparse(arr) else int(arr.size)


def _tensors(features: Any, targets: Any) -> tuple[dict, dict, str]:
    h = hashlib.sha256()
    _hash_any(h, features)
    schema = {"features": _tensorspec(features)}
    profile: dict[str, Any] = {
        "num_rows": int(features.shape[0]) if len(features.shape) else 1,
        "features_shape": [int(d) for d in features.shape],
        "features_size": _size(features),
        "features_nbytes": _nbytes(features),
    }
    if targets is not None:
        _hash_any(h, targets)
        schema["targets"] = _tensorspec(targets)
        profile.update(
            targets_shape=[int(d) for d in targets.shape], targets_size=_size(targets), targets_nbytes=_nbytes(targets)
        )
    return {"mlflow_tensorspec": schema}, profile, h.hexdigest()[:8]
