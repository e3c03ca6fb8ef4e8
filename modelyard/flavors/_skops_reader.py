"""Read a skops file without importing skops, for files made only of what skops trusts by default.

``import skops.io`` costs more than scikit-learn's own import: its list of trusted types walks
``scipy.special`` and ``numpy`` object by object, and its node modules import ``sklearn.ensemble``,
``sklearn.cluster`` and ``sklearn.tree`` whatever the file holds. Most models are a handful of
scikit-learn estimators holding numbers, strings and arrays; :func:`load` reads those itself and
raises :class:`Unsupported` for anything else, so the caller hands the file to skops unchanged.

It reads skops' format (protocol 2: ``schema.json`` plus ``.npy`` members in a zip) the way skops
does, in two passes: the whole tree is parsed and every node's type checked first, and only then
is anything constructed. It trusts a strict subset of skops' defaults and nothing the caller adds:

- ``JsonNode``: a JSON value, whatever class the node claims (skops' rule: ``json.loads`` only);
- ``DictNode`` / ``ListNode`` / ``TupleNode`` of exactly ``builtins.dict`` / ``list`` / ``tuple``;
- ``TypeNode`` (a dict's key types): ``builtins`` int, float, str or bool, or a numpy scalar type;
- ``NdArrayNode``: ``numpy.ndarray`` or a numpy scalar type, read with ``allow_pickle=False``,
  or an object array stored as a list of nodes;
- ``ObjectNode``: a scikit-learn estimator ``sklearn.utils.all_estimators()`` would list (see
  ``_skops_lazy._listed_estimator``), built as skops builds it (``__new__`` then ``__setstate__``);
- ``CachedNode`` and repeated ``__id__`` values: the same object again, as in skops.

Any other loader, type, protocol or malformed part raises :class:`Unsupported` before anything is
built: skops then applies its own checks (and the MLmodel's ``skops_trusted_types``), so a type
skops would refuse is still refused.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any
from zipfile import ZipFile

PROTOCOL = 2  # the skops protocol whose node semantics this module implements
_PRIMITIVES = {"int": int, "float": float, "str": str, "bool": bool}
_CONTAINERS = {"DictNode": "dict", "ListNode": "list", "TupleNode": "tuple"}
_UNBUILT = object()


class Unsupported(Exception):
    """The file holds something this reader does not handle: let skops load it."""


def _numpy_scalar_types() -> dict[str, type]:
    """skops' ``NUMPY_DTYPE_TYPE_NAMES`` (the numpy scalar types), by their name under ``numpy``."""
    import numpy

    return {t.__name__: t for t in set(numpy.sctypeDict.values()) if t.__module__ == "numpy"}


class _Node:
    __slots__ = ("build", "args", "value", "busy")

    def __init__(self) -> None:
        self.value: Any = _UNBUILT
        self.busy = True

    def construct(self) -> Any:
        if self.value is _UNBUILT:
            self.value = self.build(*self.args)
        return self.value


