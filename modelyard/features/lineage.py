"""Which runs read a feature table, at which version, and the model versions they produced.

``log_model(..., training_set=...)`` records each table as a dataset input of the run (source
type ``delta_table``, tag ``modelyard.feature_table = <name>@<version>``); this reads that record
back through the tracking and registry services, so what a caller may not read stays hidden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelyard.features.model import FEATURE_TABLE_TAG

MAX_EXPERIMENTS = 1000


@dataclass(frozen=True)
class TableUse:
    run: Any  # entities.Run
    experiment_name: str
    table_versions: tuple[int, ...]
    model_versions: list = field(default_factory=list)  # entities.ModelVersion


def _versions(run: Any, table_name: str) -> tuple[int, ...]:
    found: set[int] = set()
    for item in run.inputs.dataset_inputs:
        if item.dataset.name != table_name or item.dataset.source_type != "delta_table":
            continue
        for tag in item.tags:
            if tag.key == FEATURE_TABLE_TAG and tag.value.rpartition("@")[0] == table_name:
                found.add(int(tag.value.rpartition("@")[2]))
        try:
            version = json.loads(item.dataset.source).get("delta_table_version")
        except (TypeError, ValueError, AttributeError):
            version = None
        if isinstance(version, int):
            found.add(version)
    return tuple(sorted(found))


def table_users(tracking: Any, registry: Any, ctx: Any, table_name: str, max_runs: int = 50) -> list[TableUse]:
    """The newest ``max_runs`` runs that logged ``table_name`` as a feature-table input."""
    experiments = {e.experiment_id: e.name for e in tracking.search_experiments(ctx, max_results=MAX_EXPERIMENTS)}
    if not experiments:
        return []
    # table names are letters, digits, '_', '-', '.': nothing to escape in the filter's string
    runs = tracking.search_runs(ctx, list(experiments), f"datasets.name = '{table_name}'", max_results=max_runs,
                                order_by=["attributes.start_time DESC"])
    uses = []
    for run in runs:
        versions = _versions(run, table_name)
        if not versions:  # a dataset of that name that is not this feature table
            continue
        models = []
        if registry is not None:
            models = list(registry.search_model_versions(ctx, f"run_id = '{run.info.run_id}'", max_results=50))
        uses.append(TableUse(run, experiments.get(run.info.experiment_id, run.info.experiment_id), versions, models))
    return uses
