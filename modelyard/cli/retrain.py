"""``modelyard retrain``: write a retraining job for a registered model, run it once, approve a challenger.

    modelyard retrain init churn            # writes jobs/churn-retrain.yaml (edit, then: modelyard jobs deploy)
    modelyard retrain run churn             # runs it once now, here (or --queue: a run of the deployed job)
    modelyard retrain approve churn 7       # @champion -> v7, when v7 passed its gates and waits for approval
"""

from __future__ import annotations

import os
from typing import Any

import click

from modelyard.cli import _output as out
from modelyard.cli._context import CliError, done, note, state


def _job_name(model: str) -> str:
    return f"{model}-retrain"


def _default_path(model: str) -> str:
    return os.path.join("jobs", f"{_job_name(model)}.yaml")


def _model_type(client, model: str) -> str:
    """From the metrics of the champion's (else the newest version's) source run: classifier unless
    it logged regression metrics only."""
    from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist

    try:
        mv = client.get_model_version_by_alias(model, "champion")
    except (ResourceDoesNotExist, InvalidParameterValue):  # no @champion
        versions = client.search_model_versions(f"name = '{model.replace(chr(39), chr(39) * 2)}'", max_results=1,
                                                order_by=["version_number DESC"])
        mv = versions[0] if versions else None
    if mv is None or not mv.run_id:
        return "classifier"
    try:
        names = {k.split("_", 1)[-1] for k in client.get_run(mv.run_id).data.metrics}
    except ResourceDoesNotExist:
        return "classifier"
    classifying = {"roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"}
    if names & {"r2", "rmse", "mae", "mse"} and not names & classifying:
        return "regressor"
    return "classifier"


@click.group()
def retrain() -> None:
    """Retraining with champion/challenger gates (the ``retrain:`` job type)."""


@retrain.command()
@click.argument("model")
@click.option("--out", "path", metavar="PATH", help="Where to write the job. Default: jobs/MODEL-retrain.yaml.")
@click.option("--model-type", type=click.Choice(["classifier", "regressor"]),
              help="Default: guessed from the metrics of the champion's run.")
@click.option("--cron", default="0 4 * * 1", show_default=True, help="The job's schedule.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(model: str, path: str | None, model_type: str | None, cron: str, force: bool) -> None:
    """Write a retraining job definition for the registered model MODEL."""
    import yaml

    from modelyard.jobs.spec import parse
    from modelyard.retrain.job import template

    client = state().client()
    client.get_registered_model(model)  # RESOURCE_DOES_NOT_EXIST for an unknown model
    definition = template(model, model_type or _model_type(client, model), cron)
    parse(definition)  # what is written deploys
    path = path or _default_path(model)
    if os.path.exists(path) and not force:
        raise CliError(f"{path} exists: edit it, or pass --force to overwrite it")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    header = (f"# Retraining of the registered model {model!r}, written by `modelyard retrain init`.\n"
              "# Point training_set at your labels (sql:..., a parquet/csv file or module:function) and\n"
              "# feature tables, then: modelyard jobs deploy " + path + "   (or run it once: modelyard retrain run "
              + model + ")\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + yaml.safe_dump(definition, sort_keys=False))
    done(f"Wrote {path} (job {definition['name']!r})")


def _definition(model: str, path: str | None) -> Any:
    """The job definition: from PATH, else jobs/MODEL-retrain.yaml, else the deployed job MODEL-retrain."""
    candidate = path or _default_path(model)
    if os.path.exists(candidate):
        with open(candidate, encoding="utf-8") as f:
            return f.read()
    if path:
        raise CliError(f"{path} does not exist")
    from modelyard.cli.jobs import _client

    return _client().get(_job_name(model))["spec"]


@retrain.command()
@click.argument("model")
@click.option("--file", "path", metavar="PATH", help="The job definition. Default: jobs/MODEL-retrain.yaml, "
              "else the deployed job MODEL-retrain.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a field of the retrain "
              "section for this run (e.g. approval=manual).")
@click.option("--queue", is_flag=True, help="Start a run of the deployed job instead (a scheduler runs it).")
@out.output_option
def run(model: str, path: str | None, params: tuple[str, ...], queue: bool, output: str) -> None:
    """Run MODEL's retraining once, now: train, evaluate against @champion, gate, promote."""
    import modelyard
    from modelyard.cli.jobs import _client, _parse_params
    from modelyard.jobs.spec import parse
    from modelyard.retrain.job import RUN
    from modelyard.retrain.job import run as run_retrain
    from modelyard.tracking.stores import resolve_tracking_uri

    overrides = _parse_params(params)
    if queue:
        answer = _client().run(_job_name(model), overrides)
        done(f"Started run {answer['job_run_id']} of job {_job_name(model)!r}")
        return
    spec = parse(_definition(model, path))
    tasks = [t for t in spec.tasks if t.run == RUN]
    if not tasks:
        raise CliError(f"job {spec.name!r} has no retrain: section")
    spec.check_overrides(overrides)
    st = state()
    modelyard.set_tracking_uri(resolve_tracking_uri(st.tracking_uri, st.settings()))
    result = run_retrain(**spec.params_for(tasks[0].key, overrides))
    if output == out.JSON:
        out.print_json(result)
        return
    out.table(["Gate", "Passed", "Detail"], [[g["gate"], "yes" if g["passed"] else "NO", g["detail"]] for g in result["gates"]])
    note(result["reason"])
    done(f"{model} v{result['challenger_version']}: {result['status'].replace('_', ' ')}"
         f" (champion before: {('v' + result['champion_version']) if result['champion_version'] else 'none'})")


@retrain.command()
@click.argument("model")
@click.argument("version")
@click.option("--note", "user_note", help="Why (kept in the promotion history).")
def approve(model: str, version: str, user_note: str | None) -> None:
    """Approve a challenger that passed its gates: @champion moves to MODEL's VERSION."""
    import modelyard
    from modelyard.retrain import approve as approve_version
    from modelyard.tracking.stores import resolve_tracking_uri

    st = state()
    modelyard.set_tracking_uri(resolve_tracking_uri(st.tracking_uri, st.settings()))
    approve_version(model, version, user_note=user_note)
    done(f"@champion of {model} is now v{version}")
