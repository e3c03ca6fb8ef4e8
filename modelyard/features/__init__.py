"""Feature tables and batch inference: ``FeatureClient``, ``FeatureLookup``, training sets,
``score_batch`` (pandas/Arrow and Spark) and online lookup. Needs the ``features`` extra
(``deltalake``, ``duckdb``, ``redis``)."""

from modelyard.features.client import FeatureClient
from modelyard.features.lookup import FeatureLookup
from modelyard.features.spec import FeatureSpec
from modelyard.features.training_set import TrainingSet

__all__ = ["FeatureClient", "FeatureLookup", "FeatureSpec", "TrainingSet"]
