"""Plain, frozen entities: what the stores return and the clients hand out. No I/O here."""

from modelyard.entities.common import FileInfo, LifecycleStage, PagedList, RunStatus, ViewType
from modelyard.entities.experiment import Experiment, ExperimentTag
from modelyard.entities.run import (
    Dataset,
    DatasetInput,
    DatasetSummary,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
)

__all__ = [
    "Dataset",
    "DatasetInput",
    "DatasetSummary",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModelOutput",
    "Metric",
    "PagedList",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]

from modelyard.entities.logged_model import (  # noqa: E402
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
)

__all__ += [
    "LoggedModel",
    "LoggedModelMetric",
    "LoggedModelParameter",
    "LoggedModelStatus",
    "LoggedModelTag",
]

from modelyard.entities.registry import (  # noqa: E402
    ModelVersion,
    ModelVersionStage,
    ModelVersionStatus,
    PromotionEvent,
    RegisteredModel,
)
from modelyard.entities.webhook import (  # noqa: E402
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookStatus,
    WebhookTestResult,
)

__all__ += [
    "ModelVersion",
    "ModelVersionStage",
    "ModelVersionStatus",
    "PromotionEvent",
    "RegisteredModel",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookStatus",
    "WebhookTestResult",
]
