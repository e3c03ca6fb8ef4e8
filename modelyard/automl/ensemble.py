"""The ensemble trial of a cross-validated (small-data) search: a greedy selection, with
replacement, of the best trials' out-of-fold outputs (Caruana et al., 2004).

Every cross-validated trial leaves the out-of-fold outputs of its configuration over train +
validation (``FitResult.oof``). The search keeps the ``TOP`` best trials' outputs and models; once
its trials are over, the selection starts from the best trial alone and, ``ROUNDS`` times, adds the
trial (again, if it helps most) whose outputs, averaged in, most improve the primary metric. The
weights are how often each trial was picked. When the best mixture beats the best trial alone it is
recorded as a trial of its own (``Objective.add_ensemble``): the members' models are already fitted
on train + validation, so the ensemble is their weighted mean (``estimators.WeightedEnsemble``),
with no fit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.automl import metrics as metric_defs

TOP = 8  # trials kept (models and out-of-fold outputs) as the ensemble's candidates
ROUNDS = 20  # picks of the greedy selection
MODEL = "ensemble"  # the ensemble trial's model_description


@dataclass
class Candidate:
    number: int  # the trial
    value: float  # its validation (out-of-fold) primary metric
    pipeline: Any
    oof: Any


class Candidates:
    """The ``TOP`` best cross-validated trials so far."""

    def __init__(self, maximize: bool, top: int = TOP) -> None:
        self.maximize, self.top = maximize, top
        self.kept: list[Candidate] = []

    def offer(self, candidate: Candidate) -> None:
        if candidate.oof is None or candidate.value != candidate.value:  # no outputs, or NaN
            return
        self.kept.append(candidate)
        self.kept.sort(key=lambda c: -c.value if self.maximize else c.value)
        del self.kept[self.top:]


def select(candidates: list[Candidate], y: Any, metric: str, maximize: bool, classes: list | None,
           pos_label: Any, rounds: int = ROUNDS) -> tuple[dict[int, int], float] | None:
    """``({trial number: times picked}, out-of-fold value)`` of the best mixture found, or None
    when no mixture of two or more trials beats the best trial alone."""
    if len(candidates) < 2:
        return None

    def value(output: Any) -> float:
        return metric_defs.primary_value(metric, y, output, classes, pos_label)

    def better(a: float, b: float) -> bool:
        return a > b if maximize else a < b

    first = candidates[0]
    picks = {first.number: 1}
    total = first.oof.astype(float).copy()
    best_value, best_picks = value(total), dict(picks)
    alone = best_value
    for step in range(2, rounds + 1):
        scored = [(value((total + c.oof) / step), i) for i, c in enumerate(candidates)]
        chosen_value, chosen = scored[0]
        for v, i in scored[1:]:
            if better(v, chosen_value):
                chosen_value, chosen = v, i
        total += candidates[chosen].oof
        number = candidates[chosen].number
        picks[number] = picks.get(number, 0) + 1
        if better(chosen_value, best_value):
            best_value, best_picks = chosen_value, dict(picks)
    if len(best_picks) < 2 or not better(best_value, alone):
        return None
    return best_picks, best_value
