"""``FeatureClient.log_model``: a model folder with ``feature_spec.yaml``, and the feature tables
(at the Delta versions the training set read) recorded as the run's dataset inputs.

The model is saved by its flavor's ``save_model`` inside ``modelyard.models.log.log_model``, so it
is an ordinary model: ``pyfunc.load_model`` loads it (and then expects every feature column).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from modelyard.entities import Dataset, DatasetInput, InputTag
from modelyard.exceptions import InvalidParameterValue
from modelyard.features.spec import FeatureSpec, ResolvedLookup

logger = logging.getLogger(__name__)

CONTEXT_TAG = "mlflow.data.context"
FEATURE_TABLE_TAG = "modelyard.feature_table"


def dataset_input(lookup: ResolvedLookup) -> DatasetInput:
    """A feature table at one version, as MLflow describes a Delta dataset source."""
    source = {"path": lookup.location, "delta_table_name": lookup.table_name, "delta_table_version": lookup.table_version}
    digest = hashlib.sha256(f"{lookup.location}@{lookup.table_version}".encode()).hexdigest()[:8]
    schema = {"mlflow_colspec": [{"name": n, "type": "unknown"} for n in (*lookup.primary_keys, *lookup.output_names)]}
    return DatasetInput(
        Dataset(
            name=lookup.table_name,
            digest=digest,
            source_type="delta_table",
            source=json.dumps(source),
            schema=json.dumps(schema),
        ),
        (InputTag(CONTEXT_TAG, "training"), InputTag(FEATURE_TABLE_TAG, f"{lookup.table_name}@{lookup.table_version}")),
    )


def log_model(fc: Any, model: Any, name: str, flavor: Any, training_set: Any, registered_model_name: str | None,
              **save_kwargs: Any):
    from modelyard.models.log import log_model as log_logged_model
    from modelyard.tracking import fluent

    save_model = getattr(flavor, "save_model", None)
    if save_model is None:
        raise InvalidParameterValue(f"flavor must be a flavor module such as modelyard.sklearn, got {flavor!r}")
    spec: FeatureSpec = training_set.feature_spec

    def save(folder, template):
        saved = save_model(model, folder, mlflow_model=template, **save_kwargs)
        spec.save(folder)
        return saved

    active = fluent.active_run()
    if active is not None:
        unique = {lk.table_name: lk for lk in spec.lookups}
        fc.tracking_client.log_inputs(active.info.run_id, [dataset_input(lk) for lk in unique.values()])
    else:
        logger.warning("No active run: the feature tables of %r are not recorded as dataset inputs", name)
    return log_logged_model(save, name=name, registered_model_name=registered_model_name)
