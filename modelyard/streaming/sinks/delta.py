"""Delta table sink through ``deltalake`` (delta-rs, no JVM): a merge on the event id per batch.

``delta:///data/predictions``

The first batch creates the table; every batch after it is ``MERGE ... ON t.event_id = s.event_id
WHEN NOT MATCHED INSERT``: one commit, and an event already in the table is left as it is. A commit
that conflicts with another writer's fails and the engine retries the batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from modelyard.streaming.base import BaseSink
from modelyard.streaming.uris import EndUri


class DeltaSink(BaseSink):
    def __init__(self, end: EndUri, **_: object) -> None:
        self.path = end.path if end.scheme == "delta" and not end.netloc else end.base.replace("delta://", "", 1)

    async def write(self, records: Sequence[dict]) -> None:
        await asyncio.to_thread(self._write, records)

    def _write(self, records: Sequence[dict]) -> None:
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake

        now = dt.datetime.now(dt.UTC)
        unique = {str(r["event_id"]): r | {"event_id": str(r["event_id"]), "scored_at": now} for r in records}
        table = pa.Table.from_pylist(list(unique.values()))
        if not DeltaTable.is_deltatable(self.path):
            write_deltalake(self.path, table, mode="append")
            return
        (DeltaTable(self.path)
         .merge(source=table, predicate="t.event_id = s.event_id", source_alias="s", target_alias="t")
         .when_not_matched_insert_all()
         .execute())
