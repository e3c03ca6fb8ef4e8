"""Promotion gates: what a challenger must meet before it becomes ``@champion``.

    Gates(min={"roc_auc": 0.80}, max_drop={"roc_auc": 0.0}, max_p95_latency_ms=5, max_model_mb=200)

``min`` / ``max``: absolute bounds on holdout metrics (``modelyard.evaluate``'s names).
``max_drop``: how much worse than the current champion a metric may be (0.0: at least as good;
direction known per metric). ``max_p95_latency_ms``: single-row prediction latency, 95th
percentile. ``max_model_mb``: the model folder's size. ``signature_compatible``: the challenger
accepts what the champion's callers send (every input it requires is one the champion takes,
with the same type). Gates that compare with the champion pass when there is none yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.evaluation.default import LOWER_IS_BETTER
from modelyard.exceptions import InvalidParameterValue


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"gate": self.gate, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Gates:
    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    max_drop: dict[str, float] = field(default_factory=dict)
    max_p95_latency_ms: float | None = None
    max_model_mb: float | None = None
    signature_compatible: bool = True

    @classmethod
    def from_dict(cls, d: dict | None) -> Gates:
        d = dict(d or {})
        unknown = set(d) - {"min", "max", "max_drop", "max_p95_latency_ms", "max_model_mb", "signature_compatible"}
        if unknown:
            raise InvalidParameterValue(f"unknown gates {sorted(unknown)}: use min, max, max_drop, max_p95_latency_ms, "
                                        "max_model_mb, signature_compatible")
        return cls(**d)

    def metrics(self) -> set[str]:
        return {*self.min, *self.max, *self.max_drop}


@dataclass
class Measured:
    """One model's figures on the holdout."""

    metrics: dict[str, float]
    p95_latency_ms: float
    model_mb: float
    inputs: list[tuple[str, str, bool]] | None  # (name, type, required) of its signature's inputs


def check(gates: Gates, challenger: Measured, champion: Measured | None) -> list[GateResult]:
    out: list[GateResult] = []
    for metric, bound in gates.min.items():
        value = challenger.metrics.get(metric)
        out.append(GateResult(f"min.{metric}", value is not None and value >= bound, f"{_f(value)} >= {bound}"))
    for metric, bound in gates.max.items():
        value = challenger.metrics.get(metric)
        out.append(GateResult(f"max.{metric}", value is not None and value <= bound, f"{_f(value)} <= {bound}"))
    for metric, allowed in gates.max_drop.items():
        value = challenger.metrics.get(metric)
        if champion is None:
            out.append(GateResult(f"max_drop.{metric}", value is not None, "no champion yet"))
            continue
        base = champion.metrics.get(metric)
        if value is None or base is None:
            out.append(GateResult(f"max_drop.{metric}", False, f"{metric} missing (challenger {_f(value)}, champion {_f(base)})"))
            continue
        drop = (value - base) if metric in LOWER_IS_BETTER else (base - value)
        out.append(GateResult(
            f"max_drop.{metric}", drop <= allowed,
            f"challenger {_f(value)} vs champion {_f(base)}: drop {_f(drop)} <= {allowed}",
        ))
    if gates.max_p95_latency_ms is not None:
        out.append(GateResult(
            "max_p95_latency_ms", challenger.p95_latency_ms <= gates.max_p95_latency_ms,
            f"{challenger.p95_latency_ms:.3f} ms <= {gates.max_p95_latency_ms} ms",
        ))
    if gates.max_model_mb is not None:
        out.append(GateResult(
            "max_model_mb", challenger.model_mb <= gates.max_model_mb, f"{challenger.model_mb:.3f} MB <= {gates.max_model_mb} MB"
        ))
    if gates.signature_compatible:
        out.append(_signature_gate(challenger, champion))
    return out


def _signature_gate(challenger: Measured, champion: Measured | None) -> GateResult:
    if champion is None or champion.inputs is None:
        return GateResult("signature_compatible", True, "no champion signature to compare with")
    if challenger.inputs is None:
        return GateResult("signature_compatible", False, "the challenger has no signature")
    sent = {name: kind for name, kind, _ in champion.inputs}
    problems = []
    for name, kind, required in challenger.inputs:
        if name not in sent:
            if required:
                problems.append(f"requires {name!r}, which the champion does not take")
        elif sent[name] != kind:
            problems.append(f"{name!r} is {kind}, the champion's is {sent[name]}")
    return GateResult("signature_compatible", not problems, "; ".join(problems) or "the champion's inputs are accepted")


def _f(value: Any) -> str:
    return "missing" if value is None else f"{value:.6g}"
