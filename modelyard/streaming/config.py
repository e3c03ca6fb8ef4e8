"""``StreamConfig``: one streaming scorer's model, ends and knobs (built from CLI flags)."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.exceptions import InvalidParameterValue

FORMATS = ("json", "parquet", "arrow")


@dataclass(frozen=True, slots=True)
class StreamConfig:
    model_uri: str
    source: str
    sink: str
    dead_letter: str | None = None  # URI of the dead-letter destination; None: log them (and count)
    batch_size: int = 1000  # max events per micro-batch
    max_wait_ms: float = 0.0  # how long a free scorer waits for a non-full batch to fill (0: scores what is ready)
    max_retries: int = 3  # tries of a row the model fails on before it is dead-lettered
    metrics_port: int | None = None  # /metrics and /health on 127.0.0.1:PORT (0: any free port)
    metrics_host: str = "127.0.0.1"
    id_field: str | None = None  # the event field holding its id (default: the broker's message id)
    passthrough: tuple[str, ...] = ()  # event fields copied into the prediction record
    format: str = "json"  # message payload: one JSON event, or many rows as Parquet / Arrow IPC
    tracking_uri: str | None = None
    poll_interval: float = 2.0  # seconds between checks of a followed alias / stage
    in_flight: int = 2  # batches fetched ahead of the one being scored (backpressure bound)
    consumer_name: str | None = None  # the consumer's name in its group (default: host-pid-random)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InvalidParameterValue(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_wait_ms < 0:
            raise InvalidParameterValue(f"--max-wait-ms must not be negative, got {self.max_wait_ms}")
        if self.max_retries < 1:
            raise InvalidParameterValue(f"--max-retries must be at least 1, got {self.max_retries}")
        if self.format not in FORMATS:
            raise InvalidParameterValue(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.in_flight < 1:
            raise InvalidParameterValue(f"in_flight must be at least 1, got {self.in_flight}")
