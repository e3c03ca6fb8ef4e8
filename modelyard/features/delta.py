"""Feature-table data as Delta Lake tables (the ``deltalake`` package: no JVM).

Every write is one atomic Delta commit, so it makes a new version and older versions stay
readable. Before anything is written a batch is checked: its keys must be present, non-null and
unique within the batch, and its columns must not break readers of the table (a column removed,
or a type that cannot be cast safely to the stored one). Violations raise
``InvalidParameterValue`` naming the column, and nothing is written.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from modelyard.entities.feature_table import FeatureColumn
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist

logger = logging.getLogger(__name__)


def to_arrow(data: Any) -> pa.Table:
    """A pandas DataFrame, Arrow table/batches or anything with ``__arrow_c_stream__`` as an Arrow table."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow") and type(data).__module__.startswith("pyspark"):
        return data.toArrow()
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return from_pandas(data)
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise InvalidParameterValue(f"Expected a pandas DataFrame or an Arrow table, got {type(data).__name__}")


def from_pandas(frame) -> pa.Table:
    """``pa.Table.from_pandas`` without pyarrow's use of the deprecated ``Series.values`` on tz-aware
    columns (pandas 3.1 warns about it; the conversion itself is right)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        return pa.Table.from_pandas(frame, preserve_index=False)


def _storable(t: pa.DataType) -> pa.DataType:
    """The type Delta stores for ``t``: microsecond timestamps, signed integers, plain strings."""
    if pa.types.is_timestamp(t) and t.unit != "us":
        return pa.timestamp("us", t.tz)
    if pa.types.is_unsigned_integer(t):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(t.bit_width, pa.int64())
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_null(t):
        return pa.string()
    return t


def normalize(table: pa.Table) -> pa.Table:
    """``table`` with every column in the type Delta stores."""
    schema = pa.schema([pa.field(f.name, _storable(f.type)) for f in table.schema])
    return table if schema == table.schema else table.cast(schema)


def columns_of(schema: pa.Schema) -> tuple[FeatureColumn, ...]:
    return tuple(FeatureColumn(f.name, str(_storable(f.type)), f.nullable) for f in schema)


def check_keys(table: pa.Table, primary_keys: tuple[str, ...], timestamp_keys: tuple[str, ...]) -> None:
    """Keys present, timestamp keys of a time type, no null key, no key repeated within the batch."""
    keys = list(primary_keys) + list(timestamp_keys)
    for key in keys:
        if key not in table.column_names:
            raise InvalidParameterValue(f"The data has no column {key!r}, a key of this feature table")
        nulls = table.column(key).null_count
        if nulls:
            raise InvalidParameterValue(f"Key column {key!r} has {nulls} null value(s); keys must not be null")
    for key in timestamp_keys:
        t = table.schema.field(key).type
        if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
            raise InvalidParameterValue(f"Timestamp key {key!r} must be a timestamp or date column, not {t}")
    if not table.num_rows:
        return
    counts = table.select(keys).group_by(keys).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        example = {k: repeated.column(k)[0].as_py() for k in keys}
        raise InvalidParameterValue(
            f"{repeated.num_rows} key(s) appear more than once in this batch, e.g. {example}; "
            f"each ({', '.join(keys)}) must be unique within one write"
        )


def conform(table: pa.Table, stored: pa.Schema, *, keys: tuple[str, ...]) -> pa.Table:
    """``table`` cast to the stored schema (new columns appended), or an error naming the column that
    would break readers: a stored column missing from the batch, or a type that does not cast safely."""
    for name in stored.names:
        if name not in table.column_names:
            raise InvalidParameterValue(
                f"The data has no column {name!r}: dropping a column of a feature table would break its readers"
            )
    fields = []
    for f in table.schema:
        if f.name not in stored.names:
            if f.name in keys:
                raise InvalidParameterValue(f"Key column {f.name!r} is not in the stored table")
            fields.append(pa.field(f.name, _storable(f.type)))
            continue
        target = stored.field(f.name).type
        if f.type != target:
            try:
                pc.cast(table.column(f.name), target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InvalidParameterValue(
                    f"Column {f.name!r} is stored as {target}; the data's {f.type} cannot be converted to it "
                    "without loss (a breaking schema change)"
                ) from None
        fields.append(pa.field(f.name, target))
    ordered = [n for n in stored.names] + [f.name for f in fields if f.name not in stored.names]
    by_name = {f.name: f for f in fields}
    schema = pa.schema([by_name[n] for n in ordered])
    return table.select(ordered).cast(schema)


def sorted_by(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """``table`` ordered by ``keys`` (DuckDB's sort: several times faster than Arrow's here). Time
    series are written in key then time order: the as-of join sorts the same way, and DuckDB sorts
    data that is already in order about twice as fast, so a join pays less for every read, and
    ``join.gather`` checks the order and joins without any sort. One record batch: the Delta writer
    works on several batches at once and interleaves them in its files (deltalake 1.6); a single
    batch is written in its order."""
    if table.num_rows < 2 or not keys:
        return table
    from modelyard.features.join import connect

    con = connect()
    try:
        con.register("__modelyard_unsorted", table)
        order = ", ".join('"' + k.replace('"', '""') + '"' for k in keys)
        return con.sql(f"SELECT * FROM __modelyard_unsorted ORDER BY {order}").to_arrow_table().cast(table.schema).combine_chunks()
    finally:
        con.close()


# -- Delta operations ---------------------------------------------------------------------------
def storage_options(location: str) -> dict[str, str] | None:
    """What ``deltalake`` needs to reach an ``s3://`` location: the S3 endpoint of the settings
    (MinIO, SeaweedFS, ... over http or https) and its TLS choice. Credentials and the region come
    from the usual AWS variables, which deltalake reads itself. None for other locations."""
    if urlsplit(location).scheme not in ("s3", "s3a"):
        return None
    from modelyard.artifacts import client_defaults

    settings, _ = client_defaults()
    options: dict[str, str] = {}
    endpoint = settings.artifacts.s3_endpoint_url
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"  # path style, as the artifact store uses
        if urlsplit(endpoint).scheme == "http":
            options["AWS_ALLOW_HTTP"] = "true"
    if settings.artifacts.s3_ignore_tls:
        options["AWS_ALLOW_INVALID_CERTIFICATES"] = "true"
    return options


def _delta(location: str, version: int | str | datetime | None = None):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(location, storage_options=storage_options(location))
    except TableNotFoundError:
        raise ResourceDoesNotExist(f"No Delta table at {location}") from None
    if version is not None:
        try:
            table.load_as_version(version)
        except Exception as exc:
            raise InvalidParameterValue(f"Cannot read version {version} of the table at {location}: {exc}") from None
    return table


def latest_version(location: str) -> int:
    return _delta(location).version()


def stored_schema(location: str, version: int | None = None) -> pa.Schema:
    return pa.schema(_delta(location, version).schema().to_arrow())


def create(location: str, table: pa.Table) -> int:
    from deltalake import write_deltalake

    write_deltalake(location, table, mode="error", storage_options=storage_options(location))
    return _delta(location).version()


def overwrite(location: str, table: pa.Table) -> int:
    from deltalake import write_deltalake

    write_deltalake(location, table, mode="overwrite", schema_mode="merge", storage_options=storage_options(location))
    return _delta(location).version()


def merge(location: str, table: pa.Table, keys: tuple[str, ...]) -> tuple[int, dict[str, int | None]]:
    """Upsert ``table`` by ``keys`` in one commit: matching rows updated, others inserted. The new
    version and the commit's row counts (``rows_inserted``, ``rows_updated``)."""
    dt = _delta(location)
    predicate = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    metrics = (
        dt.merge(table, predicate=predicate, source_alias="s", target_alias="t", merge_schema=True)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    ) or {}
    counts = {"rows_inserted": metrics.get("num_target_rows_inserted"), "rows_updated": metrics.get("num_target_rows_updated")}
    return _delta(location).version(), counts


