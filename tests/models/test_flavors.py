"""Each flavor saves, loads natively and as the generic predictor, with its own file format."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
import pytest
import yaml

import modelyard as my
from modelyard.exceptions import InvalidParameterValue
from modelyard.flavors import _serialize

xgboost = pytest.importorskip("xgboost", reason="xgboost-cpu is not installed (pip install 'modelyard[xgboost]')")
lightgbm = pytest.importorskip("lightgbm", reason="lightgbm is not installed (pip install 'modelyard[lightgbm]')")


def mlmodel(path):
    return yaml.safe_load((path / "MLmodel").read_text())


# -- scikit-learn ----------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "file"), [("skops", "model.skops"), ("cloudpickle", "model.pkl"), ("pickle", "model.pkl")])
def test_sklearn_formats(tmp_path, iris, logreg, fmt, file, caplog, monkeypatch):
    monkeypatch.setattr(_serialize, "_warned", threading.Event())  # a fresh process, as far as the warning goes
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "m", serialization_format=fmt, input_example=X.iloc[:2])
    conf = mlmodel(tmp_path / "m")["flavors"]["sklearn"]
    assert (conf["serialization_format"], conf["pickled_model"]) == (fmt, file)
    with caplog.at_level(logging.WARNING, logger="modelyard.flavors._serialize"):
        native = my.sklearn.load_model(tmp_path / "m")
    assert type(native).__name__ == "LogisticRegression"
    unpickled = [r.getMessage() for r in caplog.records if "Unpickling" in r.getMessage()]
    if fmt == "skops":
        assert unpickled == []
    else:  # the log says which file runs code
        assert unpickled and str(tmp_path / "m" / file) in unpickled[0]
    model = my.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(X), logreg.predict(X))
    assert model.get_raw_model() is not None and model.loader_module == "mlflow.sklearn"


def test_the_default_format_loads_silently_and_pickles_warn_once_per_process(tmp_path, iris, logreg, caplog, monkeypatch):
    monkeypatch.setattr(_serialize, "_warned", threading.Event())
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "default", input_example=X.iloc[:2])
    assert mlmodel(tmp_path / "default")["flavors"]["sklearn"]["serialization_format"] == "skops"
    for name in ("a", "b"):
        my.sklearn.save_model(logreg, tmp_path / name, serialization_format="cloudpickle")
    with caplog.at_level(logging.WARNING, logger="modelyard.flavors._serialize"):
        for name in ("default", "default", "a", "b", "a"):
            my.pyfunc.load_model(tmp_path / name)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "Unpickling" in warnings[0] and str(tmp_path / "a") in warnings[0]


def test_the_sklearn_extra_brings_the_safe_format():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    sklearn_extra = pyproject["project"]["optional-dependencies"]["sklearn"]
    assert any(req.startswith("skops") for req in sklearn_extra)


def test_sklearn_predict_fn_and_metadata(tmp_path, iris, logreg):
    X, _ = iris
    my.sklearn.save_model(
        logreg, tmp_path / "m", pyfunc_predict_fn="predict_proba", input_example=X.iloc[:2], metadata={"team": "a"}
    )
    model = my.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(model.predict(X.iloc[:5]), logreg.predict_proba(X.iloc[:5]))
    assert model.metadata.metadata == {"team": "a"}
    assert model.metadata.get_output_schema().inputs[0].dtype == "float64"  # a 2-d output: a tensor
    with pytest.raises(InvalidParameterValue, match="pyfunc_predict_fn"):
        my.sklearn.save_model(logreg, tmp_path / "n", pyfunc_predict_fn="transform")


def test_sklearn_schema_is_enforced_on_predict(tmp_path, iris, logreg):
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "m", input_example=X.iloc[:2])
    model = my.pyfunc.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameterValue, match=r"missing inputs \['petal width \(cm\)'\]"):
        model.predict(X.drop(columns=["petal width (cm)"]))
    as_int = X.round().astype("int32")
    np.testing.assert_array_equal(model.predict(as_int), logreg.predict(as_int.astype("float64")))
    with pytest.raises(InvalidParameterValue, match="column 'sepal length \\(cm\\)'"):
        model.predict(X.astype({"sepal length (cm)": str}))


def test_skops_refuses_untrusted_types(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(InvalidParameterValue, match="skops"):
        my.sklearn.save_model(FunctionTransformer(lambda x: x), tmp_path / "m", serialization_format="skops")
    assert not (tmp_path / "m").exists()  # a failed save leaves nothing behind
    with pytest.raises(InvalidParameterValue, match="Unrecognized serialization format"):
        my.sklearn.save_model(FunctionTransformer(), tmp_path / "m", serialization_format="joblib")


def test_without_skops_the_default_is_cloudpickle(tmp_path, logreg, monkeypatch):
    from modelyard.flavors import _serialize

    monkeypatch.setattr(_serialize.importlib.util, "find_spec", lambda name: None)
    my.sklearn.save_model(logreg, tmp_path / "m")
    assert mlmodel(tmp_path / "m")["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"


# -- XGBoost -------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_format", ["ubj", "json"])
def test_xgboost_classifier_native_format(tmp_path, iris, model_format):
    X, y = iris
    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    my.xgboost.save_model(clf, tmp_path / "m", model_format=model_format, input_example=X.iloc[:2])
    conf = mlmodel(tmp_path / "m")["flavors"]
    assert conf["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert conf["xgboost"]["data"] == conf["python_function"]["data"] == f"model.{model_format}"
    assert conf["python_function"]["loader_module"] == "mlflow.xgboost"
    assert (tmp_path / "m" / f"model.{model_format}").is_file()
    native = my.xgboost.load_model(tmp_path / "m")
    assert isinstance(native, xgboost.XGBClassifier)
    np.testing.assert_array_equal(my.pyfunc.load_model(tmp_path / "m").predict(X), clf.predict(X))


def test_xgboost_booster(tmp_path, iris):
    X, y = iris
    booster = xgboost.train({"max_depth": 2, "nthread": 1}, xgboost.DMatrix(X, label=y), num_boost_round=3)
    my.xgboost.save_model(booster, tmp_path / "m")
    assert mlmodel(tmp_path / "m")["flavors"]["xgboost"]["model_class"] == "xgboost.core.Booster"
    np.testing.assert_allclose(my.pyfunc.load_model(tmp_path / "m").predict(X), booster.predict(xgboost.DMatrix(X)))
    reqs = (tmp_path / "m" / "requirements.txt").read_text()
    assert "xgboost-cpu==" in reqs or "xgboost==" in reqs


def test_xgboost_model_class_comes_from_a_table(tmp_path, iris):
    X, y = iris
    my.xgboost.save_model(xgboost.XGBRegressor(n_estimators=2, n_jobs=1).fit(X, y), tmp_path / "m")
    text = (tmp_path / "m" / "MLmodel").read_text().replace("xgboost.sklearn.XGBRegressor", "os.system")
    (tmp_path / "m" / "MLmodel").write_text(text)
    with pytest.raises(InvalidParameterValue, match="Unsupported XGBoost model_class 'os.system'"):
        my.xgboost.load_model(tmp_path / "m")


# -- LightGBM ------------------------------------------------------------------------------------
def test_lightgbm_booster_is_saved_as_text(tmp_path, iris):
    X, y = iris
    booster = lightgbm.train({"verbose": -1, "num_threads": 1}, lightgbm.Dataset(X, label=y), num_boost_round=3)
    my.lightgbm.save_model(booster, tmp_path / "m", input_example=X.iloc[:2])
    conf = mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert (conf["model_class"], conf["data"]) == ("lightgbm.basic.Booster", "model.txt")
    assert (tmp_path / "m" / "model.txt").read_text().startswith("tree")
    assert isinstance(my.lightgbm.load_model(tmp_path / "m"), lightgbm.Booster)
    np.testing.assert_allclose(my.pyfunc.load_model(tmp_path / "m").predict(X), booster.predict(X))


def test_lightgbm_classifier_keeps_its_wrapper(tmp_path, iris):
    X, y = iris
    clf = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
    my.lightgbm.save_model(clf, tmp_path / "m", input_example=X.iloc[:2])
    conf = mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert conf["model_class"] == "lightgbm.sklearn.LGBMClassifier" and conf["serialization_format"] == "skops"
    assert "lightgbm.basic.Booster" in conf["skops_trusted_types"]
    loaded = my.lightgbm.load_model(tmp_path / "m")
    assert isinstance(loaded, lightgbm.LGBMClassifier)
    np.testing.assert_array_equal(my.pyfunc.load_model(tmp_path / "m").predict(X), clf.predict(X))
    text = (tmp_path / "m" / "MLmodel").read_text().replace("- collections.OrderedDict", "- builtins.eval")
    (tmp_path / "m" / "MLmodel").write_text(text)
    with pytest.raises(InvalidParameterValue, match="builtins.eval"):
        my.lightgbm.load_model(tmp_path / "m")


# -- custom Python models ------------------------------------------------------------------------
class Scaler(my.pyfunc.PythonModel):
    def load_context(self, context):
        self.factor = float(open(context.artifacts["factor"]).read())

    def predict(self, context, model_input, params=None):
        from mylib import shift  # from code_paths

        return shift(model_input * self.factor * params["k"])


def test_python_model_with_artifacts_code_and_params(tmp_path, iris):
    X, _ = iris
    (tmp_path / "factor.txt").write_text("10")
    (tmp_path / "mylib.py").write_text("def shift(x):\n    return x + 1\n")
    info = my.pyfunc.save_model(
        tmp_path / "m",
        python_model=Scaler(),
        artifacts={"factor": str(tmp_path / "factor.txt")},
        code_paths=[str(tmp_path / "mylib.py")],
        input_example=(X.iloc[:2], {"k": 2}),
    )
    conf = info.flavors["python_function"]
    assert conf["loader_module"] == "mlflow.pyfunc.model" and conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"] == {"factor": {"path": "artifacts/factor.txt", "uri": str(tmp_path / "factor.txt")}}
    assert conf["code"] == "code" and (tmp_path / "m" / "code" / "mylib.py").is_file()
    assert info.signature.params.defaults() == {"k": 2}
    model = my.pyfunc.load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(model.predict(X.iloc[:3]), X.iloc[:3] * 20 + 1)  # default k=2
    pd.testing.assert_frame_equal(model.predict(X.iloc[:3], params={"k": 1}), X.iloc[:3] * 10 + 1)
    assert isinstance(model.unwrap_python_model(), Scaler) and model.unwrap_python_model().factor == 10.0
    assert isinstance(my.pyfunc.load_model(tmp_path / "m").get_raw_model(), Scaler)


def test_python_model_without_context_and_plain_functions(tmp_path):
    class NoContext(my.pyfunc.PythonModel):
        def predict(self, model_input, params=None):
            return [len(model_input)]

    my.pyfunc.save_model(tmp_path / "a", python_model=NoContext())
    assert my.pyfunc.load_model(tmp_path / "a").predict([1, 2, 3]) == [3]
    my.pyfunc.save_model(tmp_path / "b", python_model=lambda rows: [r * 2 for r in rows])
    assert my.pyfunc.load_model(tmp_path / "b").predict([1, 2]) == [2, 4]
    with pytest.raises(InvalidParameterValue, match="python_model"):
        my.pyfunc.save_model(tmp_path / "c", python_model=42)
    sk = tmp_path / "a"
    with pytest.raises(InvalidParameterValue, match="custom python model"):
        my.pyfunc.PyFuncModel(my.models.Model(), object()).unwrap_python_model()
    assert "PyFuncModel" in repr(my.pyfunc.load_model(sk))


def test_a_list_of_scalars_is_one_unnamed_column(tmp_path):
    info = my.pyfunc.save_model(tmp_path / "m", python_model=lambda rows: [len(rows)], input_example=["a", "b"])
    assert info.signature.inputs.to_json() == '[{"type": "string", "required": true}]'
    model = my.pyfunc.load_model(tmp_path / "m")
    assert model.predict(["x", "y", "z"]) == [3]
    assert model.metadata.load_input_example(tmp_path / "m").tolist() == ["a", "b"]
