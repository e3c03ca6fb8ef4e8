"""``modelyard models``: work with logged models. ``predict`` scores a file in batch.

The group is kept small so that other modules add their subcommands to it with
``models.add_command(...)`` (the model registry adds list, get, versions, register, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from modelyard.cli._context import CliError, state

FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
PROGRESS_MIN_ROWS = 100_000
DEFAULT_CHUNK_ROWS = 100_000


@click.group()
def models() -> None:
    """Use logged models: batch predictions (and, with the registry, register and promote them)."""


@models.command("predict")
@click.option("--model-uri", "-m", required=True, metavar="URI",
              help="models:/m-<id>, runs:/<run_id>/<path>, a folder, s3://..., mlflow-artifacts:/...")
@click.option("--input-path", "-i", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Input rows: .csv, .json (records, split, or a list of rows) or .parquet.")
@click.option("--output-path", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Where predictions go (.csv, .json or .parquet). Default: JSON on stdout.")
@click.option("--params", "params_json", metavar="JSON", help='Inference params as JSON, e.g. \'{"k": 2}\'.')
@click.option("--chunk-size", default=DEFAULT_CHUNK_ROWS, show_default=True, type=click.IntRange(1),
              help="Rows predicted per call (bounds memory on large inputs).")
def predict(model_uri: str, input_path: Path, output_path: Path | None, params_json: str | None, chunk_size: int) -> None:
    """Predict the rows of --input-path with the model at --model-uri; write the predictions."""
    params = _params(params_json)
    frame = read_table(input_path)
    from modelyard.models.load import load_pyfunc

    # runs:/ and models:/ resolve against the tracking URI of this invocation (--tracking-uri)
    model = load_pyfunc(model_uri, tracking_uri=state().tracking_uri_to_read(model_uri))
    result = predict_in_chunks(model, frame, params, chunk_size)
    if output_path is None:
        click.echo(json.dumps({"predictions": _jsonable(result)}))
    else:
        write_table(result, output_path)
        click.echo(f"Wrote {len(result)} predictions to {output_path}", err=True)


def _params(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--params is not valid JSON: {exc}", exit_code=2) from None
    if not isinstance(value, dict):
        raise CliError("--params must be a JSON object", exit_code=2)
    return value


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CliError(f"Unsupported file type {path.suffix or '(none)'} for {path}: use .csv, .json or .parquet", 2)
    return fmt


def read_table(path: Path) -> Any:
    """A DataFrame from a .csv, .json (records, split orient or a list of rows) or .parquet file."""
    import pandas as pd

    fmt = _format(path)
    try:
        if fmt == "csv":
            return pd.read_csv(path)
        if fmt == "parquet":
            return pd.read_parquet(path)
        data = json.loads(path.read_text())
    except (ValueError, OSError, ImportError) as exc:
        raise CliError(f"Cannot read {path}: {exc}") from None
    if isinstance(data, dict) and "dataframe_split" in data:
        data = data["dataframe_split"]
    if isinstance(data, dict) and "dataframe_records" in data:
        data = data["dataframe_records"]
    if isinstance(data, dict) and "columns" in data and "data" in data:
        return pd.DataFrame(data["data"], columns=data["columns"])
    if isinstance(data, list):
        return pd.DataFrame(data)
    raise CliError(f"Cannot read {path}: expected a list of records or {{'columns': [...], 'data': [...]}}")


def predict_in_chunks(model: Any, frame: Any, params: dict | None, chunk_size: int) -> Any:
    """Predictions for every row, ``chunk_size`` rows at a time, with a progress bar on large inputs."""
    import pandas as pd

    from modelyard.exceptions import InvalidParameterValue

    rows = len(frame)
    starts = range(0, max(rows, 1), chunk_size)
    parts = []
    progress = None
    if rows >= PROGRESS_MIN_ROWS and len(starts) > 1:
        from rich.progress import Progress

        progress = Progress(transient=True, console=_stderr_console())
        task = progress.add_task("Predicting", total=rows)
        progress.start()
    try:
        for start in starts:
            chunk = frame.iloc[start : start + chunk_size]
            try:
                parts.append(model.predict(chunk, params=params))
            except InvalidParameterValue as exc:
                raise CliError(f"The input does not match the model's signature: {exc.message}") from None
            if progress is not None:
                progress.advance(task, len(chunk))
    finally:
        if progress is not None:
            progress.stop()
    return _concat(parts, pd)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _concat(parts: list, pd: Any) -> Any:
    import numpy as np

    if all(isinstance(p, pd.DataFrame) for p in parts):
        return pd.concat(parts, ignore_index=True)
    if all(isinstance(p, pd.Series) for p in parts):
        return pd.concat(parts, ignore_index=True).to_frame()
    arrays = [np.asarray(p) for p in parts]
    values = np.concatenate(arrays) if arrays else np.asarray([])
    if values.ndim == 1:
        return pd.DataFrame({"prediction": values})
    return pd.DataFrame(values.reshape(len(values), -1)).rename(columns=str)


def write_table(frame: Any, path: Path) -> None:
    fmt = _format(path)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.columns = [str(c) for c in frame.columns]
        frame.to_parquet(path, index=False)
    else:
        path.write_text(json.dumps({"predictions": _jsonable(frame)}))


def _jsonable(frame: Any) -> Any:
    if list(frame.columns) == ["prediction"]:
        return json.loads(frame["prediction"].to_json(orient="values"))
    return json.loads(frame.to_json(orient="records"))


# The model registry's commands: list, get, versions, register, alias, transition, history, delete.
from modelyard.cli.registry import attach as _attach_registry  # noqa: E402

_attach_registry(models)

from modelyard.cli.serve import serve as _serve  # noqa: E402  (models serve: the scoring server)

models.add_command(_serve)

from modelyard.cli.features import score_batch_command as _score_batch  # noqa: E402  (models score-batch)
from modelyard.cli.stream import stream as _stream  # noqa: E402  (models stream: streaming inference)

models.add_command(_score_batch)
models.add_command(_stream)
