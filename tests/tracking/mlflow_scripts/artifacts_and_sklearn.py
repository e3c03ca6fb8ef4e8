# Training with artifacts; only the import line differs from an MLflow script.
import json
import os
import tempfile

from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

import modelyard as mlflow

X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
with mlflow.start_run() as run:
    model = Ridge(alpha=0.5).fit(X, y)
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("mse", mean_squared_error(y, model.predict(X)))
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "plots"))
        with open(os.path.join(d, "plots", "coef.json"), "w") as fh:
            json.dump(model.coef_.tolist(), fh)
        with open(os.path.join(d, "summary.txt"), "w") as fh:
            fh.write("ridge\n")
        mlflow.log_artifacts(d, artifact_path="outputs")
    mlflow.log_text("hello", "notes.txt")
    mlflow.log_dict({"alpha": 0.5}, "params.json")
    print("artifact_uri", mlflow.get_artifact_uri())
last = mlflow.last_active_run()
assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"
files = sorted(f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "outputs"))
assert files == ["outputs/plots", "outputs/summary.txt"], files
print("ok")
