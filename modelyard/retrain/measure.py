"""What a retraining evaluation measures besides metrics: p95 single-row latency and model size."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

LATENCY_ROWS = 100  # single-row predictions timed (after 5 warm-up calls)


def p95_single_row_latency_ms(model: Any, frame: Any, rows: int = LATENCY_ROWS) -> float:
    import numpy as np

    sample = frame.head(rows)
    singles = [sample.iloc[[i]] for i in range(len(sample))]
    for row in singles[:5]:
        model.predict(row)
    timings = []
    for row in singles:
        start = time.perf_counter()
        model.predict(row)
        timings.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(timings, 95))


def model_size_mb(model: str | Path) -> float:
    """The size of a model's folder: ``model`` is that folder (a loaded model's ``model_dir``) or
    a model URI, resolved and downloaded when remote."""
    if isinstance(model, Path) and model.is_dir():
        folder = model
    else:
        from modelyard.models.uri import download_model

        folder = Path(download_model(str(model)))
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def signature_inputs(model: Any) -> list[tuple[str, str, bool]] | None:
    schema = model.metadata.get_input_schema()
    if schema is None:
        return None
    out = []
    for spec in schema.inputs:
        name = getattr(spec, "name", None)
        if name is None:
            return None
        kind = getattr(spec, "type", None)
        out.append((name, str(getattr(kind, "name", kind)), bool(getattr(spec, "required", True))))
    return out
