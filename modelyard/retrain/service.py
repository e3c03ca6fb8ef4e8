"""The retraining history of a registered model and the manual approval, as a service over the
registry and tracking services (what the server's routes and the UI's model page call).

Each retraining registered one version tagged with its outcome (``modelyard.retrain.status``) and
its evaluation run (``modelyard.retrain.evaluation_run``); the run holds both models' metrics
(``challenger_*`` / ``champion_*``), the gate results and the reason. The history is read from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelyard.auth.context import RequestContext
from modelyard.entities import RunTag
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.retrain.approval import (
    APPROVED_BY_TAG,
    GATE_RESULTS_TAG,
    REASON_TAG,
    RUN_TAG,
    STATUS_TAG,
    approval_reason,
)

CHAMPION = "champion"
HISTORY_SCAN = 200  # versions looked at, newest first


@dataclass
class RetrainRecord:
    """One retraining of a model: the challenger version it registered and what became of it."""

    version: str
    status: str  # promoted | awaiting_approval | rejected
    created: int | None
    run_id: str | None
    champion_version: str | None = None  # the champion it was compared with
    reason: str | None = None
    approved_by: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # {metric, challenger, champion}
    is_champion: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _gates(text: str | None) -> list[dict[str, Any]]:
    try:
        return [{"gate": g, "passed": bool(p), "detail": d} for g, p, d in json.loads(text or "[]")]
    except (ValueError, TypeError):
        return []


def _side_by_side(metrics: dict[str, float]) -> list[dict[str, Any]]:
    names = sorted({k.split("_", 1)[1] for k in metrics if k.startswith(("challenger_", "champion_"))})
    return [{"metric": n, "challenger": metrics.get(f"challenger_{n}"), "champion": metrics.get(f"champion_{n}")}
            for n in names]


class RetrainService:
    def __init__(self, registry, tracking) -> None:
        self.registry, self.tracking = registry, tracking

    def history(self, ctx: RequestContext, name: str, max_results: int = 50) -> list[RetrainRecord]:
        """The model's retrainings, newest first."""
        if not 1 <= max_results <= HISTORY_SCAN:
            raise InvalidParameterValue(f"max_results must be between 1 and {HISTORY_SCAN}, got {max_results}")
        self.registry.get_registered_model(ctx, name)  # 404 for an unknown model
        quoted = "'" + name.replace("'", "''") + "'"
        versions = self.registry.search_model_versions(
            ctx, filter_string=f"name = {quoted}", max_results=HISTORY_SCAN, order_by=["version_number DESC"]
        )
        records = []
        for mv in versions:
            status = mv.tags.get(STATUS_TAG)
            if not status:
                continue
            record = RetrainRecord(str(mv.version), status, mv.creation_timestamp, mv.tags.get(RUN_TAG),
                                   is_champion=CHAMPION in (mv.aliases or []))
            if record.run_id:
                try:
                    run = self.tracking.get_run(ctx, record.run_id)
                except ResourceDoesNotExist:
                    run = None
                if run is not None:
                    tags = run.data.tags
                    record.champion_version = tags.get("modelyard.retrain.champion_version") or None
                    record.reason = tags.get(REASON_TAG)
                    record.approved_by = tags.get(APPROVED_BY_TAG)
                    record.gates = _gates(tags.get(GATE_RESULTS_TAG))
                    record.metrics = _side_by_side(run.data.metrics)
            records.append(record)
            if len(records) >= max_results:
                break
        return records

    def approve(self, ctx: RequestContext, name: str, version: str | int, note: str | None = None) -> RetrainRecord:
        """Move ``@champion`` to a challenger awaiting approval (InvalidState otherwise)."""
        mv = self.registry.get_model_version(ctx, name, version)
        user = ctx.user()
        reason = approval_reason(mv.tags, name, version, note, user)
        self.registry.set_registered_model_alias(ctx, name, CHAMPION, mv.version, reason=reason)
        self.registry.set_model_version_tag(ctx, name, mv.version, STATUS_TAG, "promoted")
        run_id = mv.tags.get(RUN_TAG)
        if run_id:
            for key, value in ((STATUS_TAG, "promoted"), (REASON_TAG, reason), (APPROVED_BY_TAG, user or "")):
                self.tracking.set_tag(ctx, run_id, RunTag(key, value))
        return next((r for r in self.history(ctx, name) if r.version == str(mv.version)), None)
