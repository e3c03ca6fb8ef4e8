"""Training sets: input rows (keys, timestamps, label, source columns) + features joined point-in-time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from modelyard.entities.feature_table import FeatureTable
from modelyard.exceptions import InvalidParameterValue
from modelyard.features import delta, join
from modelyard.features.lookup import FeatureLookup
from modelyard.features.spec import FeatureOutput, FeatureSpec, ResolvedLookup


def resolve(lookup: FeatureLookup, table: FeatureTable) -> ResolvedLookup:
    """``lookup`` checked against the table's catalog entry, pinned to its current version."""
    name = table.name
    if len(lookup.lookup_key) != len(table.primary_keys):
        raise InvalidParameterValue(
            f"Feature table {name!r} has primary keys {list(table.primary_keys)}; "
            f"lookup_key {list(lookup.lookup_key)} must name one input column for each"
        )
    available = table.feature_names
    wanted = tuple(lookup.feature_names or available)
    for feature in wanted:
        if feature not in available:
            raise InvalidParameterValue(
                f"Feature table {name!r} has no feature {feature!r}; its features are {list(available)}"
            )
    for key in (*lookup.rename_outputs, *lookup.default_values):
        if key not in wanted:
            raise InvalidParameterValue(f"{key!r} in rename_outputs/default_values is not a looked-up feature of {name!r}")
    ts_key = table.timestamp_keys[0] if table.timestamp_keys else None
    if lookup.timestamp_lookup_key is not None and ts_key is None:
        raise InvalidParameterValue(
            f"Feature table {name!r} has no timestamp key, so timestamp_lookup_key {lookup.timestamp_lookup_key!r} "
            "cannot be used"
        )
    ts_col = table.column(ts_key) if ts_key else None
    return ResolvedLookup(
        table_name=name,
        table_version=table.current_version,
        location=table.location,
        primary_keys=table.primary_keys,
        lookup_key=tuple(lookup.lookup_key),
        features=tuple(
            FeatureOutput(f, lookup.output_name(f), lookup.default_values.get(f)) for f in wanted
        ),
        timestamp_key=ts_key,
        timestamp_lookup_key=lookup.timestamp_lookup_key if ts_key else None,
        timestamp_type=ts_col.dtype if ts_col else None,
    )


def table_schemas(lookups: Sequence[ResolvedLookup]) -> dict[str, pa.Schema]:
    return {lk.table_name: delta.stored_schema(lk.location, lk.table_version) for lk in lookups}


def check_outputs(columns: Sequence[str], lookups: Sequence[ResolvedLookup]) -> None:
    seen: dict[str, str] = {}
    for lk in lookups:
        for f in lk.features:
            if f.output_name in columns:
                raise InvalidParameterValue(
                    f"Feature {lk.table_name}.{f.name} would be written to column {f.output_name!r}, which the "
                    "input already has; rename it with rename_outputs"
                )
            if f.output_name in seen:
                raise InvalidParameterValue(
                    f"Column {f.output_name!r} would come from both {seen[f.output_name]} and {lk.table_name}; "
                    "rename one with rename_outputs"
                )
            seen[f.output_name] = lk.table_name


class TrainingSet:
    """The input rows and the lookups; ``load_df()`` runs the point-in-time join."""

    def __init__(
        self, df: Any, lookups: tuple[ResolvedLookup, ...], label: str | None, exclude_columns: tuple[str, ...]
    ) -> None:
        self._df = df
        self.lookups = lookups
        self.label = label
        self.exclude_columns = exclude_columns
        self._input = delta.to_arrow(df) if not _is_spark(df) else None
        columns = self._input.column_names if self._input is not None else list(df.columns)
        if label is not None and label not in columns:
            raise InvalidParameterValue(f"The label column {label!r} is not in the input")
        for col in exclude_columns:
            if col not in columns and col not in {o for lk in lookups for o in lk.output_names}:
                raise InvalidParameterValue(f"exclude_columns names {col!r}, which is neither an input column nor a feature")
        check_outputs(columns, lookups)
        if self._input is not None:
            join.check_input(self._input.schema, lookups, table_schemas(lookups))
        kept = [c for c in columns if c not in exclude_columns] + [
            o for lk in lookups for o in lk.output_names if o not in exclude_columns
        ]
        self.feature_spec = FeatureSpec(
            lookups=lookups,
            input_columns=tuple(c for c in kept if c != label),
            label=label,
            exclude_columns=exclude_columns,
        )

    def load_arrow(self) -> pa.Table:
        table, _ = join.gather(None, self._input, self.lookups)
        return table.drop_columns([c for c in self.exclude_columns if c in table.column_names])

    def load_df(self):
        """The training rows: pandas (a Spark DataFrame when the input was one)."""
        if self._input is None:
            from modelyard.features.spark import join_spark

            return join_spark(self._df, self.lookups).drop(*self.exclude_columns)
        return self.load_arrow().to_pandas()


def _is_spark(df: Any) -> bool:
    return type(df).__module__.startswith("pyspark")
