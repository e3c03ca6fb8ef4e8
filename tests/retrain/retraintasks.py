"""Train functions of the retraining job tests (a module of its own: the job's task process imports
it through ``env: {PYTHONPATH: tests/retrain}``)."""

from sklearn.linear_model import LogisticRegression


def fit(frame, target):
    return LogisticRegression().fit(frame.drop(columns=[target]), frame[target])


def fit_constant(frame, target):  # a bad challenger: sees no feature at all
    features = frame.drop(columns=[target])
    return LogisticRegression().fit(features * 0.0, frame[target])
