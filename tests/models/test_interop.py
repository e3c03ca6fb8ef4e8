"""Interoperability with the real mlflow package (3.17.2, a test dependency), in both directions.

One mlflow subprocess per session does both halves: it loads the folders this process saved
(``mlflow.pyfunc.load_model`` + predict) and saves its own folders (``mlflow.sklearn`` /
``mlflow.pyfunc`` / ``mlflow.xgboost`` / ``mlflow.lightgbm`` ``save_model``) with its own
predictions; the tests then compare. mlflow runs in a subprocess so that its import-time setup
stays out of this process (and telemetry is off there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import modelyard as my

pytest.importorskip("mlflow", reason="mlflow is a test dependency (pip install -e '.[test]')")
xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

ROWS = 20
MARK = "INTEROP-RESULT:"

SCRIPT = """
import json, sys
import numpy as np
import mlflow, mlflow.pyfunc, mlflow.sklearn, mlflow.xgboost, mlflow.lightgbm
import lightgbm, xgboost
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

ours, theirs = json.loads(sys.argv[1]), sys.argv[2]
X, y = load_iris(return_X_y=True, as_frame=True)
rows = X.iloc[:{rows}]
out = {{"loaded": {{}}, "saved": {{}}}}

def plain(p):
    return p.values.tolist() if hasattr(p, "values") else np.asarray(p).tolist()

for name, path in ours.items():
    model = mlflow.pyfunc.load_model(path)
    params = {{"k": 3}} if name == "pyfunc" else None
    out["loaded"][name] = {{
        "predictions": plain(model.predict(rows, params=params)),
        "flavors": sorted(model.metadata.flavors),
    }}
out["native_sklearn"] = type(mlflow.sklearn.load_model(ours["sklearn"])).__name__

reqs = ["mlflow", "scikit-learn"]  # explicit: skips mlflow's slow requirement inference
rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
mlflow.sklearn.save_model(rf, theirs + "/sklearn", input_example=X.iloc[:3], pip_requirements=reqs,
                          skops_trusted_types=["sklearn.tree._tree.Tree"])
out["saved"]["sklearn"] = rf.predict(rows).tolist()
mlflow.sklearn.save_model(rf, theirs + "/sklearn_pickle", serialization_format="cloudpickle", pip_requirements=reqs)
out["saved"]["sklearn_pickle"] = rf.predict(rows).tolist()

