"""Keeping a search within its time budget when a fit cannot be interrupted.

Boosted trees from XGBoost and LightGBM stop at the deadline by themselves (a training callback);
a random forest, scikit-learn's histogram gradient boosting and the linear models cannot be
stopped once started. ``Estimates`` learns, per model family, the seconds a fit takes per unit of
work (a tree of a forest, a boosting round, one fit for the rest) from the trials done so far, and
``bound`` returns the trial's parameters with the tree count or the number of rounds capped to
what fits in the time left, or ``None`` when even a small model would overrun (the trial is not
started). A family not seen yet runs as drawn: its first trial is what teaches the estimate.
"""

from __future__ import annotations

from typing import Any

SAFETY = 1.5  # the estimate per unit times this: trials of a family differ (depth, leaves, features)
MIN_UNITS = 10  # fewer trees / rounds than this is not worth a trial
# the parameter that holds the units of work of a family (absent: the library default)
UNIT_PARAMS = {"random_forest": "rf_n_estimators", "extra_trees": "et_n_estimators", "hist_gradient_boosting": "hgb_max_iter"}


class Estimates:
    def __init__(self) -> None:
        self.per_unit: dict[str, list[float]] = {}

    def observe(self, model: str, params: dict, result: Any, seconds: float) -> None:
        """Record a finished fit: ``seconds`` over its units of work."""
        units = self._units(model, params, result.learnt or {})
        if units > 0:
            self.per_unit.setdefault(model, []).append(seconds / units)

    def bound(self, model: str, params: dict, time_left: float | None) -> dict | None:
        """``params``, capped to end within ``time_left`` seconds; None: do not start this trial."""
        if time_left is None:
            return params
        seen = sorted(self.per_unit.get(model, ()))
        if not seen:
            return params if time_left > 0 else None
        per_unit = seen[len(seen) // 2] * SAFETY
        if model not in UNIT_PARAMS:
            return params if per_unit <= time_left else None
        key = UNIT_PARAMS[model]
        affordable = int(time_left / per_unit) if per_unit > 0 else None
        if affordable is not None and affordable < MIN_UNITS:
            return None
        wanted = params.get(key)
        if affordable is None or (wanted is not None and wanted <= affordable):
            return params
        return {**params, key: affordable}

    @staticmethod
    def _units(model: str, params: dict, learnt: dict) -> int:
        if model in ("random_forest", "extra_trees"):
            return int(learnt.get("n_estimators") or params.get(UNIT_PARAMS[model]) or 100)
        if model == "hist_gradient_boosting":
            return int(learnt.get("best_iteration") or 1)
        return 1
