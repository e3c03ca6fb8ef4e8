"""Online feature values: written as JSON text, read back as the Python value of the column's type.

A value is stored as its JSON text (``encode_value``): numbers and booleans as JSON, strings as JSON
strings, timestamps and dates in ISO 8601, decimals as their text, binary as base64, lists, maps
and structs as JSON arrays and objects; a null as ``null``.

``Codec`` reads one column back. ``from_text`` takes the stored JSON text (bytes, as Redis answers;
never ``null``, the caller checks) and goes straight to the value where it can (``float(b"1.5")``,
``int(b"7")``, a string without escapes by slicing); ``from_json`` takes an already parsed JSON value
(the SQL store's payload). Both give what ``pyarrow``'s ``to_pylist`` gives for the column: ``float``,
``int``, ``bool``, ``str``, ``bytes``, ``Decimal``, ``date``, ``datetime`` (in the column's time zone),
lists, dicts, and ``(key, value)`` tuples for a map. ``codecs_for`` builds them once per table schema.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyarrow as pa

from modelyard.entities.feature_table import FeatureColumn


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)  # Decimal, and anything else JSON has no type for


def encode_value(value: Any) -> str:
    """The stored text of one feature value."""
    return json.dumps(value, default=_default, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Codec:
    from_text: Callable[[bytes], Any]
    from_json: Callable[[Any], Any]


def _string_text(raw: bytes) -> str:
    """A JSON string's value: sliced when it has no escape, else parsed."""
    if b"\\" in raw:
        return json.loads(raw)
    return raw[1:-1].decode()


def _bool_text(raw: bytes) -> bool:
    return raw == b"true"


def _json_text(convert: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    return lambda raw: convert(json.loads(raw))


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _binary(value: str) -> bytes:
    if value[:2] in ("b'", 'b"'):  # written by an older modelyard as Python's repr of the bytes
        import ast

        return ast.literal_eval(value)
    return base64.b64decode(value)


def _timestamp(tz: str | None) -> Callable[[str], datetime]:
    if tz is None:
        return lambda text: datetime.fromisoformat(text).replace(tzinfo=None)
    zone = pa.scalar(0, pa.timestamp("us", tz)).as_py().tzinfo  # the tzinfo pyarrow itself gives

    def parse(text: str) -> datetime:
        value = datetime.fromisoformat(text)
        return value.astimezone(zone) if value.tzinfo is not None else value.replace(tzinfo=zone)

    return parse


def _identity(value: Any) -> Any:
    return value


GENERIC = Codec(json.loads, _identity)


def codec(t: pa.DataType | None) -> Codec:
    """How a column of Arrow type ``t`` is read back (None: as plain JSON)."""
    if t is None:
        return GENERIC
    if pa.types.is_floating(t):
        return Codec(float, float)
    if pa.types.is_integer(t):
        return Codec(int, int)
    if pa.types.is_boolean(t):
        return Codec(_bool_text, bool)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return Codec(_string_text, _identity)
    if pa.types.is_timestamp(t):
        parse = _timestamp(t.tz)
        return Codec(lambda raw: parse(_string_text(raw)), parse)
    if pa.types.is_date(t):
        return Codec(lambda raw: date.fromisoformat(_string_text(raw)), date.fromisoformat)
    if pa.types.is_decimal(t):
        return Codec(lambda raw: Decimal(_string_text(raw)), lambda value: Decimal(str(value)))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_binary_view(t):
        return Codec(lambda raw: _binary(_string_text(raw)), _binary)
    if pa.types.is_map(t):
        key, item = codec(t.key_type).from_json, _nullable(codec(t.item_type).from_json)

        def pairs(value: list) -> list[tuple]:
            return [(key(k), item(v)) for k, v in value]

        return Codec(_json_text(pairs), pairs)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list_view(t):
        element = _nullable(codec(t.value_type).from_json)

        def items(value: list) -> list:
            return [element(v) for v in value]

        return Codec(_json_text(items), items)
    if pa.types.is_struct(t):
        fields = [(t.field(i).name, _nullable(codec(t.field(i).type).from_json)) for i in range(t.num_fields)]

        def struct(value: dict) -> dict:
            return {name: convert(value.get(name)) for name, convert in fields}

        return Codec(_json_text(struct), struct)
    return GENERIC


_SIMPLE = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "halffloat": pa.float16(), "float": pa.float32(), "double": pa.float64(), "bool": pa.bool_(),
    "string": pa.string(), "large_string": pa.large_string(), "binary": pa.binary(),
    "large_binary": pa.large_binary(), "date32[day]": pa.date32(), "date64[ms]": pa.date64(),
}


def arrow_type(text: str) -> pa.DataType | None:
    """The Arrow type a catalog column's type text names, for the scalar types (None for the rest:
    nested types are read from the table's schema)."""
    simple = _SIMPLE.get(text)
    if simple is not None:
        return simple
    if text.startswith("timestamp[") and text.endswith("]"):
        unit, _, tz = text[len("timestamp["):-1].partition(", tz=")
        return pa.timestamp(unit, tz or None)
    if text.startswith("decimal") and text.endswith(")") and "(" in text:
        precision, _, scale = text[text.index("(") + 1 : -1].partition(",")
        try:
            return pa.decimal128(int(precision), int(scale))
        except (ValueError, TypeError):
            return None
    return None


@lru_cache(maxsize=256)
def codecs_for(location: str, columns: tuple[FeatureColumn, ...]) -> dict[str, Codec]:
    """Every column's ``Codec``, by name, built once per table schema. Nested types (lists, maps,
    structs) take their Arrow type from the Delta table at ``location``."""
    types = {c.name: arrow_type(c.dtype) for c in columns}
    if any(t is None for t in types.values()):
        try:
            from modelyard.features import delta

            stored = delta.stored_schema(location)
            types.update({f.name: f.type for f in stored if types.get(f.name, False) is None})
        except Exception:  # noqa: BLE001 - an unreadable schema: those columns read back as plain JSON
            pass
    return {name: codec(t) for name, t in types.items()}


def codecs_of(table: Any, features: Sequence[str]) -> list[Codec]:
    """The ``Codec`` of each of ``features`` of a ``FeatureTable`` (plain JSON for an unknown one)."""
    by_name = codecs_for(table.location, table.columns)
    return [by_name.get(f, GENERIC) for f in features]