class Add(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.offset = float(open(context.artifacts["offset"]).read())

    def predict(self, context, model_input, params=None):
        return model_input * params["k"] + self.offset

with open(theirs + "/offset.txt", "w") as fh:
    fh.write("100")
mlflow.pyfunc.save_model(theirs + "/pyfunc", python_model=Add(), artifacts={{"offset": theirs + "/offset.txt"}},
                         input_example=(X.iloc[:2], {{"k": 2}}), pip_requirements=["mlflow"])
out["saved"]["pyfunc"] = (rows * 3 + 100).values.tolist()

xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
mlflow.xgboost.save_model(xgb, theirs + "/xgboost", input_example=X.iloc[:2], pip_requirements=["mlflow"])
out["saved"]["xgboost"] = xgb.predict(rows).tolist()
lgbm = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
mlflow.lightgbm.save_model(lgbm, theirs + "/lightgbm", input_example=X.iloc[:2], pip_requirements=["mlflow"])
out["saved"]["lightgbm"] = lgbm.predict(rows).tolist()
booster = lightgbm.train({{"verbose": -1, "num_threads": 1}}, lightgbm.Dataset(X, label=y), num_boost_round=3)
mlflow.lightgbm.save_model(booster, theirs + "/lightgbm_booster", pip_requirements=["mlflow"])
out["saved"]["lightgbm_booster"] = booster.predict(rows).tolist()
print({mark!r} + json.dumps(out), flush=True)
"""


def _our_models(root, X, y):
    """Folders saved by modelyard, and what modelyard predicts with them."""
    from sklearn.linear_model import LogisticRegression

    class Scale(my.pyfunc.PythonModel):  # a local class: cloudpickle stores it by value
        def predict(self, context, model_input, params=None):
            return model_input * params["k"]

    rows = X.iloc[:ROWS]
    logreg = LogisticRegression(max_iter=500).fit(X, y)
    folders, expected = {}, {}
    my.sklearn.save_model(logreg, root / "sklearn", input_example=X.iloc[:3])
    expected["sklearn"] = logreg.predict(rows).tolist()
    my.sklearn.save_model(logreg, root / "sklearn_pickle", serialization_format="cloudpickle")
    expected["sklearn_pickle"] = expected["sklearn"]
    my.pyfunc.save_model(root / "pyfunc", python_model=Scale(), input_example=(X.iloc[:2], {"k": 2}))
    expected["pyfunc"] = (rows * 3).values.tolist()
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    my.xgboost.save_model(xgb, root / "xgboost", input_example=X.iloc[:2])
    expected["xgboost"] = xgb.predict(rows).tolist()
    lgbm = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
    my.lightgbm.save_model(lgbm, root / "lightgbm", input_example=X.iloc[:2])
    expected["lightgbm"] = lgbm.predict(rows).tolist()
    booster = lightgbm.train({"verbose": -1, "num_threads": 1}, lightgbm.Dataset(X, label=y), num_boost_round=3)
    my.lightgbm.save_model(booster, root / "lightgbm_booster")
    expected["lightgbm_booster"] = booster.predict(rows).tolist()
    for name in expected:
        folders[name] = str(root / name)
    return folders, expected


@pytest.fixture(scope="session")
def interop(tmp_path_factory, iris):
    X, y = iris
    root = tmp_path_factory.mktemp("interop")
    (root / "ours").mkdir()
    (root / "theirs").mkdir()
    folders, expected = _our_models(root / "ours", X, y)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        OMP_WAIT_POLICY="passive",
        HOME=str(root),
        GIT_PYTHON_REFRESH="quiet",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'unused.db'}",
    )
    code = textwrap.dedent(SCRIPT.format(rows=ROWS, mark=MARK))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(folders), str(root / "theirs")],
        capture_output=True, text=True, env=env, cwd=root, timeout=240,
    )
    lines = [line[len(MARK):] for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        pytest.fail(f"the mlflow script failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    return json.loads(lines[0]), expected, root / "theirs", X.iloc[:ROWS]


@pytest.mark.parametrize("name", ["sklearn", "sklearn_pickle", "pyfunc", "xgboost", "lightgbm", "lightgbm_booster"])
def test_mlflow_loads_our_models_and_predicts_the_same(interop, name):
    got, expected, _, _ = interop
    np.testing.assert_allclose(got["loaded"][name]["predictions"], expected[name])
    assert "python_function" in got["loaded"][name]["flavors"]


def test_mlflow_loads_our_sklearn_model_natively(interop):
    assert interop[0]["native_sklearn"] == "LogisticRegression"


@pytest.mark.parametrize("name", ["sklearn", "sklearn_pickle", "xgboost", "lightgbm", "lightgbm_booster"])
def test_we_load_mlflows_models_and_predict_the_same(interop, name):
    got, _, theirs, rows = interop
    model = my.pyfunc.load_model(theirs / name)
    np.testing.assert_allclose(np.asarray(model.predict(rows)), got["saved"][name])
    flavor = {"sklearn_pickle": "sklearn", "lightgbm_booster": "lightgbm"}.get(name, name)
    native = getattr(my, flavor).load_model(str(theirs / name))
    assert native is not None


# mlflow's PythonModel wraps predict and warns about the untyped model_input when it runs here
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_we_load_mlflows_python_model_with_artifacts_and_params(interop):
    got, _, theirs, rows = interop
    model = my.pyfunc.load_model(theirs / "pyfunc")
    assert model.metadata.get_params_schema().defaults() == {"k": 2}
    result = model.predict(rows, params={"k": 3})
    assert isinstance(result, pd.DataFrame)
    np.testing.assert_allclose(result.values, got["saved"]["pyfunc"])
    assert type(model.unwrap_python_model()).__name__ == "Add"
