"""Validation thresholds: ``MetricThreshold`` and the check that names every unmet one.

MLflow's semantics: ``threshold`` bounds the candidate's value (at least it when greater is
better, at most it otherwise); ``min_absolute_change`` and ``min_relative_change`` require the
candidate to beat the baseline by that much (they need a baseline). A failed check raises
``ModelValidationFailed`` whose message lists each unmet threshold with both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.exceptions import InvalidParameterValue, ModelValidationFailed


@dataclass(frozen=True)
class MetricThreshold:
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool | None = None

    def __post_init__(self) -> None:
        if self.threshold is None and self.min_absolute_change is None and self.min_relative_change is None:
            raise InvalidParameterValue("MetricThreshold needs threshold, min_absolute_change or min_relative_change")
        if self.greater_is_better is None:
            raise InvalidParameterValue("MetricThreshold needs greater_is_better (True or False)")
        for name in ("min_absolute_change", "min_relative_change"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidParameterValue(f"MetricThreshold.{name} must not be negative, got {value}")


@dataclass(frozen=True)
class ThresholdFailure:
    metric: str
    reason: str

    def __str__(self) -> str:
        return f"{self.metric}: {self.reason}"


def check(
    thresholds: dict[str, MetricThreshold], candidate: dict[str, float], baseline: dict[str, float] | None
) -> list[ThresholdFailure]:
    """Every unmet threshold (an empty list when the candidate passes)."""
    failures: list[ThresholdFailure] = []
    for metric, t in thresholds.items():
        if not isinstance(t, MetricThreshold) and not hasattr(t, "greater_is_better"):
            raise InvalidParameterValue(f"validation_thresholds[{metric!r}] must be a MetricThreshold")
        value = candidate.get(metric)
        if value is None:
            failures.append(ThresholdFailure(metric, "the candidate has no such metric"))
            continue
        better = t.greater_is_better
        if t.threshold is not None:
            ok = value >= t.threshold if better else value <= t.threshold
            if not ok:
                word = ">=" if better else "<="
                failures.append(ThresholdFailure(metric, f"value {value:.6g} is not {word} threshold {t.threshold:.6g}"))
        if t.min_absolute_change is None and t.min_relative_change is None:
            continue
        if baseline is None or metric not in baseline:
            raise InvalidParameterValue(
                f"validation_thresholds[{metric!r}] compares with a baseline: pass baseline_model (or a baseline result)"
            )
        base = baseline[metric]
        gain = (value - base) if better else (base - value)
        if t.min_absolute_change is not None and gain < t.min_absolute_change:
            failures.append(ThresholdFailure(
                metric, f"value {value:.6g} vs baseline {base:.6g}: improvement {gain:.6g} < min_absolute_change {t.min_absolute_change:.6g}"
            ))
        if t.min_relative_change is not None:
            relative = gain / abs(base) if base else (float("inf") if gain > 0 else 0.0)
            if relative < t.min_relative_change:
                failures.append(ThresholdFailure(
                    metric, f"value {value:.6g} vs baseline {base:.6g}: relative improvement {relative:.4g} < min_relative_change {t.min_relative_change:.4g}"
                ))
    return failures


def raise_on_failures(failures: list[ThresholdFailure]) -> None:
    if failures:
        lines = "\n".join(f"  - {f}" for f in failures)
        raise ModelValidationFailed(f"Model validation failed ({len(failures)} threshold(s) not met):\n{lines}", failures)


def validate(thresholds: dict[str, Any], candidate_result: Any, baseline_result: Any = None) -> None:
    """MLflow 3's ``validate_evaluation_results``: raise naming each threshold not met."""
    baseline = baseline_result.metrics if baseline_result is not None else None
    raise_on_failures(check(thresholds, candidate_result.metrics, baseline))
