"""The Open Inference Protocol v2 (KServe V2, Triton, MLServer) over the same served models.

Request ``{"id"?, "inputs": [{"name", "shape", "datatype", "data", "parameters"?}], "parameters"?}``;
``data`` is flat (row-major) or nested and is reshaped to ``shape``. How inputs become model input:

- a column signature (or several 1-D / ``[N, 1]`` inputs): one column per input, a DataFrame;
- a tensor signature: the array (one input) or ``{name: array}`` (several);
- no signature, one input: the array.

Response ``{"model_name", "model_version", "id", "outputs": [{"name", "shape", "datatype", "data"}]}``:
an array is one output ``predict``; a DataFrame one output per column; a dict one per key.
``parameters`` of the request are the model's inference params. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.serving.inputs import InputSchema, ParsedInput, frame_input

DATATYPES = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object",
}
_BY_NUMPY = {v: k for k, v in DATATYPES.items()}


def parse_infer(doc: Any, schema: InputSchema) -> ParsedInput:
    import pandas as pd

    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise InvalidParameterValue("An inference request needs a non-empty 'inputs' list")
    params = doc.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise InvalidParameterValue("'parameters' must be an object")
    params = {k: v for k, v in (params or {}).items() if k not in ("content_type", "headers")} or None
    arrays = {}
    for i, spec in enumerate(doc["inputs"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise InvalidParameterValue(f"Input {i} needs a 'name'")
        arrays[spec["name"]] = _tensor(spec)
    if schema.tensors:
        if len(arrays) == 1 and len(schema.names or ()) <= 1:
            return ParsedInput(next(iter(arrays.values())), params)
        return ParsedInput(arrays, params)
    columns = all(a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1) for a in arrays.values())
    if columns and (schema.columns or len(arrays) > 1):
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise InvalidParameterValue(f"Inputs have different lengths {sorted(lengths)}: they must be columns of one table")
        frame = pd.DataFrame({name: a.reshape(-1) for name, a in arrays.items()})
        return frame_input(frame, params)
    if len(arrays) == 1:
        array = next(iter(arrays.values()))
        if schema.columns and schema.names and array.ndim == 2 and array.shape[1] == len(schema.names):
            return ParsedInput(pd.DataFrame(array, columns=list(schema.names)), params)
        return ParsedInput(array, params)
    return ParsedInput(arrays, params)


def _tensor(spec: dict) -> Any:
    import numpy as np

    name, shape, datatype = spec["name"], spec.get("shape"), str(spec.get("datatype", "")).upper()
    if datatype not in DATATYPES:
        raise InvalidParameterValue(f"Input {name!r}: unknown datatype {spec.get('datatype')!r}; one of {', '.join(DATATYPES)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidParameterValue(f"Input {name!r}: 'shape' must be a list of non-negative integers")
    try:
        array = np.asarray(spec.get("data"), dtype=DATATYPES[datatype])
        return array.reshape(shape)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterValue(f"Input {name!r}: its data does not fit shape {shape} of {datatype}: {exc}") from None


def infer_response(name: str, version: str, request_id: Any, pred: Any) -> dict:
    outputs = [_output(n, v) for n, v in _named_outputs(pred)]
    body: dict[str, Any] = {"model_name": name, "model_version": version, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body


def _named_outputs(pred: Any) -> list[tuple[str, Any]]:
    kind = type(pred).__name__
    if kind == "DataFrame":
        return [(str(c), pred[c].to_numpy()) for c in pred.columns]
    if kind == "Series":
        return [(str(pred.name) if pred.name is not None else "predict", pred.to_numpy())]
    if isinstance(pred, dict):
        return [(str(k), v) for k, v in pred.items()]
    return [("predict", pred)]


def _output(name: str, value: Any) -> dict:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "OUS":
        datatype, data = "BYTES", [str(v) if not isinstance(v, str) else v for v in array.reshape(-1).tolist()]
    else:
        datatype = _BY_NUMPY.get(array.dtype.name, "FP64")
        data = array.reshape(-1)
        if datatype == "FP64" and array.dtype.name != "float64":
            data = data.astype("float64")
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def model_metadata(name: str, versions: list[str], signature: Any) -> dict:
    """``GET /v2/models/{name}``: the tensors the model takes and gives, from its signature."""
    return {
        "name": name,
        "versions": versions,
        "platform": "modelyard-pyfunc",
        "inputs": _tensors(signature.inputs if signature is not None else None),
        "outputs": _tensors(signature.outputs if signature is not None else None),
    }


def _tensors(schema: Any) -> list[dict]:
    if schema is None:
        return []
    out = []
    for i, spec in enumerate(schema):
        if hasattr(spec, "shape"):  # TensorSpec
            numpy = str(spec.dtype)
            shape = list(spec.shape)
        else:
            numpy = _COLUMN_NUMPY.get(str(getattr(spec.type, "value", spec.type)), "object")
            shape = [-1]
        out.append({"name": spec.name or f"input-{i}", "datatype": _BY_NUMPY.get(numpy, "BYTES"), "shape": shape})
    return out


_COLUMN_NUMPY = {
    "boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64",
    "string": "object", "binary": "object", "datetime": "object",
}
