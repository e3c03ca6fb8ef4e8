"""The model folder as MLflow writes it: MLmodel keys, flavor fields, files beside it, environment."""

from __future__ import annotations

import json
import logging
import platform

import numpy as np
import pytest
import yaml

import modelyard as my
from modelyard import __version__
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from modelyard.models import Model
from modelyard.models.environment import check_environment
from modelyard.models.mlmodel import model_file

FILES = {
    "MLmodel",
    "conda.yaml",
    "python_env.yaml",
    "requirements.txt",
    "input_example.json",
    "serving_input_example.json",
    "model.skops",
}


@pytest.fixture
def saved(tmp_path, iris, logreg):
    X, _ = iris
    my.sklearn.save_model(logreg, tmp_path / "m", input_example=X.iloc[:3])
    return tmp_path / "m"


def test_the_folder_holds_exactly_mlflows_seven_files(saved):
    assert {p.name for p in saved.iterdir()} == FILES


def test_mlmodel_keys_and_flavors_match_mlflow(saved, iris):
    mlmodel = yaml.safe_load((saved / "MLmodel").read_text())
    assert set(mlmodel) == {
        "flavors", "is_signature_from_type_hint", "mlflow_version", "model_id", "model_size_bytes",
        "model_uuid", "prompts", "saved_input_example_info", "signature", "type_hint_from_example",
        "utc_time_created", "modelyard_version",
    }
    assert mlmodel["mlflow_version"] == "3.17.2" and mlmodel["modelyard_version"] == __version__
    assert mlmodel["model_id"] is None and mlmodel["prompts"] is None
    assert len(mlmodel["model_uuid"]) == 32
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc == {
        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
        "loader_module": "mlflow.sklearn",
        "model_path": "model.skops",
        "predict_fn": "predict",
        "python_version": platform.python_version(),
    }
    import sklearn

    assert mlmodel["flavors"]["sklearn"] == {
        "code": None,
        "pickled_model": "model.skops",
        "serialization_format": "skops",
        "sklearn_version": sklearn.__version__,
        "skops_trusted_types": None,
    }
    assert mlmodel["saved_input_example_info"] == {
        "artifact_path": "input_example.json",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
        "type": "dataframe",
    }
    sig = mlmodel["signature"]
    assert isinstance(sig["inputs"], str) and sig["params"] is None
    assert json.loads(sig["inputs"])[0] == {"type": "double", "name": "sepal length (cm)", "required": True}
    assert json.loads(sig["outputs"]) == [{"type": "long", "required": True}]
    assert mlmodel["model_size_bytes"] > 0
    X, _ = iris
    example = json.loads((saved / "input_example.json").read_text())
    assert example == {"columns": list(X.columns), "data": X.iloc[:3].values.tolist()}
    serving = json.loads((saved / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": example}


def test_environment_files(saved):
    import sklearn
    import skops

    reqs = (saved / "requirements.txt").read_text().splitlines()
    assert reqs[0] == f"modelyard=={__version__}"
    assert f"scikit-learn=={sklearn.__version__}" in reqs and f"skops=={skops.__version__}" in reqs
    py_env = yaml.safe_load((saved / "python_env.yaml").read_text())
    assert py_env["python"] == platform.python_version()
    assert py_env["dependencies"] == ["-r requirements.txt"]
    assert py_env["build_dependencies"][0].startswith("pip")
    conda = yaml.safe_load((saved / "conda.yaml").read_text())
    assert conda["channels"] == ["conda-forge"]
    assert conda["dependencies"][0] == f"python={platform.python_version()}"
    assert conda["dependencies"][-1] == {"pip": reqs}


def test_pip_requirements_options(tmp_path, logreg):
    my.sklearn.save_model(logreg, tmp_path / "a", pip_requirements=["scikit-learn"], extra_pip_requirements=["x==1"])
    assert (tmp_path / "a" / "requirements.txt").read_text().splitlines() == ["scikit-learn", "x==1"]


def test_a_warning_at_load_when_key_packages_differ(saved, caplog):
    reqs = saved / "requirements.txt"
    lines = [line if not line.startswith("scikit-learn") else "scikit-learn==0.0.1" for line in reqs.read_text().splitlines()]
    reqs.write_text("\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="modelyard.models.environment"):
        my.pyfunc.load_model(saved)
    assert "saved in a different environment" in caplog.text
    assert "scikit-learn (saved with 0.0.1, running" in caplog.text
    assert check_environment(saved, ["scikit-learn"], "2.7.18")[-1].startswith("Python (saved with 2.7.18")


def test_no_warning_when_the_environment_matches(saved, caplog):
    with caplog.at_level(logging.WARNING, logger="modelyard.models.environment"):
        my.pyfunc.load_model(saved)
    assert caplog.text == ""


def test_mlmodel_round_trip_keeps_unknown_keys(saved):
    text = (saved / "MLmodel").read_text() + "databricks_runtime: '15.4'\n"
    (saved / "MLmodel").write_text(text)
    model = Model.load(saved)
    assert model.extra == {"databricks_runtime": "15.4"}
    assert yaml.safe_load(model.to_yaml())["databricks_runtime"] == "15.4"
    assert model.load_input_example(saved).shape == (3, 4)


def test_bad_folders_and_paths(tmp_path, saved, logreg):
    with pytest.raises(ResourceAlreadyExists):
        my.sklearn.save_model(logreg, saved)
    with pytest.raises(ResourceDoesNotExist, match="no MLmodel"):
        my.pyfunc.load_model(tmp_path)
    with pytest.raises(InvalidParameterValue, match="outside the model folder"):
        model_file(saved, "../../etc/passwd")
    (tmp_path / "MLmodel").write_text("flavors: [1")
    with pytest.raises(InvalidParameterValue, match="not valid YAML"):
        Model.load(tmp_path)


def test_an_unknown_loader_module_is_never_imported(saved):
    text = (saved / "MLmodel").read_text().replace("loader_module: mlflow.sklearn", "loader_module: os")
    (saved / "MLmodel").write_text(text)
    with pytest.raises(InvalidParameterValue, match="No model flavor named 'os'"):
        my.pyfunc.load_model(saved)


def test_flavors_come_from_the_table_and_entry_points(saved, iris, logreg, monkeypatch):
    from modelyard import plugins

    X, _ = iris
    text = (saved / "MLmodel").read_text().replace("loader_module: mlflow.sklearn", "loader_module: acme.flavor")
    (saved / "MLmodel").write_text(text)
    monkeypatch.setattr(plugins, "_entry_points", lambda group: {"acme.flavor": "modelyard.flavors.sklearn:FLAVOR"})
    np.testing.assert_array_equal(my.pyfunc.load_model(saved).predict(X), logreg.predict(X))
    monkeypatch.setattr(plugins, "_entry_points", lambda group: {})
    monkeypatch.setitem(plugins.FLAVORS, "acme.flavor", "modelyard.flavors.sklearn:FLAVOR")
    np.testing.assert_array_equal(my.pyfunc.load_model(saved).predict(X), logreg.predict(X))


def test_flavor_modules_are_lazy_attributes_of_the_package():
    import subprocess
    import sys

    code = (
        "import sys, modelyard as my\n"
        "assert 'modelyard.sklearn' not in sys.modules and 'modelyard.models' not in sys.modules\n"
        "names = [my.sklearn.__name__, my.xgboost.__name__, my.lightgbm.__name__, my.pyfunc.__name__, my.models.__name__]\n"
        "heavy = [m for m in ('pandas', 'numpy', 'sklearn', 'sqlalchemy') if m in sys.modules]\n"
        "print(names, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "['modelyard.sklearn', 'modelyard.xgboost', 'modelyard.lightgbm', 'modelyard.pyfunc', 'modelyard.models'] []"
    )
    with pytest.raises(AttributeError):
        my.not_a_module  # noqa: B018
