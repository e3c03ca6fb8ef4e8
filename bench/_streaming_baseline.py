"""The issue's baseline: a straightforward hand-written redis-py consumer that reads, predicts and
acknowledges one event at a time (XREADGROUP COUNT 1, predict one row, XADD, XACK).

    python bench/_streaming_baseline.py REDIS_URL MODEL_PICKLE STREAM GROUP OUT_STREAM
"""

from __future__ import annotations

import json
import pickle
import signal
import sys
import warnings

import numpy as np
import redis


def main() -> None:
    url, model_path, stream, group, out = sys.argv[1:6]
    warnings.filterwarnings("ignore")  # sklearn's "X does not have valid feature names" on every call
    with open(model_path, "rb") as fh:
        model, columns = pickle.load(fh)
    r = redis.Redis.from_url(url)
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError:
        pass
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        reply = r.xreadgroup(group, "baseline", {stream: ">"}, count=1, block=500)
        if not reply:
            continue
        entry_id, fields = reply[0][1][0]
        event = json.loads(fields[b"data"])
        row = np.array([[event[c] for c in columns]], dtype=np.float64)
        prediction = model.predict(row)[0]
        r.xadd(out, {"event_id": entry_id, "prediction": json.dumps(prediction.item())})
        r.xack(stream, group, entry_id)


if __name__ == "__main__":
    main()
