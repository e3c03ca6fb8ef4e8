"""Signature inference from pandas, numpy, dicts and lists; the JSON-string layout of MLmodel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.models import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)


def test_dataframe_columns_become_named_colspecs():
    frame = pd.DataFrame(
        {
            "i32": np.array([1, 2], dtype="int32"),
            "i64": [1, 2],
            "f32": np.array([1.0, 2.0], dtype="float32"),
            "f64": [0.5, 1.5],
            "b": [True, False],
            "s": ["a", "b"],
            "obj_s": pd.Series(["x", None], dtype=object),
            "raw": [b"a", b"b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    sig = infer_signature(frame)
    assert [(c.name, c.type) for c in sig.inputs] == [
        ("i32", DataType.integer),
        ("i64", DataType.long),
        ("f32", DataType.float),
        ("f64", DataType.double),
        ("b", DataType.boolean),
        ("s", DataType.string),
        ("obj_s", DataType.string),
        ("raw", DataType.binary),
        ("when", DataType.datetime),
    ]
    assert sig.outputs is None and sig.params is None


def test_numpy_gives_a_tensor_with_a_free_first_dimension():
    sig = infer_signature(np.zeros((5, 3), dtype="float32"), np.zeros(5, dtype="int64"))
    assert sig.inputs == Schema((TensorSpec("float32", (-1, 3)),))
    assert sig.outputs == Schema((TensorSpec("int64", (-1,)),))


def test_a_1d_prediction_for_a_frame_is_one_unnamed_column():
    sig = infer_signature(pd.DataFrame({"x": [1.0]}), np.array([0, 1]))
    assert sig.to_dict()["outputs"] == '[{"type": "long", "required": true}]'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1, "b": "x"}, [("a", DataType.long), ("b", DataType.string)]),
        ({"a": [1.0, 2.0], "b": [True, False]}, [("a", DataType.double), ("b", DataType.boolean)]),
        ([{"a": 1}, {"a": 2}], [("a", DataType.long)]),
        (["x", "y"], [(None, DataType.string)]),
        (pd.Series([1.5, 2.5], name="s"), [("s", DataType.double)]),
    ],
)
def test_dicts_lists_and_series(data, expected):
    assert [(c.name, c.type) for c in infer_signature(data).inputs] == expected


def test_dict_of_arrays_gives_named_tensors():
    sig = infer_signature({"img": np.zeros((2, 4, 4), dtype="uint8"), "mask": np.zeros((2,), dtype=bool)})
    assert sig.inputs.inputs == (TensorSpec("uint8", (-1, 4, 4), "img"), TensorSpec("bool", (-1,), "mask"))


def test_params_schema_with_defaults_and_lists():
    sig = infer_signature(pd.DataFrame({"x": [1.0]}), params={"k": 2, "t": 0.5, "name": "a", "flag": True, "ids": [1, 2]})
    assert sig.params == ParamSchema(
        (
            ParamSpec("k", DataType.long, 2),
            ParamSpec("t", DataType.double, 0.5),
            ParamSpec("name", DataType.string, "a"),
            ParamSpec("flag", DataType.boolean, True),
            ParamSpec("ids", DataType.long, [1, 2], (-1,)),
        )
    )


def test_mlmodel_layout_is_json_strings_and_round_trips():
    sig = ModelSignature(
        Schema((ColSpec(DataType.double, "a"), ColSpec(DataType.string, "b", required=False))),
        Schema((ColSpec(DataType.long),)),
        ParamSchema((ParamSpec("k", DataType.long, 2),)),
    )
    d = sig.to_dict()
    assert all(isinstance(v, str) for v in d.values())
    assert json.loads(d["inputs"]) == [
        {"type": "double", "name": "a", "required": True},
        {"type": "string", "name": "b", "required": False},
    ]
    assert d["params"] == '[{"name": "k", "default": 2, "shape": null, "type": "long"}]'
    assert ModelSignature.from_dict(d) == sig


def test_nested_types_are_kept_as_written():
    raw = '[{"type": "array", "items": {"type": "string"}, "name": "tags", "required": true}]'
    schema = Schema.from_json(raw)
    assert json.loads(schema.to_json()) == json.loads(raw)


def test_what_cannot_be_described_is_an_error():
    with pytest.raises(InvalidParameterValue, match="Cannot infer a schema"):
        infer_signature(object())
    with pytest.raises(InvalidParameterValue, match="unknown|Unknown"):
        Schema.from_json('[{"type": "complex128"}]')
    with pytest.raises(InvalidParameterValue, match="columns or tensors"):
        Schema((ColSpec(DataType.long), TensorSpec("float64", (-1,))))
