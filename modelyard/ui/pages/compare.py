"""Run comparison (``/compare?runs=id1,id2,id3``): params, metrics and tags side by side (cells
that differ highlighted), metric curves overlaid per metric key, parallel coordinates over
params and metrics, and a scatter of a chosen param against a chosen metric.

The tables are rendered on the server. The charts are drawn by plotly.js from data embedded
with ``|tojson``; metric curves are fetched per key, when scrolled into view, from
``/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval`` (histories downsampled on the server).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard import formatting
from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import READ, RUN, needs
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.ui.templating import Crumb, page, page_route, render

MAX_RUNS = 20
CURVE_POINTS = 1000  # points per run and metric key asked of the server
MAX_CURVE_KEYS = 60
MAX_AXES = 8  # params (and as many metrics) in the parallel-coordinates plot


def parse_run_ids(request: Request) -> list[str]:
    """``runs=a,b,c`` (or repeated ``runs=``, or MLflow's JSON list ``runs=["a","b"]``), deduplicated."""
    ids: list[str] = []
    for raw in request.query_params.getlist("runs"):
        raw = raw.strip()
        parts: list[Any]
        if raw.startswith("["):
            try:
                parts = json.loads(raw)
            except ValueError:
                raise InvalidParameterValue(
                    f"Invalid runs parameter {raw[:100]!r}: not a JSON list"
                ) from None
            if not isinstance(parts, list):
                raise InvalidParameterValue("Invalid runs parameter: not a JSON list")
        else:
            parts = raw.split(",")
        for part in parts:
            run_id = str(part).strip()
            if run_id and run_id not in ids:
                ids.append(run_id)
    if not ids:
        raise InvalidParameterValue(
            "No runs to compare: select two or more runs in an experiment's runs table, "
            "or open /compare?runs=<run id>,<run id>."
        )
    if len(ids) < 2:
        raise InvalidParameterValue("Comparing needs at least two runs; only one was given.")
    if len(ids) > MAX_RUNS:
        raise InvalidParameterValue(f"At most {MAX_RUNS} runs can be compared at once; got {len(ids)}.")
    return ids


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _rows(keys: list[str], values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        cells = [v.get(key) for v in values]
        distinct = {json.dumps(c, default=str) for c in cells}
        rows.append({"key": key, "cells": cells, "diff": len(distinct) > 1})
    return rows


def _finite(value: Any) -> float | None:
    return value if isinstance(value, float | int) and math.isfinite(value) else None


def _axis(label: str, values: list[Any], numeric: bool) -> dict[str, Any] | None:
    """One parallel-coordinates dimension; None when a run lacks the value."""
    if numeric:
        if any(v is None for v in values):
            return None
        return {"label": label, "values": values}
    labels = ["—" if v is None else str(v) for v in values]
    categories = sorted(set(labels))
    return {
        "label": label,
        "values": [categories.index(v) for v in labels],
        "tickvals": list(range(len(categories))),
        "ticktext": [c[:40] for c in categories],
    }


def chart_data(runs, param_keys: list[str], metric_keys: list[str]) -> dict[str, Any]:
    """What the page's script plots: runs, metric keys, parcoords axes, scatter choices."""
    params: dict[str, dict[str, Any]] = {}
    for key in param_keys:
        raw = [r.data.params.get(key) for r in runs]
        numbers = [_number(v) for v in raw]
        numeric = all(n is not None for n, v in zip(numbers, raw, strict=True) if v is not None)
        params[key] = {"values": numbers if numeric else raw, "numeric": numeric, "varies": len(set(raw)) > 1}
    metrics = {key: [_finite(r.data.metrics.get(key)) for r in runs] for key in metric_keys}
    axes = []
    varying = [k for k in param_keys if params[k]["varies"]]
    for key in varying[:MAX_AXES]:
        axis = _axis(key, params[key]["values"], params[key]["numeric"])
        if axis:
            axes.append(axis)
    color = None
    for key in metric_keys[:MAX_AXES]:
        axis = _axis(key, metrics[key], True)
        if axis:
            axes.append(axis)
            color = color or {"label": key, "values": metrics[key]}
    return {
        "runs": [{"id": r.info.run_id, "name": r.info.run_name or r.info.run_id} for r in runs],
        "metric_keys": metric_keys[:MAX_CURVE_KEYS],
        "curve_points": CURVE_POINTS,
        "axes": axes,
        "color": color,
        "params": params,
        "metrics": metrics,
        "default_x": (varying or param_keys or [None])[0],
        "default_y": (metric_keys or [None])[0],
    }


@page
def compare_page(services, request: Request, ctx: RequestContext):
    run_ids = parse_run_ids(request)
    runs, missing = [], []
    for run_id in run_ids:
        try:
            runs.append(services.tracking.get_run(ctx, run_id))
        except ResourceDoesNotExist:
            missing.append(run_id)
    if missing:
        shown = ", ".join(repr(m[:100]) for m in missing[:10])
        raise ResourceDoesNotExist(f"No run with id {shown}: these runs do not exist (or were removed).")

    experiment_ids = list(dict.fromkeys(r.info.experiment_id for r in runs))
    experiments = {}
    for eid in experiment_ids:
        try:
            experiments[eid] = services.tracking.get_experiment(ctx, eid)
        except ResourceDoesNotExist:
            experiments[eid] = None
    crumbs = [Crumb("Experiments", "/experiments")]
    if len(experiment_ids) == 1 and experiments[experiment_ids[0]] is not None:
        only = experiments[experiment_ids[0]]
        crumbs.append(Crumb(only.name, f"/experiments/{quote(only.experiment_id, safe='')}"))
    crumbs.append(Crumb("Compare"))

    columns = []
    for r in runs:
        exp = experiments.get(r.info.experiment_id)
        columns.append(
            {
                "id": r.info.run_id,
                "name": r.info.run_name or r.info.run_id,
                "href": f"/runs/{quote(r.info.run_id, safe='')}",
                "experiment": exp.name if exp else r.info.experiment_id,
                "experiment_href": f"/experiments/{quote(r.info.experiment_id, safe='')}",
                "status": r.info.status,
                "deleted": r.info.lifecycle_stage == "deleted",
                "start_time": r.info.start_time,
                "duration": formatting.duration(r.info.start_time, r.info.end_time),
            }
        )
    param_keys = sorted({k for r in runs for k in r.data.params})
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    tag_keys = sorted({k for r in runs for k in r.data.tags if not k.startswith("mlflow.")})
    return render(
        request,
        "compare.html",
        crumbs,
        section="experiments",
        columns=columns,
        param_rows=_rows(param_keys, [r.data.params for r in runs]),
        metric_rows=_rows(metric_keys, [r.data.metrics for r in runs]),
        tag_rows=_rows(tag_keys, [r.data.tags for r in runs]),
        more_curves=max(len(metric_keys) - MAX_CURVE_KEYS, 0),
        chart=chart_data(runs, param_keys, metric_keys),
        allow_eval=True,  # the parallel-coordinates chart is WebGL: plotly's regl compiles with Function
    )


def _compared(request: Request) -> list[str]:
    return parse_run_ids(request)


def routes(services) -> list[BaseRoute]:
    return [page_route(services, "/compare", compare_page, needs=needs(RUN, READ, _compared))]