def dataset(location: str, version: int | datetime | None = None):
    """The table (at ``version``: a number or a timestamp) as a lazily read ``pyarrow.dataset``."""
    return _delta(location, version).to_pyarrow_dataset()


def _is_local(location: str) -> bool:
    scheme = urlsplit(location).scheme
    return scheme in ("", "file") or len(scheme) == 1


def _paths(table) -> list[str]:
    return [f[len("file://") :] if f.startswith("file://") else f for f in table.file_uris()]


def local_files(location: str, version: int | datetime | None = None) -> list[str] | None:
    """The Parquet files of a local table's version (for engines that read Parquet natively), or
    None when the table is not on the local file system."""
    if not _is_local(location):
        return None
    return _paths(_delta(location, version))


def read(location: str, version: int | datetime | None, columns: list[str]) -> pa.Table:
    """``columns`` of the table at ``version``, in file order. A local table's files are read by
    Arrow directly, memory-mapped (about half the CPU of going through ``deltalake``'s file system
    or DuckDB's reader), as the table's schema: columns a file lacks are null."""
    table = _delta(location, version)
    if not _is_local(location):
        return table.to_pyarrow_dataset().to_table(columns=columns)
    import pyarrow.dataset as ds
    from pyarrow.fs import LocalFileSystem

    schema = pa.schema(table.schema().to_arrow())
    files = ds.dataset(_paths(table), schema=schema, format="parquet", filesystem=LocalFileSystem(use_mmap=True))
    return files.to_table(columns=columns)


def history(location: str, limit: int | None = None) -> list[dict]:
    return list(_delta(location).history(limit))


def remove(location: str) -> None:
    """Delete a table's files (local folders only; an object store keeps its files)."""
    if _is_local(location):
        path = location[len("file://") :] if location.startswith("file://") else location
        shutil.rmtree(path, ignore_errors=True)
    else:
        logger.warning("The files of the deleted feature table at %s are left in place", location)
