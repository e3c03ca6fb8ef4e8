"""Scoring-protocol request bodies to model input, as ``mlflow models serve`` reads them.

- ``application/json``: an object with exactly one of ``dataframe_split`` (``{columns, data}``),
  ``dataframe_records`` (``[{column: value}]``), ``instances`` or ``inputs`` (rows, a columnar
  dict, or a tensor), and optionally ``params``.
- ``text/csv`` (a header row, then rows) and ``application/vnd.apache.parquet``.
- Only a ``charset=utf-8`` parameter is allowed on the content type; anything else is 415.

Fast path: when a model's signature is all ``double`` columns, ``dataframe_split`` and
``dataframe_records`` go straight into one float64 array and a DataFrame over it (no per-column
inference, no copy), which the signature check then passes unchanged. Anything the fast path cannot
take (strings, nulls, ragged rows) goes the general pandas way, whose errors name the column.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson

from modelyard.exceptions import BadRequest, InvalidParameterValue
from modelyard.serving.errors import UnsupportedMediaType

JSON, CSV, PARQUET = "json", "csv", "parquet"
CONTENT_TYPES = {
    "application/json": JSON,
    "text/csv": CSV,
    "application/vnd.apache.parquet": PARQUET,
    "application/x-parquet": PARQUET,
}
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
FORMAT_MESSAGE = (
    "The input must be a JSON object with exactly one of the fields 'dataframe_split', 'dataframe_records', "
    "'instances' or 'inputs' (and optionally 'params'); got {got}."
)
EXACT_INT = 2**53


@dataclass(frozen=True, slots=True, eq=False)
class InputSchema:
    """What request parsing needs to know of a model's input signature."""

    names: tuple[str, ...] | None = None  # named columns of a column signature
    all_double: bool = False  # every column is a double: the float64 fast path applies
    columns: bool = False  # a column (ColSpec) signature
    tensors: bool = False  # a tensor signature
    index: Any = None  # the column names as one pandas Index, shared by fast-path frames

    @classmethod
    def of(cls, signature: Any) -> InputSchema:
        inputs = signature.inputs if signature is not None else None
        if inputs is None or not len(inputs):
            return cls()
        if inputs.is_tensor_spec():
            named = tuple(s.name for s in inputs if s.name)
            return cls(names=named if len(named) == len(inputs) else None, tensors=True)
        names = tuple(inputs.input_names()) if inputs.has_input_names() else None
        doubles = all(str(getattr(s.type, "value", s.type)) == "double" for s in inputs) and names is not None
        index = None
        if doubles:
            import pandas as pd

            index = pd.Index(names)
        return cls(names=names, all_double=doubles, columns=True, index=index)


@dataclass(slots=True)
class ParsedInput:
    data: Any
    params: dict | None = None
    rows: int | None = None  # set when ``data`` is a DataFrame that may be merged with others
    key: tuple | None = None  # requests with equal keys may share one predict call


def content_kind(header: str | None) -> str:
    """``json``, ``csv`` or ``parquet`` for a Content-Type header; UnsupportedMediaType otherwise."""
    mime, _, rest = (header or "").partition(";")
    kind = CONTENT_TYPES.get(mime.strip().lower())
    if kind is None:
        raise UnsupportedMediaType(
            f"This predictor only supports the following content types: {', '.join(CONTENT_TYPES)}; "
            f"got {(header or 'none')[:100]!r}."
        )
    for param in filter(None, (p.strip() for p in rest.split(";"))):
        key, _, value = param.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"The only content type parameter supported is charset=utf-8; got {param[:100]!r}."
            )
    return kind


