"""``modelyard experiments``: create, list, get, rename, delete, restore."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import click

from modelyard.cli import _output as out
from modelyard.cli._context import argument_or_option, client, collect, done, note

if TYPE_CHECKING:
    from modelyard.entities import Experiment

VIEWS = ("active_only", "deleted_only", "all")
DEFAULT_MAX_RESULTS = 1000

experiment_id_option = click.option(
    "--experiment-id", "-x", "experiment_id", metavar="ID", help="ID of the experiment."
)


@click.group()
def experiments() -> None:
    """Create, list and manage experiments."""


@experiments.command()
@click.option("--experiment-name", "-n", required=True, metavar="NAME", help="Name of the new experiment.")
@click.option(
    "--artifact-location",
    "-l",
    metavar="URI",
    help="Where the experiment's runs keep artifacts. Default: a folder named after the experiment "
    "ID below $MODELYARD_DEFAULT_ARTIFACT_ROOT.",
)
@out.output_option
def create(experiment_name: str, artifact_location: str | None, output: str) -> None:
    """Create an experiment and print its ID."""
    c = client()
    experiment_id = c.create_experiment(experiment_name, artifact_location)
    if output == out.JSON:
        out.print_json(c.get_experiment(experiment_id).to_dict())
    else:
        done(f"Created experiment '{experiment_name}' with id {experiment_id}")


@experiments.command("list")
@click.option(
    "--view",
    type=click.Choice(VIEWS, case_sensitive=False),
    default="active_only",
    show_default=True,
    help="Which experiments to list, by lifecycle stage.",
)
@click.option(
    "--filter", "-f", "filter_string", metavar="FILTER", help="Search filter, e.g. \"name LIKE 'churn%'\"."
)
@click.option(
    "--order-by",
    multiple=True,
    metavar="CLAUSE",
    help='Sort, e.g. "creation_time DESC" (repeatable). Default: the store\'s order.',
)
@click.option(
    "--max-results",
    type=click.IntRange(min=1),
    metavar="N",
    default=DEFAULT_MAX_RESULTS,
    show_default=True,
    help="List at most this many experiments.",
)
@out.output_option
def list_experiments(
    view: str, filter_string: str | None, order_by: tuple[str, ...], max_results: int, output: str
) -> None:
    """List experiments."""
    c = client(read_only=True)
    found, more = collect(
        lambda n, token: c.search_experiments(view, n, filter_string, list(order_by) or None, token),
        max_results,
    )
    if output == out.JSON:
        out.print_json([e.to_dict() for e in found])
    elif not found:
        out.empty("No experiments found.")
    else:
        show_stage = view != "active_only"
        headers = [
            "ID",
            "Name",
            *(["Stage"] if show_stage else []),
            "Created",
            "Last update",
            "Artifact location",
        ]
        out.table(
            headers,
            (
                [
                    e.experiment_id,
                    e.name,
                    *([e.lifecycle_stage] if show_stage else []),
                    out.fmt_time(e.creation_time),
                    out.fmt_time(e.last_update_time),
                    e.artifact_location,
                ]
                for e in found
            ),
            no_wrap=("ID", "Created", "Last update"),
        )
    if more:
        note(f"Showing the first {len(found)} experiments; pass --max-results to see more.")


_search = copy.copy(list_experiments)  # MLflow's name for it, kept out of --help
_search.hidden = True
experiments.add_command(_search, "search")


@experiments.command()
@click.argument("experiment", metavar="[NAME_OR_ID]", required=False)
@experiment_id_option
@click.option("--experiment-name", "-n", metavar="NAME", help="Name of the experiment (instead of its ID).")
@out.output_option
def get(experiment: str | None, experiment_id: str | None, experiment_name: str | None, output: str) -> None:
    """Show one experiment, by name or ID: `modelyard experiments get quickstart`."""
    if sum(x is not None for x in (experiment, experiment_id, experiment_name)) != 1:
        raise click.UsageError("Name the experiment once: NAME_OR_ID, --experiment-id or --experiment-name.")
    if experiment is not None:
        experiment = resolve_experiment(experiment)
    else:
        experiment = find_experiment(experiment_id=experiment_id, name=experiment_name)
    if output == out.JSON:
        out.print_json(experiment.to_dict())
        return
    out.fields(
        [
            ("Experiment ID", experiment.experiment_id),
            ("Name", experiment.name),
            ("Lifecycle stage", experiment.lifecycle_stage),
            ("Artifact location", experiment.artifact_location),
            ("Created", out.fmt_time(experiment.creation_time)),
            ("Last update", out.fmt_time(experiment.last_update_time)),
        ]
    )
    if experiment.tags:
        out.table(["Tag", "Value"], sorted(experiment.tags.items()), title="Tags")


@experiments.command()
@argument_or_option("experiment_id", "--experiment-id", "-x", metavar="NAME_OR_ID", help="Name or ID of the experiment.")
@click.option("--new-name", required=True, metavar="NAME", help="The new name.")
def rename(experiment_id: str, new_name: str) -> None:
    """Rename an active experiment."""
    experiment_id = resolve_experiment(experiment_id).experiment_id
    client().rename_experiment(experiment_id, new_name)
    done(f"Experiment with id {experiment_id} renamed to '{new_name}'.")


@experiments.command()
@argument_or_option("experiment_id", "--experiment-id", "-x", metavar="NAME_OR_ID", help="Name or ID of the experiment.")
def delete(experiment_id: str) -> None:
    """Mark an experiment and its runs deleted (restore brings them back)."""
    experiment_id = resolve_experiment(experiment_id).experiment_id
    client().delete_experiment(experiment_id)
    done(f"Experiment with id {experiment_id} has been deleted.")


@experiments.command()
@argument_or_option("experiment_id", "--experiment-id", "-x", metavar="NAME_OR_ID", help="Name or ID of the experiment.")
def restore(experiment_id: str) -> None:
    """Restore a deleted experiment and its runs."""
    experiment_id = resolve_experiment(experiment_id).experiment_id
    client().restore_experiment(experiment_id)
    done(f"Experiment with id {experiment_id} has been restored.")


def find_experiment(*, experiment_id: str | None = None, name: str | None = None) -> Experiment:
    """The experiment with this ID, or with this name (ResourceDoesNotExist when absent)."""
    from modelyard.exceptions import ResourceDoesNotExist

    c = client(read_only=True)
    if experiment_id is not None:
        return c.get_experiment(experiment_id)
    experiment = c.get_experiment_by_name(name or "")
    if experiment is None:
        raise ResourceDoesNotExist(f"Experiment with name '{name}' not found")
    return experiment


def resolve_experiment(ref: str) -> Experiment:
    """An experiment by name, else by ID (the runs commands' rule)."""
    from modelyard.cli.runs import resolve_experiment as by_name_or_id

    return by_name_or_id(ref)
