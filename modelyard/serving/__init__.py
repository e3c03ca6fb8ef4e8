"""Real-time serving: a model (or several) as a REST endpoint, ``modelyard models serve``.

``create_scoring_app(ServeConfig(...))`` builds the Starlette app: MLflow's scoring protocol and the
Open Inference Protocol v2, registry alias following with an atomic switch, adaptive micro-batching,
Prometheus metrics, access log and an opt-in inference log. Modules:

- ``config``: ``ServeConfig`` and the ``[NAME=]URI`` model specs
- ``app`` / ``oip_routes``: the endpoints; ``accesslog``: request ids, metrics, access-log lines
- ``inputs`` / ``outputs`` / ``oip``: request bodies to model input, predictions to JSON
- ``service``: what an app owns, and scoring under the timeout
- ``slots``: served name -> current model snapshot, registry following, load-beside-then-swap
- ``batching``: the micro-batcher; ``metrics``: Prometheus; ``inference_log``: the request log
"""

from modelyard.serving.app import create_scoring_app
from modelyard.serving.config import ModelSpec, ServeConfig

__all__ = ["ModelSpec", "ServeConfig", "create_scoring_app"]
