"""``DecodedClassifier``: a fitted classifier trained on label codes 0..k-1 that answers in the
original labels. XGBoost only accepts 0..k-1 targets and LightGBM's evaluation set refuses string
labels; scikit-learn's models take labels as they are, so only boosted trials on labels other than
0..k-1 are wrapped in it.

``WeightedEnsemble``: the weighted mean of several trials' fitted pipelines (the ensemble trial of
a cross-validated search, ``ensemble.py``)."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin


class DecodedClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, estimator: Any = None, classes: Any = None) -> None:
        self.estimator = estimator
        self.classes = classes

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> Any:
        import numpy as np

        return np.asarray(self.classes)

    def fit(self, X: Any, y: Any, **kwargs: Any) -> DecodedClassifier:
        import numpy as np

        codes = np.searchsorted(self.classes_, np.asarray(y))
        self.estimator.fit(X, codes, **kwargs)
        return self

    def predict(self, X: Any) -> Any:
        import numpy as np

        return self.classes_[np.asarray(self.estimator.predict(X), dtype=int)]

    def predict_proba(self, X: Any) -> Any:
        return self.estimator.predict_proba(X)


class WeightedEnsemble(BaseEstimator):
    """The weighted mean of fitted pipelines' outputs: class probabilities (a classifier: the
    members' columns aligned on ``classes``; the prediction is the most probable class) or
    predictions (a regressor). The members take the raw frame (each has its own preprocessing), so
    the ensemble does too; it is logged inside a one-step ``Pipeline`` like any trial's model."""

    def __init__(self, members: Any = None, weights: Any = None, classes: Any = None) -> None:
        self.members = members
        self.weights = weights
        self.classes = classes  # None: a regressor

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> WeightedEnsemble:
        """The members come fitted (each is a trial's model): nothing to learn."""
        return self

    @property
    def classes_(self) -> Any:
        import numpy as np

        if self.classes is None:
            raise AttributeError("a regression ensemble has no classes_")
        return np.asarray(self.classes)

    def _mean(self, outputs: list) -> Any:
        import numpy as np

        weights = np.asarray(self.weights, dtype=float)
        return sum(w * o for w, o in zip(weights / weights.sum(), outputs, strict=True))

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        classes = list(self.classes_)
        outputs = []
        for member in self.members:
            proba = np.asarray(member.predict_proba(X), dtype=float)
            full = np.zeros((len(proba), len(classes)))
            for j, label in enumerate(member.classes_):
                full[:, classes.index(label)] = proba[:, j]
            outputs.append(full)
        return self._mean(outputs)

    def predict(self, X: Any) -> Any:
        import numpy as np

        if self.classes is not None:
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        return self._mean([np.asarray(m.predict(X), dtype=float) for m in self.members])
