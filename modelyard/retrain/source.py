"""Where a retraining's rows come from: a label source joined with feature tables (a training set
at the tables' current versions), then cut into the training rows and a fresh holdout.

    training_set:
      labels: "sql:SELECT customer_id, event_ts, churned FROM labels"   # or a parquet/csv path,
                                                                       # or "module:function"
      labels_uri: postgresql://...      # the database of sql: (default: the tracking database)
      features: [churn.customer_features]   # table names, or FeatureLookup arguments
      label: churned                    # default: the one label column that is no key nor time
      timestamp_col: event_ts           # default: the tables' timestamp key, or the one datetime column
    holdout: {last_days: 14}            # or {fraction: 0.2}

A table named alone is looked up by its primary keys (columns of the same names in the labels)
and, for a time-series table, as of each row's timestamp. The keys and the timestamp are not
features: they are dropped from what the model is trained and evaluated on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from modelyard.exceptions import InvalidParameterValue

SQL_PREFIX = "sql:"
HOLDOUT_SEED = 7


@dataclass
class Rows:
    frame: Any  # keys, timestamp, label and features
    label: str
    timestamp_col: str | None
    id_cols: list[str]  # keys and timestamp: not features

    def features_only(self, part: Any) -> Any:
        return part.drop(columns=[c for c in self.id_cols if c in part.columns]).reset_index(drop=True)


def read_labels(source: str, labels_uri: str | None, tracking_uri: str | None) -> Any:
    """The label rows: a SQL query, a parquet/csv file, or what ``module:function`` returns."""
    import pandas as pd

    if not isinstance(source, str) or not source.strip():
        raise InvalidParameterValue("training_set.labels must be 'sql:SELECT ...', a file path or 'module:function'")
    if source.startswith(SQL_PREFIX):
        return _read_sql(source[len(SQL_PREFIX):].strip(), labels_uri or tracking_uri)
    path = source.removeprefix("file://").removeprefix("file:")
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if path.endswith(".csv"):
        return pd.read_csv(path)
    if ":" in source and not os.path.exists(source):
        from modelyard.plugins import load_object

        try:
            frame = load_object(source)()
        except (ImportError, AttributeError) as exc:
            raise InvalidParameterValue(f"training_set.labels {source!r}: cannot import it ({exc})") from exc
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameterValue(f"training_set.labels {source!r} returned {type(frame).__name__}, not a DataFrame")
        return frame
    raise InvalidParameterValue(f"training_set.labels {source!r}: not 'sql:...', a .parquet/.csv file nor 'module:function'")


def _read_sql(query: str, uri: str | None) -> Any:
    import pandas as pd
    import sqlalchemy

    if not uri or uri.split(":", 1)[0].split("+", 1)[0] not in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        raise InvalidParameterValue(f"training_set.labels is SQL: give training_set.labels_uri (a database URL); "
                                    f"{uri!r} is not a database")
    engine = sqlalchemy.create_engine(uri.replace("postgres://", "postgresql://", 1))
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sqlalchemy.text(query), conn)
    except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        detail = getattr(cause, "orig", None) or cause
        raise InvalidParameterValue(f"training_set.labels: the query failed: {detail}") from exc
    finally:
        engine.dispose()


def _lookups(features: list, labels: Any, timestamp_col: str | None, client) -> tuple[list, list[str], str | None]:
    """FeatureLookups for ``features``, the key columns they use, and the timestamp column."""
    from modelyard.features import FeatureLookup

    lookups, keys = [], []
    for item in features:
        if isinstance(item, str):
            table = client.get_table(item)
            missing = [k for k in table.primary_keys if k not in labels.columns]
            if missing:
                raise InvalidParameterValue(f"feature table {item!r} is looked up by {list(table.primary_keys)}: "
                                            f"the labels lack {missing} (or give a lookup with lookup_key)")
            ts = None
            if table.timestamp_keys:
                ts = timestamp_col or (table.timestamp_keys[0] if table.timestamp_keys[0] in labels.columns
                                           else _only_datetime_column(labels))
                if ts is None:
                    raise InvalidParameterValue(f"feature table {item!r} is a time series: give training_set.timestamp_col")
                timestamp_col = ts
            lookups.append(FeatureLookup(table_name=item, lookup_key=list(table.primary_keys), timestamp_lookup_key=ts))
            keys.extend(table.primary_keys)
        elif isinstance(item, dict):
            try:
                lookup = FeatureLookup(**item)
            except TypeError as exc:
                raise InvalidParameterValue(f"training_set.features: {exc}") from exc
            lookups.append(lookup)
            keys.extend(lookup.lookup_key)
            if lookup.timestamp_lookup_key:
                timestamp_col = timestamp_col or lookup.timestamp_lookup_key
        else:
            raise InvalidParameterValue(f"training_set.features: {item!r} is neither a table name nor a lookup mapping")
    return lookups, list(dict.fromkeys(keys)), timestamp_col


def load(training_set: dict, tracking_uri: str | None) -> Rows:
    """The joined rows of ``training_set`` (see the module doc)."""

    labels = _parse_times(read_labels(training_set.get("labels"), training_set.get("labels_uri"), tracking_uri))
    timestamp_col = training_set.get("timestamp_col")
    features = training_set.get("features") or []
    keys: list[str] = []
    frame = labels
    if features:
        from modelyard.features import FeatureClient

        client = FeatureClient(tracking_uri)
        lookups, keys, timestamp_col = _lookups(list(features), labels, timestamp_col, client)
    if timestamp_col is None:
        timestamp_col = _only_datetime_column(labels)
    if timestamp_col is not None and timestamp_col not in labels.columns:
        raise InvalidParameterValue(f"training_set.timestamp_col {timestamp_col!r} is not a column of the labels")
    id_cols = [*keys, *([timestamp_col] if timestamp_col else []), *training_set.get("exclude_columns", [])]
    label = training_set.get("label") or _infer_label(labels, id_cols)
    if label not in labels.columns:
        raise InvalidParameterValue(f"training_set.label {label!r} is not a column of the labels")
    if features:
        frame = client.create_training_set(labels, lookups, label=label).load_df()
    return Rows(frame, label, timestamp_col, id_cols)


def _only_datetime_column(labels: Any) -> str | None:
    import pandas as pd

    stamps = [c for c in labels.columns if pd.api.types.is_datetime64_any_dtype(labels[c])]
    return stamps[0] if len(stamps) == 1 else None


def _parse_times(labels: Any) -> Any:
    """Text columns holding ISO timestamps (what SQLite returns for them) as datetimes."""
    import pandas as pd

    for column in labels.columns:
        values = labels[column].dropna()
        if not (pd.api.types.is_object_dtype(labels[column]) or pd.api.types.is_string_dtype(labels[column])) or values.empty:
            continue
        first = values.iloc[0]
        if not (isinstance(first, str) and len(first) >= 10 and first[4:5] == "-" and first[7:8] == "-"):
            continue
        try:
            labels[column] = pd.to_datetime(labels[column], format="ISO8601")
        except (ValueError, TypeError):
            continue
    return labels


def _infer_label(labels: Any, id_cols: list[str]) -> str:
    rest = [c for c in labels.columns if c not in id_cols]
    if len(rest) != 1:
        raise InvalidParameterValue(f"training_set.label: name the label column (candidates: {rest})")
    return rest[0]


def split_holdout(rows: Rows, holdout: dict | None) -> tuple[Any, Any]:
    """(training rows, holdout rows), features and label only. ``last_days``: the rows of the last N
    days before the newest timestamp; ``fraction`` (default 0.2): a seeded random share."""
    import pandas as pd

    holdout = dict(holdout or {})
    unknown = set(holdout) - {"last_days", "fraction"}
    if unknown or len(holdout) > 1:
        raise InvalidParameterValue("holdout is {last_days: N} or {fraction: F}")
    frame = rows.frame
    if "last_days" in holdout:
        if rows.timestamp_col is None:
            raise InvalidParameterValue("holdout.last_days needs a timestamp: give training_set.timestamp_col")
        stamps = pd.to_datetime(frame[rows.timestamp_col])
        cut = stamps.max() - pd.Timedelta(days=float(holdout["last_days"]))
        mask = stamps > cut
    else:
        fraction = float(holdout.get("fraction", 0.2))
        if not 0 < fraction < 1:
            raise InvalidParameterValue(f"holdout.fraction must be between 0 and 1, got {fraction}")
        mask = pd.Series(False, index=frame.index)
        mask.loc[frame.sample(frac=fraction, random_state=HOLDOUT_SEED).index] = True
    train, test = frame[~mask], frame[mask]
    if len(train) == 0 or len(test) == 0:
        raise InvalidParameterValue(f"the holdout leaves {len(train)} training and {len(test)} holdout rows: "
                                    "both need some")
    return rows.features_only(train), rows.features_only(test)
