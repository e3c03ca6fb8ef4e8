"""``modelyard.autolog()``, post-import hooks and the options."""

import os
import subprocess
import sys
import textwrap

import lightgbm
import pytest
import xgboost
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard.autologging import config, hooks, safety
from modelyard.exceptions import InvalidParameterValue


def test_autolog_turns_on_every_imported_library(classification, runs):
    X, y = classification
    modelyard.autolog(log_models=False, extra_tags={"team": "ml"})
    assert all(config.is_enabled(name) for name in ("sklearn", "xgboost", "lightgbm"))
    LogisticRegression().fit(X, y)
    xgboost.train({}, xgboost.DMatrix(X, y), 2)
    lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), 2)
    found = runs(order_by=["attributes.start_time ASC"])
    assert [r.data.tags["mlflow.autologging"] for r in found] == ["sklearn", "xgboost", "lightgbm"]
    assert all(r.data.tags["team"] == "ml" for r in found)


def test_exclude_flavors_and_disable(classification, runs):
    X, y = classification
    modelyard.autolog(log_models=False, exclude_flavors=["sklearn"])
    assert not config.is_enabled("sklearn") and config.is_enabled("xgboost")
    LogisticRegression().fit(X, y)
    assert runs() == []
    modelyard.autolog(disable=True)
    xgboost.train({}, xgboost.DMatrix(X, y), 2)
    assert runs() == []
    assert safety.patched_count("xgboost") == 0


def test_options_are_read_at_call_time(classification, runs):
    X, y = classification
    modelyard.sklearn.autolog(log_models=False)
    LogisticRegression().fit(X, y)
    modelyard.sklearn.autolog(log_models=False, log_datasets=False)
    LogisticRegression().fit(X, y)
    newest, oldest = runs(order_by=["attributes.start_time DESC"])
    assert len(oldest.inputs.dataset_inputs) == 1 and newest.inputs.dataset_inputs == ()


def test_bad_options_are_rejected_at_once():
    with pytest.raises(InvalidParameterValue, match="max_tuning_runs"):
        modelyard.sklearn.autolog(max_tuning_runs=-1)
    with pytest.raises(InvalidParameterValue, match="extra_tags"):
        modelyard.xgboost.autolog(extra_tags=["not", "a", "dict"])
    with pytest.raises(TypeError, match="unexpected keyword"):
        config.make(no_such_option=True)


def test_disable_for_unsupported_versions(monkeypatch):
    monkeypatch.setitem(config.SUPPORTED_VERSIONS, "lightgbm", ((0, 1), (0, 2)))
    modelyard.lightgbm.autolog(disable_for_unsupported_versions=True)
    assert safety.patched_count("lightgbm") == 0
    modelyard.lightgbm.autolog()
    assert safety.patched_count("lightgbm") > 0
    assert config.version_tuple("3.2.0rc1") == (3, 2, 0) and config.is_supported_version("xgboost", "3.2.0")


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    """A package ``fakelib_<n>`` on sys.path that is not imported yet."""
    name = f"fakelib_{os.getpid()}_{len(sys.modules)}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("import importlib.resources\nLOADER = __loader__\nVALUE = 42\n")
    (package / "data.txt").write_text("resource")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    hooks.discard_hooks(name)


def test_post_import_hook_runs_after_the_module_executes(fake_library):
    import importlib
    import importlib.resources

    seen = []
    hooks.register_post_import_hook(lambda m: seen.append(m.VALUE), fake_library)
    assert seen == [] and fake_library not in sys.modules
    module = importlib.import_module(fake_library)
    assert seen == [42]
    assert type(module.LOADER).__name__ == "SourceFileLoader"  # the module never saw the wrapper
    assert type(module.__spec__.loader).__name__ == "SourceFileLoader"
    assert importlib.resources.files(fake_library).joinpath("data.txt").read_text() == "resource"
    assert hooks.pending_hooks(fake_library) == []
    hooks.register_post_import_hook(lambda m: seen.append("again"), fake_library)  # already imported: now
    assert seen == [42, "again"]


def test_a_failing_hook_does_not_break_the_import(fake_library, caplog):
    import importlib

    hooks.register_post_import_hook(lambda m: 1 / 0, fake_library)
    assert importlib.import_module(fake_library).VALUE == 42
    assert "Post-import hook" in caplog.text


def test_libraries_imported_after_autolog_are_autologged(tmp_path):
    """In a fresh interpreter: autolog() first, then the imports (a post-import hook, no polling)."""
    script = textwrap.dedent(
        """
        import sys
        import modelyard
        modelyard.set_tracking_uri(sys.argv[1])
        modelyard.autolog(log_models=False)
        assert "sklearn" not in sys.modules and "xgboost" not in sys.modules
        import numpy as np
        import xgboost
        from sklearn.linear_model import LogisticRegression
        X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
        LogisticRegression().fit(X, y)
        assert "sklearn.ensemble" not in sys.modules  # autolog() did not import all of sklearn
        from sklearn.ensemble import RandomForestClassifier  # patched as it is imported
        assert RandomForestClassifier.fit.__modelyard_autolog__ == "sklearn"
        xgboost.XGBClassifier(n_estimators=2).fit(X, y)
        import lightgbm
        lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), 2)
        runs = modelyard.search_runs(output_format="list", order_by=["attributes.start_time ASC"])
        print(",".join(r.data.tags["mlflow.autologging"] + ":" + r.info.status for r in runs))
        """
    )
    env = {**os.environ, "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    out = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'hooks.db'}"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sklearn:FINISHED,xgboost:FINISHED,lightgbm:FINISHED"


def test_import_modelyard_stays_light_with_autolog():
    code = "import sys, modelyard; modelyard.autolog; print(sorted(m for m in ('sklearn', 'numpy', 'pandas', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
