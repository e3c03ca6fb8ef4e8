"""Parquet files sink: each batch one new file in a folder, each event id stored once.

``parquet:///data/predictions`` (or ``file:///data/predictions``)

A batch is written as ``part-<time>-<random>.parquet`` (to a hidden temporary name, fsynced, then
renamed: a reader never sees half a file). Columns: ``event_id``, ``model_version``, ``prediction``,
the passthrough fields, ``scored_at``. The sink keeps the set of event ids in the folder (read at
start, topped up with files other writers added) and leaves out records already stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from modelyard.streaming.base import BaseSink
from modelyard.streaming.uris import EndUri


class ParquetSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.folder = Path(end.path)
        self.seen: set[str] = set()
        self._loaded: set[str] = set()

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._refresh)

    def _refresh(self) -> None:
        import pyarrow.parquet as pq

        for path in self.folder.glob("part-*.parquet"):
            if path.name not in self._loaded:
                self.seen.update(pq.read_table(path, columns=["event_id"]).column(0).to_pylist())
                self._loaded.add(path.name)

    async def write(self, records: Sequence[dict]) -> None:
        await asyncio.to_thread(self._write, records)

    def _write(self, records: Sequence[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._refresh()
        fresh = [r for r in records if str(r["event_id"]) not in self.seen]
        if not fresh:
            return
        now = dt.datetime.now(dt.UTC)
        table = pa.Table.from_pylist([r | {"event_id": str(r["event_id"]), "scored_at": now} for r in fresh])
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / name)
        self._loaded.add(name)
        self.seen.update(str(r["event_id"]) for r in fresh)
