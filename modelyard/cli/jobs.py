"""``modelyard jobs``: deploy, list, get, run, runs, logs, cancel, pause, resume, delete.

Talks to the tracking server (``--tracking-uri http://...``) or straight to its database.
``-o json`` prints the REST API's shapes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from modelyard.cli import _output as out
from modelyard.cli._context import CliError, done, state

FOLLOW_POLL_S = 1.0


def _client():
    from modelyard.jobs.client import JobsClient
    from modelyard.tracking.stores import resolve_tracking_uri

    st = state()
    settings = st.settings()
    return JobsClient(resolve_tracking_uri(st.tracking_uri, settings), settings)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--param takes KEY=VALUE, got {pair!r}", exit_code=2)
        try:
            params[key] = json.loads(raw)  # numbers, booleans, lists; anything else is text
        except ValueError:
            params[key] = raw
    return params


@click.group()
def jobs() -> None:
    """Workflows: scheduled and triggered multi-task jobs."""


@jobs.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@out.output_option
def deploy(path: str, output: str) -> None:
    """Create or update the job defined in a YAML file (idempotent)."""
    with open(path, encoding="utf-8") as f:
        answer = _client().deploy(f.read())
    if output == out.JSON:
        out.print_json(answer)
    else:
        done(f"{'Created' if answer['created'] else 'Updated'} job {answer['job']['name']!r}")


@jobs.command("list")
@out.output_option
def list_jobs(output: str) -> None:
    """Jobs with their next due time and last run."""
    items = _client().list()
    if output == out.JSON:
        out.print_json(items)
        return
    out.table(
        ["Name", "Paused", "Schedule", "Next fire", "Last status", "Last run"],
        [
            [j["name"], "yes" if j["paused"] else "no", (j["spec"].get("schedule") or {}).get("cron"),
             out.fmt_time(j.get("next_fire_at")), (j.get("last_run") or {}).get("status"),
             out.fmt_time((j.get("last_run") or {}).get("created_at"))]
            for j in items
        ],
    )


@jobs.command()
@click.argument("name")
def get(name: str) -> None:
    """A job's definition and state (JSON)."""
    out.print_json(_client().get(name))


@jobs.command()
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a parameter for this run.")
@out.output_option
def run(name: str, params: tuple[str, ...], output: str) -> None:
    """Start a run now."""
    answer = _client().run(name, _parse_params(params))
    if output == out.JSON:
        out.print_json(answer)
    else:
        done(f"Started run {answer['job_run_id']} of job {name!r}")


@jobs.command()
@click.argument("name", required=False)
@click.option("--max-results", default=25, show_default=True, type=int)
@out.output_option
def runs(name: str | None, max_results: int, output: str) -> None:
    """Run history of a job (or of every job), newest first."""
    items = _client().runs(name, max_results)
    if output == out.JSON:
        out.print_json(items)
        return
    out.table(
        ["Run", "Job", "Status", "Trigger", "Started", "Duration", "Tasks"],
        [
            [r["job_run_id"], r["job_name"], r["status"], r["trigger"], out.fmt_time(r.get("started_at")),
             out.fmt_duration(r.get("started_at"), r.get("ended_at")),
             " ".join(f"{t['task_key']}:{t['status']}" for t in r["tasks"])]
            for r in items
        ],
        no_wrap=["Run"],
    )


@jobs.command()
@click.argument("job_run_id")
@click.option("--task", default=None, help="The task (default: the first).")
@click.option("--attempt", default=None, type=int, help="The attempt (default: the newest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the task ends.")
def logs(job_run_id: str, task: str | None, attempt: int | None, follow: bool) -> None:
    """A task's output (stdout and stderr)."""
    client = _client()
    after = -1
    while True:
        page = client.logs(job_run_id, task, attempt, after)
        if page["text"]:
            click.echo(page["text"], nl=False)
        after = page["next"]
        if not follow or (page["done"] and not page["text"]):
            return
        if not page["text"]:
            time.sleep(FOLLOW_POLL_S)


@jobs.command()
@click.argument("job_run_id")
def cancel(job_run_id: str) -> None:
    """Cancel a run: its running tasks' processes are killed."""
    answer = _client().cancel(job_run_id)
    done(f"Run {job_run_id} is {answer['status']}{' (cancelling)' if answer['status'] == 'RUNNING' else ''}")


@jobs.command()
@click.argument("name")
def pause(name: str) -> None:
    """Stop firing the job (runs in flight go on)."""
    _client().pause(name)
    done(f"Paused job {name!r}")


@jobs.command()
@click.argument("name")
def resume(name: str) -> None:
    """Fire the job again from now on."""
    _client().resume(name)
    done(f"Resumed job {name!r}")


@jobs.command()
@click.argument("name")
def delete(name: str) -> None:
    """Delete a job and its run history."""
    _client().delete(name)
    done(f"Deleted job {name!r}")
