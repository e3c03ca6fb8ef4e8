"""Runs as a pandas DataFrame, with MLflow's column layout."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.entities import Run

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_to_frame(runs: Sequence[Run]):
    """Columns run_id, experiment_id, status, artifact_uri, start_time, end_time (UTC datetimes),
    then ``metrics.<key>``, ``params.<key>`` and ``tags.<key>``, each group sorted by key."""
    import pandas as pd

    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    param_keys = sorted({k for r in runs for k in r.data.params})
    tag_keys = sorted({k for r in runs for k in r.data.tags})
    columns: dict[str, list] = {c: [] for c in BASE_COLUMNS}
    for r in runs:
        i = r.info
        columns["run_id"].append(i.run_id)
        columns["experiment_id"].append(i.experiment_id)
        columns["status"].append(i.status)
        columns["artifact_uri"].append(i.artifact_uri)
        columns["start_time"].append(i.start_time)
        columns["end_time"].append(i.end_time)
    for key in metric_keys:
        columns[f"metrics.{key}"] = [r.data.metrics.get(key, float("nan")) for r in runs]
    for key in param_keys:
        columns[f"params.{key}"] = [r.data.params.get(key) for r in runs]
    for key in tag_keys:
        columns[f"tags.{key}"] = [r.data.tags.get(key) for r in runs]
    frame = pd.DataFrame(columns)
    for col in ("start_time", "end_time"):
        frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
    for key in metric_keys:
        frame[f"metrics.{key}"] = frame[f"metrics.{key}"].astype("float64")
    return frame
