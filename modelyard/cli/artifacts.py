"""``modelyard artifacts``: list, download, log-artifact, log-artifacts.

Artifacts are addressed by ``--run-id`` (paths relative to the run's artifact root) or by
``--artifact-uri``: any artifact URI (a folder, ``file:///...``) or ``runs:/RUN_ID/path``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import click

from modelyard.cli import _output as out
from modelyard.cli._context import client, done

if TYPE_CHECKING:
    from modelyard.entities import FileInfo

RUNS_SCHEME = "runs:/"

run_id_option = click.option("--run-id", "-r", metavar="ID", help="ID of the run the artifacts belong to.")
artifact_path_option = click.option(
    "--artifact-path", "-a", metavar="PATH", help="Path below the run's artifact root (default: the root)."
)
artifact_uri_option = click.option(
    "--artifact-uri",
    "-u",
    metavar="URI",
    help="An artifact URI instead of --run-id: a folder, file:///..., or runs:/RUN_ID/path.",
)


@click.group()
def artifacts() -> None:
    """List, download and upload run artifacts."""


@artifacts.command("list")
@run_id_option
@artifact_path_option
@artifact_uri_option
@out.output_option
def list_artifacts(
    run_id: str | None, artifact_path: str | None, artifact_uri: str | None, output: str
) -> None:
    """List the files and folders directly inside an artifact folder."""
    _one_source(run_id, artifact_uri)
    if run_id is not None:
        infos = client(read_only=True).list_artifacts(run_id, artifact_path)
    else:
        root, path = _from_uri(artifact_uri or "")
        infos = _repository(root).list_artifacts(_join(path, artifact_path))
    if output == out.JSON:
        out.print_json([info.to_dict() for info in infos])
    elif not infos:
        out.empty("No artifacts found.")
    else:
        out.table(["Path", "Type", "Size"], (_row(info) for info in infos))


@artifacts.command()
@run_id_option
@artifact_path_option
@artifact_uri_option
@click.option(
    "--dst-path",
    "-d",
    type=click.Path(file_okay=False, writable=True),
    help="Local folder to download into (created if missing). Default: a new temporary folder.",
)
def download(
    run_id: str | None, artifact_path: str | None, artifact_uri: str | None, dst_path: str | None
) -> None:
    """Download an artifact file or folder and print its local path."""
    _one_source(run_id, artifact_uri)
    if run_id is not None:
        local = client(read_only=True).download_artifacts(run_id, artifact_path or "", dst_path)
    else:
        root, path = _from_uri(artifact_uri or "")
        if not path and not artifact_path:
            root, path = _split_last(root)  # as MLflow: <dst>/<last segment of the URI>
        local = _repository(root).download_artifacts(_join(path, artifact_path), dst_path)
    click.echo(local)


@artifacts.command("log-artifact")
@click.option(
    "--local-file",
    "-l",
    required=True,
    type=click.Path(exists=True, dir_okay=False, readable=True),
    help="The local file to upload.",
)
@click.option("--run-id", "-r", required=True, metavar="ID", help="ID of the run to log to.")
@artifact_path_option
def log_artifact(local_file: str, run_id: str, artifact_path: str | None) -> None:
    """Upload one local file to a run's artifacts."""
    client().log_artifact(run_id, local_file, artifact_path)
    done(f"Logged artifact {local_file} to run {run_id} (artifact path: {artifact_path or '/'}).")


@artifacts.command("log-artifacts")
@click.option(
    "--local-dir",
    "-l",
    required=True,
    type=click.Path(exists=True, file_okay=False, readable=True),
    help="The local folder whose content to upload.",
)
@click.option("--run-id", "-r", required=True, metavar="ID", help="ID of the run to log to.")
@artifact_path_option
def log_artifacts(local_dir: str, run_id: str, artifact_path: str | None) -> None:
    """Upload the content of a local folder (recursively) to a run's artifacts."""
    client().log_artifacts(run_id, local_dir, artifact_path)
    done(f"Logged the content of {local_dir} to run {run_id} (artifact path: {artifact_path or '/'}).")


# -- helpers ------------------------------------------------------------------------
def _one_source(run_id: str | None, artifact_uri: str | None) -> None:
    if (run_id is None) == (artifact_uri is None):
        raise click.UsageError("Pass exactly one of --run-id and --artifact-uri.")


def _repository(uri: str):
    from modelyard.artifacts import get_artifact_repository

    return get_artifact_repository(uri)


def _from_uri(uri: str) -> tuple[str, str]:
    """(artifact root URI, path below it): ``runs:/ID/p`` is resolved through the tracking store."""
    if uri.startswith(RUNS_SCHEME):
        from modelyard.exceptions import InvalidParameterValue

        run_id, _, path = uri[len(RUNS_SCHEME) :].lstrip("/").partition("/")
        if not run_id:
            raise InvalidParameterValue(f"Invalid artifact URI {uri!r}: expected runs:/RUN_ID/path")
        return client(read_only=True).get_artifact_uri(run_id), path
    return uri, ""


def _split_last(uri: str) -> tuple[str, str]:
    """``file:///a/b`` -> (``file:///a``, ``b``); ``/a/b/`` -> (``/a``, ``b``); a bare root stays whole."""
    parts = urlsplit(uri)
    if len(parts.scheme) > 1:  # a URI (one letter would be a Windows drive)
        head, _, tail = parts.path.rstrip("/").rpartition("/")
        if not tail:
            return uri, ""
        return urlunsplit(parts._replace(path=head or "/")), tail
    seps = ("/", "\\") if os.name == "nt" else ("/",)
    stripped = uri.rstrip("".join(seps)) or uri
    for sep in seps:
        head, found, tail = stripped.rpartition(sep)
        if found and tail:
            return head or sep, tail
    if stripped and stripped not in (".", ".."):
        return ".", stripped
    return uri, ""


def _join(*paths: str | None) -> str:
    return "/".join(p.rstrip("/") for p in paths if p and p.rstrip("/"))


def _row(info: FileInfo) -> list:
    return [
        info.path + ("/" if info.is_dir else ""),
        "dir" if info.is_dir else "file",
        out.fmt_size(info.file_size),
    ]
