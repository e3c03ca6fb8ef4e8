"""``DecodedClassifier``: a fitted classifier trained on label codes 0..k-1 that answers in the
original labels. XGBoost only accepts 0..k-1 targets and LightGBM's evaluation set refuses string
labels; scikit-learn's models take labels as they are, so only boosted trials on labels other than
0..k-1 are wrapped in it."""

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
