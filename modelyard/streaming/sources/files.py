"""Folder source: the rows of the Parquet, CSV or JSON-lines files in a folder, new files picked up.

``file:///data/incoming[?format=parquet|csv|json][&checkpoint=/path/progress.json][&poll=1.0]``

- Files are read in name order; a file whose name starts with ``.`` or ``_`` or ends with ``.tmp``
  is skipped (write a file elsewhere, or under such a name, then rename it into place).
- ``format`` (default: by extension: ``.parquet``/``.pq``, ``.csv``, ``.json``/``.jsonl``/``.ndjson``).
- The event id of row ``i`` (from 0) of file ``F`` is ``F:i``.
- Progress is checkpointed after every acknowledged batch (default ``<folder>/.modelyard-stream-checkpoint.json``,
  written atomically): after a restart or a crash, reading resumes at the first row not acknowledged.
  Rows scored but not acknowledged are scored again and the idempotent sink keeps one copy.
- One consumer per folder and checkpoint (there is no group to share it).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.streaming.base import BaseSource, Delivery
from modelyard.streaming.uris import EndUri

EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json",
              ".ndjson": "json"}


class FolderSource(BaseSource):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.folder = Path(end.path)
        self.format = end.option("format")
        if self.format is not None and self.format not in ("parquet", "csv", "json"):
            raise InvalidParameterValue(f"format must be parquet, csv or json, got {self.format!r}")
        self.checkpoint = Path(end.option("checkpoint") or self.folder / ".modelyard-stream-checkpoint.json")
        self.poll = end.float_option("poll", 1.0)
        self.progress: dict[str, dict] = {}  # file name -> {"rows": acknowledged, "total": rows}
        self._file: str | None = None
        self._rows: list[dict] = []
        self._next = 0
        self._mtime = 0.0
        self._handed: set[str] = set()  # files read to their end by this process

    async def start(self) -> None:
        if not self.folder.is_dir():
            raise InvalidParameterValue(f"The source folder {self.folder} does not exist")
        if self.checkpoint.exists():
            self.progress = json.loads(self.checkpoint.read_text())["files"]

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        if self._file is None or self._next >= len(self._rows):
            if not await asyncio.to_thread(self._open_next):
                await asyncio.sleep(min(timeout_s, self.poll))
                return []
        start, stop = self._next, min(self._next + max_messages, len(self._rows))
        self._next = stop
        name = self._file
        if stop >= len(self._rows):
            self._handed.add(name)
        return [Delivery(f"{name}:{i}", self._rows[i], (name, i), self._mtime) for i in range(start, stop)]

    def _open_next(self) -> bool:
        for path in sorted(self.folder.iterdir()):
            name = path.name
            if name.startswith((".", "_")) or name.endswith(".tmp") or not path.is_file():
                continue
            kind = self.format or EXTENSIONS.get(path.suffix.lower())
            if kind is None or (self.format and EXTENSIONS.get(path.suffix.lower()) not in (None, self.format)):
                continue
            done = self.progress.get(name)
            if done is not None and done["rows"] >= done["total"]:
                continue
            if name in self._handed:  # read to its end, not yet all acknowledged
                continue
            rows = _read(path, kind)
            self._file, self._rows, self._mtime = name, rows, path.stat().st_mtime
            self._next = done["rows"] if done else 0
            self.progress.setdefault(name, {"rows": self._next, "total": len(rows)})
            if not rows:
                self._handed.add(name)
                self._save()
                continue
            return True
        return False

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            name, row = d.handle
            entry = self.progress[name]
            entry["rows"] = max(entry["rows"], row + 1)
        await asyncio.to_thread(self._save)

    def _save(self) -> None:
        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump({"files": self.progress}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint)

    async def lag(self) -> int | None:
        return sum(p["total"] - p["rows"] for p in self.progress.values())


def _read(path: Path, kind: str) -> list[dict[str, Any]]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if kind == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path).to_pylist()
    import pyarrow.json as pjson

    return pjson.read_json(path).to_pylist()