def parse_body(kind: str, body: bytes, schema: InputSchema) -> ParsedInput:
    if kind == JSON:
        return parse_json(body, schema)
    import pandas as pd

    try:
        if kind == CSV:
            frame = pd.read_csv(io.BytesIO(body))
        else:
            frame = pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # pandas and pyarrow raise many kinds
        raise BadRequest(
            f"Cannot read the {kind.upper()} body: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    return frame_input(frame, None)


def parse_json(body: bytes, schema: InputSchema) -> ParsedInput:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Invalid JSON input: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest(FORMAT_MESSAGE.format(got=f"a JSON {type(doc).__name__}"))
    found = [k for k in INPUT_KEYS if k in doc]
    if len(found) != 1:
        raise BadRequest(FORMAT_MESSAGE.format(got=f"fields {sorted(doc)}"))
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be a JSON object, got {type(params).__name__}")
    key, value = found[0], doc[found[0]]
    if key == "dataframe_split":
        return frame_input(frame_from_split(value, schema), params, schema)
    if key == "dataframe_records":
        return frame_input(frame_from_records(value, schema), params, schema)
    return tensor_input(value, schema, params)


def frame_input(frame: Any, params: dict | None, schema: InputSchema | None = None) -> ParsedInput:
    """A DataFrame input, with the key that says which other requests it may be merged with."""
    extra = orjson.dumps(params, option=orjson.OPT_SORT_KEYS) if params else b""
    if schema is not None and schema.index is not None and frame.columns is schema.index:
        return ParsedInput(frame, params, len(frame), ("signature", extra))  # the fast path's frame
    return ParsedInput(frame, params, len(frame), (tuple(frame.columns), tuple(frame.dtypes.tolist()), extra))


# -- data frames ------------------------------------------------------------------------------------
def frame_from_split(split: Any, schema: InputSchema) -> Any:
    import pandas as pd

    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise BadRequest("'dataframe_split' must be an object with a 'data' list of rows (and 'columns')")
    columns, data = split.get("columns"), split["data"]
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str | int) for c in columns)
    ):
        raise BadRequest("'dataframe_split.columns' must be a list of column names")
    if schema.all_double and columns is not None:
        frame = _double_frame(data, columns, schema)
        if frame is not None:
            return frame
    for i, row in enumerate(data):
        if not isinstance(row, list):
            data = [data]  # a single row given flat
            break
        if columns is not None and len(row) != len(columns):
            raise BadRequest(
                f"Row {i} of 'dataframe_split.data' has {len(row)} values but {len(columns)} columns are named "
                f"({', '.join(map(str, columns[:20]))})"
            )
    try:
        return pd.DataFrame(data, columns=columns)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"Cannot read 'dataframe_split' as a table: {exc}") from None


def frame_from_records(records: Any, schema: InputSchema) -> Any:
    import pandas as pd

    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadRequest("'dataframe_records' must be a list of objects {column: value}")
    if schema.all_double and records:
        names = schema.names or ()
        try:
            rows = [[r[n] for n in names] for r in records]
        except KeyError:
            rows = None  # a missing column: the general path names it
        if rows is not None:
            frame = _double_frame(rows, list(names), schema)
            if frame is not None:
                return frame
    try:
        return pd.DataFrame.from_records(records) if records else pd.DataFrame()
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"Cannot read 'dataframe_records' as a table: {exc}") from None


def _double_frame(rows: list, columns: list, schema: InputSchema) -> Any:
    """A float64 frame when every value is a number (None otherwise: take the general path)."""
    import numpy as np
    import pandas as pd

    if set(columns) - set(schema.names or ()):
        return None  # columns the signature does not know: let the general path decide
    try:
        array = np.array(rows)
    except (ValueError, TypeError):
        return None
    if array.ndim != 2 or array.shape[1] != len(columns):
        return None
    if array.dtype.kind == "i":
        if array.size and max(abs(int(array.max())), abs(int(array.min()))) > EXACT_INT:
            return None
        array = array.astype(np.float64)
    elif array.dtype != np.float64:
        return None
    if tuple(columns) == schema.names:  # the signature's own Index: frames of the fast path share one key
        return pd.DataFrame(array, columns=schema.index, copy=False)
    return pd.DataFrame(array, columns=columns, copy=False)


# -- instances / inputs -----------------------------------------------------------------------------
def tensor_input(value: Any, schema: InputSchema, params: dict | None) -> ParsedInput:
    """``instances`` / ``inputs``: rows, a columnar dict, or a tensor (list or dict of lists)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        if not value:
            raise BadRequest("'inputs' / 'instances' is an empty object")
        if not schema.tensors:
            scalars = all(not isinstance(v, list | dict) for v in value.values())
            try:
                frame = pd.DataFrame([value]) if scalars else pd.DataFrame(value)
            except ValueError as exc:
                raise BadRequest(f"Cannot read the columns of 'inputs' as a table: {exc}") from None
            return frame_input(frame, params)
        return ParsedInput({k: _array(v, k) for k, v in value.items()}, params)
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value) and not schema.tensors:
            return frame_input(frame_from_records(value, schema), params)
        array = _array(value, None)
        if schema.columns and schema.names and array.ndim == 2 and array.shape[1] == len(schema.names):
            return frame_input(pd.DataFrame(array, columns=list(schema.names)), params)
        return ParsedInput(array, params)
    if isinstance(value, str | int | float | bool) and not schema.tensors:
        return ParsedInput(np.asarray([value]), params)
    raise BadRequest(f"'inputs' / 'instances' must be a list or an object, got {type(value).__name__}")


def _array(value: Any, name: str | None) -> Any:
    import numpy as np

    try:
        return np.asarray(value)
    except ValueError as exc:
        where = f"input {name!r}" if name else "the input tensor"
        raise InvalidParameterValue(f"Cannot read {where} as an array (ragged rows?): {exc}") from None
