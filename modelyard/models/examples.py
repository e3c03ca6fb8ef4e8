"""Input examples saved beside MLmodel, in MLflow's layouts.

- ``input_example.json``: a frame in pandas ``split`` orient ``{"columns": [...], "data": [...]}``;
  an array as a nested list; with params, ``{"inputs": <that>, "params": {...}}``.
- ``serving_input_example.json``: the body to POST to a scoring server:
  ``{"dataframe_split": {...}}`` for a frame, ``{"inputs": ...}`` for arrays, plus ``"params"``.
- MLmodel's ``saved_input_example_info`` says which: ``{artifact_path, type: dataframe|ndarray,
  pandas_orient: split, serving_input_path, params: 'true'}``.

An example may be a DataFrame, a numpy array, a dict (of arrays: tensors; of scalars or lists:
a frame), a list (of records: a frame), or a ``(example, params)`` tuple.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"


def split_params(example: Any) -> tuple[Any, dict | None]:
    """``(example, params)`` tuples carry inference params with the example."""
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict | type(None)):
        return example[0], example[1]
    return example, None


def normalize(example: Any) -> Any:
    """The example as a DataFrame, an ndarray, a dict of ndarrays, or an unnamed Series (a list of
    scalars: one unnamed column)."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame | np.ndarray):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame() if example.name is not None else example
    if isinstance(example, dict):
        if example and all(isinstance(v, np.ndarray) for v in example.values()):
            return example
        scalars = all(not isinstance(v, list | tuple | np.ndarray) for v in example.values())
        return pd.DataFrame([example]) if scalars else pd.DataFrame(example)
    if isinstance(example, list):
        if example and all(isinstance(x, dict) for x in example):
            return pd.DataFrame(example)
        if example and all(not isinstance(x, list | tuple | dict) for x in example):
            return pd.Series(example)  # one unnamed column
        return np.asarray(example)
    raise InvalidParameterValue(
        f"Unsupported input example type {type(example).__name__}: give a DataFrame, an array, a dict or a list"
    )


def save_example(example: Any, model_dir: Path) -> tuple[dict, Any, dict | None]:
    """Write both example files; returns (saved_input_example_info, normalized example, params)."""
    import pandas as pd

    raw, params = split_params(example)
    data = normalize(raw)
    if isinstance(data, pd.DataFrame):
        body: Any = _split(data)
        info: dict = {"artifact_path": INPUT_EXAMPLE_FILE, "pandas_orient": "split"}
        serving: dict = {"dataframe_split": body}
        kind = "dataframe"
    else:
        body = {k: v.tolist() for k, v in data.items()} if isinstance(data, dict) else data.tolist()  # arrays, a Series
        info = {"artifact_path": INPUT_EXAMPLE_FILE}
        serving = {"inputs": body}
        kind = "ndarray"
    if params:
        body = {"inputs": body, "params": params}
        serving["params"] = params
        info["params"] = "true"
    info["serving_input_path"] = SERVING_INPUT_FILE
    info["type"] = kind
    (model_dir / INPUT_EXAMPLE_FILE).write_text(json.dumps(_plain(body), allow_nan=False))
    (model_dir / SERVING_INPUT_FILE).write_text(json.dumps(_plain(serving), indent=2, allow_nan=False))
    return info, data, params


def load_example(model_dir: Path, info: dict | None) -> Any:
    """The saved example read back (a DataFrame or an ndarray), or None."""
    if not info:
        return None
    path = Path(model_dir) / info.get("artifact_path", INPUT_EXAMPLE_FILE)
    if not path.is_file():
        return None
    body = json.loads(path.read_text())
    if info.get("params") and isinstance(body, dict) and "inputs" in body:
        body = body["inputs"]
    import numpy as np
    import pandas as pd

    if info.get("type") == "dataframe":
        return pd.DataFrame(body["data"], columns=body["columns"])
    if isinstance(body, dict):
        return {k: np.asarray(v) for k, v in body.items()}
    return np.asarray(body)


def _split(frame: Any) -> dict:
    return {"columns": [str(c) for c in frame.columns], "data": frame.to_numpy(dtype=object).tolist()}


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python, NaN as null, datetimes as ISO text, bytes as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if type(value).__name__ == "NaTType":
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
