"""Schemas of model inputs, outputs and params, in MLflow's JSON shapes.

- ``ColSpec``: a named (or positional) column ``{"type": "double", "name": "x", "required": true}``.
- ``TensorSpec``: an array ``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}``.
- ``Schema``: a list of specs, all columns or all tensors.
- ``ParamSpec`` / ``ParamSchema``: inference params ``{"name", "default", "shape", "type"}``.

Nested column types (``array``, ``object``, ``map``, ``any``) are kept as written so a signature
round-trips, and are not enforced. Leaf module: no numpy or pandas at import time.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from modelyard.exceptions import InvalidParameterValue


class DataType(enum.StrEnum):
    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    @property
    def numpy_name(self) -> str:
        """The numpy dtype a column of this type holds."""
        return _NUMPY_NAMES[self]


_NUMPY_NAMES = {
    DataType.boolean: "bool",
    DataType.integer: "int32",
    DataType.long: "int64",
    DataType.float: "float32",
    DataType.double: "float64",
    DataType.string: "object",
    DataType.binary: "object",
    DataType.datetime: "datetime64[ns]",
}
NESTED_TYPES = ("array", "object", "map", "any")


@dataclass(frozen=True, slots=True)
class ColSpec:
    """One column: a DataType (or a nested type kept as its JSON), a name, whether it is required."""

    type: DataType | dict
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict:
        if isinstance(self.type, dict):
            out = dict(self.type)
        else:
            out = {"type": self.type.value}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ColSpec:
        kind = d.get("type")
        required = bool(d.get("required", True))
        name = d.get("name")
        if kind in NESTED_TYPES:
            nested = {k: v for k, v in d.items() if k not in ("name", "required")}
            return cls(nested, name, required)
        try:
            return cls(DataType(kind), name, required)
        except ValueError:
            raise InvalidParameterValue(f"Unknown column type {kind!r} in a model schema") from None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """An array of ``dtype`` (a numpy dtype name) and ``shape`` (-1 for a free dimension)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"type": "tensor", "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, d: dict) -> TensorSpec:
        spec = d.get("tensor-spec") or {}
        return cls(str(spec.get("dtype")), tuple(int(s) for s in spec.get("shape") or ()), d.get("name"))


Spec = ColSpec | TensorSpec


@dataclass(frozen=True, slots=True)
class Schema:
    inputs: tuple[Spec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise InvalidParameterValue("A schema holds either columns or tensors, not both")

    def __iter__(self):
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and all(s.name is not None for s in self.inputs)

    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None]

    def required_input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and getattr(s, "required", True)]

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.inputs])

    @classmethod
    def from_json(cls, text: str | list) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        if not isinstance(items, list):
            raise InvalidParameterValue("A model schema must be a JSON list")
        return cls(tuple(TensorSpec.from_dict(d) if d.get("type") == "tensor" else ColSpec.from_dict(d) for d in items))


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """An inference parameter with its type, default and shape (None: a scalar; (-1,): a list)."""

    name: str
    type: DataType
    default: Any = None
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        default = self.default
        if self.type is DataType.datetime and default is not None:
            default = default.isoformat() if hasattr(default, "isoformat") else str(default)
        return {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.type.value,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ParamSpec:
        shape = d.get("shape")
        return cls(d["name"], DataType(d["type"]), d.get("default"), tuple(shape) if shape is not None else None)


@dataclass(frozen=True, slots=True)
class ParamSchema:
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise InvalidParameterValue(f"Duplicate param names in a param schema: {names}")

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str | list) -> ParamSchema:
        items = json.loads(text) if isinstance(text, str) else text
        return cls(tuple(ParamSpec.from_dict(d) for d in items))
