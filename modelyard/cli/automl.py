"""``modelyard automl worker --study ID``: join a running AutoML search from any machine."""

from __future__ import annotations

import click

from modelyard.cli._context import note


@click.group()
def automl() -> None:
    """AutoML searches (started with modelyard.automl.classify / regress)."""


@automl.command()
@click.option("--study", "study", required=True, metavar="ID", help="The search's study ID (summary.study_id, "
              "or the modelyard.automl.study tag of its parent run).")
@click.option("--storage", metavar="URI", help="The PostgreSQL database holding the study. Default: the tracking "
              "URI (a search with parallelism > 1 keeps its study in the tracking database).")
@click.option("--n-jobs", type=click.IntRange(min=1), help="Threads per trial. Default: the study's.")
@click.pass_obj
def worker(state, study: str, storage: str | None, n_jobs: int | None) -> None:
    """Run trials of a search until its budget (timeout, max_trials) is spent."""
    from modelyard.automl.worker import run_worker
    from modelyard.tracking.stores import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(state.tracking_uri, state.settings())
    count = run_worker(study, storage or tracking_uri, tracking_uri, n_jobs)
    note(f"Ran {count} trial(s) of {study}.")
