"""skops without walking scikit-learn: the same trust as skops' defaults, found type by type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelyard.flavors import _skops_lazy

REPO = Path(__file__).resolve().parents[2]


def test_exactly_the_estimators_all_estimators_lists_are_recognised():
    from sklearn.utils import all_estimators
    from skops.io._utils import get_type_name

    listed = {get_type_name(c) for _, c in all_estimators() if get_type_name(c).startswith("sklearn.")}
    assert all(_skops_lazy._listed_estimator(name) for name in listed)
    not_listed = [
        "sklearn.base.BaseEstimator",
        "sklearn.utils._testing.MinimalClassifier",  # a BaseEstimator in a private module
        "sklearn.linear_model._base.LinearModel",  # abstract
        "sklearn.linear_model._logistic._helper",
        "os.system",
        "sklearn.linear_model.NoSuchThing",
    ]
    assert not any(_skops_lazy._listed_estimator(name) for name in not_listed)


CHILD = """
import json, sys, warnings
from pathlib import Path
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import modelyard.pyfunc, modelyard.sklearn
out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True, as_frame=True)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
if sys.argv[2] == "save":
    modelyard.sklearn.save_model(model, out)
    print(json.dumps({"ok": True}))
    raise SystemExit
from modelyard.flavors import _skops_lazy
loaded = _skops_lazy.load(out / "model.skops", None)  # what modelyard falls back to for files beyond _skops_reader
same = bool(np.array_equal(loaded.predict(X), model.predict(X)))
walked = "pytest" in sys.modules or "sklearn.utils._testing" in sys.modules
import skops.io
import skops.io._general as general
partial_before = not general.SKLEARN_ESTIMATOR_TYPE_NAMES.complete
# code using skops directly sees skops' own defaults, complete
untrusted = skops.io.get_untrusted_types(file=str(out / "model.skops"))
print(json.dumps({"same": same, "walked": walked, "partial_before": partial_before,
                  "untrusted": untrusted, "complete": general.SKLEARN_ESTIMATOR_TYPE_NAMES.complete}))
"""


def _child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "passive"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_fresh_process_loads_a_skops_model_without_importing_all_of_sklearn(tmp_path):
    assert _child(str(tmp_path / "m"), "save") == {"ok": True}  # saving checks trust the same way
    got = _child(str(tmp_path / "m"), "load")
    assert got == {"same": True, "walked": False, "partial_before": True, "untrusted": [], "complete": True}
