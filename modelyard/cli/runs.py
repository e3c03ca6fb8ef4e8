"""``modelyard runs``: list (search), describe, delete, restore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from modelyard.cli import _output as out
from modelyard.cli._context import argument_or_option, client, collect, done, note

if TYPE_CHECKING:
    from modelyard.entities import Experiment, Run

VIEWS = ("active_only", "deleted_only", "all")
DEFAULT_MAX_RESULTS = 1000

# --columns prefixes (MLflow's search prefixes and their singular forms).
COLUMN_KINDS = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attr": "attributes",
    "attribute": "attributes",
    "attributes": "attributes",
}
ATTRIBUTES = (
    "run_id",
    "run_name",
    "experiment_id",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
)
TIME_ATTRIBUTES = ("start_time", "end_time")

run_id_option = argument_or_option("run_id", "--run-id", "-r", metavar="RUN_ID", help="ID of the run.")


@click.group()
def runs() -> None:
    """Search, inspect, delete and restore runs."""


@runs.command("list")
@click.option(
    "--experiment",
    "-e",
    "experiments",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Experiment to list runs of, by name or ID (repeatable).",
)
@click.option(
    "--experiment-id", "-x", "experiment_ids", multiple=True, metavar="ID", help="Experiment ID (repeatable)."
)
@click.option(
    "--filter",
    "-f",
    "filter_string",
    metavar="FILTER",
    help="Search filter, e.g. \"metrics.loss < 0.2 and params.C = '1'\".",
)
@click.option(
    "--order-by", multiple=True, metavar="CLAUSE", help='Sort, e.g. "metrics.loss ASC" (repeatable).'
)
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    metavar="N",
    default=DEFAULT_MAX_RESULTS,
    show_default=True,
    help="List at most this many runs.",
)
@click.option(
    "--view",
    type=click.Choice(VIEWS, case_sensitive=False),
    default="active_only",
    show_default=True,
    help="Which runs to list, by lifecycle stage.",
)
@click.option(
    "--columns",
    "-c",
    multiple=True,
    metavar="COLS",
    help="Extra table columns, comma-separated or repeated: metrics.loss, params.C, tags.team, "
    "attributes.user_id; 'metrics.*' adds every metric. Tables only: JSON always holds whole runs.",
)
@out.output_option
def list_runs(
    experiments: tuple[str, ...],
    experiment_ids: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
    columns: tuple[str, ...],
    output: str,
) -> None:
    """List the runs of one or more experiments, filtered and sorted like search_runs."""
    if not experiments and not experiment_ids:
        raise click.UsageError("Pass --experiment NAME_OR_ID or --experiment-id ID.")
    specs = parse_columns(columns)
    ids = list(
        dict.fromkeys([*(resolve_experiment(ref).experiment_id for ref in experiments), *experiment_ids])
    )
    c = client(read_only=True)
    found, more = collect(
        lambda n, token: c.search_runs(ids, filter_string or "", view, n, list(order_by) or None, token),
        max_results,
    )
    if output == out.JSON:
        out.print_json([run.to_dict() for run in found])
    elif not found:
        out.empty("No runs found.")
    else:
        _runs_table(found, specs, many_experiments=len(ids) > 1, show_stage=view != "active_only")
    if more:
        note(f"Showing the first {len(found)} runs; pass --max-results to see more.")


@runs.command()
@run_id_option
@out.output_option
def describe(run_id: str, output: str) -> None:
    """Show everything about a run: info, params, latest metrics, tags and inputs."""
    run = client(read_only=True).get_run(run_id)
    if output == out.JSON:
        out.print_json(run.to_dict())
        return
    info = run.info
    out.fields(
        [
            ("Run ID", info.run_id),
            ("Name", info.run_name),
            ("Experiment ID", info.experiment_id),
            ("Status", info.status),
            ("User", info.user_id),
            ("Started", out.fmt_time(info.start_time)),
            ("Ended", out.fmt_time(info.end_time)),
            ("Duration", out.fmt_duration(info.start_time, info.end_time)),
            ("Lifecycle stage", info.lifecycle_stage),
            ("Artifact URI", info.artifact_uri),
        ],
        title=f"Run {info.run_id}",
    )
    data = run.data
    _section("Params", ["Key", "Value"], sorted(data.params.items()))
    _section(
        "Metrics (latest)",
        ["Key", "Value", "Step", "Logged at"],
        [
            [m.key, m.value, m.step, out.fmt_time(m.timestamp)]
            for m in sorted(data.metric_objs, key=lambda m: m.key)
        ],
    )
    _section("Tags", ["Key", "Value"], sorted(data.tags.items()))
    _section(
        "Dataset inputs",
        ["Name", "Digest", "Source type", "Source", "Tags"],
        [
            [
                d.dataset.name,
                d.dataset.digest,
                d.dataset.source_type,
                d.dataset.source,
                ", ".join(f"{t.key}={t.value}" for t in d.tags) or None,
            ]
            for d in run.inputs.dataset_inputs
        ],
    )
    if run.inputs.model_inputs:
        _section("Model inputs", ["Model ID"], [[m] for m in run.inputs.model_inputs])
    if run.outputs.model_outputs:
        _section(
            "Model outputs", ["Model ID", "Step"], [[m.model_id, m.step] for m in run.outputs.model_outputs]
        )


@runs.command()
@run_id_option
def delete(run_id: str) -> None:
    """Mark a run deleted (restore brings it back)."""
    client().delete_run(run_id)
    done(f"Run with id {run_id} has been deleted.")


@runs.command()
@run_id_option
def restore(run_id: str) -> None:
    """Restore a deleted run."""
    client().restore_run(run_id)
    done(f"Run with id {run_id} has been restored.")


# -- helpers ------------------------------------------------------------------------
def resolve_experiment(ref: str) -> Experiment:
    """An experiment by name, else by ID; ResourceDoesNotExist naming both when neither matches."""
    from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist

    c = client(read_only=True)
    experiment = c.get_experiment_by_name(ref)
    if experiment is not None:
        return experiment
    try:
        return c.get_experiment(ref)
    except (ResourceDoesNotExist, InvalidParameterValue):
        raise ResourceDoesNotExist(f"No experiment with name or id '{ref}'") from None


def parse_columns(values: Sequence[str]) -> list[tuple[str, str]]:
    """``("metrics.loss,params.C", "tags.team")`` -> ``[("metrics", "loss"), ("params", "C"), ...]``."""
    specs: list[tuple[str, str]] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            prefix, dot, key = part.partition(".")
            if not dot and part in ATTRIBUTES:
                prefix, key = "attributes", part
            kind = COLUMN_KINDS.get(prefix.lower())
            key = key.strip().strip('`"')
            if kind is None or not key:
                raise click.BadParameter(
                    f"{part!r}: expected metrics.KEY, params.KEY, tags.KEY or attributes.NAME",
                    param_hint="'--columns'",
                )
            if kind == "attributes" and key not in ATTRIBUTES:
                raise click.BadParameter(
                    f"{part!r}: unknown attribute; expected one of {', '.join(ATTRIBUTES)}",
                    param_hint="'--columns'",
                )
            specs.append((kind, key))
    return list(dict.fromkeys(specs))


def expand_columns(specs: Sequence[tuple[str, str]], found: Sequence[Run]) -> list[tuple[str, str]]:
    """Replace ``metrics.*`` (and params.*, tags.*) by every key those runs have, sorted."""
    expanded: list[tuple[str, str]] = []
    for kind, key in specs:
        if key != "*" or kind == "attributes":
            expanded.append((kind, key))
            continue
        keys = set()
        for run in found:
            keys.update(getattr(run.data, kind))
        expanded.extend((kind, k) for k in sorted(keys))
    return list(dict.fromkeys(expanded))


def column_value(run: Run, kind: str, key: str) -> object:
    if kind == "attributes":
        value = getattr(run.info, key)
        return out.fmt_time(value) if key in TIME_ATTRIBUTES else value
    return getattr(run.data, kind).get(key)


def _runs_table(
    found: Sequence[Run], specs: Sequence[tuple[str, str]], *, many_experiments: bool, show_stage: bool
) -> None:
    specs = expand_columns(specs, found)
    headers = [
        "Run ID",
        "Name",
        *(["Experiment"] if many_experiments else []),
        "Status",
        *(["Stage"] if show_stage else []),
        "Started",
        "Duration",
        *(f"{kind}.{key}" for kind, key in specs),
    ]
    rows = (
        [
            run.info.run_id,
            run.info.run_name,
            *([run.info.experiment_id] if many_experiments else []),
            run.info.status,
            *([run.info.lifecycle_stage] if show_stage else []),
            out.fmt_time(run.info.start_time),
            out.fmt_duration(run.info.start_time, run.info.end_time),
            *(column_value(run, kind, key) for kind, key in specs),
        ]
        for run in found
    )
    out.table(headers, rows, no_wrap=("Run ID", "Started"))


def _section(title: str, headers: list[str], rows: list) -> None:
    click.echo()
    if rows:
        out.table(headers, rows, title=title)
    else:
        out.heading(title)
        out.empty("(none)")
