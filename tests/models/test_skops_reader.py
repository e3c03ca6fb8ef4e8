"""Reading skops files without skops: the same objects as skops builds, never more trust than its defaults."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from modelyard.exceptions import InvalidParameterValue
from modelyard.flavors import _serialize, _skops_lazy, _skops_reader

REPO = Path(__file__).resolve().parents[2]


def _same(a, b, where="model") -> None:
    """Deep equality of what skops and the reader built: types, arrays (dtype and values), state."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel(), strict=True)):
                _same(x, y, f"{where}[{i}]")
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b], where
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _same(vars(a), vars(b), where)
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, where


@functools.cache
def _models():
    X, y = load_iris(return_X_y=True, as_frame=True)
    Xn = X.to_numpy()
    cats = np.array([["a", "x"], ["b", "y"], ["a", "y"], ["c", "x"]], dtype=object)
    return {
        "logistic_frame": LogisticRegression(max_iter=500, class_weight={0: 1.0, 1: 2.0, 2: 1.0}).fit(X, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y),
        "linear_numpy": LinearRegression().fit(Xn, Xn[:, 0] * 2.0),
        "kmeans": KMeans(n_clusters=3, n_init=2, random_state=0).fit(Xn),
        "svc": SVC().fit(Xn, y),
        "onehot": OneHotEncoder(handle_unknown="ignore").fit(cats),
    }


@pytest.mark.parametrize("name", ["logistic_frame", "pipeline", "linear_numpy", "kmeans", "svc", "onehot"])
def test_the_reader_builds_what_skops_builds(tmp_path, name):
    model = _models()[name]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    assert skops.io.get_untrusted_types(file=str(path)) == []  # a file skops loads with its defaults
    _same(_skops_reader.load(path), skops.io.load(path))


def test_files_beyond_the_reader_go_to_skops_and_still_load(tmp_path):
    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    path = tmp_path / "model.skops"
    skops.io.dump(forest, path)
    with pytest.raises(_skops_reader.Unsupported):  # trees are stored with skops' own node types
        _skops_reader.load(path)
    with pytest.raises(
        InvalidParameterValue, match="Refusing to load"
    ):  # skops 0.16 trusts no tree by default
        _serialize.load(path, _serialize.SKOPS)
    loaded = _serialize.load(
        path, _serialize.SKOPS, ["sklearn.tree._tree.Tree"]
    )  # as the MLmodel can list it
    assert np.array_equal(loaded.predict(X), forest.predict(X))


def _tamper(src: Path, dst: Path, change) -> None:
    """Copy a skops file, rewriting its schema.json with ``change(schema)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(data)
                change(schema)
                data = json.dumps(schema).encode()
            zout.writestr(item, data)


def _saved(tmp_path: Path) -> Path:
    X, y = load_iris(return_X_y=True, as_frame=True)
    path = tmp_path / "good.skops"
    skops.io.dump(LogisticRegression(max_iter=500).fit(X, y), path)
    return path


def _set_root(module, name):
    def change(schema):
        schema["__module__"], schema["__class__"] = module, name

    return change


def _attr(name, node):
    def change(schema):
        attrs = schema["content"]
        attrs["content"][name] = node
        str_type = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode", "__id__": 1}
        attrs["key_types"]["content"].append(str_type)  # keys and key types pair by position
        if node.get("file") == "":
            node["file"] = attrs["content"]["coef_"]["file"]  # an array member that exists

    return change


UNTRUSTED = {
    # an arbitrary class as the model itself
    "root_popen": _set_root("subprocess", "Popen"),
    # a scikit-learn class that is not a listed estimator (a private test helper)
    "root_private": _set_root("sklearn.utils._testing", "MinimalClassifier"),
    # an attribute built by calling a function
    "function_attr": _attr(
        "extra", {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode", "content": {}}
    ),
    # an attribute claiming to be an object of an untrusted class
    "object_attr": _attr(
        "extra", {"__class__": "OrderedDict", "__module__": "collections", "__loader__": "ObjectNode"}
    ),
    # an array whose class is not numpy's
    "array_class": _attr(
        "extra",
        {
            "__class__": "ndarray",
            "__module__": "os",
            "__loader__": "NdArrayNode",
            "type": "numpy",
            "file": "",
        },
    ),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_a_file_with_an_unexpected_type_is_refused(tmp_path, case):
    bad = tmp_path / "bad.skops"
    _tamper(_saved(tmp_path), bad, UNTRUSTED[case])
    with pytest.raises(_skops_reader.Unsupported):
        _skops_reader.load(bad)
    with pytest.raises(InvalidParameterValue, match="Refusing to load"):
        _serialize.load(bad, _serialize.SKOPS)


def test_a_json_node_is_only_ever_json(tmp_path):
    # skops' rule: a JsonNode is json.loads of its text, whatever class it names
    bad = tmp_path / "json.skops"
    node = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "JsonNode",
        "content": '"ls"',
        "is_json": True,
    }
    _tamper(_saved(tmp_path), bad, _attr("extra", node))
    assert _skops_reader.load(bad).extra == "ls"
    assert skops.io.load(bad).extra == "ls"


def test_a_pickled_array_is_never_unpickled(tmp_path):
    good = _saved(tmp_path)
    bad = tmp_path / "pickled.skops"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(".npy"):
                import io

                buffer = io.BytesIO()
                np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
                data = buffer.getvalue()
            zout.writestr(item, data)
    with pytest.raises(ValueError, match="pickle"):
        _skops_reader.load(bad)


def test_the_estimator_rule_trusts_nothing_all_estimators_does_not_list():
    from sklearn.base import BaseEstimator
    from sklearn.utils import all_estimators

    listed = {f"{c.__module__}.{c.__name__}" for _, c in all_estimators()}
    seen = set()
    for module in [
        m for name, m in list(sys.modules.items()) if name.startswith("sklearn.") and m is not None
    ]:
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, BaseEstimator):
                name = f"{value.__module__}.{value.__name__}"
                if name not in seen:
                    seen.add(name)
                    assert not _skops_lazy._listed_estimator(name) or name in listed, name
    assert len(seen) > len(listed)  # private and abstract classes were among those checked


CHILD = """
import json, sys
import numpy as np
from sklearn.datasets import load_iris
import modelyard.pyfunc
X, y = load_iris(return_X_y=True, as_frame=True)
loaded = modelyard.pyfunc.load_model(sys.argv[1])
print(json.dumps({"skops": "skops" in sys.modules, "pred": loaded.predict(X).tolist()}))
"""


def test_a_fresh_process_loads_a_pipeline_without_importing_skops(tmp_path):
    import modelyard.sklearn

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    modelyard.sklearn.save_model(model, tmp_path / "m", input_example=X.iloc[:3])
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "passive"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"skops": False, "pred": model.predict(X).tolist()}
