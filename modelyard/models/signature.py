"""Model signatures: what a model takes and returns, inferred from data and stored in MLmodel.

In MLmodel a signature is ``{inputs, outputs, params}``, each a JSON **string** (MLflow's layout).
``infer_signature`` reads pandas frames and series, numpy arrays, dicts and lists:

- a DataFrame gives one named ``ColSpec`` per column (its dtype decides the type);
- a numpy array gives a ``TensorSpec`` whose first dimension is free (-1);
- a dict of arrays gives named tensors; a dict of scalars or lists, and a list of dicts, are read
  as a frame; a list of scalars is one unnamed column;
- a 1-d prediction for a column input is one unnamed column (as MLflow writes for sklearn).

numpy and pandas are imported only when a signature is inferred.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.models.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec


@dataclass(frozen=True, slots=True)
class ModelSignature:
    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelSignature:
        def schema(key: str) -> Schema | None:
            raw = d.get(key)
            return Schema.from_json(raw) if raw else None

        params = d.get("params")
        return cls(schema("inputs"), schema("outputs"), ParamSchema.from_json(params) if params else None)


def infer_signature(model_input: Any = None, model_output: Any = None, params: dict | None = None) -> ModelSignature:
    """A signature from example inputs, outputs (predictions) and params with their defaults."""
    inputs = infer_schema(model_input) if model_input is not None else None
    outputs = None
    if model_output is not None:
        outputs = infer_output_schema(model_output, column_input=inputs is not None and not inputs.is_tensor_spec())
    return ModelSignature(inputs, outputs, infer_param_schema(params) if params else None)


def infer_output_schema(output: Any, column_input: bool) -> Schema:
    import numpy as np

    if column_input and isinstance(output, np.ndarray) and output.ndim == 1:
        return Schema((ColSpec(dtype_to_datatype(output.dtype, output)),))
    return infer_schema(output)


def infer_schema(data: Any) -> Schema:
    """The schema of one input (or output) value; InvalidParameterValue for what cannot be described."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Schema(
            tuple(ColSpec(dtype_to_datatype(data.dtypes.iloc[i], data.iloc[:, i]), str(c)) for i, c in enumerate(data.columns))
        )
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema((ColSpec(dtype_to_datatype(data.dtype, data), name),))
    if isinstance(data, np.ndarray):
        return Schema((_tensor(data),))
    if isinstance(data, dict):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema(tuple(_tensor(v, str(k)) for k, v in data.items()))
        scalars = all(not isinstance(v, list | tuple | np.ndarray) for v in data.values())
        return infer_schema(pd.DataFrame([data]) if scalars else pd.DataFrame(data))
    if isinstance(data, list | tuple):
        if data and all(isinstance(x, dict) for x in data):
            return infer_schema(pd.DataFrame(list(data)))
        if data and all(not isinstance(x, list | tuple | dict | np.ndarray) for x in data):
            values = pd.Series(list(data))
            return Schema((ColSpec(dtype_to_datatype(values.dtype, values)),))
        return infer_schema(np.asarray(data))
    if isinstance(data, str | bytes | bool | int | float):
        return infer_schema([data])
    raise InvalidParameterValue(
        f"Cannot infer a schema from {type(data).__name__}: give a pandas DataFrame or Series, a numpy "
        "array, a dict or a list"
    )


def _tensor(array: Any, name: str | None = None) -> TensorSpec:
    if array.dtype.kind == "O":
        raise InvalidParameterValue("Cannot describe an object-dtype numpy array as a tensor")
    return TensorSpec(str(array.dtype), (-1, *array.shape[1:]), name)


def dtype_to_datatype(dtype: Any, values: Any = None) -> DataType:
    """The column type of a numpy or pandas dtype; object columns are typed by their first value."""
    import numpy as np
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        return dtype_to_datatype(dtype.categories.dtype, dtype.categories)
    if isinstance(dtype, pd.StringDtype):
        return DataType.string
    if isinstance(dtype, pd.BooleanDtype):
        return DataType.boolean
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(dtype, np.dtype):
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if numpy_dtype is None:
            raise InvalidParameterValue(f"Unsupported column dtype {dtype}")
        return dtype_to_datatype(numpy_dtype)
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind == "i":
        return DataType.integer if size <= 4 else DataType.long
    if kind == "u":
        return DataType.integer if size <= 2 else DataType.long
    if kind == "f":
        return DataType.float if size <= 4 else DataType.double
    if kind == "M":
        return DataType.datetime
    if kind in ("U", "T"):
        return DataType.string
    if kind == "S":
        return DataType.binary
    if kind == "O":
        return _object_type(values)
    raise InvalidParameterValue(f"Unsupported column dtype {dtype}")


def _object_type(values: Any) -> DataType:
    first = None
    if values is not None:
        for v in values:
            if v is not None and v == v:  # skip None and NaN
                first = v
                break
    if first is None or isinstance(first, str):
        return DataType.string
    if isinstance(first, bytes | bytearray):
        return DataType.binary
    return _python_type(first)


def _python_type(value: Any) -> DataType:
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return DataType.boolean
    if isinstance(value, int | np.integer):
        return DataType.long
    if isinstance(value, float | np.floating):
        return DataType.double
    if isinstance(value, str):
        return DataType.string
    if isinstance(value, bytes | bytearray):
        return DataType.binary
    if isinstance(value, dt.datetime | dt.date | np.datetime64):
        return DataType.datetime
    raise InvalidParameterValue(f"Cannot infer a type for value {value!r} ({type(value).__name__})")


def infer_param_schema(params: dict[str, Any]) -> ParamSchema:
    """Params with their defaults: scalars, or lists of one scalar type (shape [-1])."""
    specs = []
    for name, value in params.items():
        if isinstance(value, list | tuple):
            types = {_python_type(v) for v in value}
            if len(types) > 1:
                raise InvalidParameterValue(f"Param {name!r} mixes types {sorted(types)}")
            specs.append(ParamSpec(str(name), types.pop() if types else DataType.string, list(value), (-1,)))
        else:
            specs.append(ParamSpec(str(name), _python_type(value), _plain(value)))
    return ParamSchema(tuple(specs))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value
