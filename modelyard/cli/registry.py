"""``modelyard models ...`` for the model registry: list, get, versions, register, alias,
transition, history, delete.

The commands are attached to the ``models`` group of ``modelyard.cli.models`` with
``attach(group)``. Each works on a database or a server, as ``--tracking-uri`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from modelyard.cli import _output as out
from modelyard.cli._context import client, collect, done, note

if TYPE_CHECKING:
    from modelyard.entities import ModelVersion, RegisteredModel

STAGES = ("None", "Staging", "Production", "Archived")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out_: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=what)
        out_[key] = value
    return out_


def _latest(model: RegisteredModel) -> str:
    return ", ".join(f"v{v.version} ({v.current_stage})" for v in model.latest_versions) or out.MISSING


def _aliases(model: RegisteredModel) -> str:
    return ", ".join(f"{a} -> v{v}" for a, v in sorted(model.aliases.items())) or out.MISSING


def _version_rows(versions: list[ModelVersion]):
    for v in versions:
        yield [
            v.version,
            v.current_stage,
            ", ".join(v.aliases) or out.MISSING,
            out.fmt_time(v.creation_timestamp),
            v.user_id,
            v.run_id,
            v.source,
        ]


VERSION_HEADERS = ["Version", "Stage", "Aliases", "Created", "User", "Run", "Source"]
max_results_option = click.option(
    "--max-results", type=click.IntRange(min=1), default=1000, show_default=True, metavar="N", help="Show at most N."
)


@click.command("list")
@click.option("--filter", "-f", "filter_string", metavar="FILTER", help="e.g. \"name LIKE 'churn%'\" or \"tags.team = 'growth'\".")
@click.option("--order-by", multiple=True, metavar="CLAUSE", help='e.g. "last_updated_timestamp DESC" (repeatable).')
@max_results_option
@out.output_option
def list_models(filter_string: str | None, order_by: tuple[str, ...], max_results: int, output: str) -> None:
    """List registered models."""
    c = client(read_only=True)
    found, more = collect(
        lambda n, token: c.search_registered_models(filter_string, min(n, 1000), list(order_by) or None, token),
        max_results,
    )
    if output == out.JSON:
        out.print_json([m.to_dict() for m in found])
    elif not found:
        out.empty("No registered models found.")
    else:
        rows = ([m.name, _latest(m), _aliases(m), out.fmt_time(m.last_updated_timestamp), m.description] for m in found)
        out.table(["Name", "Latest versions", "Aliases", "Last update", "Description"], rows, no_wrap=("Last update",))
    if more:
        note(f"Showing the first {len(found)} models; pass --max-results to see more.")


@click.command("get")
@click.argument("name")
@out.output_option
def get_model(name: str, output: str) -> None:
    """Show a registered model and its versions."""
    c = client(read_only=True)
    model = c.get_registered_model(name)
    versions, _ = collect(
        lambda n, token: c.search_model_versions(f"name = {_quoted(name)}", n, ["version_number DESC"], token), 10_000
    )
    if output == out.JSON:
        out.print_json({**model.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    out.fields(
        [
            ("Name", model.name),
            ("Description", model.description),
            ("Created", out.fmt_time(model.creation_timestamp)),
            ("Last update", out.fmt_time(model.last_updated_timestamp)),
            ("Created by", model.user_id),
            ("Aliases", _aliases(model)),
            ("Tags", ", ".join(f"{k}={v}" for k, v in model.tags.items()) or None),
        ],
        title=f"Registered model {model.name}",
    )
    if versions:
        out.table(VERSION_HEADERS, _version_rows(versions), title="Versions", no_wrap=("Version", "Created"))
    else:
        out.empty("No versions yet.")


@click.command("versions")
@click.argument("name", required=False)
@click.option("--filter", "-f", "filter_string", metavar="FILTER", help="e.g. \"tags.validated = 'yes'\"; ANDed with NAME.")
@max_results_option
@out.output_option
def list_versions(name: str | None, filter_string: str | None, max_results: int, output: str) -> None:
    """List model versions (of NAME, or of every model), newest first."""
    parts = [f"name = {_quoted(name)}"] if name else []
    if filter_string:
        parts.append(f"({filter_string})")
    c = client(read_only=True)
    found, more = collect(
        lambda n, token: c.search_model_versions(" AND ".join(parts) or None, n, None, token), max_results
    )
    if output == out.JSON:
        out.print_json([v.to_dict() for v in found])
    elif not found:
        out.empty("No model versions found.")
    else:
        rows = ([v.name, *row] for v, row in zip(found, _version_rows(found), strict=True))
        out.table(["Model", *VERSION_HEADERS], rows, no_wrap=("Version", "Created"))
    if more:
        note(f"Showing the first {len(found)} versions; pass --max-results to see more.")


@click.command("register")
@click.argument("model_uri")
@click.option("--name", "-n", required=True, metavar="NAME", help="Registered model (created if missing).")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the new version (repeatable).")
@click.option("--description", "-d", metavar="TEXT", help="Description of the new version.")
@out.output_option
def register(model_uri: str, name: str, tags: tuple[str, ...], description: str | None, output: str) -> None:
    """Register MODEL_URI (models:/m-<id>, runs:/<run_id>/<path>, models:/<name>/<version>) as a new version."""
    from modelyard.tracking.registry_fluent import register_with

    version = register_with(client(), model_uri, name, tags=_pairs(tags, "--tag"), description=description)
    if output == out.JSON:
        out.print_json(version.to_dict())
    else:
        done(f"Registered '{name}' version {version.version} from {model_uri}")


@click.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "delete_", is_flag=True, help="Remove the alias instead of setting it.")
def alias(name: str, alias: str, version: str | None, delete_: bool) -> None:
    """Point ALIAS of model NAME at VERSION (or remove it with --delete)."""
    c = client()
    if delete_:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        c.delete_registered_model_alias(name, alias)
        done(f"Removed alias '{alias}' of '{name}'")
        return
    if version is None:
        raise click.UsageError("Missing argument 'VERSION' (or pass --delete)")
    c.set_registered_model_alias(name, alias, version)
    done(f"'{name}@{alias}' now points at version {version}")


@click.command("transition")
@click.argument("name")
@click.argument("version")
@click.argument("stage", type=click.Choice(STAGES, case_sensitive=False))
@click.option("--archive-existing", is_flag=True, help="Archive the other versions in STAGE (Staging/Production).")
def transition(name: str, version: str, stage: str, archive_existing: bool) -> None:
    """Move VERSION of model NAME to STAGE (MLflow's deprecated stages; prefer aliases)."""
    moved = client().transition_model_version_stage(name, version, stage, archive_existing)
    done(f"'{name}' version {moved.version} is now in stage {moved.current_stage}")


@click.command("history")
@click.argument("name")
@click.option("--alias", "alias_", metavar="ALIAS", help="Only the moves of this alias.")
@click.option("--stage", type=click.Choice(STAGES, case_sensitive=False), help="Only transitions into or out of STAGE.")
@max_results_option
@out.output_option
def history(name: str, alias_: str | None, stage: str | None, max_results: int, output: str) -> None:
    """Show who moved which alias or stage of model NAME, when, from which version to which."""
    if alias_ and stage:
        raise click.UsageError("Pass --alias or --stage, not both")
    c = client(read_only=True)
    found, more = collect(
        lambda n, token: c.get_promotion_history(name, alias_, stage, min(n, 10_000), token), max_results
    )
    if output == out.JSON:
        out.print_json([e.to_dict() for e in found])
    elif not found:
        out.empty(f"No alias moves or stage transitions recorded for '{name}'.")
    else:
        rows = (
            [
                out.fmt_time(e.timestamp),
                e.user_id,
                e.kind,
                e.target,
                e.action,
                f"v{e.from_version}" if e.from_version else (e.from_stage or out.MISSING),
                f"v{e.to_version}" if e.kind == "alias" and e.to_version else (e.to_stage or out.MISSING),
                f"v{e.to_version}" if e.kind == "stage" else out.MISSING,
                e.reason,
            ]
            for e in found
        )
        headers = ["When", "Who", "Kind", "Alias/stage", "Action", "From", "To", "Version", "Reason"]
        out.table(headers, rows, no_wrap=("When",))
    if more:
        note(f"Showing the newest {len(found)} events; pass --max-results to see more.")


@click.command("delete")
@click.argument("name")
@click.option("--version", "-V", "version", metavar="VERSION", help="Delete only this version.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, version: str | None, yes: bool) -> None:
    """Delete model NAME with all its versions, or one version with --version."""
    c = client()
    if version is not None:
        c.delete_model_version(name, version)
        done(f"Deleted version {version} of '{name}'")
        return
    if not yes:
        click.confirm(f"Delete registered model '{name}' and all its versions?", abort=True, err=True)
    c.delete_registered_model(name)
    done(f"Deleted registered model '{name}'")


COMMANDS = (list_models, get_model, list_versions, register, alias, transition, history, delete)


def attach(group: click.Group) -> click.Group:
    """Add the registry commands to ``group`` (the ``models`` group)."""
    for command in COMMANDS:
        group.add_command(command)
    return group
