"""Runs of an experiment: a table with chosen metric, param and tag columns.

``GET /experiments/{experiment_id}`` takes (all optional, all in the URL so a view can be shared):

- ``filter``: a filter in the search grammar (``metrics.loss < 0.5 AND params.opt = 'adam'``);
  an invalid one is a 400 page with the parser's message above an empty table.
- ``order`` (a column id: ``attributes.start_time``, ``metrics.loss``, ``params.lr``,
  ``tags.team``) and ``dir`` (``asc``/``desc``): passed to search_runs as ``order_by``.
- ``size`` (one of PAGE_SIZES) and ``page_token`` (the store's opaque token).
- ``col`` (repeated column ids) with ``picked=1``: the chosen columns. Without ``picked`` the
  page shows the most common keys of the runs on the page (a few of each kind).
- ``view=charts``: the chart view: the same runs (same filter, order and page) as a list with
  each run's colour and a show/hide box, beside charts of chosen metrics (``chart`` repeated, else
  the metric columns) and a parameter-vs-metric scatter, drawn by ``static/charts.js``; it
  refreshes by itself while a run on the page is running.

One search_runs call of one page is all the page reads (plus the experiment), so it costs the
same with 100 runs or 100,000. Deleting runs and going to /compare are done by the page's
JavaScript (``runs/delete`` through /ajax-api).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import BaseRoute

from modelyard.auth.context import RequestContext
from modelyard.auth.permissions import EXPERIMENT, READ, needs
from modelyard.entities import ViewType
from modelyard.exceptions import InvalidParameterValue
from modelyard.search.paging import offset_token, page_offset, runs_query
from modelyard.ui.templating import Crumb, page, page_route, render

PAGE_SIZES = (25, 50, 100, 250, 500)
DEFAULT_PAGE_SIZE = 100
# Default columns: the most common keys on the page, at most this many of each kind.
DEFAULT_COLUMNS = {"metrics": 6, "params": 5, "tags": 3}
# Keys offered by the column picker, per kind (the page's keys, most common first).
PICKER_LIMIT = 200
MAX_CHOSEN = 60
KINDS = ("metrics", "params", "tags")
KIND_OF = {"metrics": "metric", "params": "param", "tags": "tag", "attributes": "attribute"}
# Attribute columns always shown (id, label); sortable through order_by.
ATTRIBUTES = (
    ("attributes.run_name", "Run"),
    ("attributes.start_time", "Created"),
    ("attributes.status", "Status"),
)
DEFAULT_ORDER = ("attributes.start_time", "desc")
NOTE_TAG = "mlflow.note.content"
VIEWS = ("table", "charts")
CHART_POINTS = 1000  # points per run and metric asked by each chart of the chart view
LIVE_MS = 3000  # the chart view refreshes this often while a run on the page is running


@dataclass(frozen=True)
class Column:
    """One column of the table: ``kind`` (metrics/params/tags/attributes) and ``key``."""

    kind: str
    key: str

    @property
    def id(self) -> str:
        return f"{self.kind}.{self.key}"

    @classmethod
    def parse(cls, text: str) -> Column | None:
        kind, dot, key = text.partition(".")
        if not dot or not key or kind not in (*KINDS, "attributes"):
            return None
        return cls(kind, key)

    def order_by(self, direction: str) -> str:
        from modelyard.search.render import identifier

        return f"{identifier(KIND_OF[self.kind], self.key)} {'ASC' if direction == 'asc' else 'DESC'}"


def _page_size(text: str | None) -> int:
    try:
        size = int(text or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def _offset(token: str | None, query: tuple) -> int | None:
    """Where the page starts, when the token is one of ours for this search; else None."""
    try:
        return page_offset(token, query=query)
    except InvalidParameterValue:
        return None


def _token_at(offset: int, query: tuple) -> str | None:
    return offset_token(offset, query=query) if offset > 0 else None


def _keys_by_frequency(runs, kind: str) -> list[str]:
    counts: Counter[str] = Counter()
    for run in runs:
        if kind == "metrics":
            counts.update(m.key for m in run.data.metric_objs)
        elif kind == "params":
            counts.update(list(run.data.params))
        else:
            counts.update(k for k in run.data.tags if not k.startswith("mlflow."))
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _row(run) -> dict:
    data = run.data
    return {
        "id": run.info.run_id,
        "info": run.info,
        "name": run.info.run_name or data.tags.get("mlflow.runName", ""),
        "parent": data.tags.get("mlflow.parentRunId"),
        "metrics": {m.key: m.value for m in data.metric_objs},
        "params": data.params,
        "tags": data.tags,
        "datasets": [
            {
                "name": d.dataset.name,
                "digest": d.dataset.digest,
                "context": next((t.value for t in d.tags if t.key == "mlflow.data.context"), ""),
            }
            for d in run.inputs.dataset_inputs
        ],
        "models": [o.model_id for o in run.outputs.model_outputs],
    }


@page
def runs_page(services, request: Request, ctx: RequestContext):
    experiment_id = request.path_params["experiment_id"]
    experiment = services.tracking.get_experiment(ctx, experiment_id)  # 404 page when missing
    q = request.query_params
    filter_string = q.get("filter", "").strip()
    size = _page_size(q.get("size"))
    token = q.get("page_token") or None
    order = Column.parse(q.get("order", "")) or Column(*DEFAULT_ORDER[0].split(".", 1))
    direction = q.get("dir", "").lower()
    if direction not in ("asc", "desc"):
        direction = DEFAULT_ORDER[1] if order.id == DEFAULT_ORDER[0] else "asc"
    order_by = [order.order_by(direction)]
    if order.id != DEFAULT_ORDER[0]:
        order_by.append(Column(*DEFAULT_ORDER[0].split(".", 1)).order_by("desc"))

    error = None
    try:
        found = services.tracking.search_runs(
            ctx,
            [experiment.experiment_id],
            filter_string=filter_string or None,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=size,
            order_by=order_by,
            page_token=token,
        )
        runs, next_token = list(found), found.token
    except InvalidParameterValue as exc:  # a bad filter, sort key or token: shown inline, 400
        runs, next_token, error = [], None, exc.message

    picked = q.get("picked") == "1"
    if picked:
        chosen = [c for c in (Column.parse(t) for t in q.getlist("col")) if c and c.kind in KINDS]
        chosen = list(dict.fromkeys(chosen))[:MAX_CHOSEN]
    else:
        chosen = [
            Column(kind, key)
            for kind in KINDS
            for key in _keys_by_frequency(runs, kind)[: DEFAULT_COLUMNS[kind]]
        ]
    if order.kind in KINDS and order not in chosen:
        chosen.append(order)  # the sort column is always on screen
    columns = {kind: [c for c in chosen if c.kind == kind] for kind in KINDS}
    chosen_ids = {c.id for c in chosen}
    available = {
        kind: list(
            dict.fromkeys([*(c.key for c in columns[kind]), *_keys_by_frequency(runs, kind)[:PICKER_LIMIT]])
        )
        for kind in KINDS
    }

    view = q.get("view", "table") if q.get("view") in VIEWS else "table"
    state = {
        "view": view if view != "table" else "",
        "filter": filter_string,
        "size": str(size) if size != DEFAULT_PAGE_SIZE else "",
        "order": order.id if order.id != DEFAULT_ORDER[0] or direction != DEFAULT_ORDER[1] else "",
        "dir": direction if order.id != DEFAULT_ORDER[0] or direction != DEFAULT_ORDER[1] else "",
    }
    col_state = [("picked", "1"), *(("col", c.id) for c in chosen)] if picked else []
    base = f"/experiments/{experiment.experiment_id}"

    def url(**changes) -> str:
        """This page's URL with some parameters changed (page_token is dropped unless given)."""
        params = {**state, **changes}
        pairs = [(k, str(v)) for k, v in params.items() if v not in ("", None)]
        return base + ("?" + urlencode(pairs + col_state) if pairs or col_state else "")

    def sort_url(column_id: str) -> str:
        column = Column.parse(column_id)
        if column is None:
            return url()
        if column == order:
            new_dir = "asc" if direction == "desc" else "desc"
        else:
            new_dir = "desc" if column.id == DEFAULT_ORDER[0] else "asc"
        return url(order=column.id, dir=new_dir)

    query = runs_query([experiment.experiment_id], ViewType.ACTIVE_ONLY.stages(), filter_string or None, order_by)
    offset = _offset(token, query)
    pager = {
        "start": None if offset is None else offset + 1,
        "end": None if offset is None else offset + len(runs),
        "first": url() if token else None,
        "prev": url(page_token=_token_at(max(offset - size, 0), query)) if token and offset is not None else None,
        "next": url(page_token=next_token) if next_token else None,
    }
    rows = [_row(r) for r in runs]
    chart_view = _chart_view(runs, available, columns, q.getlist("chart")) if view == "charts" else None
    return render(
        request,
        "runs.html",
        [Crumb("Experiments", "/experiments"), Crumb(experiment.name)],
        status=400 if error else 200,
        section="experiments",
        experiment=experiment,
        description=experiment.tags.get(NOTE_TAG, ""),
        rows=rows,
        show_datasets=any(r["datasets"] for r in rows),
        show_models=any(r["models"] for r in rows),
        attributes=ATTRIBUTES,
        columns=columns,
        available=available,
        chosen_ids=chosen_ids,
        picked=picked,
        order_id=order.id,
        direction=direction,
        sort_url=sort_url,
        filter=filter_string,
        error=error,
        size=size,
        page_sizes=PAGE_SIZES,
        default_size=DEFAULT_PAGE_SIZE,
        pager=pager,
        reset_url=base,
        view=view,
        table_url=url(view=""),
        charts_url=url(view="charts"),
        chart_view=chart_view,
    )


def _chart_view(runs, available: dict, columns: dict, charted: list[str]) -> dict:
    """What the chart view's script draws: the page's runs (latest values) and the metrics to chart."""
    metric_keys = available["metrics"]
    chosen = [k for k in dict.fromkeys(charted) if k in metric_keys] or [c.key for c in columns["metrics"]]
    return {
        "runs": [
            {
                "id": r.info.run_id,
                "name": r.info.run_name or r.info.run_id[:12],
                "status": r.info.status,
                "params": r.data.params,
                "metrics": {m.key: m.value if math.isfinite(m.value) else None for m in r.data.metric_objs},
            }
            for r in runs
        ],
        "metric_keys": metric_keys,
        "param_keys": available["params"],
        "chosen": chosen,
        "points": CHART_POINTS,
        "live_ms": LIVE_MS,
    }


def routes(services) -> list[BaseRoute]:
    return [
        page_route(
            services,
            "/experiments/{experiment_id}",
            runs_page,
            needs=needs(EXPERIMENT, READ, "experiment_id"),
        )
    ]
