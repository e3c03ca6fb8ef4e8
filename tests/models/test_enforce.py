"""Schema enforcement on predict: what passes, what is converted, what is refused (as MLflow)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from modelyard.exceptions import InvalidParameterValue
from modelyard.models import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from modelyard.models.enforce import enforce_input, enforce_params

SCHEMA = Schema((ColSpec(DataType.double, "a"), ColSpec(DataType.long, "b"), ColSpec(DataType.string, "c")))


def frame(**overrides):
    data = {"a": [1.0, 2.0], "b": np.array([1, 2], dtype="int64"), "c": ["x", "y"]}
    data.update(overrides)
    return pd.DataFrame(data)


def test_a_matching_frame_is_returned_as_is_without_a_copy():
    df = frame()
    assert enforce_input(df, SCHEMA) is df


def test_missing_columns_are_an_error_naming_them():
    with pytest.raises(InvalidParameterValue, match=r"Model is missing inputs \['b'\]. Note that there were extra inputs: \['z'\]"):
        enforce_input(frame().drop(columns=["b"]).assign(z=1), SCHEMA)


def test_optional_columns_may_be_missing():
    schema = Schema((ColSpec(DataType.double, "a"), ColSpec(DataType.long, "opt", required=False)))
    df = pd.DataFrame({"a": [1.0]})
    assert enforce_input(df, schema) is df


def test_extra_columns_are_ignored_and_order_follows_the_signature(caplog):
    df = frame().assign(extra=[0, 0])[["extra", "c", "b", "a"]]
    with caplog.at_level(logging.WARNING, logger="modelyard.models.enforce"):
        out = enforce_input(df, SCHEMA)
    assert list(out.columns) == ["a", "b", "c"]
    assert "extra" in caplog.text
    assert list(df.columns) == ["extra", "c", "b", "a"]  # the caller's frame is untouched


@pytest.mark.parametrize(
    ("column", "values", "dtype"),
    [
        ("a", np.array([1, 2], dtype="int32"), "float64"),  # int -> double
        ("a", np.array([1, 2], dtype="int64"), "float64"),  # int64 -> double, exact values
        ("a", np.array([1.0, 2.0], dtype="float32"), "float64"),  # float -> double
        ("b", np.array([1, 2], dtype="int32"), "int64"),  # int -> long
        ("b", np.array([1, 2], dtype="uint16"), "int64"),
        ("a", pd.array([1, None], dtype="Int64"), "float64"),  # nullable int -> double (NA -> NaN)
        ("b", pd.Series([1, 2], dtype=object), "int64"),  # object narrowed first
    ],
)
def test_safe_conversions_are_made(column, values, dtype):
    df = frame(**{column: values})
    out = enforce_input(df, SCHEMA)
    assert str(out[column].dtype) == dtype
    assert out is not df and df[column].dtype == pd.Series(values).dtype  # a new frame, input unchanged


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("b", [1.5, 2.5], "column 'b': cannot safely convert float64 to long (int64)"),  # double -> int
        ("a", ["1.0", "2.0"], "column 'a': cannot safely convert"),  # string -> double
        ("a", np.array([2**60, 1], dtype="int64"), "column 'a': cannot safely convert int64 to double"),
        ("c", [1, 2], "column 'c': cannot safely convert int64 to string"),
        ("b", pd.array([1, None], dtype="Int64"), "missing values"),
    ],
)
def test_unsafe_conversions_are_refused_naming_column_and_types(column, values, message):
    with pytest.raises(InvalidParameterValue, match="Incompatible input types") as err:
        enforce_input(frame(**{column: values}), SCHEMA)
    assert message in err.value.message
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_double_to_float_is_refused_but_float_to_double_is_not():
    schema = Schema((ColSpec(DataType.float, "x"),))
    with pytest.raises(InvalidParameterValue, match="float64 to float"):
        enforce_input(pd.DataFrame({"x": [0.1]}), schema)
    df = pd.DataFrame({"x": np.array([0.1], dtype="float32")})
    assert enforce_input(df, schema) is df


@pytest.mark.parametrize(
    "data",
    [
        {"a": 1.0, "b": 1, "c": "x"},
        [{"a": 1.0, "b": 1, "c": "x"}, {"a": 2.0, "b": 2, "c": "y"}],
        {"a": [1.0, 2.0], "b": [1, 2], "c": ["x", "y"]},
    ],
)
def test_dicts_and_records_are_read_as_frames(data):
    out = enforce_input(data, SCHEMA)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b", "c"]


def test_unnamed_columns_check_count_and_types_by_position():
    schema = Schema((ColSpec(DataType.double), ColSpec(DataType.double)))
    out = enforce_input(np.array([[1, 2], [3, 4]], dtype="int32"), schema)
    assert list(out.dtypes) == [np.float64, np.float64]
    with pytest.raises(InvalidParameterValue, match="declares 2 unnamed columns"):
        enforce_input(pd.DataFrame({"x": [1.0]}), schema)


def test_tensors_dtype_and_shape():
    schema = Schema((TensorSpec("float64", (-1, 3)),))
    arr = np.zeros((4, 3))
    assert enforce_input(arr, schema) is arr
    assert enforce_input(np.zeros((4, 3), dtype="int32"), schema).dtype == np.float64
    with pytest.raises(InvalidParameterValue, match=r"Shape of the input tensor \(4, 2\)"):
        enforce_input(np.zeros((4, 2)), schema)
    with pytest.raises(InvalidParameterValue, match="cannot safely convert complex128 to float64"):
        enforce_input(np.zeros((4, 3), dtype=complex), schema)
    assert enforce_input(pd.DataFrame(np.ones((2, 3))), schema).shape == (2, 3)
    named = Schema((TensorSpec("int64", (-1,), "ids"), TensorSpec("float32", (-1, 2), "x")))
    with pytest.raises(InvalidParameterValue, match=r"missing inputs \['x'\]"):
        enforce_input({"ids": np.array([1])}, named)


PARAMS = ParamSchema(
    (
        ParamSpec("k", DataType.long, 2),
        ParamSpec("t", DataType.double, 0.5),
        ParamSpec("ids", DataType.long, [1], (-1,)),
        ParamSpec("name", DataType.string, "a"),
    )
)


def test_params_defaults_apply_when_omitted():
    assert enforce_params(None, PARAMS) == {"k": 2, "t": 0.5, "ids": [1], "name": "a"}
    assert enforce_params({"k": 5, "t": 1, "ids": np.array([3, 4])}, PARAMS) == {
        "k": 5, "t": 1.0, "ids": [3, 4], "name": "a"
    }


def test_params_are_type_checked_and_unknown_ones_ignored(caplog):
    with pytest.raises(InvalidParameterValue, match="param 'k': expected long"):
        enforce_params({"k": 1.5}, PARAMS)
    with pytest.raises(InvalidParameterValue, match="param 'ids': expected a list"):
        enforce_params({"ids": 3}, PARAMS)
    with caplog.at_level(logging.WARNING):
        assert enforce_params({"zzz": 1}, PARAMS)["k"] == 2
    assert "zzz" in caplog.text


def test_params_without_a_params_schema_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert enforce_params({"k": 1}, None) is None
    assert "declares no params" in caplog.text
