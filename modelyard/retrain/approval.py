"""What a retraining writes on the model version and on its evaluation run, and the rule of a
manual approval (shared by ``retrain.approve``, the CLI and the server's approve endpoint)."""

from __future__ import annotations

from modelyard.exceptions import InvalidState

STATUS_TAG = "modelyard.retrain.status"  # promoted | awaiting_approval | rejected
RUN_TAG = "modelyard.retrain.evaluation_run"
GATES_TAG = "modelyard.retrain.gates"  # passed | failed
GATE_RESULTS_TAG = "modelyard.retrain.gate_results"  # on the run: JSON [[gate, passed, detail], ...]
REASON_TAG = "modelyard.retrain.reason"  # on the run: why it was (not) promoted
APPROVED_BY_TAG = "modelyard.retrain.approved_by"
REASON_LIMIT = 250  # the promotion history's reason column
AWAITING = "awaiting_approval"


class NotAwaitingApproval(InvalidState):
    """Approving a version that does not wait for it: the caller's mistake (409), not the server's."""

    http_status = 409


def approval_reason(tags: dict[str, str], model_name: str, version: str | int, note: str | None,
                    user: str | None = None) -> str:
    """The promotion reason for approving ``version``; InvalidState when it does not wait for one."""
    status = tags.get(STATUS_TAG)
    if status != AWAITING:
        raise NotAwaitingApproval(f"version {version} of {model_name} is not awaiting approval (status: {status or 'none'})")
    who = f" by {user}" if user else ""
    reason = f"retrain: approved{who}{f' ({note})' if note else ''}; gates passed in run {tags.get(RUN_TAG, '')}"
    return reason[:REASON_LIMIT]
