"""Models across both clients through our server: logged here and loaded by mlflow 3 (``runs:/`` and
``models:/``), logged by mlflow 3 and loaded here. One mlflow script does both of its halves."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import modelyard as my  # noqa: E402
from modelyard.tracking import fluent, stores  # noqa: E402


@pytest.fixture
def ours_on_server(compat_server, unique, monkeypatch):
    for var in ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MODELYARD_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    my.set_tracking_uri(compat_server.url)
    my.set_experiment(unique + "-ours")
    yield
    while my.active_run():
        my.end_run()
    fluent.set_tracking_uri(None)
    stores.clear_store_cache()


def test_models_cross_the_server_both_ways(mlflow3, compat_server, unique, ours_on_server):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=400).fit(X, y)

    class Double(my.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 2

    with my.start_run() as run:
        sk = my.sklearn.log_model(clf, name="model", input_example=X.iloc[:3])
        my.pyfunc.log_model(name="double", python_model=Double(), input_example=X.iloc[:2])
    got = mlflow3.run(
        f"""
        import mlflow.pyfunc, mlflow.sklearn
        from sklearn.datasets import load_iris
        from sklearn.ensemble import GradientBoostingClassifier
        X, y = load_iris(return_X_y=True, as_frame=True)
        rows = X.iloc[:20]
        ours = {{
            "by_run": mlflow.pyfunc.load_model("runs:/{run.info.run_id}/model").predict(rows).tolist(),
            "by_id": mlflow.pyfunc.load_model("{sk.model_uri}").predict(rows).tolist(),
            "double": mlflow.pyfunc.load_model("runs:/{run.info.run_id}/double").predict(rows).values.tolist(),
            "native": type(mlflow.sklearn.load_model("{sk.model_uri}")).__name__,
        }}
        mlflow.set_experiment({unique!r})
        gb = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
        with mlflow.start_run() as theirs:
            info = mlflow.sklearn.log_model(gb, name="model", input_example=X.iloc[:3],
                                            serialization_format="cloudpickle", pip_requirements=["mlflow"])
        emit({{"ours": ours, "run_id": theirs.info.run_id, "model_uri": info.model_uri,
               "expected": gb.predict(rows).tolist()}})
        """
    )
    rows = X.iloc[:20]
    assert got["ours"]["by_run"] == got["ours"]["by_id"] == clf.predict(rows).tolist()
    np.testing.assert_allclose(got["ours"]["double"], (rows * 2).values)
    assert got["ours"]["native"] == "LogisticRegression"
    for uri in (got["model_uri"], f"runs:/{got['run_id']}/model"):
        model = my.pyfunc.load_model(uri)
        assert model.predict(rows).tolist() == got["expected"]
    assert type(my.sklearn.load_model(got["model_uri"])).__name__ == "GradientBoostingClassifier"
