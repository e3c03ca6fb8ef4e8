"""Validation rules and limits, as MLflow enforces them (reference section 3).

Every error is an InvalidParameterValue whose message names the field. Stores call
these before writing anything, so a failing batch writes nothing.
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
import re
from collections.abc import Sequence

from modelyard.exceptions import InvalidParameterValue

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20_000
MAX_RUN_NAME_LENGTH = 250
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASETS_PER_CALL = 1000
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_DATASET_SOURCE_LENGTH = 65_535
MAX_DATASET_SCHEMA_LENGTH = 1_048_575
MAX_DATASET_PROFILE_LENGTH = 16_777_215
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

API_DOCS_HINT = " See the API docs for more information about request parameters."


# -- MLflow's wording: clients and MLflow's own tests match on these messages -----------------------
def missing_value(path: str) -> str:
    """``Missing value for required parameter 'run_ids'.`` (MLflow's message for an absent field)."""
    return f"Missing value for required parameter '{path}'."


def invalid_value(path: str, value: object, message: str | None = None) -> str:
    """``Invalid value "abc" for parameter 'max_results' supplied[: message]``: the value as JSON, as MLflow
    writes it (shortened past 1,000 characters)."""
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = json.dumps(str(value))
    if len(shown) > 1000:
        shown = shown[:1000] + "..."
    head = f"Invalid value {shown} for parameter '{path}' supplied"
    return f"{head}: {message}" if message else f"{head}."


_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")


def _shorten(value: str, n: int = 60) -> str:
    return value if len(value) <= n else value[:n] + "..."


def refuse_nul(text: str, what: str) -> str:
    """``text``, unless it holds a NUL character (PostgreSQL cannot store one; no name or value
    needs one): refused on every database alike, before anything is written."""
    if "\x00" in text:
        raise InvalidParameterValue(f"Invalid value for parameter '{what}': NUL characters (\\u0000) are not allowed.")
    return text


def validate_key(key: object, what: str) -> str:
    """Metric, param and tag keys: ``^[/\\w.\\- :]*$``, at most 250 chars, path-unambiguous."""
    if not isinstance(key, str) or key == "":
        raise InvalidParameterValue(f"Missing value for required parameter '{what}' key")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameterValue(
            f"{what} key '{_shorten(key)}' had length {len(key)}, which exceeded length limit of "
            f"{MAX_ENTITY_KEY_LENGTH}"
        )
    if not _KEY_RE.fullmatch(key):  # fullmatch: "$" alone would let a trailing newline through
        raise InvalidParameterValue(
            f"Invalid {what} name: '{_shorten(key)}'. Names may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    if posixpath.normpath(key) != key or key == "." or key.startswith(("..", "/")):
        raise InvalidParameterValue(
            f"Invalid {what} name: '{_shorten(key)}'. Names cannot be path-ambiguous "
            "(no '..' segments, no leading or trailing '/', no '//')."
        )
    return key


def validate_param(key: object, value: object) -> str:
    validate_key(key, "param")
    text = refuse_nul("" if value is None else str(value), "value")
    if len(text) > MAX_PARAM_VAL_LENGTH:
        raise InvalidParameterValue(
            f"Param value '{_shorten(text)}' had length {len(text)}, which exceeded length limit of "
            f"{MAX_PARAM_VAL_LENGTH} (param '{key}')"
        )
    return text


def validate_tag(key: object, value: object) -> str:
    validate_key(key, "tag")
    text = refuse_nul("" if value is None else str(value), "value")
    if len(text) > MAX_TAG_VAL_LENGTH:
        raise InvalidParameterValue(
            f"Tag value '{_shorten(text)}' had length {len(text)}, which exceeded length limit of "
            f"{MAX_TAG_VAL_LENGTH} (tag '{key}')"
        )
    return text


_valid_metric_keys: set[str] = set()  # keys already checked (bounded below): batches repeat them


def validate_metric(key: object, value: object, timestamp: object, step: object) -> float:
    """Metric values must be numbers (bools refused); timestamp and step int64, timestamp >= 0."""
    # The common case, checked by exact type first: ABC isinstance checks cost more than the insert.
    if (
        type(value) is float
        and type(timestamp) is int
        and type(step) is int
        and 0 <= timestamp <= INT64_MAX
        and INT64_MIN <= step <= INT64_MAX
        and key in _valid_metric_keys
    ):
        return value
    validate_key(key, "metric")
    if len(_valid_metric_keys) < 10_000:
        _valid_metric_keys.add(key)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric '{key}' (timestamp={timestamp}). "
            "Please specify value as a valid double (64-bit floating point)"
        )
    if not _is_int64(timestamp) or int(timestamp) < 0:  # type: ignore[arg-type]
        raise InvalidParameterValue(
            f"Got invalid timestamp {timestamp!r} for metric '{key}' (value={value}). "
            "Timestamp must be a nonnegative long (64-bit integer)"
        )
    if not _is_int64(step):
        raise InvalidParameterValue(
            f"Got invalid step {step!r} for metric '{key}' (value={value}). Step must be a valid long (64-bit integer)."
        )
    return float(value)


def _is_int64(v: object) -> bool:
    return (
        not isinstance(v, bool)
        and isinstance(v, numbers.Integral)
        and INT64_MIN <= int(v) <= INT64_MAX
    )


def validate_batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    for n, limit, what in (
        (n_metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (n_params, MAX_PARAMS_PER_BATCH, "params"),
        (n_tags, MAX_TAGS_PER_BATCH, "tags"),
    ):
        if n > limit:
            raise InvalidParameterValue(
                f"A batch logging request can contain at most {limit} {what}. Got {n} {what}. "
                "Please split up the request into multiple batches."
            )
    total = n_metrics + n_params + n_tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params and "
            f"tags in total. Got {total}."
        )


def validate_unique_param_keys(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    dupes = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if dupes:
        raise InvalidParameterValue(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request contains "
            "only one param value per param key."
        )


def validate_experiment_name(name: object) -> str:
    if not isinstance(name, str) or name.strip() == "":
        raise InvalidParameterValue(f"Invalid experiment name: {name!r}. Expects a non-empty string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Experiment name '{_shorten(name)}' had length {len(name)}, which exceeded length limit of "
            f"{MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return refuse_nul(name, "name")


def validate_experiment_tag(key: object, value: object) -> str:
    validate_key(key, "experiment tag")
    text = refuse_nul("" if value is None else str(value), "value")
    if len(text) > MAX_EXPERIMENT_TAG_VAL_LENGTH:
        raise InvalidParameterValue(
            f"Experiment tag value had length {len(text)}, which exceeded length limit of "
            f"{MAX_EXPERIMENT_TAG_VAL_LENGTH} (tag '{key}')"
        )
    return text


def validate_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidParameterValue(f"Invalid run ID: '{run_id}'")
    return run_id


def validate_experiment_id(experiment_id: object) -> str:
    text = str(experiment_id) if isinstance(experiment_id, int) and not isinstance(experiment_id, bool) else experiment_id
    if not isinstance(text, str) or not _EXPERIMENT_ID_RE.fullmatch(text):
        raise InvalidParameterValue(f"Invalid experiment ID: '{experiment_id}'")
    return text


def validate_run_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid run name {name!r}: expects a string")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Run name '{_shorten(name)}' had length {len(name)}, which exceeded length limit of "
            f"{MAX_RUN_NAME_LENGTH}"
        )
    return refuse_nul(name, "run_name")


def validate_max_results(max_results: object, limit: int, what: str = "max_results") -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, numbers.Integral) or int(max_results) <= 0:
        raise InvalidParameterValue(invalid_value(what, max_results, "it must be a positive integer."))
    if int(max_results) > limit:
        raise InvalidParameterValue(invalid_value(what, max_results, f"It must be at most {limit}."))
    return int(max_results)


def validate_dataset(name: str, digest: str, source: str, schema: str | None, profile: str | None) -> None:
    checks = (
        ("name", name, MAX_DATASET_NAME_LENGTH),
        ("digest", digest, MAX_DATASET_DIGEST_LENGTH),
        ("source", source, MAX_DATASET_SOURCE_LENGTH),
        ("schema", schema, MAX_DATASET_SCHEMA_LENGTH),
        ("profile", profile, MAX_DATASET_PROFILE_LENGTH),
    )
    for field, value, limit in checks:
        if field in ("name", "digest") and not value:
            raise InvalidParameterValue(f"Dataset {field} must be a non-empty string")
        if isinstance(value, str):
            refuse_nul(value, f"dataset.{field}")
        if value is not None and len(value) > limit:
            raise InvalidParameterValue(
                f"Dataset {field} exceeds the maximum length of {limit} characters (got {len(value)})"
            )


def validate_input_tag(key: str, value: str) -> None:
    if not key:
        raise InvalidParameterValue("Dataset input tag key must be a non-empty string")
    refuse_nul(key, "tags.key")
    refuse_nul(value, "tags.value")
    if len(key) > MAX_INPUT_TAG_KEY_LENGTH:
        raise InvalidParameterValue(f"Dataset input tag key '{_shorten(key)}' exceeds {MAX_INPUT_TAG_KEY_LENGTH} characters")
    if len(value) > MAX_INPUT_TAG_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"Dataset input tag value for '{key}' exceeds {MAX_INPUT_TAG_VALUE_LENGTH} characters"
        )


def is_finite(value: float) -> bool:
    return math.isfinite(value)