class _Reader:
    def __init__(self, src: ZipFile) -> None:
        self.src = src
        self.memo: dict[Any, _Node] = {}
        self._numpy: dict[str, type] | None = None

    def numpy_type(self, module: Any, name: Any) -> type:
        if module != "numpy" or not isinstance(name, str):
            raise Unsupported(f"{module}.{name}")
        if name == "ndarray":
            import numpy

            return numpy.ndarray
        if self._numpy is None:
            self._numpy = _numpy_scalar_types()
        found = self._numpy.get(name)
        if found is None or found is not getattr(sys.modules["numpy"], name, None):  # skops imports by name
            raise Unsupported(f"numpy.{name}")
        return found

    def tree(self, state: Any) -> _Node:
        if not isinstance(state, dict):
            raise Unsupported("a node that is not an object")
        saved_id = state.get("__id__")
        if saved_id in self.memo:
            node = self.memo[saved_id]
            if node.busy:  # an object inside itself: leave recursion to skops
                raise Unsupported("a self-referencing object")
            return node
        loader = state.get("__loader__")
        if loader == "CachedNode":
            raise Unsupported("a cached node without its object")  # skops refuses it too
        node = _Node()
        if saved_id:
            self.memo[saved_id] = node
        module, name = state.get("__module__"), state.get("__class__")
        if loader == "JsonNode":
            content = state.get("content")
            if not isinstance(content, str):
                raise Unsupported("a JSON node without text")
            node.build, node.args = json.loads, (content,)
        elif loader in _CONTAINERS:
            if module != "builtins" or name != _CONTAINERS[loader]:
                raise Unsupported(f"{module}.{name}")
            node.build, node.args = self._container(loader, state)
        elif loader == "TypeNode":  # a dict's key type
            node.build, node.args = (lambda t: t), (self._type(module, name),)
        elif loader == "NdArrayNode":
            node.build, node.args = self._array(self.numpy_type(module, name), state)
        elif loader == "ObjectNode":
            node.build, node.args = self._object(module, name, state)
        else:
            raise Unsupported(f"loader {loader!r}")
        node.busy = False
        return node

    def _children(self, states: Any) -> list[_Node]:
        if not isinstance(states, list):
            raise Unsupported("a container without a list of items")
        return [self.tree(s) for s in states]

    def _container(self, loader: str, state: dict) -> tuple[Any, tuple]:
        if loader == "ListNode":
            return (lambda items: [i.construct() for i in items]), (self._children(state.get("content")),)
        if loader == "TupleNode":
            return (lambda items: tuple(i.construct() for i in items)), (
                self._children(state.get("content")),
            )
        content = state.get("content")
        if not isinstance(content, dict):
            raise Unsupported("a dict without content")
        key_types = self.tree(state.get("key_types"))
        values = {key: self.tree(value) for key, value in content.items()}

        def build(key_types: _Node, values: dict[str, _Node]) -> dict:
            # skops pairs key types and keys by position (zip): so does this
            types = key_types.construct()
            return {
                k_type(key): node.construct()
                for k_type, (key, node) in zip(types, values.items(), strict=False)
            }

        return build, (key_types, values)

    def _type(self, module: Any, name: Any) -> type:
        if module == "builtins" and name in _PRIMITIVES:
            return _PRIMITIVES[name]
        if name == "ndarray":  # skops trusts numpy's scalar types here, not the array type
            raise Unsupported("numpy.ndarray as a key type")
        return self.numpy_type(module, name)

    def _array(self, cls: type, state: dict) -> tuple[Any, tuple]:
        import numpy

        kind = state.get("type")
        if kind == "numpy":
            member = state.get("file")
            if not isinstance(member, str):
                raise Unsupported("an array without its file")
            try:
                buffer = io.BytesIO(self.src.read(member))
            except KeyError as exc:
                raise Unsupported("an array whose file is missing") from exc

            def build(buffer: io.BytesIO) -> Any:
                content = numpy.load(buffer, allow_pickle=False)
                return content if cls is numpy.ndarray else cls(content)

            return build, (buffer,)
        if kind == "json" and cls is numpy.ndarray:
            items = self._children(state.get("content"))
            shape = self.tree(state.get("shape"))

            def build_objects(items: list[_Node], shape: _Node) -> Any:
                dims = shape.construct()
                values = [item.construct() for item in items]
                if len(dims) == 1:  # as skops: a flat object array keeps its items as they are
                    out = numpy.ndarray(shape=len(values), dtype="O")
                    for i, v in enumerate(values):
                        out[i] = v
                    return out
                return numpy.array(values, dtype="O")

            return build_objects, (items, shape)
        raise Unsupported(f"an array stored as {kind!r}")

    def _object(self, module: Any, name: Any, state: dict) -> tuple[Any, tuple]:
        from modelyard.flavors._skops_lazy import _listed_estimator

        if (
            not isinstance(module, str)
            or not isinstance(name, str)
            or not _listed_estimator(f"{module}.{name}")
        ):
            raise Unsupported(f"{module}.{name}")
        import importlib

        cls = getattr(importlib.import_module(module), name)
        content = state.get("content")
        attrs = self.tree(content) if content is not None else None

        def build(cls: type, attrs: _Node | None) -> Any:
            instance = cls.__new__(cls)  # as skops: no __init__, then the saved state
            if attrs is not None:
                values = attrs.construct()
                if values is not None:
                    if hasattr(instance, "__setstate__"):
                        instance.__setstate__(values)
                    else:
                        instance.__dict__.update(values)
            return instance

        return build, (cls, attrs)


def load(path: Path | str) -> Any:
    """The object in the skops file at ``path``; :class:`Unsupported` when skops must read it."""
    try:
        with ZipFile(path, "r") as src:
            schema = json.loads(src.read("schema.json"))
            if (
                not isinstance(schema, dict)
                or type(schema.get("protocol")) is not int
                or (schema["protocol"] != PROTOCOL)
            ):
                raise Unsupported("another skops protocol")
            root = _Reader(src).tree(schema)
    except Unsupported:
        raise
    except Exception as exc:  # a malformed file: skops reports it in its own words
        raise Unsupported(f"{type(exc).__name__}: {exc}") from exc
    return root.construct()
