"""A tracked training run on the embedded default store (SQLite file + local artifact folder).

Run it from the repository root: .venv/bin/python examples/quickstart.py
"""

import os
import tempfile
import warnings

from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

import modelyard as my

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # few iterations per "epoch", on purpose
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

my.set_experiment("quickstart")
for C in (0.01, 0.1, 1.0):
    with my.start_run(run_name=f"logreg-C{C}"):
        my.log_params({"C": C, "penalty": "l2", "max_iter": 200})
        my.set_tag("team", "growth")
        for epoch in range(1, 11):
            clf = LogisticRegression(C=C, max_iter=epoch * 20).fit(X_train, y_train)
            my.log_metric("loss", log_loss(y_test, clf.predict_proba(X_test)), step=epoch)
        my.log_metric("accuracy", accuracy_score(y_test, clf.predict(X_test)))
        my.log_dict({"features": ["sepal_length", "sepal_width", "petal_length", "petal_width"]}, "config.json")
        with tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "report.md")
            with open(report, "w") as fh:
                fh.write(f"# Logistic regression, C={C}\n\naccuracy: {accuracy_score(y_test, clf.predict(X_test)):.3f}\n")
            my.log_artifact(report)

best = my.search_runs(
    experiment_names=["quickstart"],
    filter_string="metrics.accuracy > 0.5 and (params.penalty = 'l2' or tags.team = 'growth')",
    order_by=["metrics.loss ASC"],
)
print(best[["run_id", "params.C", "metrics.loss", "metrics.accuracy"]].to_string(index=False))
print(f"\nTracked to {my.get_tracking_uri()}")
