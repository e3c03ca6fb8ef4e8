"""The PySpark path: features joined in Spark, predictions by ``mapInPandas`` with the model loaded
once per Python worker, and ``spark_udf`` like MLflow's.

Feature tables are read by Spark from the Parquet files of the Delta version the spec names (the
file list comes from ``deltalake``; Spark needs no Delta jars). The as-of join is the union-and-
window method: feature rows and input rows of one key sorted by time (feature rows first on a
tie), each input row taking the last feature row before it.

The model URI is resolved once on the driver per call (``models:/churn@champion`` becomes the
files of the version the alias names now, so a moved alias scores with the new version). A remote
model is downloaded once per driver process and resolved model (``models.copies``: one folder,
removed at exit); the folder must be readable by the workers at the same path (local mode, a
shared file system). Each Python worker keeps the models it loaded by that resolved identity, so
later tasks, jobs and calls of the same model in that process do not load it again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd  # module level: Spark resolves the UDF's type hints in this module's globals

from modelyard.exceptions import InvalidParameterValue
from modelyard.features.spec import ResolvedLookup

logger = logging.getLogger(__name__)

ROW = "__modelyard_row"
WORKER_MODELS = 4  # loaded models a Python worker keeps (the least recently used goes first)
_models: OrderedDict[str, Any] = OrderedDict()  # resolved model key -> loaded model, per Python worker


def read_feature_table(spark, lookup: ResolvedLookup):
    """The table's version as a Spark DataFrame over its Parquet files, with the schema Delta
    records (so Spark runs no job to infer it from the files' footers)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    table = DeltaTable(lookup.location, version=lookup.table_version)
    files = table.file_uris()
    schema = pa.schema(table.schema().to_arrow())
    if not files:
        return spark.createDataFrame(schema.empty_table().to_pandas())
    try:
        from pyspark.sql.pandas.types import from_arrow_schema

        return spark.read.schema(from_arrow_schema(schema)).parquet(*files)
    except (TypeError, ValueError):  # a type Spark cannot map from Arrow: let it read the footers
        return spark.read.parquet(*files)


def _lookup_sql(lk: ResolvedLookup, wanted: list, i: int, base: str, table: str, types: dict):
    """The subquery of lookup ``i`` over the views ``base`` (the input with its row ids) and
    ``table``, its join condition, its feature expressions and their parameters (the defaults)."""
    q = _quoted
    key_pairs = list(zip(lk.lookup_key, lk.primary_keys, strict=True))
    hidden = {f.name: f"__ft{i}_{j}" for j, f in enumerate(wanted)}
    tkeys = [f"__k{i}_{n}" for n in range(len(key_pairs))]
    r = f"__r{i}"
    if lk.timestamp_key and lk.timestamp_lookup_key:
        # Union feature rows into the input rows, then carry each key's last feature row forward
        # (feature rows first on a tie). The untyped NULLs take the other side's type.
        fields = ", ".join(f"'{hidden[f.name]}', {q(f.name)}" for f in wanted)
        fkeys = ", ".join(f"{q(pk)} AS {t}" for (_, pk), t in zip(key_pairs, tkeys, strict=True))
        lkeys = ", ".join(f"{q(lk_)} AS {t}" for (lk_, _), t in zip(key_pairs, tkeys, strict=True))
        window = (
            f"PARTITION BY {', '.join(tkeys)} ORDER BY __t ASC NULLS FIRST, __side ASC NULLS FIRST "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        )
        sub = (
            f"SELECT {ROW}, {', '.join(f'__m.{h} AS {h}' for h in hidden.values())} FROM ("
            f"SELECT {ROW}, __t, __side, last(__feat, true) OVER ({window}) AS __m FROM ("
            f"SELECT {fkeys}, CAST({q(lk.timestamp_key)} AS TIMESTAMP) AS __t, 0 AS __side, "
            f"named_struct({fields}) AS __feat, NULL AS {ROW} FROM {table} "
            f"UNION ALL SELECT {lkeys}, CAST({q(lk.timestamp_lookup_key)} AS TIMESTAMP) AS __t, 1 AS __side, "
            f"NULL AS __feat, {ROW} FROM {base})) WHERE __side = 1 AND __t IS NOT NULL"
        )
        on = f"__l.{ROW} = {r}.{ROW}"
    else:
        source = table
        if lk.timestamp_key:  # the latest row per key
            by = ", ".join(q(pk) for pk in lk.primary_keys)
            source = (
                f"(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {by} ORDER BY "
                f"{q(lk.timestamp_key)} DESC) AS __rn FROM {table}) WHERE __rn = 1)"
            )
        sub = (
            f"SELECT {', '.join(f'{q(pk)} AS {t}' for (_, pk), t in zip(key_pairs, tkeys, strict=True))}, "
            f"{', '.join(f'{q(f.name)} AS {hidden[f.name]}' for f in wanted)} FROM {source}"
        )
        on = " AND ".join(f"__l.{q(lk_)} = {r}.{t}" for (lk_, _), t in zip(key_pairs, tkeys, strict=True))
    args: dict[str, Any] = {}
    features = []
    for f in wanted:
        col = f"{r}.{hidden[f.name]}"
        if f.default is not None:  # a parameter, cast to the feature's type
            args[hidden[f.name]] = f.default
            col = f"coalesce({col}, CAST(:{hidden[f.name]} AS {types[f.name].simpleString()}))"
        features.append(f"{col} AS {q(f.output_name)}")
    return f"LEFT JOIN ({sub}) {r} ON {on}", features, args


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def join_spark(df, lookups: Sequence[ResolvedLookup], skip: set[str] = frozenset()):
    """``df`` with the lookups' features joined in Spark (input columns first, then features).

    One SQL query over temporary views of the input and the feature tables: Spark analyses the plan
    once, where a DataFrame step per select, union, window, filter and join analysed the whole plan
    again each time (and a ``Column`` per name, alias, literal and cast was a call into the JVM or
    several: most of the driver's preparation time). The lookup keys are input columns, so every
    lookup joins the input directly."""
    import uuid

    spark = df.sparkSession
    columns = list(df.columns)
    tag = uuid.uuid4().hex
    base = f"__modelyard_{tag}_input"
    views = [base]
    joins: list[str] = []
    features: list[str] = []
    args: dict[str, Any] = {}
    added: list[str] = []
    try:
        df.selectExpr("*", f"monotonically_increasing_id() AS {ROW}").createOrReplaceTempView(base)
        for i, lk in enumerate(lookups):
            wanted = [f for f in lk.features if f.output_name not in skip]
            if not wanted:
                continue
            feats = read_feature_table(spark, lk)
            table = f"__modelyard_{tag}_t{i}"
            views.append(table)
            feats.createOrReplaceTempView(table)
            types = {f.name: f.dataType for f in feats.schema.fields}
            join, exprs, params = _lookup_sql(lk, wanted, i, base, table, types)
            joins.append(join)
            features += exprs
            args.update(params)
            added += [f.output_name for f in wanted]
        if not joins:
            return df
        kept = ", ".join(f"__l.{_quoted(c)}" for c in columns)
        query = f"SELECT {kept}, {', '.join(features)} FROM {base} __l {' '.join(joins)}"
        return spark.sql(query, args=args or None)
    finally:  # the query's plan holds what the views stood for
        for view in views:
            spark.catalog.dropTempView(view)


def _check(df, sm) -> set[str]:
    from modelyard.features.scoring import PREDICTION

    if PREDICTION in df.columns:
        raise InvalidParameterValue(f"The input already has a {PREDICTION!r} column; rename or drop it")
    if sm.spec is None:
        return set()
    present = set(df.columns)
    for lk in sm.spec.lookups:
        for col in (*lk.lookup_key, *([lk.timestamp_lookup_key] if lk.timestamp_lookup_key else [])):
            if col not in present:
                raise InvalidParameterValue(
                    f"The input has no column {col!r}, a lookup key of feature table {lk.table_name!r}"
                )
        if lk.timestamp_lookup_key:
            kind = df.schema[lk.timestamp_lookup_key].dataType.typeName()
            if kind not in ("timestamp", "timestamp_ntz", "date"):
                raise InvalidParameterValue(
                    f"Timestamp lookup key {lk.timestamp_lookup_key!r} is {kind}; feature table {lk.table_name!r} "
                    f"needs a timestamp like {lk.timestamp_key!r}"
                )
    for col in sm.spec.source_columns:
        if col not in present:
            raise InvalidParameterValue(f"The input has no column {col!r}, which the model takes as an input")
    return {out for lk in sm.spec.lookups for out in lk.output_names if out in present}


def _model(key: str, model_dir: str):
    """The model ``key`` names (a resolved model: ``models.copies``), loaded from ``model_dir`` once
    per Python worker process: Spark reuses its workers, so later tasks, jobs and calls of the same
    resolved model find it here."""
    found = _models.get(key)
    if found is not None:
        _models.move_to_end(key)
        return found
    from modelyard.models.load import load_pyfunc

    found = load_pyfunc(model_dir)
    _models[key] = found
    while len(_models) > WORKER_MODELS:
        _models.popitem(last=False)
    return found


def _prepare(model_uri: str, tracking_uri: str | None):
    """On the driver: the resolved model's key and local folder (``models.copies``), its MLmodel and
    feature spec, without loading the model itself (the workers load it; the driver only needs its
    columns)."""
    from modelyard.features.spec import FeatureSpec
    from modelyard.models.copies import local_copy
    from modelyard.models.mlmodel import Model

    key, model_dir = local_copy(str(model_uri), tracking_uri)
    spec = FeatureSpec.load(model_dir)
    return key, str(model_dir), Model.load(model_dir), spec.at_latest_versions() if spec is not None else None


def _spark_type(result_type: str | None):
    from pyspark.sql.types import _parse_datatype_string

    return _parse_datatype_string(result_type or "double")


def score_batch_spark(model_uri: str, df, *, tracking_uri: str | None = None, result_type: str | None = None):
    """``df`` + features (joined in Spark, as of each row's time) + ``prediction`` (mapInPandas)."""
    from pyspark.sql.types import StructField, StructType

    from modelyard.features.scoring import PREDICTION, ScoringModel, _prediction_array

    key, model_dir, _, spec = _prepare(model_uri, tracking_uri)
    sm = ScoringModel(None, spec, model_uri)
    skip = _check(df, sm)
    joined = join_spark(df, sm.spec.lookups, skip) if sm.spec is not None and sm.spec.lookups else df
    inputs = list(sm.spec.input_columns) if sm.spec is not None else list(df.columns)
    out_type = _spark_type(result_type)
    schema = StructType([*joined.schema.fields, StructField(PREDICTION, out_type)])
    arrow_type = result_type or "double"

    def predict(batches: Iterator[Any]) -> Iterator[Any]:
        model = _model(key, model_dir)
        for pdf in batches:
            preds = _prediction_array(model.predict(pdf[inputs]), len(pdf), arrow_type)
            yield pdf.assign(**{PREDICTION: preds.to_pandas()})

    return joined.mapInPandas(predict, schema)


def spark_udf(spark, model_uri: str, result_type: str = "double", *, tracking_uri: str | None = None):
    """A Spark pandas UDF predicting with the model (loaded once per Python worker): call it on the
    model's input columns, ``df.withColumn("p", udf("a", "b"))``, or on one struct column. The URI
    is resolved when the UDF is made (an alias moved later needs a new UDF, as in MLflow).

    The columns travel to the workers as they are (no struct built around them) and the driver
    reads only the model's signature, not the model."""
    from pyspark.sql.functions import pandas_udf

    key, model_dir, meta, spec = _prepare(model_uri, tracking_uri)
    sig = meta.signature
    specs = list(sig.inputs.inputs) if sig is not None and sig.inputs is not None else []
    names = [c.name for c in specs] if specs and all(getattr(c, "name", None) for c in specs) else None
    if names is None and spec is not None:
        names = list(spec.input_columns)
    spark_type = _spark_type(result_type)

    def score(frame: pd.DataFrame) -> pd.Series:
        from modelyard.features.scoring import _prediction_array

        if names and len(names) == frame.shape[1] and list(frame.columns) != names:
            frame = frame.set_axis(names, axis=1)
        return _prediction_array(_model(key, model_dir).predict(frame), len(frame), result_type).to_pandas()

    def of_struct(frames: Iterator[pd.DataFrame]) -> Iterator[pd.Series]:
        for frame in frames:
            yield score(frame)

    def of_columns(*columns):  # pandas Series, one per column
        return score(pd.concat(columns, axis=1, copy=False))

    struct_udf = pandas_udf(of_struct, spark_type)
    columns_udf = pandas_udf(of_columns, spark_type)

    def udf(*cols: Any):
        """The prediction column for ``cols`` (names or Columns), passed to the model as one frame."""
        if len(cols) == 1 and not isinstance(cols[0], str):
            return struct_udf(cols[0])
        return columns_udf(*cols)

    return udf
