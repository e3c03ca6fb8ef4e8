"""``modelyard features``: the feature-table catalog (list, describe, history, read, publish, delete),
and ``modelyard models score-batch``: score a file or Delta table with a model's features joined.

Output is JSON (the REST shapes), like the other groups' ``--output json``.
"""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli._context import CliError, state
from modelyard.cli._output import print_json


def _client():
    from modelyard.features import FeatureClient

    st = state()
    return FeatureClient(st.tracking_uri, st.settings())


@click.group()
def features() -> None:
    """Feature tables: Delta tables with primary keys (and timestamp keys) in the tracking catalog."""


@features.command("list")
@click.option("--name-like", metavar="PATTERN", help="SQL LIKE pattern on the name, e.g. 'churn.%'.")
@click.option("--max-results", default=100, show_default=True, type=click.IntRange(1, 1000))
def list_tables(name_like: str | None, max_results: int) -> None:
    """List feature tables (JSON)."""
    print_json({"feature_tables": [t.to_dict() for t in _client().list_tables(name_like, max_results)]})


@features.command("describe")
@click.argument("name")
def describe(name: str) -> None:
    """A table's catalog entry: keys, columns, location, current version, tags, online stores (JSON)."""
    print_json({"feature_table": _client().get_table(name).to_dict()})


@features.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1), help="Newest commits only.")
def history(name: str, limit: int | None) -> None:
    """The table's Delta versions, newest first (JSON)."""
    print_json({"history": _client().history(name, limit)})


@features.command("read")
@click.argument("name")
@click.option("--version", "as_of_version", type=click.IntRange(0), help="Read this Delta version.")
@click.option("--as-of", "as_of_timestamp", metavar="ISO-TIME", help="Read the version current at this time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="Rows to print.")
def read(name: str, as_of_version: int | None, as_of_timestamp: str | None, limit: int) -> None:
    """Print the first rows of a table (JSON records)."""
    import json

    table = _client().read_arrow(name, as_of_version=as_of_version, as_of_timestamp=as_of_timestamp)
    frame = table.slice(0, limit).to_pandas()
    print_json({"rows": json.loads(frame.to_json(orient="records", date_format="iso")), "num_rows": table.num_rows})


@features.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a table's catalog entry and its files."""
    if not yes:
        click.confirm(f"Delete feature table '{name}' and its data?", abort=True, err=True)
    _client().drop_table(name)
    print_json({"deleted": name})


@features.command("publish")
@click.argument("name")
@click.option("--online", "online_store", required=True, metavar="URI",
              help="redis://host:port/db or a SQL database URI.")
@click.option("--full", is_flag=True, help="Publish every key, not only those changed since the last publish.")
def publish(name: str, online_store: str, full: bool) -> None:
    """Materialise the latest row per key into an online store (incremental by default)."""
    result = _client().publish_table(name, online_store, full=full)
    print_json(result)


# -- models score-batch ---------------------------------------------------------------------------
INPUT_FORMATS = ("auto", "parquet", "csv", "json", "delta")


def _input_format(path: Path, given: str) -> str:
    if given != "auto":
        return given
    if path.is_dir() and (path / "_delta_log").is_dir():
        return "delta"
    suffix = path.suffix.lower()
    found = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json",
             ".ndjson": "json"}.get(suffix)
    if found is None and path.is_dir():
        return "parquet"  # a folder of Parquet files
    if found is None:
        raise CliError(f"Cannot tell the format of {path}; pass --input-format")
    return found


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def open_input(path: Path, fmt: str) -> tuple[str, int | None]:
    """The input as a DuckDB table function over its files (read lazily), and its row count if cheap."""
    import pyarrow.dataset as ds

    if fmt == "delta":
        from modelyard.features import delta

        files = delta.local_files(str(path)) or []
        if not files:
            raise CliError(f"The Delta table at {path} has no data files")
        listed = ", ".join(_sql_text(f) for f in files)
        return f"read_parquet([{listed}], union_by_name = true)", delta.dataset(str(path)).count_rows()
    if fmt == "parquet":
        pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
        return f"read_parquet({_sql_text(pattern)})", ds.dataset(str(path), format="parquet").count_rows()
    if fmt == "csv":
        return f"read_csv({_sql_text(str(path))})", None
    return f"read_json({_sql_text(str(path))}, format = 'newline_delimited')", None


@click.command("score-batch")
@click.option("--model-uri", "-m", required=True, metavar="URI", help="models:/name@alias, models:/name/3, ...")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Parquet file or folder, CSV, JSON lines, or a Delta table folder.")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="A .parquet file, or a folder for a Delta table (appended to if it exists).")
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default="auto", show_default=True)
@click.option("--batch-rows", default=100_000, show_default=True, type=click.IntRange(1),
              help="Rows per model call (and per written batch).")
@click.option("--memory-limit", default="512MB", show_default=True, help="DuckDB's memory limit for the join (it spills to disk past it).")
@click.option("--result-type", help="Cast predictions to double, float, long, int, string or boolean.")
@click.option("--spark", "spark_master", metavar="MASTER", help="Run on Spark, e.g. local[2].")
def score_batch_command(model_uri: str, input_path: Path, output_path: Path, input_format: str, batch_rows: int,
                        memory_limit: str, result_type: str | None, spark_master: str | None) -> None:
    """Score a file or Delta table: features joined as of each row's time, then `prediction`,
    `model_version` and `scoring_timestamp` columns. Prints a JSON summary."""
    fc = _client()
    fmt = _input_format(input_path, input_format)
    if spark_master:
        from modelyard.features.spark_batch import score_path_on_spark

        summary = score_path_on_spark(fc, model_uri, input_path, fmt, output_path, spark_master, result_type)
        print_json(summary)
        return
    from modelyard.features.batch import score_to_path

    source, total = open_input(input_path, fmt)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("Scoring", total=total)
        summary = score_to_path(fc, model_uri, source, output_path, batch_rows=batch_rows, memory_limit=memory_limit,
                                result_type=result_type, on_rows=lambda n: progress.advance(task, n))
    print_json(summary)
